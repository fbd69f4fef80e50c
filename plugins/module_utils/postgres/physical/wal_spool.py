# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The background processes of the asynchronous WAL archive: spooler (push) and prefetcher (fetch).

The protocol and the spool layout are wal_async.py's. Both processes run as the PostgreSQL
user (started by archive_command / restore_command), hold their lock for their lifetime,
keep one repository client and the unwrapped WAL key for all files, work async_jobs files at
a time, and exit after IDLE seconds without work.

Spooler: pushes what PostgreSQL marked ready (pg_wal/archive_status/<name>.ready; history
files first, then by name, as PostgreSQL's archiver orders them), at most async_queue files
ahead of what PostgreSQL has acknowledged (in flight + stored but not yet acknowledged); each
through wal_archive.wal_push, so the never-overwrite and idempotence rules are the same as
for a direct push. push/ok/<name> is written only after the repository committed the file.

Prefetcher: for the file restore_command asked for (fetch/want) and, for a segment, the next
async_queue segments of its timeline, runs wal_archive.wal_fetch into the spool (every check;
temporary name, rename; no fsync: its files are served only while it runs, and a new one
empties the spool first, so a file torn by a crash is never served). Only the file asked for
gets a .missing or .err answer: a file ahead that is missing ends the look-ahead (looked at
again a second later), one that fails is fetched again when it is asked for. Files behind the
one asked for are removed.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import concurrent.futures
import os
import sys
import time

from ...common.errors import BadInput, DbBackupError
from ...format.keys import key_source
from . import wal_async
from .wal_archive import WalNotArchived, is_encrypted_archive, wal_data_key, wal_fetch, wal_push
from .wal_names import SEGMENT_RE, check_wal_name, segment_file, segment_of, wal_kind

IDLE = 30.0                   # seconds without work before a background process exits
LOOKAHEAD_RETRY = 1.0         # seconds before a missing file ahead is looked for again
REPUSH_AFTER = 1.0            # seconds a stored file may stay ready after archive_command took its answer
POLL_BUSY, POLL_CALM = 0.003, 0.05   # seconds between looks at pg_wal: while files come, after 1 s without
DEFAULT_JOBS = 4
DEFAULT_QUEUE = 16


def _log(message):
    sys.stderr.write('%s %s\n' % (time.strftime('%Y-%m-%d %H:%M:%S'), message))
    sys.stderr.flush()


def _open(p):
    from ...storage.factory import open_repository
    return open_repository(p)


def settings(p):
    """(jobs, queue) of the async options."""
    jobs = int(p.get('async_jobs') or DEFAULT_JOBS)
    queue = int(p.get('async_queue') or DEFAULT_QUEUE)
    return max(1, min(jobs, 32)), max(1, min(queue, 1024))


# --- the spooler ------------------------------------------------------------------------------

def _ready(wal_dir):
    """Names PostgreSQL wants archived, in the archiver's order."""
    try:
        entries = os.listdir(os.path.join(wal_dir, 'archive_status'))
    except OSError:
        return []
    names = [e[:-len('.ready')] for e in entries if e.endswith('.ready')]
    return sorted((n for n in names if wal_kind(n)), key=lambda n: (not n.endswith('.history'), n))


def run_spooler(p, spool, wal_dir, lock):
    """Push ready WAL files until idle (see the module docstring); lock: the fd holding push.lock."""
    jobs, queue = settings(p)
    repo = _open(p)
    source = key_source(p)
    data_key = wal_data_key(repo, p['server_name'], source, create=True) if source is not None else None
    wal_async.allocator(trim=True)
    ok_dir = os.path.join(spool, 'push', 'ok')
    err_dir = os.path.join(spool, 'push', 'err')
    _log('spooler started for %s (pid %d, pg_wal %s, %d jobs, queue %d)'
         % (p['server_name'], os.getpid(), wal_dir, jobs, queue))

    def push(name):
        src = os.path.join(wal_dir, name)
        st = os.stat(src)
        result = wal_push(p, src, name, repo=repo, data_key=data_key)
        wal_async.write_file(os.path.join(ok_dir, name), wal_async.ok_record(st, result['location']))

    inflight = {}
    stored = set()          # pushed by this process and answered in ok/
    taken = {}              # stored, answer taken by archive_command, still ready: since when
    last_work = last_drop = last_change = time.time()
    seen = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        while True:
            if len(inflight) >= jobs:       # nothing to start before one of them ends
                concurrent.futures.wait(list(inflight.values()), timeout=1.0,
                                        return_when=concurrent.futures.FIRST_COMPLETED)
            for name, fut in list(inflight.items()):
                if fut.done():
                    del inflight[name]
                    error = fut.exception()
                    if error is None:
                        stored.add(name)
                    else:
                        message = str(error) if isinstance(error, DbBackupError) else \
                            'pushing %s failed: %s: %s' % (name, type(error).__name__, error)
                        wal_async.write_file(os.path.join(err_dir, name), ' '.join(message.split()).encode())
                        _log(message)
            ready = _ready(wal_dir)
            acked = set(os.listdir(ok_dir)) | set(os.listdir(err_dir))
            now = time.time()
            _taken_answers(ready, acked, stored, taken, now)
            waiting = len([n for n in ready if n in acked or n in taken])
            room = queue - len(inflight) - waiting
            for name in ready:
                if room <= 0 or len(inflight) >= jobs:
                    break
                if name not in inflight and name not in acked and name not in taken:
                    inflight[name] = pool.submit(push, name)
                    room -= 1
            if now - last_drop > 2.0:
                _drop_stale(ok_dir, ready)
                last_drop = now
            if inflight or ready:
                last_work = now
            elif now - last_work > IDLE:
                break
            if ready != seen:
                seen, last_change = ready, now
            if len(inflight) < jobs:        # PostgreSQL marks the next file ready, or acknowledges one; a
                # spooler of a server that writes a segment now and then looks less often (0.4 % of a core)
                time.sleep(POLL_BUSY if inflight or now - last_change < 1.0 else POLL_CALM)
    _log('spooler for %s idle, exiting' % p['server_name'])
    os.close(lock)


def _taken_answers(ready, acked, stored, taken, now):
    """Keep `taken` (name -> since when) for stored files whose answer archive_command took while PostgreSQL
    has not marked them done yet (it renames .ready right after): not pushed again, which would only
    compare the stored copy. Still ready REPUSH_AFTER seconds later means PostgreSQL asks again (its
    archive_command was killed after taking the answer): pushed again, which answers it (idempotent)."""
    wanted = set(ready)
    for name in list(stored):
        if name not in wanted:
            stored.discard(name)
            taken.pop(name, None)
        elif name not in acked:
            if now - taken.setdefault(name, now) > REPUSH_AFTER:
                stored.discard(name)
                del taken[name]


def _drop_stale(ok_dir, ready, age=60.0):
    """Records of files PostgreSQL no longer wants archived (acknowledged otherwise, or recycled)."""
    wanted = set(ready)
    now = time.time()
    for name in os.listdir(ok_dir):
        if name not in wanted and '.tmp-' not in name:
            path = os.path.join(ok_dir, name)
            try:
                if now - os.stat(path).st_mtime > age:
                    os.unlink(path)
            except OSError:
                pass


# --- the prefetcher ---------------------------------------------------------------------------

def _ahead(name, queue, seg_size):
    """name, then the next queue segments of its timeline (only name for other files)."""
    if not SEGMENT_RE.match(name):
        return [name]
    try:
        tli, segno = segment_of(name, seg_size)
    except BadInput:            # the segment size is not known yet
        return [name]
    return [segment_file(tli, segno + i, seg_size) for i in range(queue + 1)]


def run_prefetcher(p, spool, lock):
    """Fetch what restore_command asks for, and ahead of it, until idle (see the module docstring);
    lock: the fd holding fetch.lock."""
    jobs, queue = settings(p)
    fetch_dir = os.path.join(spool, 'fetch')
    _purge(fetch_dir, keep=('want',))
    repo = _open(p)
    source = key_source(p)
    data_key = wal_data_key(repo, p['server_name'], source) if source is not None else None
    encrypted = is_encrypted_archive(p, repo)
    wal_async.allocator(trim=True)
    seg_size = 16 << 20         # until the first segment fetched says otherwise
    _log('prefetcher started for %s (pid %d, %d jobs, %d ahead)' % (p['server_name'], os.getpid(), jobs, queue))

    sizes = {'segment': seg_size}

    def fetch(name):
        r = wal_fetch(p, name, os.path.join(fetch_dir, name), repo=repo, data_key=data_key,
                      encrypted_archive=encrypted, durable=False)
        if SEGMENT_RE.match(name):
            sizes['segment'] = r['raw_bytes']      # the look-ahead names follow the real segment size

    inflight = {}
    done = set()            # answered in the spool (a file, .missing or .err), as far as this process knows
    failed = {}             # name -> when fetching it ahead failed
    end = {}                # timeline -> (segno found missing ahead, when)
    last_words, last_work = None, time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        while True:
            data = wal_async.read_file(os.path.join(fetch_dir, 'want'))
            words = data.decode('ascii', 'replace').split() if data else []
            asked = words[0] if words and wal_kind(words[0]) else None
            served = len(words) > 1 and words[1] == 'served'      # restore_command has it: only what follows
            now = time.time()
            if words != last_words:
                last_words, last_work = words, now
                if asked:
                    _drop_behind(fetch_dir, asked)
                    done = set(n for n in done if n[8:] >= asked[8:])
                    if not served:
                        done.discard(asked)         # asked (again): its answer must be in the spool
            for name, fut in list(inflight.items()):
                if fut.done():
                    del inflight[name]
                    error = fut.exception()
                    if error is not None and not isinstance(error, WalNotArchived):
                        failed[name] = now         # not fetched ahead again at once (asked: .err)
                    if _settle(fetch_dir, name, error, name == asked, end, sizes['segment']):
                        done.add(name)
            if asked:
                for name in _ahead(asked, queue, sizes['segment']):
                    if len(inflight) >= jobs:
                        break
                    if served and name == asked:
                        continue
                    if name in inflight or name in done or \
                            (name != asked and now - failed.get(name, 0) < LOOKAHEAD_RETRY):
                        continue
                    if name != asked and _beyond_end(name, end, sizes['segment'], now):
                        break
                    inflight[name] = pool.submit(fetch, name)
            if inflight:
                last_work = now
            elif now - last_work > IDLE:
                break
            if inflight and len(inflight) >= jobs:
                concurrent.futures.wait(list(inflight.values()), timeout=0.002,
                                        return_when=concurrent.futures.FIRST_COMPLETED)
            else:
                time.sleep(0.002)
    _purge(fetch_dir)
    _log('prefetcher for %s idle, exiting' % p['server_name'])
    os.close(lock)


def _beyond_end(name, end, seg_size, now):
    try:
        tli, segno = segment_of(name, seg_size)
    except BadInput:
        return True
    seen = end.get(tli)
    if seen is None or segno < seen[0]:
        return False
    if now - seen[1] > LOOKAHEAD_RETRY:
        del end[tli]        # look again: the archive may have grown
        return False
    return True


def _settle(fetch_dir, name, error, asked, end, seg_size):
    """Record the outcome of one fetch: only the file asked for gets a .missing / .err answer.

    True when the spool now holds an answer for name (the file, .missing or .err).
    """
    base = os.path.join(fetch_dir, name)
    if error is None:
        return True
    if isinstance(error, WalNotArchived):
        if asked:
            wal_async.write_file(base + '.missing', b'')
            return True
        if SEGMENT_RE.match(name):
            try:
                tli, segno = segment_of(name, seg_size)
            except BadInput:
                return False
            if tli not in end or segno < end[tli][0]:
                end[tli] = (segno, time.time())
        return False
    message = str(error) if isinstance(error, DbBackupError) else \
        'fetching %s failed: %s: %s' % (name, type(error).__name__, error)
    _log(message)
    if asked:
        wal_async.write_file(base + '.err', ' '.join(message.split()).encode())
        return True
    return False


def _drop_behind(fetch_dir, asked):
    """Prefetched segments before the one asked for are not needed any more."""
    if not SEGMENT_RE.match(asked):
        return
    for entry in os.listdir(fetch_dir):
        name = entry.split('.')[0]
        if SEGMENT_RE.match(name) and name[8:] < asked[8:]:
            try:
                os.unlink(os.path.join(fetch_dir, entry))
            except OSError:
                pass


def _purge(fetch_dir, keep=()):
    for entry in os.listdir(fetch_dir):
        if entry not in keep:
            try:
                os.unlink(os.path.join(fetch_dir, entry))
            except OSError:
                pass


# --- what wal-push / wal-fetch do in async mode (api.py) -----------------------------------------

def _spool(p):
    spool = wal_async.spool_dir(p.get('spool_path'), p['server_name'], p['repository'])
    try:
        wal_async.make_dirs(spool)
    except OSError as e:
        raise BadInput('Cannot use the spool directory %s: %s.' % (spool, e.strerror),
                       'spool_path must be a directory the PostgreSQL user may write (default %s).'
                       % wal_async.DEFAULT_SPOOL_PATH)
    return spool


def _timeout(p):
    try:
        return float(p.get('async_timeout') or wal_async.DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        raise BadInput('async_timeout must be a number of seconds, got %r.' % (p.get('async_timeout'),))


def push_async(p, src_path, wal_name):
    """archive_command in async mode: hand the file to the spooler (start it when needed), wait until stored."""
    check_wal_name(wal_name)
    wal_dir = os.path.dirname(os.path.abspath(src_path or '.'))
    if not src_path or not os.path.exists(os.path.join(wal_dir, 'archive_status', wal_name + '.ready')):
        return wal_push(p, src_path, wal_name)     # not called by PostgreSQL's archiver: push it directly
    spool = _spool(p)
    timeout = _timeout(p)
    answer = None
    for dummy in range(2):          # a spooler that ends (idle) just now: start another once
        answer = wal_async.push_answer(spool, src_path, wal_name)
        if answer is None:
            if not wal_async.running(spool, 'push'):
                wal_async.start_daemon(spool, 'push', lambda lock: run_spooler(p, spool, wal_dir, lock))
            answer = wal_async.wait_push(spool, src_path, wal_name, timeout)
        if answer is not None:
            break
    if answer is None:
        raise DbBackupError('The WAL spooler of %s stopped before %s was archived.' % (p['server_name'], wal_name),
                            'See %s.' % os.path.join(spool, 'daemon.log'))
    if answer[0]:
        raise DbBackupError(answer[1])
    return {'changed': True, 'wal_name': wal_name, 'async': True, 'spool': spool,
            'msg': '%s archived by the spooler.' % wal_name}


def fetch_async(p, wal_name, dest_path):
    """restore_command in async mode: the prefetched file, else ask the prefetcher (start it when needed)."""
    check_wal_name(wal_name)
    if not dest_path:
        raise BadInput('The path to restore the WAL file to (%p) is required.')
    spool = _spool(p)
    timeout = _timeout(p)
    answer = None
    for dummy in range(2):
        if not wal_async.running(spool, 'fetch'):
            # files of a prefetcher that is gone were not fsynced: after a crash they may be torn
            _purge(os.path.join(spool, 'fetch'))
            wal_async.want(spool, wal_name)
            wal_async.start_daemon(spool, 'fetch', lambda lock: run_prefetcher(p, spool, lock))
        answer = wal_async.fetch_answer(spool, wal_name, dest_path)
        if answer is None:
            wal_async.want(spool, wal_name)
            answer = wal_async.wait_fetch(spool, wal_name, dest_path, timeout)
        if answer is not None:
            break
    if answer is None:
        raise DbBackupError('The WAL prefetcher of %s stopped before %s was fetched.' % (p['server_name'], wal_name),
                            'See %s.' % os.path.join(spool, 'daemon.log'))
    rc, message = answer
    if rc == wal_async.NOT_ARCHIVED:
        raise WalNotArchived(message)
    if rc:
        raise DbBackupError(message)
    return {'changed': True, 'wal_name': wal_name, 'dest_path': dest_path, 'async': True,
            'msg': '%s restored to %s (prefetched).' % (wal_name, dest_path)}
