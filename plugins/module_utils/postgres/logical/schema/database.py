# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Database-level properties: settings, per-role settings, comment, privileges.

Written with DATABASE_TOKEN where the name goes, so a restore under another
name applies them to the target. The owner is not changed (the restore
decides who owns the target). Settings named dbbackup.* are the restorer's
own marker and are never copied.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .acl import AclTarget, acl_statements
from .model import DdlItem, POST, PHASE_DECORATION, DATABASE_TOKEN
from .post_common import fetch_dicts, quote_literal, role_quoter

DATABASE_SQL = """
SELECT d.oid, pg_catalog.pg_get_userbyid(d.datdba) AS owner, d.datacl::text[] AS acl,
       pg_catalog.acldefault('d', d.datdba)::text[] AS base,
       pg_catalog.shobj_description(d.oid, 'pg_database') AS comment
  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
"""

SETTINGS_SQL = """
SELECT s.setrole, pg_catalog.pg_get_userbyid(s.setrole) AS role, s.setconfig
  FROM pg_catalog.pg_db_role_setting s
 WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
 ORDER BY s.setrole
"""

# Settings whose value is a list of (identifier-quoted) elements (GUC_LIST_QUOTE).
LIST_QUOTE = ('local_preload_libraries', 'search_path', 'session_preload_libraries',
              'shared_preload_libraries', 'temp_tablespaces', 'unix_socket_directories')


def split_guc_list(value):
    """'"$user", public' -> ['$user', 'public'] (SplitGUCList: "" quoting, commas)."""
    out, i, n = [], 0, len(value)
    while True:
        while i < n and value[i].isspace():
            i += 1
        if i >= n:
            return out
        if value[i] == '"':
            buf = []
            i += 1
            while i < n:
                if value[i] == '"':
                    if i + 1 < n and value[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(value[i])
                i += 1
            elem = ''.join(buf)
        else:
            start = i
            while i < n and value[i] != ',' and not value[i].isspace():
                i += 1
            elem = value[start:i]
        out.append(elem)
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] == ',':
            i += 1
        else:
            return out


def set_clause(item):
    """'name=value' from setconfig -> 'SET name TO value' as pg_dump spells it."""
    name, value = item.split('=', 1)
    if name.lower() in LIST_QUOTE:
        elems = split_guc_list(value)
        val = ', '.join(quote_literal(e) for e in elems) if elems else "''"
    else:
        val = quote_literal(value)
    return 'SET %s TO %s' % (name, val)


def database_items(cur, ctx):
    """One decoration item with the database's settings, comment and ACL."""
    quote = role_quoter(cur)
    lines = []
    for s in fetch_dicts(cur, SETTINGS_SQL):
        for item in s['setconfig'] or ():
            if item.lower().startswith('dbbackup.'):
                continue
            if s['setrole']:
                lines.append('ALTER ROLE %s IN DATABASE %s %s;' % (quote(s['role']), DATABASE_TOKEN, set_clause(item)))
            else:
                lines.append('ALTER DATABASE %s %s;' % (DATABASE_TOKEN, set_clause(item)))
    rows = fetch_dicts(cur, DATABASE_SQL)
    if rows:
        db = rows[0]
        if db['comment'] is not None:
            lines.append('COMMENT ON DATABASE %s IS %s;' % (DATABASE_TOKEN, quote_literal(db['comment'])))
        target = AclTarget('DATABASE %s' % DATABASE_TOKEN, db['owner'], quote)
        lines.extend(acl_statements(target, db['acl'], db['base']))
    if not lines:
        return []
    return [DdlItem(('pg_database', 'settings'), 'DATABASE PROPERTIES', DATABASE_TOKEN, '\n'.join(lines) + '\n',
                    section=POST, phase=PHASE_DECORATION)]
