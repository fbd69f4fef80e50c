# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run tasks on N worker threads, each with its own database session.

Threads, not processes: a module runs as __main__ from a zip where process
pools are fragile, and the heavy lifting (libpq, zstd, hashlib) releases the
GIL. The first failure stops the others from taking new tasks and cancels
what they are running, so a failed run ends quickly and reports its cause; an
interrupt of the calling thread does the same before it goes on.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading


class TaskError(Exception):
    """Wraps the first failure with the task it happened in."""

    def __init__(self, task, error):
        self.task = task
        self.error = error
        super(TaskError, self).__init__(str(error))


def run_parallel(tasks, jobs, open_session, work, close_session, cancel_session=None):
    """work(session, task) for every task; results in task order.

    Raises TaskError for the first failure (after all threads have stopped).
    """
    tasks = list(tasks)
    results = [None] * len(tasks)
    if not tasks:
        return results
    lock = threading.Lock()
    state = {'next': 0}
    errors = []
    sessions = []

    def take():
        with lock:
            if errors or state['next'] >= len(tasks):
                return None
            i = state['next']
            state['next'] += 1
            return i

    def fail(task, e):
        with lock:
            first = not errors
            errors.append(TaskError(task, e))
            others = list(sessions)
        if first and cancel_session:
            for s in others:
                try:
                    cancel_session(s)
                except Exception:
                    pass

    def worker():
        session = None
        try:
            i = take()
            if i is None:
                return
            session = open_session()
            with lock:
                sessions.append(session)
            while i is not None:
                try:
                    results[i] = work(session, tasks[i])
                except BaseException as e:
                    fail(tasks[i], e)
                    return
                i = take()
        except BaseException as e:
            fail(None, e)
        finally:
            if session is not None:
                with lock:
                    if session in sessions:
                        sessions.remove(session)
                try:
                    close_session(session)
                except Exception:
                    pass

    threads = [threading.Thread(target=worker, name='dbbackup-%d' % n)
               for n in range(max(1, min(jobs, len(tasks))))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException as e:    # interrupted (SIGINT, SIGTERM): stop the workers before leaving
        fail(None, e)
        for t in threads:
            if t.is_alive() or t.ident is not None:
                t.join()
        raise
    if errors:
        raise errors[0]
    return results
