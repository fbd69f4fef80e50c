# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Native logical dump of one MySQL/MariaDB database into a repository.

Consistency across `jobs` sessions (as mysqldump --single-transaction, and
mydumper, do it):

  1. FLUSH TABLES WITH READ LOCK on the main session (writes wait, briefly);
  2. every worker session, and the main one, START TRANSACTION WITH
     CONSISTENT SNAPSHOT, READ ONLY: all see the same committed state;
  3. the binary log file, position and GTID position are read: the exact
     point PITR replays from; sequence values are read;
  4. UNLOCK TABLES. The lock is held for a few round trips only.

Then the main session takes shared metadata locks on every dumped table (a
concurrent ALTER/DROP waits for the dump instead of breaking it) and reads the
schema with SHOW CREATE; the workers stream tables, largest first, unbuffered
(one SSCursor per table) through the stream stages into chunk files. InnoDB
tables are consistent; non-transactional tables (MyISAM, Aria) are only
consistent for writes that finished before step 1, as with mysqldump.
The manifest is written last; on any failure api.py removes the directory.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

from ...common.deps import require
from ...common.errors import BackupFailed, DbBackupError
from ...common.parallel import TaskError, run_parallel
from ...common.times import isoformat, utcnow
from ...format.keys import encryption_field, new_data_key
from ...format.manifest import FLOAT_BITS_VERSION, new_manifest, write_manifest
from ...stream.compress import SUFFIX
from ...stream.encrypt import SUFFIX as ENCRYPTED_SUFFIX
from ...stream.pipeline import StoredFileWriter, store_file
from ..connection import ServerInfo, binlog_status, connect, error_code, error_text, kill_query, quote_ident
from .data import FLOAT_BITS_TYPES, FLOAT_FORM
from .row_stream import BATCH_LIMIT, KeyRanges, dump_table
from .schema import (
    database_info, find_split_keys, list_tables, lock_tables, object_items, sequence_states, table_items)
from .schema_file import write_items

LOCK_WAIT_SECONDS = 60
# Tables larger than this (InnoDB's estimate) whose primary key starts with an integer column are
# read by all workers at once, each taking the next key range when it sends a query (so they end
# the table together); each worker's rows go into files of PIECE_BYTES, every file a piece of its
# own that the restore can load in parallel with the others.
SPLIT_MIN_BYTES = 8 * 1024 * 1024
PIECE_BYTES = 32 * 1024 * 1024
ER_SPECIFIC_ACCESS_DENIED = 1227
ER_LOCK_WAIT_TIMEOUT = 1205
ER_TABLE_DEF_CHANGED = 1412
RETRY_HINT = 'No backup was recorded; fix the cause and run the backup again.'


class MysqlLogicalDump(object):
    """Dumps params['database'] into repo at path; run() returns the manifest."""

    def __init__(self, params, repo, path, backup_id, compression, level, jobs, encryption=None):
        self.params = params
        self.database = params['database']
        self.repo = repo
        self.path = path
        self.backup_id = backup_id
        self.compression = compression
        self.level = level
        self.jobs = jobs
        self.suffix = SUFFIX[compression]
        # encryption: a keys.KeySource, or None for an unencrypted backup
        self.encryption = encryption
        self.data_key = new_data_key() if encryption is not None else None
        if encryption is not None:
            self.suffix += ENCRYPTED_SUFFIX

    def _writer(self, relpath):
        return StoredFileWriter(self.repo, self.path + '/' + relpath, self.compression, self.level,
                                data_key=self.data_key)

    def _store(self, relpath, fill):
        return store_file(self.repo, self.path, relpath, self.compression, self.level, self.data_key, fill)

    def run(self, start):
        pymysql = require('pymysql')
        t0 = time.time()
        main = connect(self.params, self.database)
        workers = []
        try:
            return self._run(main, workers, start, t0)
        except pymysql.err.MySQLError as e:
            raise self._failure(e)
        finally:
            for conn in [main] + workers:
                _close(conn)

    def _failure(self, e):
        code = error_code(e)
        if code == ER_SPECIFIC_ACCESS_DENIED:
            return BackupFailed('Backup of database %s failed: %s' % (self.database, error_text(e)),
                                'The login user needs RELOAD (for FLUSH TABLES WITH READ LOCK), '
                                'and REPLICATION CLIENT / BINLOG MONITOR to read the binary log position.')
        if code == ER_LOCK_WAIT_TIMEOUT:
            return BackupFailed('Backup of database %s failed: the global read lock was not granted within %d s '
                                '(long-running statements hold table locks).' % (self.database, LOCK_WAIT_SECONDS),
                                RETRY_HINT)
        if code == ER_TABLE_DEF_CHANGED:
            return BackupFailed('Backup of database %s failed: a table was changed by DDL while the backup '
                                'started (%s).' % (self.database, error_text(e)), RETRY_HINT)
        return BackupFailed('Backup of database %s failed: %s' % (self.database, error_text(e)), RETRY_HINT)

    def _snapshot(self, main, workers):
        """Steps 1-4 of the module docstring; returns (binlog file, position, gtid, sequences)."""
        cur = main.cursor()
        cur.execute('SET SESSION lock_wait_timeout = %d' % LOCK_WAIT_SECONDS)
        cur.execute('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
        cur.execute('SELECT @@GLOBAL.max_allowed_packet')
        max_packet = int(cur.fetchone()[0])
        limit = min(BATCH_LIMIT, max_packet // 2)
        for _n in range(self.jobs):
            conn = connect(self.params, self.database, kind='raw', unbuffered=True)
            workers.append(conn)
            conn.cursor().execute('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
            conn.cursor().execute('SET SESSION group_concat_max_len = %d' % limit)
            conn.group_concat_limit, conn.max_packet = limit, max_packet
        cur.execute('FLUSH TABLES WITH READ LOCK')
        try:
            for conn in workers + [main]:
                conn.cursor().execute('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
            position = binlog_status(main)
            cur.execute("SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ')")
            snapshot_time = _text(cur.fetchone()[0])
            cur.execute("SHOW FULL TABLES WHERE Table_type = 'SEQUENCE'")
            seqs = sequence_states(cur, self.database, sorted(_text(r[0]) for r in cur.fetchall()))
        finally:
            cur.execute('UNLOCK TABLES')
        return position + (snapshot_time,), seqs

    def _run(self, main, workers, start, t0):
        info = ServerInfo(main)
        (binlog_file, binlog_pos, gtid, snapshot_time), seq_state = self._snapshot(main, workers)
        cur = main.cursor()
        tables, sequences, views = list_tables(cur, self.database)
        lock_tables(cur, self.database, [t.name for t in tables])
        find_split_keys(cur, self.database, tables)
        tasks = self._plan(cur, tables)
        db_info = database_info(cur, self.database) or {}
        db_info['flavor'] = info.flavor
        pre = table_items(cur, self.database, tables, [s for s in sequences if s in seq_state], seq_state)
        post = object_items(cur, self.database, views)

        manifest = new_manifest('logical', 'mysql', self.backup_id, self.params['server_name'], self.database)
        manifest.update({
            'started_at': isoformat(start),
            'server_version': info.version, 'server_version_num': info.version_num,
            'consistent_position': {'binlog_file': binlog_file, 'binlog_position': binlog_pos, 'gtid': gtid,
                                    'snapshot_time': snapshot_time},
            'compression': {'algorithm': self.compression, 'level': self.level},
            'database_info': db_info,
        })
        files = manifest['files']
        files.append(self._store('pre-data.sql' + self.suffix,
                                 lambda w: {'role': 'pre-data', 'items': write_items(w, pre, 'tables')}))
        files.append(self._store('post-data.sql' + self.suffix,
                                 lambda w: {'role': 'post-data', 'items': write_items(w, post, 'objects')}))
        files.extend(self._dump_data(tasks, workers))
        main.rollback()

        data = [f for f in files if f['role'] == 'data']
        if any('float_form' in f for f in data):     # 1.0.0 would load the bits as numbers
            manifest['format_version'] = FLOAT_BITS_VERSION
        manifest['finished_at'] = isoformat(utcnow())
        manifest['duration_seconds'] = round(time.time() - t0, 3)
        manifest['totals'] = {
            'files': len(files),
            'raw_bytes': sum(f['raw_bytes'] for f in files),
            'stored_bytes': sum(f['stored_bytes'] for f in files),
            'tables': len(tables),
            'rows': sum(f['rows'] for f in data),
            'large_objects': 0,
        }
        if self.encryption is not None:
            manifest['encryption'] = encryption_field(self.encryption, self.data_key, manifest)
        write_manifest(self.repo, self.path, manifest)
        return manifest

    def _plan(self, cur, tables):
        """Dump tasks (number, table, KeyRanges or None, shared, size), largest first.

        Tables whose primary key starts with an integer column are read by key ranges
        (row_stream batches); a large one is `jobs` tasks that share one KeyRanges (shared
        True). MIN/MAX are read in the main session's snapshot: they are those the workers see.
        """
        tasks = []
        for number, t in enumerate(tables, 1):
            if not t.split_key:
                tasks.append((number, t, None, False, t.size))
                continue
            key = quote_ident(t.split_key)
            cur.execute('SELECT MIN(%s), MAX(%s) FROM %s.%s' % (key, key, quote_ident(self.database),
                                                                quote_ident(t.name)))
            lo, hi = cur.fetchone()
            if lo is None:
                tasks.append((number, t, None, False, t.size))
                continue
            ranges = KeyRanges(int(lo), int(hi) + 1)
            if self.jobs > 1 and t.size >= SPLIT_MIN_BYTES:
                tasks.extend((number, t, ranges, True, t.size // self.jobs) for _n in range(self.jobs))
            else:
                tasks.append((number, t, ranges, False, t.size))
        tasks.sort(key=lambda task: (-task[4], task[0]))
        return tasks

    def _dump_data(self, tasks, workers):
        self._pieces, self._pieces_lock = {}, threading.Lock()
        pool = list(workers)
        lock = threading.Lock()

        def take_session():
            with lock:
                return pool.pop()

        try:
            results = run_parallel(tasks, self.jobs, take_session, self._dump_one, lambda c: None,
                                   cancel_session=self._cancel)
        except TaskError as e:
            if isinstance(e.error, DbBackupError):
                raise e.error
            what = ('table %s' % e.task[1].name) if e.task is not None else 'a worker session'
            if isinstance(e.error, require('pymysql').err.MySQLError):
                err = self._failure(e.error)
                raise BackupFailed('Dumping %s failed: %s' % (what, err.message), err.hint)
            raise BackupFailed('Dumping %s failed: %s' % (what, error_text(e.error)), RETRY_HINT)
        per_table = {}
        for task_entries in results:
            for entry in task_entries:
                per_table.setdefault(entry['name'], []).append(entry)
        entries = []
        for name in sorted(per_table):
            group = sorted(per_table[name], key=lambda f: f['path'])
            if 'piece' in group[0]:                 # every file a piece: the first chunk of one
                for entry in group:
                    entry.update(chunk=1, chunks=1, pieces=len(group))
            else:
                for n, entry in enumerate(group, 1):
                    entry.update(chunk=n, chunks=len(group))
            entries.extend(group)
        return entries

    def _cancel(self, conn):
        """Stop a worker: no new query (row_stream checks the flag), and the running one killed."""
        conn.cancelled = True
        kill_query(self.params, conn)

    def _dump_one(self, conn, task):
        number, table, ranges, shared, _size = task
        if shared and ranges.next >= ranges.hi:
            return []                               # the other workers took every range
        entries, pieces = [], {}            # pieces: {chunk of this task: piece number of the table}
        base = {'role': 'data', 'table': '%s.%s' % (self.database, table.name), 'schema': self.database,
                'name': table.name, 'columns': list(table.columns), 'types': list(table.types)}
        if any(t in FLOAT_BITS_TYPES for t in table.types):
            base['float_form'] = FLOAT_FORM

        def open_file(chunk):
            if not shared:
                return self._writer('data/%04d.%03d.tsv%s' % (number, chunk, self.suffix))
            with self._pieces_lock:
                pieces[chunk] = self._pieces[number] = self._pieces.get(number, 0) + 1
            return self._writer('data/%04d.p%03d.001.tsv%s' % (number, pieces[chunk], self.suffix))

        def done(writer, rows, chunk, facts):
            entry = writer.commit()
            entry['path'] = writer.relpath[len(self.path) + 1:]
            entry.update(base)
            entry.update(facts)
            entry['rows'] = rows
            if shared:
                entry['piece'] = pieces[chunk]
            entries.append(entry)

        dump_table(conn, self.database, table, open_file, done, bounds=ranges,
                   chunk_bytes=PIECE_BYTES if shared else None)
        return entries


def _text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


def _close(conn):
    try:
        conn.close()
    except Exception:
        pass
