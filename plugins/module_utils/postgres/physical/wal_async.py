# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Asynchronous archive_command / restore_command: the spool and the fast path (standard library only).

With archive_async on, wal-push and wal-fetch talk to a background process per server
(postgres/physical/wal_spool.py) through a spool directory, as pgBackRest's archive-push/get
--archive-async and WAL-G's prefetch do:

- wal-push (archive_command %p %f): the spooler pushes every file PostgreSQL has marked ready
  (pg_wal/archive_status/*.ready), async_jobs at a time, and records each one that is durably
  stored (the repository committed it) in push/ok/<name>. wal-push returns 0 only when that
  record exists and describes the very file %p (size, modification time, inode); otherwise it
  waits for it. Nothing is acknowledged to PostgreSQL before it is in the repository, so a
  killed spooler loses nothing: PostgreSQL keeps the .ready file, calls again, and the next
  spooler pushes again (idempotent: the same content already stored is success).
- wal-fetch (restore_command %f %p): the prefetcher fetches the asked-for segment and the next
  async_queue ones, each with every check of a direct wal-fetch, into fetch/<name> (written to
  a temporary name, renamed); wal-fetch moves the file to %p, but only while that prefetcher
  runs (its files are not fsynced; a new prefetcher starts with an empty spool). fetch/<name>.missing
  answers "not archived", fetch/<name>.err carries the error of a file that is archived but
  unusable.

This module is what PostgreSQL starts for every WAL file, so it imports only the standard
library: when the background process is running, the answer costs a Python start-up, reading
the config file and a few file-system calls. When it is not running, the caller (api.py)
starts one (start_daemon) and waits in the same way.

Layout: <spool_path>/<server_name>-<8 hex of the repository URL>/ (mode 0700)
    push.lock, fetch.lock    held (flock) by the running spooler / prefetcher
    push/ok/<name>           JSON of the stored file: size, mtime_ns, ino, location
    push/err/<name>          the error of the last attempt (one line)
    fetch/<name>             a checked WAL file for restore_command
    fetch/<name>.missing     not in the archive (answer to a request)
    fetch/<name>.err         archived but unusable (the error)
    fetch/want               the file restore_command asked for last (the prefetcher reads ahead of it)
    daemon.log               what the background processes say
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import sys
import time

DEFAULT_SPOOL_PATH = '/var/spool/dbbackup'
DEFAULT_TIMEOUT = 60
POLL = 0.002                  # seconds between looks at the spool while waiting
MISSING_TTL = 5.0             # a .missing answer older than this is not trusted (asked again)
TRUE = ('1', 'true', 'yes', 'on', 'y')
NOT_ARCHIVED = 1              # exit statuses of wal-fetch (cli.py): not archived / archived but unusable
UNUSABLE = 200


def truthy(value):
    return str(value).strip().lower() in TRUE if value is not None else False


def spool_dir(spool_path, server_name, repository):
    """The spool of one server and repository (an FNV-1a hash of the repository URL tells repositories apart;
    computed here so that the fast path loads no extension module)."""
    tag = 0x811C9DC5
    for byte in str(repository or '').rstrip('/').encode('utf-8'):
        tag = ((tag ^ byte) * 0x01000193) & 0xFFFFFFFF
    return os.path.join(spool_path or DEFAULT_SPOOL_PATH, '%s-%08x' % (server_name, tag))


def make_dirs(spool):
    for d in (spool, os.path.join(spool, 'push', 'ok'), os.path.join(spool, 'push', 'err'),
              os.path.join(spool, 'fetch')):
        try:
            os.makedirs(d, 0o700)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise


# --- the background process's lock ------------------------------------------------------------

def lock_path(spool, kind):
    return os.path.join(spool, '%s.lock' % kind)


def try_lock(spool, kind):
    """An open fd holding the exclusive lock, or None when a running process holds it."""
    import fcntl
    fd = os.open(lock_path(spool, kind), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def running(spool, kind):
    """True while a spooler (kind 'push') or prefetcher ('fetch') holds its lock."""
    try:
        fd = try_lock(spool, kind)
    except OSError:
        return False
    if fd is None:
        return True
    os.close(fd)
    return False


def start_daemon(spool, kind, run):
    """Start run(lock_fd) in a detached grandchild process (its own session, output to daemon.log).

    The lock of kind is taken here, before the fork, and inherited: when this returns, the
    background process holds it (running() is true) or has already finished. Nothing is
    started when another process holds the lock. run() returns when the work is done (idle);
    the grandchild then exits. The caller continues at once.
    """
    fd = try_lock(spool, kind)
    if fd is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(fd)
        os.waitpid(pid, 0)
        return
    code = 1
    try:
        os.setsid()
        if os.fork():
            code = 0
        else:
            devnull = os.open(os.devnull, os.O_RDONLY)
            log = os.open(os.path.join(spool, 'daemon.log'), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(devnull, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            allocator(arenas=1)
            try:
                run(fd)
                code = 0
            except BaseException as e:    # pylint: disable=broad-except
                sys.stderr.write('%s dbbackup background process failed: %s\n' % (time.strftime('%F %T'), e))
            sys.stderr.flush()
    finally:
        os._exit(code)


def allocator(arenas=None, trim=False):
    """Keep a long-lived background process small (glibc's malloc; elsewhere nothing happens).

    arenas: the most malloc arenas, set before threads start. Each thread would otherwise get an
    arena of its own that keeps the pieces it freed: 4 MiB at the S3 spooler's peak. The threads
    wait on I/O or run C code without the GIL, so one arena costs no speed (measured). trim: give
    the free memory at the top of the heap back now (after set-up: the S3 client's garbage, 2 MiB).
    """
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        if arenas:
            libc.mallopt(-8, int(arenas))       # M_ARENA_MAX
        if trim:
            libc.malloc_trim(0)
    except (ImportError, OSError, AttributeError):
        pass


# --- small files -----------------------------------------------------------------------------

def write_file(path, data, sync=False):
    """Write data to path through a temporary name (atomic for readers)."""
    tmp = '%s.tmp-%d' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def read_file(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except (IOError, OSError):
        return None


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def ok_record(st, location):
    """What push/ok/<name> holds: the identity of the file pushed (size, mtime_ns, inode, device), then where."""
    return ('%d %d %d %d\n%s\n' % (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, location)).encode('utf-8')


# --- wal-push ----------------------------------------------------------------------------------

def push_answer(spool, src_path, wal_name):
    """(0, None) when wal_name is stored and the record matches src_path; (1, message) for the spooler's
    error; None when there is no answer yet."""
    ok = os.path.join(spool, 'push', 'ok', wal_name)
    data = read_file(ok)
    if data is not None:
        try:
            st = os.stat(src_path)
            same = data.split(b'\n', 1)[0].decode('ascii') == '%d %d %d %d' % (
                st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
        except (OSError, UnicodeDecodeError):
            same = False
        _unlink(ok)                 # consumed; a record of another file is stale: pushed again
        if same:
            return 0, None
    err = os.path.join(spool, 'push', 'err', wal_name)
    data = read_file(err)
    if data is not None:
        _unlink(err)                # the spooler tries again once PostgreSQL asks again
        return 1, data.decode('utf-8', 'replace').strip()
    return None


def _wait(answer, spool, side, timeout, too_late):
    """Poll answer() until it gives (rc, message); None when the background process of side
    ('push', 'fetch') of spool is not running (start one); too_late when timeout passes first."""
    deadline = time.time() + timeout
    check_alive = 0
    while True:
        result = answer()
        if result is not None:
            return result
        check_alive += 1
        if check_alive % 50 == 1 and not running(spool, side):
            return answer()         # it may have finished just now
        if time.time() > deadline:
            return too_late
        time.sleep(POLL)


def wait_push(spool, src_path, wal_name, timeout):
    """Wait for the spooler's answer; (rc, message). None when the spooler is not running (start one)."""
    return _wait(lambda: push_answer(spool, src_path, wal_name), spool, 'push', timeout, (
        1, '%s was not archived within %d s (async_timeout): the spooler is busy or stuck; see %s.'
        % (wal_name, timeout, os.path.join(spool, 'daemon.log'))))


# --- wal-fetch ---------------------------------------------------------------------------------

def _move(src, dest):
    try:
        os.rename(src, dest)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        import shutil      # spool and pg_wal on different file systems: copy (a rename is atomic, this is not
        tmp = dest + '.dbbackup-copy'                                  # until the final rename)
        shutil.copyfile(src, tmp)
        os.rename(tmp, dest)
        _unlink(src)


def fetch_answer(spool, wal_name, dest_path):
    """(0, None) when the prefetched file was moved to dest_path, (1, msg) not archived, (200, msg) unusable,
    None when there is no answer yet."""
    base = os.path.join(spool, 'fetch', wal_name)
    if os.path.exists(base):
        want(spool, wal_name, served=True)      # first: the prefetcher must not fetch it again
        try:
            _move(base, dest_path)
            return 0, None
        except OSError as e:
            if e.errno != errno.ENOENT:
                return UNUSABLE, 'Cannot move the prefetched %s to %s: %s.' % (wal_name, dest_path, e.strerror)
            want(spool, wal_name)               # gone meanwhile (a new prefetcher emptied the spool): ask again
    data = read_file(base + '.err')
    if data is not None:
        want(spool, wal_name, served=True)      # answered: not to be fetched again until asked again
        _unlink(base + '.err')
        return UNUSABLE, data.decode('utf-8', 'replace').strip()
    try:
        age = time.time() - os.stat(base + '.missing').st_mtime
    except OSError:
        return None
    want(spool, wal_name, served=True)
    _unlink(base + '.missing')
    if age > MISSING_TTL:
        return None                 # an old answer: ask again
    return NOT_ARCHIVED, 'WAL file %s is not in the archive.' % wal_name


def want(spool, wal_name, served=False):
    """Tell the prefetcher which file restore_command asked for (it reads ahead of it); served: it has
    it already (from the spool), so only the files after it are wanted."""
    write_file(os.path.join(spool, 'fetch', 'want'), (wal_name + (' served' if served else '')).encode('ascii'))


def wait_fetch(spool, wal_name, dest_path, timeout):
    """Wait for the prefetcher's answer; (rc, message). None when the prefetcher is not running (start one)."""
    return _wait(lambda: fetch_answer(spool, wal_name, dest_path), spool, 'fetch', timeout, (
        UNUSABLE, '%s was not fetched within %d s (async_timeout): the prefetcher is busy or stuck; see %s.'
        % (wal_name, timeout, os.path.join(spool, 'daemon.log'))))


# --- the fast path (cli.py, before anything else is imported) ------------------------------

def _ini_values(text, command):
    """The [dbbackup] and [<command>] values of INI text as configparser reads it, or None for anything
    this short reader does not handle (continuation lines, a malformed line): the caller then uses
    configparser."""
    values = {}
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in '#;':
            continue
        if line[0] in ' \t':
            return None
        if stripped.startswith('['):
            if not stripped.endswith(']'):
                return None
            section = stripped[1:-1].strip()
            continue
        cut = min([i for i in (stripped.find('='), stripped.find(':')) if i > 0] or [-1])
        if cut < 0 or section is None:
            return None
        if section in ('dbbackup', command):
            key = stripped[:cut].strip().lower().replace('-', '_')
            if section == 'dbbackup' and key in values and '@' + key in values:
                continue        # the command's section wins
            values[key] = stripped[cut + 1:].strip()
            if section == command:
                values['@' + key] = True
    return dict((k, v) for k, v in values.items() if not k.startswith('@'))


def _config_values(path, command):
    """The common section and the command's section of an INI or JSON config file (None when unreadable)."""
    try:
        with open(path) as f:
            text = f.read()
    except (IOError, OSError):
        return None
    if text.lstrip().startswith('{'):
        import json
        try:
            data = json.loads(text)
        except ValueError:
            return None
        values = dict((str(k).replace('-', '_'), v) for k, v in data.items() if not isinstance(v, dict))
        values.update((str(k).replace('-', '_'), v) for k, v in (data.get(command) or {}).items())
        return values
    values = _ini_values(text, command)
    if values is not None:
        return values
    import configparser
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error:
        return None
    values = {}
    for section in ('dbbackup', command):
        if parser.has_section(section):
            values.update((k.replace('-', '_'), v) for k, v in parser.items(section))
    return values


def fast_path(argv):
    """Answer wal-push / wal-fetch from the spool when archive_async is on and the background process runs.

    argv: the CLI arguments. Returns an exit status, or None when the full CLI must run (not
    async, another command line than `wal-push --config F %p %f` / `wal-fetch --config F
    [--allow-unencrypted] %f %p`, no server_name in the file, or no background process yet).
    """
    command = argv[0]
    rest = [a for a in argv[1:] if a != '--allow-unencrypted' or command != 'wal-fetch']
    if len(rest) != 4 or rest[0] != '--config' or rest[2].startswith('-') or rest[3].startswith('-'):
        return None
    values = _config_values(rest[1], command)
    if not values or not truthy(values.get('archive_async')) or not values.get('server_name') \
            or not values.get('repository'):
        return None
    spool = spool_dir(values.get('spool_path'), values['server_name'], values['repository'])
    try:
        timeout = float(values.get('async_timeout') or DEFAULT_TIMEOUT)
    except ValueError:
        return None
    try:
        if command == 'wal-push':
            src_path, wal_name = rest[2], rest[3]
            answer = push_answer(spool, src_path, wal_name)
            if answer is None and running(spool, 'push'):
                answer = wait_push(spool, src_path, wal_name, timeout)
        else:
            wal_name, dest_path = rest[2], rest[3]
            if '/' in wal_name or wal_name.startswith('.') or not running(spool, 'fetch'):
                return None             # the spool's files are trusted only while their prefetcher runs
            answer = fetch_answer(spool, wal_name, dest_path)
            if answer is None:
                want(spool, wal_name)
                answer = wait_fetch(spool, wal_name, dest_path, timeout)
    except OSError:
        return None                 # no spool yet, or not ours: the full CLI says what is wrong
    if answer is None:
        return None
    rc, message = answer
    if message:
        sys.stderr.write('dbbackup: %s\n' % ' '.join(message.split()))
    return rc
