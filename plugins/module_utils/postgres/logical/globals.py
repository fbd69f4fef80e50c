# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cluster-wide objects of a PostgreSQL server: roles, memberships, role settings, tablespaces.

dump_globals() reads them (pg_authid when the login role may, else pg_roles
without passwords) into records for item_file.write_framed: one statement
per record, with the role or tablespace it concerns in the record's
metadata. The file (globals.sql) is readable SQL; restore_globals() applies
it so that running it again changes nothing:

- CREATE ROLE only for roles that do not exist (existing roles are never
  dropped); their attributes, settings, comments and memberships are then
  brought to the backup's values. The restoring login role itself keeps its
  attributes and password.
- CREATE TABLESPACE only for tablespaces that do not exist, at the backup's
  location or the one given in tablespace_locations.
- Passwords (the stored SCRAM/MD5 verifiers, never plain text) are in the
  file only when the backup was asked for them and is encrypted.

Role changes run in one transaction (rolled back in check mode); CREATE
TABLESPACE cannot, so tablespaces follow in autocommit. Whether anything
changed is decided by comparing the cluster-wide catalogs before and after.
Per-database role settings (ALTER ROLE ... IN DATABASE) belong to each
database's own logical backup and are restored with it.

This module is also the PostgreSQL engine of operations/cluster.py (the interface is
listed there; mysql/logical/globals.py is the MySQL one).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import BadInput, NotFound, RestoreFailed
from ..capabilities import Capabilities
from ..connection import connect, error_text, quote_ident, server_version as connection_version
from .dump import LogicalDump
from .restore import LogicalRestore
from .schema.acl import AclTarget, acl_statements
from .schema.database import set_clause
from .schema.post_common import fetch_dicts, quote_literal

# the engine interface of operations/cluster.py (listed there), besides the functions below
DB_TYPE = 'postgresql'
Dump = LogicalDump
Restore = LogicalRestore
server_version = connection_version

PREAMBLE = ('-- dbbackup cluster globals: roles, memberships, role settings, tablespaces.\n'
            '-- Restore with dbbackup_restore kind=cluster (it skips roles and tablespaces that exist).\n')

ROLES_SQL = """
SELECT a.oid, a.rolname, a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin,
       a.rolreplication, a.rolbypassrls, a.rolconnlimit,
       CASE WHEN a.rolvaliduntil IS NULL THEN NULL ELSE a.rolvaliduntil::text END AS rolvaliduntil,
       %(password)s AS rolpassword,
       pg_catalog.shobj_description(a.oid, 'pg_authid') AS comment
  FROM pg_catalog.%(table)s a
 WHERE a.rolname !~ '^pg_'
 ORDER BY a.rolname
"""

MEMBERS_SQL = """
SELECT r.rolname AS role, m.rolname AS member, am.admin_option %(extra)s
  FROM pg_catalog.pg_auth_members am
  JOIN pg_catalog.pg_roles r ON r.oid = am.roleid
  JOIN pg_catalog.pg_roles m ON m.oid = am.member
 WHERE m.rolname !~ '^pg_'
 ORDER BY 1, 2
"""

ROLE_SETTINGS_SQL = """
SELECT r.rolname AS role, s.setconfig
  FROM pg_catalog.pg_db_role_setting s
  JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
 WHERE s.setdatabase = 0 AND r.rolname !~ '^pg_'
 ORDER BY 1
"""

TABLESPACES_SQL = """
SELECT t.oid, t.spcname, pg_catalog.pg_get_userbyid(t.spcowner) AS owner,
       pg_catalog.pg_tablespace_location(t.oid) AS location,
       t.spcoptions, t.spcacl::text[] AS acl,
       pg_catalog.acldefault('t', t.spcowner)::text[] AS base,
       pg_catalog.shobj_description(t.oid, 'pg_tablespace') AS comment
  FROM pg_catalog.pg_tablespace t
 WHERE t.spcname !~ '^pg_'
 ORDER BY t.spcname
"""

# Everything restore_globals may change, as comparable rows (changed = before != after).
STATE_SQL = """
SELECT 'role ' || ROW(a.rolname, a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb,
       a.rolcanlogin, a.rolreplication, a.rolbypassrls, a.rolconnlimit, a.rolvaliduntil, %(password)s,
       pg_catalog.shobj_description(a.oid, 'pg_authid'))::text
  FROM pg_catalog.%(table)s a
UNION ALL
SELECT 'member ' || ROW(r.rolname, m.rolname, am.admin_option)::text
  FROM pg_catalog.pg_auth_members am
  JOIN pg_catalog.pg_roles r ON r.oid = am.roleid JOIN pg_catalog.pg_roles m ON m.oid = am.member
UNION ALL
SELECT 'setting ' || ROW(pg_catalog.pg_get_userbyid(s.setrole), s.setconfig)::text
  FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = 0
UNION ALL
SELECT 'tablespace ' || ROW(t.spcname, pg_catalog.pg_get_userbyid(t.spcowner), t.spcacl,
       t.spcoptions, pg_catalog.shobj_description(t.oid, 'pg_tablespace'))::text
  FROM pg_catalog.pg_tablespace t
"""

ATTRIBUTES = (('rolsuper', 'SUPERUSER'), ('rolinherit', 'INHERIT'), ('rolcreaterole', 'CREATEROLE'),
              ('rolcreatedb', 'CREATEDB'), ('rolcanlogin', 'LOGIN'), ('rolreplication', 'REPLICATION'),
              ('rolbypassrls', 'BYPASSRLS'))


DATABASES_SQL = ('SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate '
                 'ORDER BY datname')
# Objects with OIDs from FirstNormalObjectId on were made after initdb.
PRISTINE_SQL = """
SELECT NOT (EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid >= 16384)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE oid >= 16384)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid >= 16384)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE oid >= 16384)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE oid >= 16384)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_largeobject_metadata))
"""


def admin_connect(p, avoid=()):
    """Autocommit connection to the maintenance database ('postgres', else template1)."""
    if 'postgres' not in avoid:
        try:
            return connect(p, dbname='postgres', autocommit=True)
        except NotFound:
            pass
    return connect(p, dbname='template1', autocommit=True)


def list_databases(admin):
    """Databases that are not templates and allow connections."""
    cur = admin.cursor()
    cur.execute(DATABASES_SQL)
    return [r[0] for r in cur.fetchall()]


def check_globals(admin, include_passwords):
    if include_passwords and not can_read_passwords(admin.cursor()):
        raise BadInput('include_passwords needs a login role that can read pg_catalog.pg_authid (a superuser).',
                       'Run the cluster backup as a superuser, or leave include_passwords off.')


def restore_options(p, restore_globals):
    """tablespace_locations as {name: directory} (CLI: NAME=DIR entries)."""
    locations = p.get('tablespace_locations') or {}
    if isinstance(locations, (list, tuple)):
        pairs = [str(x).partition('=') for x in locations]
        if not all(name and sep and where for name, sep, where in pairs):
            raise BadInput('tablespace locations are given as NAME=DIR, got %r.' % (locations,))
        locations = dict((name, where) for name, sep, where in pairs)
    if not isinstance(locations, dict):
        raise BadInput('tablespace_locations must be a mapping of tablespace name to directory, got %r.'
                       % (locations,))
    if locations and not restore_globals:
        raise BadInput('tablespace_locations is only used when globals are restored (globals: true).')
    return locations


def adjust(p, restores):
    """Every server has a postgres database: the one initdb made (nothing in it) is replaced."""
    for db, r in restores:
        if r.target == 'postgres' and r.if_exists == 'fail' and _pristine(p, 'postgres'):
            r.if_exists = 'replace'


def _pristine(p, db):
    """True when database db exists and holds nothing but what initdb put there."""
    try:
        conn = connect(p, dbname=db, autocommit=True)
    except NotFound:
        return False
    try:
        cur = conn.cursor()
        cur.execute(PRISTINE_SQL)
        return bool(cur.fetchone()[0])
    finally:
        conn.close()


def can_read_passwords(cur):
    """True when the login role may read pg_authid (superusers may)."""
    cur.execute("SELECT pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT')")
    return bool(cur.fetchone()[0])


def _role_attributes(r):
    parts = [word if r[col] else 'NO' + word for col, word in ATTRIBUTES]
    parts.append('CONNECTION LIMIT %d' % r['rolconnlimit'])
    if r['rolvaliduntil'] is not None:
        parts.append('VALID UNTIL %s' % quote_literal(r['rolvaliduntil']))
    return ' '.join(parts)


def dump_globals(conn, include_passwords):
    """(records, info) of the cluster-wide objects; records are (meta, sql) for write_framed.

    include_passwords needs a login role that may read pg_authid (BadInput otherwise).
    """
    cur = conn.cursor()
    cur.execute("SET DateStyle = ISO; SET TimeZone = 'UTC'")
    full = can_read_passwords(cur)
    if include_passwords and not full:
        raise BadInput('include_passwords needs a login role that can read pg_catalog.pg_authid (a superuser).',
                       'Run the cluster backup as a superuser, or leave include_passwords off.')
    password = 'a.rolpassword' if (full and include_passwords) else 'NULL::text'
    roles = fetch_dicts(cur, ROLES_SQL % {'password': password, 'table': 'pg_authid' if full else 'pg_roles'})
    caps = Capabilities(conn.server_version)
    extra = ', am.inherit_option, am.set_option' if caps.membership_options else ''
    members = fetch_dicts(cur, MEMBERS_SQL % {'extra': extra})
    settings = fetch_dicts(cur, ROLE_SETTINGS_SQL)
    spaces = fetch_dicts(cur, TABLESPACES_SQL)

    records = []

    def add(kind, name, sql, **meta):
        records.append((dict(meta, kind=kind, name=name), sql if sql.endswith('\n') else sql + '\n'))

    for r in roles:
        add('ROLE', r['rolname'], 'CREATE ROLE %s;' % quote_ident(r['rolname']), role=r['rolname'])
    for r in roles:
        sql = 'ALTER ROLE %s WITH %s;' % (quote_ident(r['rolname']), _role_attributes(r))
        add('ROLE ATTRIBUTES', r['rolname'], sql, role=r['rolname'])
    passwords = 0
    for r in roles:
        if include_passwords and r['rolpassword']:
            add('PASSWORD', r['rolname'], 'ALTER ROLE %s WITH PASSWORD %s;'
                % (quote_ident(r['rolname']), quote_literal(r['rolpassword'])), role=r['rolname'])
            passwords += 1
    for s in settings:
        for item in s['setconfig'] or ():
            add('ROLE SETTING', s['role'], 'ALTER ROLE %s %s;' % (quote_ident(s['role']), set_clause(item)),
                role=s['role'])
    for r in roles:
        if r['comment'] is not None:
            add('ROLE COMMENT', r['rolname'], 'COMMENT ON ROLE %s IS %s;'
                % (quote_ident(r['rolname']), quote_literal(r['comment'])), role=r['rolname'])
    for m in members:
        options = []
        if m['admin_option']:
            options.append('ADMIN TRUE' if caps.membership_options else 'ADMIN OPTION')
        if caps.membership_options:
            options.append('INHERIT %s' % ('TRUE' if m['inherit_option'] else 'FALSE'))
            options.append('SET %s' % ('TRUE' if m['set_option'] else 'FALSE'))
        add('MEMBERSHIP', '%s in %s' % (m['member'], m['role']), 'GRANT %s TO %s%s;'
            % (quote_ident(m['role']), quote_ident(m['member']),
               (' WITH ' + ', '.join(options)) if options else ''), role=m['member'], of=m['role'])
    for t in spaces:
        name = quote_ident(t['spcname'])
        add('TABLESPACE', t['spcname'], 'CREATE TABLESPACE %s OWNER %s LOCATION %s;'
            % (name, quote_ident(t['owner']), quote_literal(t['location'])),
            tablespace=t['spcname'], owner=t['owner'], location=t['location'])
        lines = []
        if t['spcoptions']:
            lines.append('ALTER TABLESPACE %s SET (%s);' % (name, ', '.join(t['spcoptions'])))
        lines.extend(acl_statements(AclTarget('TABLESPACE %s' % name, t['owner'], quote_ident),
                                    t['acl'], t['base']))
        if t['comment'] is not None:
            lines.append('COMMENT ON TABLESPACE %s IS %s;' % (name, quote_literal(t['comment'])))
        if lines:
            add('TABLESPACE PROPERTIES', t['spcname'], '\n'.join(lines), tablespace=t['spcname'])
    info = {'roles': len(roles), 'memberships': len(members), 'role_settings': len(settings),
            'tablespaces': len(spaces), 'passwords': passwords,
            'source': 'pg_authid' if full else 'pg_roles'}
    return records, info


def _state(cur, full):
    cur.execute(STATE_SQL % {'password': 'a.rolpassword' if full else 'NULL::text',
                             'table': 'pg_authid' if full else 'pg_roles'})
    return sorted(row[0] for row in cur.fetchall())


class GlobalsRestore(object):
    """Applies the records of a globals.sql to a server (see the module docstring)."""

    def __init__(self, records, tablespace_locations=None):
        self.records = records
        self.summary = None
        self.locations = dict(tablespace_locations or {})
        have = sorted(m['tablespace'] for m, sql in records if m.get('kind') == 'TABLESPACE')
        unknown = sorted(set(self.locations) - set(have))
        if unknown:
            raise BadInput('tablespace_locations names tablespaces the backup does not have: %s.'
                           % ', '.join(unknown),
                           'Tablespaces in the backup: %s.' % (', '.join(have) or 'none'))

    def plan(self, conn):
        """What would be created: {'roles': [...], 'tablespaces': [...]} (names absent on the server)."""
        cur = conn.cursor()
        cur.execute('SELECT rolname FROM pg_catalog.pg_roles')
        roles = set(r[0] for r in cur.fetchall())
        cur.execute('SELECT spcname FROM pg_catalog.pg_tablespace')
        spaces = set(r[0] for r in cur.fetchall())
        return {'roles': [m['role'] for m, sql in self.records if m['kind'] == 'ROLE' and m['role'] not in roles],
                'tablespaces': [m['tablespace'] for m, sql in self.records
                                if m['kind'] == 'TABLESPACE' and m['tablespace'] not in spaces]}

    def run(self, conn, check_mode=False):
        """Apply the records; returns a summary with 'changed'. conn must be in autocommit mode."""
        cur = conn.cursor()
        full = can_read_passwords(cur)
        cur.execute('SELECT current_user')
        me = cur.fetchone()[0]
        plan = self.plan(conn)
        before = _state(cur, full)
        skipped = []
        roles = []
        for meta, sql in self.records:
            kind = meta['kind']
            if kind.startswith('TABLESPACE') or (kind == 'ROLE' and meta['role'] not in plan['roles']):
                continue
            if kind in ('ROLE ATTRIBUTES', 'PASSWORD') and meta['role'] == me:
                skipped.append('%s of %s (the login role of the restore)' % (kind.lower(), me))
                continue
            roles.append((meta, sql))
        created_spaces = [{'name': m['tablespace'], 'location': self.locations.get(m['tablespace'], m['location'])}
                          for m, s in self.records
                          if m['kind'] == 'TABLESPACE' and m['tablespace'] in plan['tablespaces']]
        props = [(m, s) for m, s in self.records if m['kind'] == 'TABLESPACE PROPERTIES']
        if check_mode:   # everything transactional, then rolled back; new tablespaces only listed
            after = self._transaction(cur, roles + [(m, s) for m, s in props
                                                    if m['tablespace'] not in plan['tablespaces']],
                                      full, commit=False)
        else:
            self._transaction(cur, roles, full)
            owners = dict((m['tablespace'], m['owner']) for m, s in self.records if m['kind'] == 'TABLESPACE')
            for space in created_spaces:   # CREATE TABLESPACE cannot run in a transaction block
                self._execute(cur, {'kind': 'TABLESPACE', 'name': space['name']},
                              'CREATE TABLESPACE %s OWNER %s LOCATION %s;' % (
                                  quote_ident(space['name']), quote_ident(owners[space['name']]),
                                  quote_literal(space['location'])),
                              hint='The directory %s must exist on the target host, be empty and owned by '
                                   'the user the server runs as; give another one with tablespace_locations.'
                                   % space['location'])
            after = self._transaction(cur, props, full)
        changed = before != after or bool(plan['tablespaces'])
        return {'changed': changed, 'roles_created': plan['roles'], 'tablespaces_created': created_spaces,
                'statements': len(self.records), 'skipped': skipped,
                'passwords': sum(1 for m, s in self.records if m['kind'] == 'PASSWORD')}

    def before(self, conn, check_mode=False):
        """Cluster restore, before the databases: everything (see run)."""
        self.summary = self.run(conn, check_mode=check_mode)
        return self.summary

    def after(self, conn, check_mode=False):
        """Cluster restore, after the databases: nothing is left to do for PostgreSQL."""
        return self.summary

    def _transaction(self, cur, records, full, commit=True):
        """Run records in one transaction; returns the catalog state seen at its end."""
        cur.execute('BEGIN')
        try:
            for meta, sql in records:
                self._execute(cur, meta, sql)
            state = _state(cur, full)
            cur.execute('COMMIT' if commit else 'ROLLBACK')
        except BaseException:
            cur.execute('ROLLBACK')
            raise
        return state

    @staticmethod
    def _execute(cur, meta, sql, hint=None):
        try:
            cur.execute(sql)
        except Exception as e:   # psycopg2.Error: the statement and the server's reason
            if not hasattr(e, 'pgcode'):
                raise
            raise RestoreFailed('Restoring %s %s of the cluster globals failed: %s'
                                % (meta['kind'].lower(), meta['name'], error_text(e)),
                                hint or 'Role changes were rolled back; databases were not restored. The '
                                'login role of the restore needs to be a superuser (or hold CREATEROLE) '
                                'to restore roles.')
