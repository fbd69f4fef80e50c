# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Native logical dump of one PostgreSQL database into a repository.

One REPEATABLE READ, READ ONLY transaction exports its snapshot; `jobs`
worker sessions adopt it and COPY tables (largest first, large ones split by
block range) through compress + hash into per-table files. Schema comes from
the catalog in the same snapshot. The manifest is written last; on any
failure the backup directory is removed, so nothing incomplete looks done.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ...common.deps import require
from ...common.errors import BackupFailed, DbBackupError, name_some
from ...common.parallel import TaskError, run_parallel
from ...common.times import isoformat, utcnow
from ...format.keys import encryption_field, new_data_key
from ...format.manifest import POSTPONED_ITEMS_VERSION, new_manifest, write_manifest
from ...stream.compress import SUFFIX
from ...stream.encrypt import SUFFIX as ENCRYPTED_SUFFIX
from ...stream.pipeline import store_file
from ..capabilities import Capabilities
from ..connection import error_text, DUMP_SESSION_SQL, SESSION_ENCODING, connect, server_version
from .data_tables import list_data_tables, plan_copy_tasks
from .large_objects import dump_large_objects
from .schema.extract import ExtractContext, extract_schema
from .schema.inventory import manifest_form, read_inventory, uncovered
from .schema.model import PHASE_POSTPONED, PRE, POST
from .schema.sql_file import write_items
from .schema.utf8_check import UNCONVERTIBLE, schema_text_error

LOCK_NOT_AVAILABLE = '55P03'

DATABASE_INFO_SQL = """
SELECT pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
       pg_catalog.pg_get_userbyid(d.datdba), %s::text,
       pg_catalog.current_setting('is_superuser') = 'on',
       CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()::text
            ELSE pg_catalog.pg_current_wal_lsn()::text END
FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
"""


def _begin_snapshot_session(conn, snapshot=None):
    conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
    cur = conn.cursor()
    if snapshot:
        cur.execute('SET TRANSACTION SNAPSHOT %s', (snapshot,))
    cur.execute(DUMP_SESSION_SQL)
    return cur


class LogicalDump(object):
    """Dumps params['database'] into repo at path; run() returns the manifest."""

    def __init__(self, params, repo, path, backup_id, compression, level, jobs, encryption=None):
        self.params = params
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

    def _store(self, relpath, fill):
        return store_file(self.repo, self.path, relpath, self.compression, self.level, self.data_key, fill)

    def run(self, start):
        t0 = time.time()
        psycopg2 = require('psycopg2')
        main = connect(self.params, autocommit=False)
        try:
            return self._run(main, start, t0)
        except psycopg2.Error as e:
            raise BackupFailed('Backup of database %s failed: %s' % (self.params['database'], error_text(e)),
                               'No backup was recorded; fix the cause and run the backup again.')
        finally:
            main.close()

    def _run(self, main, start, t0):
        cur = _begin_snapshot_session(main)
        version_num, version = server_version(main)
        cur.execute('SELECT pg_catalog.pg_export_snapshot()')
        snapshot = cur.fetchone()[0]
        # the database encoding, reported by the server at connect time (never converted)
        data_encoding = main.get_parameter_status('server_encoding') or SESSION_ENCODING
        caps = Capabilities(version_num)
        try:
            cur.execute(DATABASE_INFO_SQL % caps.column('d', 'pg_database', 'datlocprovider', "'c'"))
            encoding, collate, ctype, owner, provider, is_super, lsn = cur.fetchone()
            tables = self._list_and_lock_tables(cur)
            ctx = ExtractContext(version_num, self.params['database'], is_super)
            pre, post = extract_schema(cur, ctx)
            inventory = read_inventory(cur, version_num)
        except UnicodeDecodeError as e:
            raise schema_text_error(self.params, data_encoding, repr(e.object[max(0, e.start - 40):e.end + 40]))
        except require('psycopg2').Error as e:
            if getattr(e, 'pgcode', None) not in UNCONVERTIBLE:
                raise
            raise schema_text_error(self.params, data_encoding, error_text(e))

        unsupported = self._unsupported(inventory, pre + post)
        manifest = new_manifest('logical', 'postgresql', self.backup_id,
                                self.params['server_name'], self.params['database'])
        manifest['inventory'] = manifest_form(inventory)
        if any(i.phase == PHASE_POSTPONED for i in post):   # older engines would skip those items
            manifest['format_version'] = POSTPONED_ITEMS_VERSION
        if unsupported:
            manifest['unsupported_objects'] = [[e.type, e.identity] for e, why in unsupported]
        manifest.update({
            'started_at': isoformat(start),
            'server_version': version, 'server_version_num': version_num,
            'consistent_position': {'lsn': lsn, 'snapshot': snapshot},
            'compression': {'algorithm': self.compression, 'level': self.level},
            'database_info': {'encoding': encoding, 'lc_collate': collate, 'lc_ctype': ctype,
                              'owner': owner, 'locale_provider': provider,
                              # encoding of the data files (COPY text); absent in older backups: UTF8
                              'data_encoding': data_encoding},
        })
        files = manifest['files']
        files.append(self._store('pre-data.sql' + self.suffix,
                                 lambda w: {'role': 'pre-data', 'items': write_items(w, pre, PRE)}))
        files.append(self._store('post-data.sql' + self.suffix,
                                 lambda w: {'role': 'post-data', 'items': write_items(w, post, POST)}))
        files.extend(self._dump_data(tables, snapshot, caps, data_encoding))
        main.rollback()

        data = [f for f in files if f['role'] == 'data']
        manifest['finished_at'] = isoformat(utcnow())
        manifest['duration_seconds'] = round(time.time() - t0, 3)
        manifest['totals'] = {
            'files': len(files),
            'raw_bytes': sum(f['raw_bytes'] for f in files),
            'stored_bytes': sum(f['stored_bytes'] for f in files),
            'tables': len(tables),
            'rows': sum(f['rows'] for f in data),
            'large_objects': sum(f.get('count', 0) for f in files if f['role'] == 'blobs'),
            'objects': len(inventory),   # the inventory's size (format/manifest.py: it must be there)
        }
        if self.encryption is not None:
            manifest['encryption'] = encryption_field(self.encryption, self.data_key, manifest)
        write_manifest(self.repo, self.path, manifest)
        return manifest

    def _unsupported(self, inventory, items):
        """Objects of the inventory no dump item creates: the backup fails naming them, or
        (unsupported_objects: warn) they are recorded in the manifest and returned as a warning."""
        missing = uncovered(inventory, items)
        if missing and self.params.get('unsupported_objects', 'fail') != 'warn':
            reasons = {}
            for e, why in missing:
                reasons.setdefault(why or 'no part of a backup creates them', []).append(e.label)
            named = '; '.join('%s (%s)' % (name_some(labels), why) for why, labels in sorted(reasons.items()))
            raise BackupFailed('The backup of %s cannot reproduce %d object(s): %s.'
                               % (self.params['database'], len(missing), named),
                               'No backup was recorded. Remove or change those objects, back them up another '
                               'way, or set unsupported_objects: warn to back up anyway (the backup records '
                               'them; its restores lack them, or have them changed as said, and warn).')
        return missing

    def _list_and_lock_tables(self, cur):
        """The tables with data, each locked ACCESS SHARE as pg_dump does, within lock_wait_timeout.

        Reading table sizes takes the same lock, so the timeout covers the listing too.
        """
        timeout = self.params.get('lock_wait_timeout')
        if timeout:
            cur.execute("SET lock_timeout = %s", ('%ds' % int(timeout),))
        try:
            tables = list_data_tables(cur)
            if tables:
                cur.execute('LOCK TABLE %s IN ACCESS SHARE MODE' % ', '.join('ONLY ' + t.qualified for t in tables))
        except require('psycopg2').OperationalError as e:
            if getattr(e, 'pgcode', None) != LOCK_NOT_AVAILABLE:
                raise
            raise BackupFailed('Could not lock the tables of %s within lock_wait_timeout (%s s): another '
                               'session holds a conflicting lock (ALTER, DROP, TRUNCATE, VACUUM FULL, ...).'
                               % (self.params['database'], timeout),
                               'No backup was recorded; run it again when that session is done, or raise '
                               'lock_wait_timeout.')
        if timeout:
            cur.execute("SET lock_timeout = 0")
        return tables

    def _dump_data(self, tables, snapshot, caps, data_encoding):
        tasks = plan_copy_tasks(tables, self.jobs, caps.tid_range_scans)
        names = ['data/%04d.copy%s' % (i + 1, self.suffix) for i in range(len(tasks))]
        work = [('copy', task, name) for task, name in zip(tasks, names)]
        work.append(('blobs', None, 'data/blobs.lo' + self.suffix))

        def open_session():
            conn = connect(self.params, autocommit=False)
            _begin_snapshot_session(conn, snapshot)
            return conn

        def do(conn, item):
            kind, task, name = item
            if kind == 'blobs':
                return self._store(name, lambda w: {'role': 'blobs', 'count': dump_large_objects(conn, w)})
            return self._store(name, lambda w: self._copy_out(conn, task, w, data_encoding))

        try:
            return run_parallel(work, self.jobs, open_session, do, lambda c: c.close(),
                                cancel_session=lambda c: c.cancel())
        except TaskError as e:
            if isinstance(e.error, DbBackupError):
                raise e.error
            what = ('table %s' % e.task[1].table.display) if e.task and e.task[0] == 'copy' else \
                ('large objects' if e.task else 'a worker session')
            raise BackupFailed('Dumping %s failed: %s' % (what, error_text(e.error)),
                               'No backup was recorded; fix the cause and run the backup again.')

    @staticmethod
    def _copy_out(conn, task, writer, data_encoding):
        # writer is a binary file object: psycopg2 passes the COPY bytes through undecoded
        cur = conn.cursor()
        cur.copy_expert(task.copy_sql(data_encoding), writer)
        t = task.table
        entry = {'role': 'data', 'table': t.display, 'schema': t.schema, 'name': t.name,
                 'columns': t.columns, 'rows': cur.rowcount}
        if task.chunks > 1:
            entry.update({'chunk': task.chunk, 'chunks': task.chunks})
        if t.load_via:   # hash partitions on an enum: restored through the root (data_tables.py)
            entry['load_via'] = t.load_via
        return entry
