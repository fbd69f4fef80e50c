# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What keeps a restore from running the source owners' code with the restoring role's rights.

The restoring login is usually a superuser; the backup's objects belong to
roles who may be anything but (docs/security.md). PostgreSQL itself runs an
index build, a materialized view refresh and a foreign-key check as the
table's owner, in a security-restricted context the code cannot leave; a COPY
runs CHECK and domain constraints, generated columns and partition
expressions as the session's user, and a function called there may RESET
ROLE or SET SESSION AUTHORIZATION back to the superuser, so SET ROLE is no
boundary. The guard therefore:

1. creates the restore database closed to every role but superusers
   (CONNECTION LIMIT 0); it opens, and gets the source database's privileges,
   only in the swap transaction that gives it its final name;
2. gives every object its owner right after its CREATE (pg_restore's order;
   relations at the end of pre-data, when their sequences are linked to them),
   taking the ALTER ... OWNER statement from the object's owner/ACL item, and
   schemas their privileges before any data is loaded;
3. marks every function of a role that is not a superuser SECURITY DEFINER
   while the restore runs (before any statement can execute one, undone
   before event triggers exist): called from a COPY, an ATTACH PARTITION or
   anything else, it runs as its owner, and a security-definer function may
   not change role or session authorization;
4. loads a table whose COPY would run other code (volatile or SQL-running
   built-ins, a superuser's own non-C functions) through owner_load.py.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ..connection import quote_ident
from .schema.model import DATABASE_TOKEN
from .sql_scan import masked, replace_in_code, split_statements

FIRST_USER_OID = 16384
OWNER_RE = re.compile(r'^ALTER\s+[A-Z][A-Z ]*\s.*\sOWNER\s+TO\s+\S+\s*;\Z', re.S)
# statements of the database item that may run inside the restore (the rest runs at the swap)
INSIDE_RE = re.compile(r'^(ALTER\s+DATABASE\s+\S+\s+(SET|RESET)\s|ALTER\s+ROLE\s.*\sIN\s+DATABASE\s+\S+\s+'
                       r'(SET|RESET)\s|COMMENT\s+ON\s+DATABASE\s)', re.S | re.I)
DATABASE_KIND = 'DATABASE PROPERTIES'
# pre-data kinds that may create functions (extensions and range types create some too)
DEFINES_FUNCTIONS = frozenset(('FUNCTION', 'PROCEDURE', 'AGGREGATE', 'EXTENSION', 'TYPE'))

# the functions created since oid %s; wrap: those of roles that are not superusers, not yet
# security definer (each sweep reads only the new ones)
WRAP_SQL = """
SELECT p.oid, p.oid::pg_catalog.regprocedure::text,
       p.prokind IN ('f', 'w') AND NOT p.prosecdef AND NOT r.rolsuper AS wrap
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
 WHERE p.oid > %s
 ORDER BY p.oid
"""


def database_sql(sql, name):
    """The database item's SQL for the database `name`: the token is replaced where the dumper wrote it."""
    return replace_in_code(sql, DATABASE_TOKEN, quote_ident(name))


class RestoreGuard(object):
    """The security steps of one logical restore; LogicalRestore calls them in order.

    execute(conn, sql, what) runs SQL of the restore (errors name `what`).
    """

    def __init__(self, post_items, execute):
        self.execute = execute
        self.owners = {}          # pre-data item key -> its ALTER ... OWNER TO statement
        self.early = []           # schema owner/ACL items, run once pre-data is done
        self.at_swap = []         # statements of the database item run in the swap transaction
        self.post_items = []      # the other post-data items, to run as before
        self.relations = []       # (owner statement, what) of tables, views, sequences
        for item in post_items:
            if item.kind == 'ACL' and len(item.key) == 3 and item.key[2] == 'owner_acl':
                statements = split_statements(item.sql)
                if statements and OWNER_RE.match(masked(statements[0])):
                    self.owners[tuple(item.key[:2])] = statements[0]
                if item.key[0] == 'pg_namespace':
                    self.early.append(item)
                    continue
            if item.kind == DATABASE_KIND:
                inside = []
                for statement in split_statements(item.sql):
                    (inside if INSIDE_RE.match(masked(statement)) else self.at_swap).append(statement)
                if not inside:
                    continue
                item = _copy(item, '\n'.join(inside) + '\n')
            self.post_items.append(item)
        self.wrapped = []         # regprocedures made SECURITY DEFINER for the restore
        self._last_oid = 0

    # --- the restore database --------------------------------------------------------

    @staticmethod
    def create_closed(cur, create_sql):
        """CREATE DATABASE that no role but superusers can connect to (docs/security.md).

        CONNECTION LIMIT 0 binds every role but superusers from the first moment, and
        leaves the database's privileges as a new database has them. (A restore needs
        a superuser login: it sets the restore marker and every owner.)
        """
        cur.execute(create_sql + ' CONNECTION LIMIT 0')

    def swap_statements(self, name):
        """Run in the swap transaction, after the rename: the database open again, then the
        source database's privileges."""
        return (['ALTER DATABASE %s CONNECTION LIMIT -1' % quote_ident(name)]
                + [database_sql(s, name) for s in self.at_swap])

    # --- pre-data ---------------------------------------------------------------------

    def after(self, conn, item):
        """After a pre-data item: its owner, as the source had it; new functions run as their owners."""
        key = tuple(item.key)
        statement = self.owners.get(key)
        if statement and key[0] != 'pg_class':
            self.execute(conn, statement, 'the owner of %s %s' % (item.kind.lower(), item.name))
        elif statement:           # relations: once OWNED BY links their sequences, which then follow
            self.relations.append((statement, '%s %s' % (item.kind.lower(), item.name)))
        if item.kind in DEFINES_FUNCTIONS:
            self.wrap(conn)

    def after_pre_data(self, conn):
        """Owners of relations (no code runs in pre-data as a relation's owner), privileges of
        schemas, and every function wrapped."""
        for statement, what in self.relations:
            self.execute(conn, statement, 'the owner of %s' % what)
        for item in self.early:
            self.execute(conn, item.sql, 'the privileges of schema %s' % item.name)
        self._last_oid = 0        # all of them: owners may have changed since
        self.wrap(conn)

    # --- functions run as their owners ------------------------------------------------

    def wrap(self, conn):
        cur = conn.cursor()
        cur.execute(WRAP_SQL, (self._last_oid or FIRST_USER_OID - 1,))
        rows = cur.fetchall()
        names = [name for oid, name, wrap in rows if wrap]
        if names:
            self.execute(conn, ''.join('ALTER FUNCTION %s SECURITY DEFINER;\n' % name for name in names),
                         'marking functions of roles that are not superusers security definer')
            self.wrapped.extend(names)
        if rows:
            self._last_oid = rows[-1][0]

    def unwrap(self, conn):
        """Functions back to SECURITY INVOKER: exactly those wrap() changed."""
        if self.wrapped:
            self.execute(conn, ''.join('ALTER FUNCTION %s SECURITY INVOKER;\n' % name for name in self.wrapped),
                         'restoring the security of functions')
        self.wrapped = []


def _copy(item, sql):
    from .schema.model import DdlItem
    return DdlItem(item.key, item.kind, item.name, sql, section=item.section, phase=item.phase, deps=item.deps)
