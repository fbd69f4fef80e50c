# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A running backup says so: a lease file in its directory, renewed while it runs.

A backup directory without a manifest is either running or left by a backup
that died. The writer keeps LEASE_NAME in the directory and rewrites it every
HEARTBEAT_SECONDS; prune never deletes an incomplete backup whose lease was
renewed within LEASE_SECONDS (the repository's own modification time, so the
clocks of the writer and the pruner need not agree), and dbbackup_info shows it
as running. The lease goes when the backup is committed or removed.

Backups written before leases existed have none: for them the grace period
alone decides, as before.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import json
import os
import socket
import threading

from ..common.times import isoformat, utcnow

LEASE_NAME = '.dbbackup-lease'
HEARTBEAT_SECONDS = 30
LEASE_SECONDS = 300        # ten missed heartbeats: the writer is gone


class Lease(object):
    """The lease of the backup directory `path`; start() writes it, stop() removes it."""

    def __init__(self, repo, path, heartbeat=None):
        self.repo = repo
        self.relpath = path + '/' + LEASE_NAME
        self.heartbeat = heartbeat or HEARTBEAT_SECONDS
        self._stop = threading.Event()
        self._thread = None

    def _write(self):
        body = {'host': socket.gethostname(), 'pid': os.getpid(), 'renewed_at': isoformat(utcnow()),
                'lease_seconds': LEASE_SECONDS}
        self.repo.write_bytes(self.relpath, json.dumps(body, sort_keys=True).encode('utf-8'))

    def _run(self):
        while not self._stop.wait(self.heartbeat):
            try:
                self._write()
            except Exception:  # pylint: disable=broad-except
                pass      # a missed beat; the commit check catches a backup pruned meanwhile

    def start(self):
        self._write()
        self._thread = threading.Thread(target=self._run, name='dbbackup-lease', daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.repo.delete_file(self.relpath)


def lease_age(repo, path, now=None):
    """Seconds since the lease of backup directory `path` was renewed, or None when it has none."""
    modified = repo.modified_at(path + '/' + LEASE_NAME)
    if modified is None:
        return None
    return max(0.0, ((now or utcnow()) - modified).total_seconds())


def is_running(age):
    """True when a lease of that age (lease_age) is held by a live writer."""
    return age is not None and age < LEASE_SECONDS


@contextlib.contextmanager
def leased(repo, path):
    """Hold the lease of `path` while the block runs; on an error the directory is removed."""
    lease = Lease(repo, path)
    try:
        lease.start()
        yield
    except BaseException:
        lease.stop()
        repo.delete_tree(path)
        raise
    lease.stop()
