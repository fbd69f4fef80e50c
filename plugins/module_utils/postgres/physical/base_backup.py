# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Physical base backup of a PostgreSQL server (kind=base), the starting point of PITR.

PostgreSQL's non-exclusive low-level API on one session kept open for the whole
backup: pg_backup_start (PostgreSQL 15+; pg_start_backup(label, fast, false)
before), the data directory streamed as a tar through compression, optional
encryption and SHA-256 into the repository, each tablespace as its own tar, then
pg_backup_stop(wait_for_archive => false) (pg_stop_backup(false, false) before),
whose backup_label and tablespace_map are stored as files of the backup, and
whose time (stop_time) bounds every commit before the stop point; then a wait
until PostgreSQL has archived the stop segment and the backup history file
(wait_archived: PostgreSQL's own check, polled every 50 ms instead of every
second).

What is left out follows PostgreSQL ("Making a Base Backup Using the Low Level
API" in the continuous-archiving chapter, and the BASE_BACKUP exclusion lists
of src/backend/backup/basebackup.c): see EXCLUDE_* below and docs/base-backup.md.

The engine reads the files itself, so it runs on the database host, as root or
as the server's OS user. Files that vanish while the directory is walked are
skipped; a file that shrinks is padded with zeros to the size in its tar header
and one that grows is read only up to it: WAL replay from the backup's start
point repairs both, as it does for pg_basebackup. Any failure removes the
backup directory: without a manifest nothing counts.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import re
import stat
import struct
import tarfile
import time

from ...common.deps import require
from ...common.errors import BackupFailed, BadInput
from ...common.times import isoformat, parse_max_age, utcnow
from ...format.backups import kind_path, new_backup, reuse_fresh
from ...format.keys import encryption_field, key_source, new_data_key
from ...format.manifest import new_manifest, write_manifest
from ...storage.factory import open_repository
from ...stream.compress import SUFFIX, check_options
from ...stream.encrypt import SUFFIX as ENCRYPTED_SUFFIX
from ...stream.pipeline import StoredFileWriter
from ..capabilities import MIN_VERSION_NUM, Capabilities, major_of
from ..connection import connect, error_text, server_version
from .wal_names import parse_lsn, segment_name

# --- what PostgreSQL leaves out of a base backup (basebackup.c, PostgreSQL 15) ---------
# directories kept empty (at any depth, as basebackup.c compares the entry name)
EXCLUDE_DIR_CONTENTS = ('pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial',
                        'pg_snapshots', 'pg_subtrans')
# files left out (at any depth); (name, match_prefix)
EXCLUDE_FILES = (('postgresql.auto.conf.tmp', False), ('current_logfiles.tmp', False),
                 ('current_logfiles', False),     # the source's log pointer; rewritten at start
                 ('pg_internal.init', True), ('backup_label', False), ('tablespace_map', False),
                 ('backup_manifest', False), ('postmaster.pid', False), ('postmaster.opts', False))
TEMP_PREFIX = 'pgsql_tmp'           # temporary files and directories, anywhere
# relation files: <relfilenode>[_<fork>][.<segment>]; temporary relations t<backend>_<relfilenode>...
_REL_RE = re.compile(r'^(\d+)(?:_(fsm|vm|init))?(?:\.\d+)?$')
_TEMP_REL_RE = re.compile(r'^t\d+_\d+(?:_(?:fsm|vm|init))?(?:\.\d+)?$')

CHECKPOINTS = ('spread', 'fast')
DEFAULT_ARCHIVE_WAIT = 600
READ_SIZE = 1 << 20
QUERY_CANCELED = '57014'


# --- WAL positions ----------------------------------------------------------------------

def parse_label(text):
    """The fields of a backup_label: {'START WAL LOCATION': '0/2000028 (file ...)', ...}."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(': ')
        if sep:
            fields[key.strip()] = value.strip()
    return fields


# --- the walk -------------------------------------------------------------------------

class _PaddedFile(object):
    """Reads exactly `size` bytes of an open file: zeros after an early end (the file shrank),
    nothing past `size` (it grew). tarfile asks for exact block lengths."""

    def __init__(self, f, size):
        self._f = f
        self._left = size
        self.padded = False

    def read(self, n=-1):
        if n is None or n < 0 or n > self._left:
            n = self._left
        out = []
        got = 0
        while got < n:
            data = self._f.read(n - got)
            if not data:
                self.padded = True
                out.append(b'\0' * (n - got))
                got = n
                break
            out.append(data)
            got += len(data)
        self._left -= n
        return b''.join(out)


def _excluded_file(name):
    for pattern, prefix in EXCLUDE_FILES:
        if name == pattern or (prefix and name.startswith(pattern)):
            return True
    return False


class TarWalker(object):
    """Streams one directory tree into a tarfile with PostgreSQL's exclusions."""

    def __init__(self, tar, db_dir_test, skip_dir_contents=(), top_dir=None):
        self.tar = tar
        self.db_dir_test = db_dir_test       # relpath of a dir -> True when it holds relation files
        self.skip_dir_contents = set(skip_dir_contents)   # relpaths whose contents are left out
        self.top_dir = top_dir
        self.files = 0
        self.bytes = 0
        self.skipped = []          # special files and stray symbolic links (not archived)
        self.changed = 0           # files that shrank while read (padded)
        self.vanished = 0
        self.held_back = set()     # relpaths the caller archives itself at the end (pg_control)

    def dir_entry(self, name, st, as_dir_mode=None):
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = as_dir_mode if as_dir_mode is not None else stat.S_IMODE(st.st_mode)
        info.mtime = int(st.st_mtime)
        info.uid, info.gid = st.st_uid, st.st_gid
        self.tar.addfile(info)

    def add_file(self, path, name):
        """Archive one regular file; False when it vanished."""
        try:
            f = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0)), 'rb', buffering=0)
        except OSError as e:
            if e.errno == errno.ENOENT:
                self.vanished += 1
                return False
            raise _read_error(path, e)
        with f:
            st = os.fstat(f.fileno())
            info = tarfile.TarInfo(name)
            info.size = st.st_size
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            info.uid, info.gid = st.st_uid, st.st_gid
            source = _PaddedFile(f, st.st_size)
            try:
                self.tar.addfile(info, source)
            except OSError as e:
                raise _read_error(path, e)
            if source.padded:
                self.changed += 1
        self.files += 1
        self.bytes += st.st_size
        return True

    def walk(self, path, rel):
        """Archive the contents of directory `path` (tar names under `rel`)."""
        try:
            names = sorted(os.listdir(path))
        except OSError as e:
            if e.errno == errno.ENOENT and rel:
                self.vanished += 1
                return
            raise _read_error(path, e)
        is_db_dir = bool(rel) and self.db_dir_test(rel)
        for name in names:
            child = os.path.join(path, name)
            crel = rel + '/' + name if rel else name
            if name.startswith(TEMP_PREFIX) or _excluded_file(name):
                continue
            if is_db_dir and _skip_relation_file(path, name):
                continue
            if crel in self.held_back:
                continue
            try:
                st = os.lstat(child)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    self.vanished += 1
                    continue
                raise _read_error(child, e)
            if name in EXCLUDE_DIR_CONTENTS or crel in self.skip_dir_contents:
                self.dir_entry(crel, st, 0o700 if stat.S_ISLNK(st.st_mode) else None)
                continue
            if self.top_dir is not None and not rel:
                special = self.top_dir(name, child, crel, st)
                if special:
                    continue
            if stat.S_ISDIR(st.st_mode):
                self.dir_entry(crel, st)
                self.walk(child, crel)
            elif stat.S_ISREG(st.st_mode):
                self.add_file(child, crel)
            else:
                self.skipped.append(crel)


def _skip_relation_file(directory, name):
    """Unlogged relations' forks other than init (when an _init fork exists), temporary relations."""
    if _TEMP_REL_RE.match(name):
        return True
    m = _REL_RE.match(name)
    if m and m.group(2) != 'init':
        return os.path.lexists(os.path.join(directory, m.group(1) + '_init'))
    return False


def _read_error(path, e):
    if getattr(e, 'errno', None) in (errno.EACCES, errno.EPERM):
        return BadInput('The base backup cannot read %s (%s).' % (path, e.strerror),
                        'Run it on the database host as root or as the server\'s OS user (postgres).')
    return BackupFailed('Reading %s failed: %s.' % (path, e),
                        'No backup was recorded; fix the cause and run the backup again.')


# --- the backup -------------------------------------------------------------------------

def _options(p):
    checkpoint = p.get('checkpoint') or 'spread'
    if checkpoint not in CHECKPOINTS:
        raise BadInput('checkpoint must be spread or fast, got %r.' % (checkpoint,))
    wait = p.get('archive_wait_timeout')
    if wait in (None, ''):
        wait = DEFAULT_ARCHIVE_WAIT
    if not (str(wait).isdigit() and 1 <= int(wait) <= 86400):
        raise BadInput('archive_wait_timeout must be a number of seconds from 1 to 86400, got %r.' % (wait,))
    verify = p.get('verify') or 'none'
    if verify not in ('none', 'quick', 'deep'):
        raise BadInput('verify for kind=base must be none, quick or deep, got %r.' % (verify,),
                       'deep also decodes the tars and checks their members and backup_label; '
                       'a base backup is proven only by restoring it (dbbackup_pitr).')
    if p.get('db_type', 'postgresql') != 'postgresql':
        raise BadInput('kind=base is a PostgreSQL physical backup; db_type must be postgresql.')
    return checkpoint, int(wait), verify


def _setting(cur, name):
    cur.execute('SELECT setting FROM pg_catalog.pg_settings WHERE name = %s', (name,))
    row = cur.fetchone()
    return row[0] if row else None


def _check_server(conn, p):
    """Preconditions; returns the facts the backup needs. Raises BadInput naming what to fix."""
    version_num, version = server_version(conn)
    where = p.get('server_name')
    if version_num < MIN_VERSION_NUM:
        raise BadInput('PostgreSQL %s is too old for kind=base (%d or newer is needed).'
                       % (version, major_of(MIN_VERSION_NUM)))
    caps = Capabilities(version_num)
    cur = conn.cursor()
    cur.execute("SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('is_superuser') = 'on'")
    in_recovery, is_super = cur.fetchone()
    if in_recovery:
        raise BadInput('Server %s is a standby (in recovery): kind=base backs up a primary.' % where,
                       'Point login_host/login_port at the primary server.')
    archive_mode = _setting(cur, 'archive_mode')
    archive_command = _setting(cur, 'archive_command') or ''
    archive_library = _setting(cur, 'archive_library') or ''      # PostgreSQL 15+
    if archive_mode not in ('on', 'always') or not (archive_command.strip() or archive_library.strip()):
        raise BadInput('WAL archiving is not set up on server %s (archive_mode=%s, archive_command %s): a base '
                       'backup cannot be recovered without the archived WAL.'
                       % (where, archive_mode, 'empty' if not archive_command.strip() else 'set'),
                       'Enable it first with dbbackup_pitr state=enabled (it sets archive_mode and '
                       'archive_command and restarts the server when needed); nothing was written.')
    try:
        cur.execute('SHOW data_directory')
        data_dir = cur.fetchone()[0]
    except require('psycopg2').Error as e:
        conn.rollback()
        raise BadInput('The login role cannot read data_directory (%s).' % error_text(e),
                       'kind=base needs a superuser, or a role with pg_read_all_settings and EXECUTE on '
                       'the backup functions.')
    cur.execute('SELECT system_identifier::text FROM pg_catalog.pg_control_system()')
    system_identifier = cur.fetchone()[0]
    cur.execute('SELECT catalog_version_no FROM pg_catalog.pg_control_system()')
    catversion = cur.fetchone()[0]
    seg_size = int(_setting(cur, 'wal_segment_size'))
    stats_temp = _setting(cur, 'stats_temp_directory') if caps.stats_temp_directory else None
    _check_data_dir(data_dir, system_identifier)
    major = str(version_num // 10000)
    return {'version_num': version_num, 'version': version, 'data_dir': data_dir, 'is_super': is_super,
            'system_identifier': system_identifier, 'wal_segment_size': seg_size,
            'tablespace_dir': 'PG_%s_%s' % (major, catversion), 'stats_temp': stats_temp,
            'archive_mode': archive_mode}


def backup_history_name(tli, start_lsn, seg_size):
    """The backup history file pg_backup_stop writes: <start segment>.<offset in it, 8 hex>.backup."""
    start = parse_lsn(start_lsn)
    return '%s.%08X.backup' % (segment_name(tli, start, seg_size), start % seg_size)


def _archive_busy(status_dir, wal_dir, name):
    """PostgreSQL's XLogArchiveIsBusy: not archived yet (.ready, or neither flag while the file exists)."""
    if os.path.exists(os.path.join(status_dir, name + '.done')):
        return False
    if os.path.exists(os.path.join(status_dir, name + '.ready')):
        return True
    return os.path.exists(os.path.join(wal_dir, name))


def wait_archived(data_dir, names, timeout, start_lsn, poll=0.05):
    """Wait until PostgreSQL has archived names (the stop segment and the backup history file).

    pg_backup_stop(wait_for_archive => true) does the same but polls once per second; this polls
    pg_wal/archive_status every `poll` seconds. BackupFailed after timeout seconds.
    """
    wal_dir = os.path.join(data_dir, 'pg_wal')
    status_dir = os.path.join(wal_dir, 'archive_status')
    deadline = time.time() + timeout
    while any(_archive_busy(status_dir, wal_dir, n) for n in names):
        if time.time() > deadline:
            raise BackupFailed('The WAL of the base backup (from %s) was not archived within %d s '
                               '(archive_wait_timeout).' % (start_lsn, timeout),
                               'Check archive_command and the server log, or run dbbackup_pitr state=status; '
                               'no backup was recorded.')
        time.sleep(poll)


def _check_data_dir(data_dir, system_identifier):
    """The data directory must be readable here and be the server's (same system identifier)."""
    control = os.path.join(data_dir, 'global', 'pg_control')
    try:
        with open(control, 'rb') as f:
            head = f.read(8)
        os.listdir(data_dir)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise BadInput('The server\'s data directory %s does not exist on this host.' % data_dir,
                           'kind=base reads the data directory itself: run it on the database host.')
        raise BadInput('The server\'s data directory %s is not readable here (%s).' % (data_dir, e.strerror),
                       'Run the base backup on the database host as root or as the server\'s OS user '
                       '(postgres).')
    if len(head) != 8 or str(struct.unpack('=Q', head)[0]) != system_identifier:
        raise BadInput('The data directory %s on this host does not belong to the server connected to '
                       '(system identifier differs).' % data_dir,
                       'kind=base must run on the database host of the server it backs up.')


def _tablespaces(data_dir):
    """Tablespaces linked from pg_tblspc: [(oid, location)]; in-place ones (directories) stay in base."""
    found = []
    tblspc = os.path.join(data_dir, 'pg_tblspc')
    for name in sorted(os.listdir(tblspc)):
        path = os.path.join(tblspc, name)
        if name.isdigit() and os.path.islink(path):
            found.append((int(name), os.readlink(path)))
    return found


class BaseBackup(object):
    """One base backup of the server of params into repo at path; run() returns the manifest."""

    def __init__(self, params, repo, path, backup_id, compression, level, encryption, facts,
                 checkpoint, archive_wait):
        self.p = params
        self.repo = repo
        self.path = path
        self.backup_id = backup_id
        self.compression = compression
        self.level = level
        self.encryption = encryption
        self.data_key = new_data_key() if encryption is not None else None
        self.suffix = SUFFIX[compression] + (ENCRYPTED_SUFFIX if encryption is not None else '')
        self.facts = facts
        self.checkpoint = checkpoint
        self.archive_wait = archive_wait
        jobs = int(params.get('jobs') or 1)
        self.threads = jobs if jobs > 1 else 0      # zstd worker threads
        self.skipped = []
        self.walk_counts = {'padded': 0, 'vanished': 0}   # files that shrank / disappeared while read

    def _writer(self, relpath):
        return StoredFileWriter(self.repo, self.path + '/' + relpath, self.compression, self.level,
                                threads=self.threads if self.compression == 'zstd' else 0,
                                data_key=self.data_key)

    def _store_tar(self, relpath, fill):
        """A tar stream into the stored file relpath; fill(tar) archives; returns the entry."""
        w = self._writer(relpath)
        tar = None
        try:
            tar = tarfile.open(fileobj=w, mode='w|', format=tarfile.PAX_FORMAT, bufsize=READ_SIZE)
            tar.copybufsize = READ_SIZE
            walker = fill(tar)
            tar.close()
            entry = w.commit()
        except BaseException:
            if tar is not None:       # a failed stream must not try to flush itself later (at exit)
                tar.closed = tar.fileobj.closed = True
            w.abort()
            raise
        entry['path'] = relpath
        entry['members'] = walker.files
        entry['data_bytes'] = walker.bytes
        self.skipped.extend(walker.skipped)
        self.walk_counts['padded'] += walker.changed
        self.walk_counts['vanished'] += walker.vanished
        return entry

    def _store_text(self, relpath, role, text):
        w = self._writer(relpath)
        try:
            w.write(text.encode('utf-8'))
            entry = w.commit()
        except BaseException:
            w.abort()
            raise
        entry.update(path=relpath, role=role)
        return entry

    def base_tar(self, tar):
        data_dir = self.facts['data_dir']
        skip = set()
        stats_temp = self.facts.get('stats_temp')
        if stats_temp and not os.path.isabs(stats_temp):
            skip.add(os.path.normpath(stats_temp))

        def top_dir(name, child, crel, st):
            if name == 'pg_wal':        # kept empty (a symbolic link becomes a directory)
                mode = 0o700 if stat.S_ISLNK(st.st_mode) else None
                walker.dir_entry('pg_wal', st, mode)
                walker.dir_entry('pg_wal/archive_status', st, mode)
                return True
            if name == 'pg_tblspc' and stat.S_ISDIR(st.st_mode):
                walker.dir_entry(crel, st)
                for entry in sorted(os.listdir(child)):   # in-place tablespaces only (links: tablespace_map)
                    sub = os.path.join(child, entry)
                    if not os.path.islink(sub) and os.path.isdir(sub):
                        walker.dir_entry(crel + '/' + entry, os.lstat(sub))
                        walker.walk(sub, crel + '/' + entry)
                return True
            return False

        walker = TarWalker(tar, _base_db_dir, skip, top_dir)
        walker.held_back.add('global/pg_control')
        walker.walk(data_dir, '')
        # pg_control last, as pg_basebackup does
        if not walker.add_file(os.path.join(data_dir, 'global', 'pg_control'), 'global/pg_control'):
            raise BackupFailed('global/pg_control vanished from %s during the backup.' % data_dir)
        return walker

    def tablespace_tar(self, tar, location):
        version_dir = self.facts['tablespace_dir']
        top = os.path.join(location, version_dir)
        try:
            st = os.lstat(top)
        except OSError as e:
            raise _read_error(top, e)
        walker = TarWalker(tar, lambda rel: _tablespace_db_dir(rel, version_dir))
        walker.dir_entry(version_dir, st)
        walker.walk(top, version_dir)
        return walker

    def run(self, start):
        t0 = time.time()
        psycopg2 = require('psycopg2')
        conn = connect(self.p, dbname=self.p.get('database') or 'postgres', autocommit=True,
                       application_name='dbbackup base backup')
        try:
            return self._run(conn, start, t0)
        except psycopg2.Error as e:
            raise BackupFailed('Base backup of %s failed: %s' % (self.p['server_name'], error_text(e)),
                               'No backup was recorded; fix the cause and run the backup again.')
        finally:
            conn.close()       # ends a backup still in progress on the server

    def _run(self, conn, start, t0):
        facts = self.facts
        caps = Capabilities(facts['version_num'])
        start_fn, stop_fn = caps.backup_functions
        cur = conn.cursor()
        cur.execute('SET statement_timeout = 0')
        cur.execute('SET lock_timeout = 0')
        if caps.idle_session_timeout:
            cur.execute('SET idle_session_timeout = 0')
        label = 'dbbackup %s' % self.backup_id
        fast = self.checkpoint == 'fast'
        exclusive = '' if caps.at_least(15) else ', false'     # before 15: the exclusive flag
        cur.execute('SELECT pg_catalog.%s(%%s, %%s%s)::text' % (start_fn, exclusive), (label, fast))
        start_lsn = cur.fetchone()[0]

        names = {}
        cur.execute('SELECT oid, spcname FROM pg_catalog.pg_tablespace')
        for oid, name in cur.fetchall():
            names[int(oid)] = name
        files = []
        files.append(dict(self._store_tar('base.tar' + self.suffix, self.base_tar), role='base'))
        tablespaces = []
        for oid, location in _tablespaces(facts['data_dir']):
            relpath = 'tablespaces/%d.tar%s' % (oid, self.suffix)
            entry = self._store_tar(relpath, lambda tar, loc=location: self.tablespace_tar(tar, loc))
            entry.update(role='tablespace', oid=oid)
            files.append(entry)
            tablespaces.append({'oid': oid, 'location': location, 'name': names.get(oid), 'path': relpath})

        # the stop time is read right after the backup-end record: every commit before the stop LSN
        # is older, so a recovery to any later target_time passes the consistency point (pitr.py)
        stop_args = 'wait_for_archive => false' if caps.at_least(15) else 'false, false'
        cur.execute('SELECT lsn::text, labelfile, spcmapfile, clock_timestamp() '
                    'FROM pg_catalog.%s(%s)' % (stop_fn, stop_args))
        stop_lsn, labelfile, spcmapfile, stop_time = cur.fetchone()

        fields = parse_label(labelfile)
        m = re.match(r'^(\S+) \(file ([0-9A-F]{24})\)$', fields.get('START WAL LOCATION', ''))
        if not m:
            raise BackupFailed('The backup_label returned by the server is not understood: %r.' % labelfile)
        start_wal_file = m.group(2)
        timeline = int(fields.get('START TIMELINE') or int(start_wal_file[:8], 16))
        seg = facts['wal_segment_size']
        stop_wal_file = segment_name(timeline, parse_lsn(stop_lsn) - 1, seg)
        wait_archived(facts['data_dir'], [stop_wal_file, backup_history_name(timeline, start_lsn, seg)],
                      self.archive_wait, start_lsn)

        files.append(self._store_text('backup_label' + self.suffix, 'backup_label', labelfile))
        if spcmapfile:
            files.append(self._store_text('tablespace_map' + self.suffix, 'tablespace_map', spcmapfile))
        mapped = set(int(line.split(' ', 1)[0]) for line in spcmapfile.splitlines() if line.strip())
        if mapped != set(t['oid'] for t in tablespaces):
            raise BackupFailed('The tablespaces changed during the base backup (archived %s, server map %s).'
                               % (sorted(t['oid'] for t in tablespaces), sorted(mapped)),
                               'Run the backup again when no tablespace is being created or dropped.')

        manifest = new_manifest('base', 'postgresql', self.backup_id, self.p['server_name'], None)
        manifest.update({
            'started_at': isoformat(start),
            'stop_time': isoformat(stop_time.astimezone(utcnow().tzinfo)),
            'finished_at': isoformat(utcnow()),
            'duration_seconds': round(time.time() - t0, 3),
            'server_version': facts['version'], 'server_version_num': facts['version_num'],
            'system_identifier': facts['system_identifier'],
            'start_lsn': start_lsn, 'stop_lsn': stop_lsn, 'timeline': timeline,
            'wal_segment_size': seg, 'start_wal_file': start_wal_file, 'stop_wal_file': stop_wal_file,
            'label': label, 'checkpoint': self.checkpoint,
            'data_directory': facts['data_dir'], 'tablespace_dir': facts['tablespace_dir'],
            'tablespaces': tablespaces,
            'skipped': sorted(self.skipped), 'changed_while_read': dict(self.walk_counts),
            'compression': {'algorithm': self.compression, 'level': self.level},
            'files': files,
            'totals': {
                'files': len(files),
                'raw_bytes': sum(f['raw_bytes'] for f in files),
                'stored_bytes': sum(f['stored_bytes'] for f in files),
                'data_files': sum(f.get('members', 0) for f in files),
            },
        })
        if self.encryption is not None:
            manifest['encryption'] = encryption_field(self.encryption, self.data_key, manifest)
        write_manifest(self.repo, self.path, manifest)
        return manifest


def _base_db_dir(rel):
    parts = rel.split('/')
    return len(parts) == 2 and parts[0] == 'base' and parts[1].isdigit()


def _tablespace_db_dir(rel, version_dir):
    parts = rel.split('/')
    return len(parts) == 2 and parts[0] == version_dir and parts[1].isdigit()


def summary(manifest, location):
    """The result fields of a base backup (also for an existing one found by max_age)."""
    t = manifest['totals']
    return {
        'kind': 'base', 'backup_id': manifest['backup_id'], 'location': location, 'database': None,
        'size_bytes': t['stored_bytes'], 'raw_bytes': t['raw_bytes'],
        'duration_seconds': manifest.get('duration_seconds'),
        'server_version': manifest.get('server_version'), 'encrypted': bool(manifest.get('encryption')),
        'start_lsn': manifest['start_lsn'], 'stop_lsn': manifest['stop_lsn'], 'timeline': manifest['timeline'],
        'start_wal_file': manifest['start_wal_file'], 'stop_wal_file': manifest['stop_wal_file'],
        'tablespaces': len(manifest.get('tablespaces') or []), 'files': t.get('data_files', 0),
        'tables': 0, 'rows': 0,
    }


def run_base_backup(p, check_mode):
    """kind=base: p prepared with BACKUP_DEFAULTS (database may be None).

    Returns (result, written): written is (repo, path, manifest, encryption) of a new backup, for the
    verify-after-backup step of operations.backup, or None when nothing was written.
    """
    checkpoint, archive_wait = _options(p)[:2]     # [2], verify, is checked there and run by operations.backup
    compression, level = check_options(p['compression'], p['compression_level'])
    max_age = parse_max_age(p.get('max_age'))
    encryption = key_source(p)
    repo = open_repository(p)
    base = kind_path(p['server_name'], 'base')
    fresh = reuse_fresh(repo, base, max_age, encryption is not None, summary, 'base backup')
    if fresh:
        return fresh, None
    conn = connect(p, dbname=p.get('database') or 'postgres', autocommit=True)
    try:
        facts = _check_server(conn, p)
    finally:
        conn.close()
    if check_mode:
        return {'changed': True, 'kind': 'base', 'backup_id': None, 'location': repo.location(base),
                'database': None, 'size_bytes': 0, 'raw_bytes': 0, 'duration_seconds': 0,
                'server_version': facts['version'], 'encrypted': encryption is not None,
                'start_lsn': None, 'stop_lsn': None, 'timeline': None, 'start_wal_file': None,
                'stop_wal_file': None, 'tablespaces': len(_tablespaces(facts['data_dir'])), 'files': 0,
                'tables': 0, 'rows': 0,
                'msg': 'A base backup of %s (data directory %s) would be taken.'
                       % (p['server_name'], facts['data_dir'])}, None
    start = utcnow()
    with new_backup(repo, base, start) as (backup_id, path):
        manifest = BaseBackup(p, repo, path, backup_id, compression, level, encryption, facts,
                              checkpoint, archive_wait).run(start)
    result = summary(manifest, repo.location(path))
    result.update(changed=True, msg='Base backup %s of %s written (WAL %s to %s).'
                  % (backup_id, p['server_name'], manifest['start_wal_file'], manifest['stop_wal_file']))
    if manifest['skipped']:
        result['warnings'] = ['Not archived (special files or symbolic links outside pg_tblspc and pg_wal, as '
                              'pg_basebackup does): %s' % ', '.join(manifest['skipped'][:20])]
    return result, (repo, path, manifest, encryption)
