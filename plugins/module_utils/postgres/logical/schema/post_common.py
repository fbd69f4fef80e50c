# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pieces of the post-data and decoration catalog queries.

Dumped objects live outside the system schemas (pg_* and information_schema)
and are no extension members (pg_depend deptype 'e'): CREATE EXTENSION makes
those itself. Role names in ACLs come unquoted from the server, so quoting
uses the server's own quote_ident through one lookup of all roles.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

USER_NS = "({n}.nspname !~ '^pg_' AND {n}.nspname <> 'information_schema')"

NOT_MEMBER = ("NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd"
              " WHERE xd.classid = 'pg_catalog.{catalog}'::regclass AND xd.objid = {oid}"
              " AND xd.deptype = 'e')")

ROLES_SQL = "SELECT rolname, pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles"


def user_table(ns_alias, oid_expr):
    """WHERE fragment: relation oid_expr is in a user schema and no extension member."""
    return '%s AND %s' % (USER_NS.format(n=ns_alias), NOT_MEMBER.format(catalog='pg_class', oid=oid_expr))


def fetch_dicts(cur, sql, params=None):
    """Run sql and return rows as dicts keyed by column name."""
    cur.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def role_quoter(cur):
    """Function quoting a role name as the server's quote_ident does."""
    cur.execute(ROLES_SQL)
    quoted = dict(cur.fetchall())

    def quote(name):
        if name in quoted:
            return quoted[name]
        return '"%s"' % name.replace('"', '""')
    return quote


def quote_literal(value):
    """'text' as PostgreSQL's quote_literal does (E'' when there are backslashes)."""
    text = str(value).replace("'", "''")
    if '\\' in text:
        return "E'%s'" % text.replace('\\', '\\\\')
    return "'%s'" % text
