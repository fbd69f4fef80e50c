# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Native restore of a logical backup into a new database, swapped in at the end.

Every stored file is verified against the manifest before the target server
is touched. The restore goes into a temporary database: pre-data items in
order, parallel COPY FROM STDIN (a single-file table is truncated and loaded
with FREEZE in one transaction), large-object contents, then post-data phase
by phase in parallel. Only a complete restore is renamed to the target name
(replacing the old database when if_exists=replace, both renames in one
transaction); on failure the temporary database is dropped and the target is
left as it was. restore_guard.py keeps the source owners' code from running
with the restoring role's rights (docs/security.md).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time
import uuid

from ...common.deps import require
from ...common.errors import BadInput, DbBackupError, IntegrityError, RestoreFailed, TargetExists
from ...common.parallel import TaskError, run_parallel
from ...stream.pipeline import BUFFER_SIZE, open_stored_reader, verify_stored_file
from ..capabilities import check_restore_target
from ..connection import copy_options, error_text, connect, quote_ident, server_version
from .large_objects import restore_large_objects
from .leftovers import application_name
from .owner_load import load_as_owner, tables_to_load_as_owner
from .restore_errors import cause_text, item_failed
from .restore_guard import DATABASE_KIND, RestoreGuard, database_sql
from .restored_inventory import check_database_in_swap, check_restored
from .schema.model import PHASE_EVENT_TRIGGER, PHASES, POST, PRE, SERIAL_PHASES
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
OBJECT_IN_USE = '55006'
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


def _check_superuser(admin):
    """A restore needs a superuser: say so before anything, not through the first statement that fails."""
    cur = admin.cursor()
    cur.execute('SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user')
    user, is_super = cur.fetchone()
    if not is_super:
        raise BadInput('Restoring needs a superuser login: the restore creates the database, gives every object '
                       'its owner, sets privileges and runs functions as their owners. %s is not a superuser; '
                       'nothing was changed.' % user,
                       'Set login_user to a superuser (for example postgres). Backups need no superuser.')


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
        self.guard = None           # RestoreGuard, once the schema files are read
        self.as_owner = {}          # (schema, table) -> owner: tables loaded through owner_load

    # --- planning -------------------------------------------------------
    def plan(self, admin):
        """'unchanged' | 'create' | 'replace'; raises TargetExists when not allowed, BadInput for a
        target server older than the backup's (capabilities.check_restore_target)."""
        check_restore_target(self.manifest.get('server_version_num'), admin.server_version,
                             self.manifest.get('server_version'), server_version(admin)[1])
        _check_superuser(admin)
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
        files = self.manifest['files']
        pre = self._items(files, 'pre-data', PRE)
        self.guard = RestoreGuard(self._items(files, 'post-data', POST), self._execute_sql)
        # every session of this restore says so: its databases are not leftovers (leftovers.py)
        admin.cursor().execute('SET application_name = %s', (application_name(self.temp),))
        try:
            self._create_temp(admin)
            try:
                self._restore_into_temp(pre, self.guard.post_items)
                # every object the backup recorded, before the copy takes the target's name (the
                # database's own privileges are checked inside the swap, which sets them)
                self.inventory = check_restored(self.params, self.temp, self.manifest, database_later=True)
                self._swap(admin, action)
            except psycopg2.Error as e:
                self._drop(admin, self.temp)
                raise RestoreFailed('Restore into %s failed: %s' % (self.target, error_text(e)),
                                    'The target was left unchanged.')
            except BaseException:
                self._drop(admin, self.temp)
                raise
        finally:
            try:
                admin.cursor().execute("SET application_name = 'dbbackup'")
            except Exception:  # pylint: disable=broad-except
                pass        # the session is gone
        return version

    def _rel(self, entry):
        return self.backup_path + '/' + entry['path']

    def _reader(self, entry):
        return open_stored_reader(self.repo, self._rel(entry), self.compression,
                                  entry['sha256'], entry['stored_bytes'], data_key=self.data_key)

    def _connect(self):
        conn = connect(self.params, dbname=self.temp, autocommit=True, application_name=application_name(self.temp))
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
            self.guard.create_closed(admin.cursor(), sql)
        except Exception as e:
            self._drop(admin, self.temp)
            raise RestoreFailed('Cannot create the restore database on the target server: %s'
                                % error_text(e),
                                'The login user needs CREATEDB, and the encoding/locale of the '
                                'backup (%s) must exist there.' % info)

    def _restore_into_temp(self, pre, post):
        files = self.manifest['files']
        conn = self._connect()
        try:
            for item in pre:
                self._execute(conn, item)
                self.guard.after(conn, item)      # owner right after CREATE; functions run as owners
            self.guard.after_pre_data(conn)
            self.as_owner = tables_to_load_as_owner(conn)
        finally:
            conn.close()
        self._load_data([f for f in files if f['role'] in ('data', 'blobs')])
        for phase in PHASES:
            if phase == PHASE_EVENT_TRIGGER:      # no more DDL of ours after event triggers exist
                self._with_connection(self.guard.unwrap)
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
        sql = database_sql(item.sql, self.temp) if item.kind == DATABASE_KIND else item.sql
        self._execute_sql(conn, sql, '%s %s' % (item.kind, item.name), item)

    def _execute_sql(self, conn, sql, what, item=None):
        for attempt in range(RETRIES + 1):
            try:
                conn.cursor().execute(sql)
                return
            except Exception as e:
                if getattr(e, 'pgcode', None) == DEADLOCK and attempt < RETRIES:
                    time.sleep(0.1 * (attempt + 1))
                    continue
                if item is not None:
                    raise item_failed(item, sql, e, conn)   # names the statement and the cause
                raise RestoreFailed('Restoring %s failed: %s' % (what, error_text(e)),
                                    'The target was left unchanged.')

    def _with_connection(self, work):
        conn = self._connect()
        try:
            work(conn)
        finally:
            conn.close()

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
            owner = self.as_owner.get((entry['schema'], entry['name']))
            try:
                if owner:     # its COPY would run code as the restoring role (owner_load.py)
                    rows = load_as_owner(cur, table, owner, entry['columns'], copy_options(self.data_encoding),
                                         reader, BUFFER_SIZE)
                else:
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
        """Renames, the database's privileges and its owner in one transaction: all or nothing.

        A lost session rolls everything back, so the target keeps its old content and name.
        Sessions that connect to the target between the kick and the rename make the rename
        fail (object in use): the kick and the transaction are tried again a few times.
        """
        old = '_dbbackup_old_%s' % self.temp.rsplit('_', 1)[-1] if action == 'replace' else None
        cur = admin.cursor()
        for attempt in range(RETRIES + 1):
            if old:
                self._kick(admin, self.target)
            try:
                cur.execute('BEGIN')
                if old:
                    cur.execute('ALTER DATABASE %s RENAME TO %s' % (quote_ident(self.target), quote_ident(old)))
                cur.execute('ALTER DATABASE %s RENAME TO %s' % (quote_ident(self.temp), quote_ident(self.target)))
                for statement in self.guard.swap_statements(self.target):
                    cur.execute(statement)
                self._set_owner(cur)
                check_database_in_swap(cur, self.target, self.manifest)   # RestoreFailed rolls back
                cur.execute('COMMIT')
                break
            except Exception as e:
                try:
                    cur.execute('ROLLBACK')
                except Exception:  # pylint: disable=broad-except
                    pass           # the session is gone: the server rolled the transaction back
                if getattr(e, 'pgcode', None) != OBJECT_IN_USE or attempt == RETRIES:
                    raise
                time.sleep(0.2 * (attempt + 1))
        if old:
            self._drop(admin, old)

    def _set_owner(self, cur):
        owner = (self.manifest.get('database_info') or {}).get('owner')
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
