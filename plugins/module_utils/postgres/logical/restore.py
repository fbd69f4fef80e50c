"""Native restore of a logical backup into a new database, swapped in at the end.

Every stored file is verified against the manifest before the target server
is touched. The restore goes into a temporary database: pre-data items in
order, parallel COPY FROM STDIN (a single-file table is truncated and loaded
with FREEZE in one transaction), large-object contents, then post-data phase
by phase in parallel. Only a complete restore is renamed to the target name
(replacing the old database when if_exists=replace); on failure the
temporary database is dropped and the target is left as it was.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time
import uuid

from ...common.deps import require
from ...common.errors import DbBackupError, IntegrityError, RestoreFailed, TargetExists
from ...common.parallel import TaskError, run_parallel
from ...stream.pipeline import BUFFER_SIZE, open_stored_reader, verify_stored_file
from ..connection import copy_options, error_text, connect, quote_ident, server_version
from .large_objects import restore_large_objects
from .restore_errors import cause_text, item_failed
from .restored_inventory import check_restored
from .schema.model import DATABASE_TOKEN, PHASES, POST, PRE, SERIAL_PHASES
from .schema.sql_file import read_items

MARKER = 'dbbackup.restored_backup'
MAINTENANCE_DB = 'postgres'
LOAD_SESSION_SQL = ("SET search_path = ''; SET check_function_bodies = false; "
                    "SET client_min_messages = warning; SET synchronous_commit = off; "
                    "SET maintenance_work_mem = '256MB'; SET row_security = off; "
                    "SET statement_timeout = 0; SET lock_timeout = 0; "
                    "SET idle_in_transaction_session_timeout = 0; SET client_encoding = 'UTF8'; "
                    # a restored database may be read-only by default: its settings
                    # are applied before the last phases run
                    "SET default_transaction_read_only = off")
DEADLOCK = '40P01'
RETRIES = 3


def marker_value(manifest):
    return '%s/%s/%s' % (manifest['server_name'], manifest['database'], manifest['backup_id'])


def target_state(admin, target):
    """(exists, marker) of the target database on the server."""
    cur = admin.cursor()
    cur.execute('SELECT oid FROM pg_catalog.pg_database WHERE datname = %s', (target,))
    row = cur.fetchone()
    if not row:
        return False, None
    cur.execute('SELECT setconfig FROM pg_catalog.pg_db_role_setting '
                'WHERE setdatabase = %s AND setrole = 0', (row[0],))
    for (config,) in cur.fetchall():
        for entry in config or ():
            name, sep, value = entry.partition('=')
            if sep and name == MARKER:
                return True, value
    return True, None


class LogicalRestore(object):
    def __init__(self, params, repo, backup_path, manifest, target, if_exists, jobs, data_key=None):
        self.params = params
        self.repo = repo
        self.backup_path = backup_path
        self.manifest = manifest
        self.target = target
        self.if_exists = if_exists
        self.jobs = jobs
        self.compression = manifest['compression']['algorithm']
        # the unwrapped data key of an encrypted backup (keys.unwrap_data_key), else None
        self.data_key = data_key
        self.temp = '_dbbackup_restore_%s' % uuid.uuid4().hex[:12]
        self.inventory = None   # what check_restored compared (restored_inventory.py)
        # encoding of the data files (the source database's); absent in older backups, whose
        # data files are UTF8
        self.data_encoding = (manifest.get('database_info') or {}).get('data_encoding')

    # --- planning -------------------------------------------------------
    def plan(self, admin):
        """'unchanged' | 'create' | 'replace'; raises TargetExists when not allowed."""
        exists, marker = target_state(admin, self.target)
        if exists and marker == marker_value(self.manifest):
            return 'unchanged'
        if exists and self.if_exists != 'replace':
            raise TargetExists('Database "%s" already exists on the target server.' % self.target,
                               'Set if_exists: replace to replace it, or choose another target_database.')
        return 'replace' if exists else 'create'

    def verify_files(self):
        for f in self.manifest['files']:
            verify_stored_file(self.repo, self._rel(f), f['sha256'], f['stored_bytes'])

    # --- running --------------------------------------------------------
    def run(self, admin, action):
        copy_options(self.data_encoding)  # a malformed recorded encoding fails before anything is done
        self.verify_files()
        version = server_version(admin)[1]
        psycopg2 = require('psycopg2')
        self._create_temp(admin)
        try:
            self._restore_into_temp()
            # every object the backup recorded, before the copy takes the target's name
            self.inventory = check_restored(self.params, self.temp, self.manifest)
            self._swap(admin, action)
        except psycopg2.Error as e:
            self._drop(admin, self.temp)
            raise RestoreFailed('Restore into %s failed: %s' % (self.target, error_text(e)),
                                'The target was left unchanged.')
        except BaseException:
            self._drop(admin, self.temp)
            raise
        return version

    def _rel(self, entry):
        return self.backup_path + '/' + entry['path']

    def _reader(self, entry):
        return open_stored_reader(self.repo, self._rel(entry), self.compression,
                                  entry['sha256'], entry['stored_bytes'], data_key=self.data_key)

    def _connect(self):
        conn = connect(self.params, dbname=self.temp, autocommit=True)
        conn.cursor().execute(LOAD_SESSION_SQL)
        return conn

    def _create_temp(self, admin):
        info = self.manifest.get('database_info') or {}
        sql = 'CREATE DATABASE %s TEMPLATE template0' % quote_ident(self.temp)
        if info.get('encoding'):
            sql += " ENCODING '%s'" % info['encoding'].replace("'", "''")
        if info.get('locale_provider') == 'c' or not info.get('locale_provider'):
            for opt in ('lc_collate', 'lc_ctype'):
                if info.get(opt):
                    sql += " %s '%s'" % (opt.upper(), info[opt].replace("'", "''"))
        try:
            admin.cursor().execute(sql)
        except Exception as e:
            raise RestoreFailed('Cannot create the restore database on the target server: %s'
                                % error_text(e),
                                'The login user needs CREATEDB, and the encoding/locale of the '
                                'backup (%s) must exist there.' % info)

    def _restore_into_temp(self):
        files = self.manifest['files']
        pre = self._items(files, 'pre-data', PRE)
        post = self._items(files, 'post-data', POST)
        conn = self._connect()
        try:
            for item in pre:
                self._execute(conn, item)
        finally:
            conn.close()
        self._load_data([f for f in files if f['role'] in ('data', 'blobs')])
        for phase in PHASES:
            items = [i for i in post if i.phase == phase]
            self._run_items(items, 1 if phase in SERIAL_PHASES else self.jobs)
        conn = self._connect()
        try:
            conn.cursor().execute('ALTER DATABASE %s SET %s = %%s' % (quote_ident(self.temp), MARKER),
                                  (marker_value(self.manifest),))
        finally:
            conn.close()

    def _items(self, files, role, section):
        items = []
        for f in files:
            if f['role'] == role:
                reader = self._reader(f)
                try:
                    items.extend(read_items(reader, section, f['path']))
                finally:
                    reader.close()
        return items

    def _execute(self, conn, item):
        sql = item.sql.replace(DATABASE_TOKEN, quote_ident(self.temp))
        for attempt in range(RETRIES + 1):
            try:
                conn.cursor().execute(sql)
                return
            except Exception as e:
                if getattr(e, 'pgcode', None) == DEADLOCK and attempt < RETRIES:
                    time.sleep(0.1 * (attempt + 1))
                    continue
                raise item_failed(item, sql, e, conn)   # names the statement and the cause

    def _run_items(self, items, jobs):
        self._parallel(items, jobs, self._execute)

    def _parallel(self, tasks, jobs, work):
        try:
            run_parallel(tasks, jobs, self._connect, work, lambda c: c.close(),
                         cancel_session=lambda c: c.cancel())
        except TaskError as e:
            if isinstance(e.error, DbBackupError):
                raise e.error
            raise RestoreFailed('Restore failed: %s' % error_text(e.error), 'The target was left unchanged.')

    def _load_data(self, entries):
        entries = sorted(entries, key=lambda f: -f['raw_bytes'])
        whole = {}
        for f in entries:
            if f['role'] == 'data':
                key = (f['schema'], f['name'])
                whole[key] = whole.get(key, 0) + 1
        self._parallel(entries, self.jobs, lambda conn, f: self._load_file(conn, f, whole))

    def _load_file(self, conn, entry, files_per_table):
        reader = self._reader(entry)
        try:
            if entry['role'] == 'blobs':
                return restore_large_objects(conn, reader, entry['path'])
            # load_via: a partition loaded through the partitioned table above it (data_tables.py)
            schema, name = entry.get('load_via') or (entry['schema'], entry['name'])
            table = '%s.%s' % (quote_ident(schema), quote_ident(name))
            cols = ', '.join(quote_ident(c) for c in entry['columns'])
            single = files_per_table[(entry['schema'], entry['name'])] == 1 and not entry.get('load_via')
            # the reader yields bytes: psycopg2 sends them as they are, the server reads them in
            # the recorded data encoding
            copy = 'COPY %s%s FROM STDIN%s' % (table, ' (%s)' % cols if cols else '',
                                               copy_options(self.data_encoding, *(['FREEZE'] if single else [])))
            cur = conn.cursor()
            try:
                if single:
                    cur.execute('BEGIN; TRUNCATE ONLY %s' % table)
                cur.copy_expert(copy, reader, size=BUFFER_SIZE)
                rows = cur.rowcount
                if single:
                    cur.execute('COMMIT')
            except DbBackupError:
                raise
            except Exception as e:
                raise RestoreFailed('Loading data into %s (%s) failed: %s'
                                    % (entry['table'], entry['path'], error_text(e)),
                                    '%s The target was left unchanged.' % cause_text(e))
            if rows != entry['rows']:
                raise IntegrityError('%s loaded %d rows, the manifest recorded %d.'
                                     % (entry['path'], rows, entry['rows']))
            return rows
        finally:
            reader.close()

    def _swap(self, admin, action):
        cur = admin.cursor()
        if action == 'replace':
            old = '_dbbackup_old_%s' % uuid.uuid4().hex[:12]
            self._kick(admin, self.target)
            cur.execute('ALTER DATABASE %s RENAME TO %s' % (quote_ident(self.target), quote_ident(old)))
            try:
                cur.execute('ALTER DATABASE %s RENAME TO %s' % (quote_ident(self.temp), quote_ident(self.target)))
            except Exception:
                cur.execute('ALTER DATABASE %s RENAME TO %s' % (quote_ident(old), quote_ident(self.target)))
                raise
            self._drop(admin, old)
        else:
            cur.execute('ALTER DATABASE %s RENAME TO %s' % (quote_ident(self.temp), quote_ident(self.target)))
        info = self.manifest.get('database_info') or {}
        owner = info.get('owner')
        if owner:
            cur.execute('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s', (owner,))
            if cur.fetchone():
                cur.execute('ALTER DATABASE %s OWNER TO %s' % (quote_ident(self.target), quote_ident(owner)))

    @staticmethod
    def _kick(admin, dbname):
        admin.cursor().execute('SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity '
                               'WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()', (dbname,))

    def _drop(self, admin, dbname):
        try:
            self._kick(admin, dbname)
            admin.cursor().execute('DROP DATABASE IF EXISTS %s' % quote_ident(dbname))
        except Exception:
            pass
