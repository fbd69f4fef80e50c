# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SQL fragments shared by the pre-data catalog queries.

User objects are those outside the system schemas (names starting with pg_
are reserved, so '^pg_' covers pg_catalog, pg_toast* and pg_temp*) that are
not members of an extension (pg_depend deptype 'e'): CREATE EXTENSION
recreates those itself.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

USER_SCHEMA = "({n}.nspname !~ '^pg_' AND {n}.nspname <> 'information_schema')"

NOT_EXTENSION_MEMBER = (
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd"
    " WHERE xd.classid = '{catalog}'::regclass AND xd.objid = {oid} AND xd.deptype = 'e')")


def user_object(ns_alias, catalog, oid_expr):
    """WHERE clause: object oid_expr of catalog lives in a user schema and is no extension member."""
    return '%s AND %s' % (USER_SCHEMA.format(n=ns_alias),
                          NOT_EXTENSION_MEMBER.format(catalog=catalog, oid=oid_expr))


def fetch_dicts(cur, sql, params=None):
    """Run sql and return rows as dicts keyed by column name."""
    cur.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# Defaults and CHECK constraints (of tables and domains) that call a user function. That
# function may read the table (a BEGIN ATOMIC body) or take its row type, a loop pg_dump
# breaks by adding such defaults and constraints after the table and the function; we do
# the same for all of them (the result is the same catalog).
CALLS_USER_FUNCTION_SQL = """
SELECT DISTINCT CASE d.classid WHEN 'pg_catalog.pg_attrdef'::regclass THEN 'pg_attrdef' ELSE 'pg_constraint' END,
       d.objid
  FROM pg_catalog.pg_depend d
 WHERE d.classid IN ('pg_catalog.pg_attrdef'::regclass, 'pg_catalog.pg_constraint'::regclass)
   AND d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid >= 16384 AND d.deptype = 'n'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_catalog.pg_proc'::regclass
                      AND e.objid = d.refobjid AND e.deptype = 'e')
"""


def calling_user_functions(cur):
    """{('pg_attrdef' | 'pg_constraint', oid)} of defaults and checks that call a user function."""
    cur.execute(CALLS_USER_FUNCTION_SQL)
    return set((cat, oid) for cat, oid in cur.fetchall())
