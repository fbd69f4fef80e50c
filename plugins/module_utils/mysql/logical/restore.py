# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Native restore of a MySQL/MariaDB logical backup, swapped in at the end.

MySQL has no RENAME DATABASE, so the swap moves tables (RENAME TABLE works
across databases of one server, atomically for a list of tables):

  1. every stored file is verified against the manifest; nothing touched yet;
  2. a temporary database `_dbbackup_restore_<hex>` gets the sequences and
     tables (pre-data.sql), then the data: `jobs` sessions, one per table or key
     range of a table at a time, LOAD DATA LOCAL of each file in 16 MiB statements
     (foreign_key_checks, unique_checks and CHECK constraints off per session),
     verified by row count and warnings;
  3. (PITR only) the backup's routines, views and triggers are created in it, binary-log
     events are replayed into it, and the objects are read back (the replay may have
     changed them) and dropped there, so that the tables can move;
  4. swap: with if_exists=replace the old target's views and triggers are
     recorded and dropped and its tables moved into `_dbbackup_old_<hex>`
     (views and triggers cannot move across databases); the target database is
     (re)created with the backup's character set, the restored tables are
     renamed into it, and routines, views, triggers and events (post-data.sql)
     are created there - triggers only now, so they never fired on loaded rows;
  5. the marker is written and the old copy dropped.

A failure in 1-3 drops the temporary database: the target is untouched. A
failure in 4-5 puts the old target back (tables renamed back, its views and
triggers recreated) or, when there was none, drops the half-built target.

Idempotence marker: the table `_dbbackup`.`restore_marker` holds, per target
database, the backup restored there and a fingerprint of the target's tables
(names and creation times) taken right after the restore. Restoring the same
backup again into a database whose fingerprint still matches reports no
change; a database dropped and recreated, or whose tables were rebuilt, no
longer matches. The marker lives outside the target so that it never appears
in the target's own backups or SHOW TABLES.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import codecs
import hashlib
import uuid

from ...common.deps import require
from ...common.errors import DbBackupError, IntegrityError, RestoreFailed, TargetExists
from ...common.parallel import TaskError, run_parallel
from ...stream.pipeline import open_stored_reader, verify_stored_file
from ..capabilities import check_restore_target
from ..connection import ServerInfo, connect, error_text, kill_query, quote_ident
from .data import LocalInfileRefused, load_file
from .schema import database_info, object_items, strip_qualifier
from .schema_file import read_items

MARKER_SCHEMA = '_dbbackup'
MARKER_TABLE = 'restore_marker'
LOCK_WAIT_SECONDS = 60
TABLE_SESSION_SQL = ("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', "
                     "foreign_key_checks = 0, unique_checks = 0")
LEFT_UNCHANGED = 'The target was left unchanged.'
# MySQL character set -> Python codec, for sending a body in its recorded client character set.
CHARSET_CODECS = {'utf8mb4': 'utf-8', 'utf8mb3': 'utf-8', 'utf8': 'utf-8', 'latin1': 'cp1252',
                  'ascii': 'ascii', 'latin2': 'iso8859_2', 'latin5': 'iso8859_9', 'latin7': 'iso8859_13',
                  'greek': 'iso8859_7', 'hebrew': 'iso8859_8', 'koi8r': 'koi8_r', 'koi8u': 'koi8_u',
                  'sjis': 'shift_jis', 'ujis': 'euc_jp', 'euckr': 'euc_kr', 'macroman': 'mac_roman',
                  'cp1250': 'cp1250', 'cp1251': 'cp1251', 'cp1256': 'cp1256', 'cp1257': 'cp1257',
                  'cp850': 'cp850', 'cp852': 'cp852', 'cp866': 'cp866', 'gbk': 'gbk', 'gb2312': 'gb2312',
                  'big5': 'big5', 'cp932': 'cp932', 'eucjpms': 'euc_jp', 'tis620': 'tis_620',
                  'gb18030': 'gb18030'}


def marker_value(manifest, suffix=None):
    value = '%s/%s/%s' % (manifest['server_name'], manifest['database'], manifest['backup_id'])
    return value + ('@' + suffix if suffix else '')


def _text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


def database_exists(cur, name):
    cur.execute('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s', (name,))
    return cur.fetchone() is not None


def fingerprint(cur, database):
    cur.execute("SELECT TABLE_NAME, CREATE_TIME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME", (database,))
    h = hashlib.sha256()
    for name, created in cur.fetchall():
        h.update(('%s\t%s\n' % (_text(name), created)).encode('utf-8'))
    return h.hexdigest()


def target_state(admin, target):
    """(exists, marker value or None) of the target database."""
    cur = admin.cursor()
    if not database_exists(cur, target):
        return False, None
    cur.execute('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s',
                (MARKER_SCHEMA, MARKER_TABLE))
    if not cur.fetchone():
        return True, None
    cur.execute('SELECT backup, fingerprint FROM %s.%s WHERE database_name = %%s'
                % (quote_ident(MARKER_SCHEMA), quote_ident(MARKER_TABLE)), (target,))
    row = cur.fetchone()
    if not row or _text(row[1]) != fingerprint(cur, target):
        return True, None
    return True, _text(row[0])


def write_marker(cur, target, value):
    cur.execute('CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4' % quote_ident(MARKER_SCHEMA))
    cur.execute('CREATE TABLE IF NOT EXISTS %s.%s (database_name VARCHAR(64) CHARACTER SET utf8mb4 '
                'COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, backup VARCHAR(1024) NOT NULL, '
                'fingerprint CHAR(64) NOT NULL, restored_at DATETIME NOT NULL) ENGINE=InnoDB'
                % (quote_ident(MARKER_SCHEMA), quote_ident(MARKER_TABLE)))
    cur.execute('REPLACE INTO %s.%s (database_name, backup, fingerprint, restored_at) '
                'VALUES (%%s, %%s, %%s, UTC_TIMESTAMP())' % (quote_ident(MARKER_SCHEMA), quote_ident(MARKER_TABLE)),
                (target, value, fingerprint(cur, target)))


def create_database(cur, name, info):
    """CREATE DATABASE with the character set, collation and (MariaDB) comment of info."""
    sql, args = 'CREATE DATABASE %s' % quote_ident(name), None
    if info.get('charset'):
        sql += ' CHARACTER SET %s' % info['charset']
    if info.get('collation'):
        sql += ' COLLATE %s' % info['collation']
    if info.get('comment'):
        sql, args = sql.replace('%', '%%') + ' COMMENT %s', (info['comment'],)
    cur.execute(sql, args)


def encode_for(sql, charset):
    """(bytes, charset actually used) to send sql as character_set_client=charset."""
    codec = CHARSET_CODECS.get((charset or '').lower())
    if codec is None:
        try:
            codec = codecs.lookup(charset).name
        except (LookupError, TypeError):
            codec = None
    if codec:
        try:
            return sql.encode(codec), charset
        except UnicodeEncodeError:
            pass
    return sql.encode('utf-8'), 'utf8mb4'


def run_item(conn, item):
    """Execute a schema item under its recorded session settings."""
    cur = conn.cursor()
    session = item.session or {}
    data, charset = encode_for(item.sql.rstrip().rstrip(';'), session.get('character_set_client') or 'utf8mb4')
    sets, args = [], []
    if 'sql_mode' in session:
        sets.append('sql_mode = %s')
        args.append(session['sql_mode'])
    if 'time_zone' in session:
        sets.append('time_zone = %s')
        args.append(session['time_zone'])
    sets.append('character_set_client = %s')
    args.append(charset)
    coll = session.get('collation_connection')
    if coll and charset == session.get('character_set_client'):
        sets.append('collation_connection = %s')
        args.append(coll)
    else:
        sets.append('character_set_connection = %s')
        args.append(charset)
    cur.execute('SET SESSION ' + ', '.join(sets), args)
    try:
        cur.execute(data)
        while cur.nextset():
            pass
    finally:
        cur.execute("SET NAMES utf8mb4")
        cur.execute(TABLE_SESSION_SQL)


class MysqlLogicalRestore(object):
    def __init__(self, params, repo, backup_path, manifest, target, if_exists, jobs,
                 data_key=None, marker=None, log_bin=True):
        self.params = params
        self.repo = repo
        self.backup_path = backup_path
        self.manifest = manifest
        self.target = target
        self.if_exists = if_exists
        self.jobs = jobs
        self.marker = marker or marker_value(manifest)
        self.log_bin = log_bin
        self.compression = manifest['compression']['algorithm']
        self.data_key = data_key      # unwrapped data key of an encrypted backup, else None
        suffix = uuid.uuid4().hex[:12]
        self.temp = '_dbbackup_restore_%s' % suffix
        self.old = '_dbbackup_old_%s' % suffix
        self.load_method = params.get('mysql_load_method') or 'load_data'
        self.flavor = self.caps = None   # the target server's (run)
        self.objects = None       # PITR: the objects read back after the replay (_replay_objects)

    # --- planning -------------------------------------------------------
    def plan(self, admin):
        """'unchanged' | 'create' | 'replace'; TargetExists when not allowed, BadInput for a target
        older than the backup's server (capabilities.check_restore_target)."""
        check_restore_target(self.manifest, ServerInfo(admin))
        exists, marker = target_state(admin, self.target)
        if exists and marker == self.marker:
            return 'unchanged'
        if exists and self.if_exists != 'replace':
            raise TargetExists('Database "%s" already exists on the target server.' % self.target,
                               'Set if_exists: replace to replace it, or choose another target_database.')
        return 'replace' if exists else 'create'

    def verify_files(self):
        for f in self.manifest['files']:
            verify_stored_file(self.repo, self._rel(f), f['sha256'], f['stored_bytes'])

    def _rel(self, entry):
        return self.backup_path + '/' + entry['path']

    def _reader(self, entry):
        return open_stored_reader(self.repo, self._rel(entry), self.compression,
                                  entry['sha256'], entry['stored_bytes'], data_key=self.data_key)

    def _items(self, role):
        items = []
        for f in self.manifest['files']:
            if f['role'] == role:
                reader = self._reader(f)
                try:
                    items.extend(read_items(reader, f['path']))
                finally:
                    reader.close()
        return items

    # --- running --------------------------------------------------------
    def run(self, admin, action, between=None):
        """Restore; between(temp_database) runs after the data load, before the swap."""
        self.verify_files()
        pymysql = require('pymysql')
        info = ServerInfo(admin)
        self.flavor, self.caps = info.flavor, info.caps
        self._session(admin)
        cur = admin.cursor()
        db_info = self.manifest.get('database_info') or {}
        try:
            create_database(cur, self.temp, db_info)
        except pymysql.err.MySQLError as e:
            raise RestoreFailed('Cannot create the restore database on the target server: %s' % error_text(e),
                                'The login user needs CREATE and DROP on all databases, and the character set '
                                'of the backup (%s) must exist there.' % db_info.get('charset'))
        try:
            self._restore_into_temp()
            if between is not None:
                self._replay_objects(admin, between)
            self._swap(admin, action)
        except pymysql.err.MySQLError as e:
            self._drop(admin, self.temp)
            raise RestoreFailed('Restore into %s failed: %s' % (self.target, error_text(e)), LEFT_UNCHANGED)
        except BaseException:
            self._drop(admin, self.temp)
            raise
        self._drop(admin, self.temp)
        return info.version

    def _session(self, conn):
        cur = conn.cursor()
        cur.execute(TABLE_SESSION_SQL)
        cur.execute('SET SESSION lock_wait_timeout = %d' % LOCK_WAIT_SECONDS)
        if not self.log_bin:
            cur.execute('SET SESSION sql_log_bin = 0')
        if self.caps.check_constraint_checks:
            cur.execute('SET SESSION check_constraint_checks = 0')

    def _connect(self, database, kind='meta'):
        conn = connect(self.params, database, kind=kind)
        try:
            self._session(conn)
        except Exception:
            conn.close()
            raise
        return conn

    def _run_items(self, database, phase):
        conn = self._connect(database)
        try:
            for item in self._items(phase):
                self._run_item(conn, item)
        finally:
            conn.close()

    @staticmethod
    def _run_item(conn, item):
        try:
            run_item(conn, item)
        except require('pymysql').err.MySQLError as e:
            raise RestoreFailed('Restoring %s %s failed: %s' % (item.kind.lower(), item.name, error_text(e)),
                                LEFT_UNCHANGED)

    def _restore_into_temp(self):
        self._run_items(self.temp, 'pre-data')
        groups = {}
        for f in self.manifest['files']:
            if f['role'] == 'data':
                groups.setdefault((f['name'], f.get('piece', 1)), []).append(f)
        tasks = sorted((sorted(g, key=lambda f: f['path']) for g in groups.values()),
                       key=lambda g: (-sum(f['raw_bytes'] for f in g), g[0]['name'], g[0].get('piece', 1)))
        try:
            run_parallel(tasks, self.jobs, lambda: self._connect(self.temp, 'load'), self._load_table,
                         lambda c: c.close(), cancel_session=lambda c: kill_query(self.params, c))
        except TaskError as e:
            if isinstance(e.error, DbBackupError):
                raise e.error
            what = e.task[0]['table'] if e.task else 'a session'
            raise RestoreFailed('Loading data into %s failed: %s' % (what, error_text(e.error)), LEFT_UNCHANGED)

    def _load_table(self, conn, entries):
        """All files of one key range (a piece of the dump) in one session, in key order.

        The pieces of a large table load in parallel sessions (disjoint key ranges; measured
        here with 16 MiB LOAD statements, two sessions on one table cost the server no more
        CPU than one), each file in LOAD statements of data.LOAD_BYTES.
        """
        return sum(self._load(conn, entry) for entry in entries)

    def _load(self, conn, entry):
        reader = self._reader(entry)
        try:
            try:
                rows = load_file(conn, entry, reader, self.flavor, self.load_method)
            except LocalInfileRefused:
                self.load_method = 'insert'     # the server refuses LOCAL INFILE: every file by INSERT
                reader.close()
                reader = self._reader(entry)
                rows = load_file(conn, entry, reader, self.flavor, self.load_method)
        except DbBackupError:
            raise
        except require('pymysql').err.MySQLError as e:
            raise RestoreFailed('Loading data into %s (%s) failed: %s' % (entry['table'], entry['path'], error_text(e)),
                                LEFT_UNCHANGED)
        finally:
            reader.close()
        if rows != entry['rows']:
            raise IntegrityError('%s loaded %d rows, the manifest recorded %d.' % (entry['path'], rows, entry['rows']))
        return rows

    # --- swap -----------------------------------------------------------
    def _tables_of(self, cur, database):
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME", (database,))
        return [_text(r[0]) for r in cur.fetchall()]

    def _move_tables(self, cur, source, dest):
        names = self._tables_of(cur, source)
        if names:
            cur.execute('RENAME TABLE ' + ', '.join(
                '%s.%s TO %s.%s' % (quote_ident(source), quote_ident(n), quote_ident(dest), quote_ident(n))
                for n in names))

    def _kick(self, admin, database):
        cur = admin.cursor()
        cur.execute('SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()',
                    (database,))
        for (pid,) in cur.fetchall():
            try:
                cur.execute('KILL CONNECTION %d' % int(pid))
            except Exception:
                pass

    def _swap(self, admin, action):
        cur = admin.cursor()
        old_objects, old_info = None, None
        if action == 'replace':
            self._kick(admin, self.target)
            target_conn = self._connect(self.target)
            try:
                tcur = target_conn.cursor()
                tcur.execute('SET SESSION sql_mode = \'\'')
                old_info = database_info(tcur, self.target) or {}
                tcur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                             "AND TABLE_TYPE = 'VIEW'", (self.target,))
                views = [_text(r[0]) for r in tcur.fetchall()]
                old_objects = object_items(tcur, self.target, views)
            finally:
                target_conn.close()
            create_database(cur, self.old, old_info)
        moved_old = created_target = False
        try:
            if action == 'replace':
                for item in reversed([i for i in old_objects if i.kind in ('VIEW', 'TRIGGER')]):
                    cur.execute('DROP %s %s.%s' % (item.kind, quote_ident(self.target), quote_ident(item.name)))
                self._move_tables(cur, self.target, self.old)
                moved_old = True
                cur.execute('DROP DATABASE %s' % quote_ident(self.target))
            create_database(cur, self.target, self.manifest.get('database_info') or {})
            created_target = True
            self._move_tables(cur, self.temp, self.target)
            self._fix_defaults(cur)
            self._create_objects()
            write_marker(cur, self.target, self.marker)
        except BaseException as e:
            self._rollback(admin, action, created_target, moved_old, old_info, old_objects, e)
            raise
        if action == 'replace':
            self._drop(admin, self.old)

    def _fix_defaults(self, cur):
        """Column defaults that name a sequence were created in the temporary database, whose
        name the server stored in them (nextval(`_dbbackup_restore_..`.`s`)): RENAME TABLE keeps it.
        Point them at the target's sequence."""
        marker = '%s.' % quote_ident(self.temp)
        cur.execute("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = %s AND COLUMN_DEFAULT LIKE %s", (self.target, '%' + marker + '%'))
        for table, column, default in cur.fetchall():
            expr = strip_qualifier(_text(default), self.temp, replacement=self.target)
            cur.execute('ALTER TABLE %s.%s ALTER COLUMN %s SET DEFAULT (%s)' % (
                quote_ident(self.target), quote_ident(_text(table)), quote_ident(_text(column)), expr))

    def _create_objects(self):
        if self.objects is None:
            self._run_items(self.target, 'post-data')
            return
        conn = self._connect(self.target)
        try:
            for item in self.objects:
                self._run_item(conn, item)
        finally:
            conn.close()

    def _replay_objects(self, admin, between):
        """PITR: routines, views and triggers of the backup exist in the temporary database while
        binlog events are replayed (they may change or use them); afterwards they are read back
        from it (what the replay left), dropped there so the tables can move, and created in the
        target at the swap. Scheduled events are not created before the swap: they would run."""
        items = self._items('post-data')
        conn = self._connect(self.temp)
        try:
            for item in items:
                if item.kind != 'EVENT':
                    self._run_item(conn, item)
        finally:
            conn.close()
        between(self.temp)
        conn = self._connect(self.temp)
        try:
            cur = conn.cursor()
            cur.execute("SET SESSION sql_mode = ''")
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                        "AND TABLE_TYPE = 'VIEW'", (self.temp,))
            views = [_text(r[0]) for r in cur.fetchall()]
            current = [i for i in object_items(cur, self.temp, views) if i.kind != 'EVENT']
        finally:
            conn.close()
        cur = admin.cursor()
        for item in reversed([i for i in current if i.kind in ('VIEW', 'TRIGGER')]):
            cur.execute('DROP %s %s.%s' % (item.kind, quote_ident(self.temp), quote_ident(item.name)))
        for item in current:
            item.sql = strip_qualifier(item.sql, self.temp)
        self.objects = current + [i for i in items if i.kind == 'EVENT']

    def _rollback(self, admin, action, created_target, moved_old, old_info, old_objects, error):
        cur = admin.cursor()
        try:
            if created_target or moved_old:
                cur.execute('DROP DATABASE IF EXISTS %s' % quote_ident(self.target))
            if moved_old:
                create_database(cur, self.target, old_info or {})
                self._move_tables(cur, self.old, self.target)
                conn = self._connect(self.target)
                try:
                    for item in old_objects or ():
                        run_item(conn, item)
                finally:
                    conn.close()
            if action == 'replace':
                self._drop(admin, self.old)
        except Exception as e:
            raise RestoreFailed('Restore into %s failed (%s), and putting the previous database back failed too: %s.'
                                % (self.target, error_text(error), error_text(e)),
                                'Its tables are in database %s; move them back with RENAME TABLE.' % self.old)

    @staticmethod
    def _drop(admin, database):
        try:
            admin.cursor().execute('DROP DATABASE IF EXISTS %s' % quote_ident(database))
        except Exception:
            pass
