# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Row-level security: ENABLE / FORCE ROW LEVEL SECURITY and CREATE POLICY.

Restored after the data (the load runs as superuser, which bypasses RLS
anyway, but pg_dump keeps them post-data too). One item per table, so the
flags and policies of a table are applied in one session.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_TRIGGER
from .post_common import user_table, fetch_dicts

TABLES_SQL = """
SELECT t.oid, t.oid::pg_catalog.regclass::text AS tab, t.relrowsecurity, t.relforcerowsecurity
  FROM pg_catalog.pg_class t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE t.relkind IN ('r', 'p') AND (t.relrowsecurity OR t.relforcerowsecurity) AND {user}
"""

POLICIES_SQL = """
SELECT p.oid, p.polrelid AS rel, p.polrelid::pg_catalog.regclass::text AS tab,
       pg_catalog.quote_ident(p.polname) AS name, p.polcmd, p.polpermissive,
       ARRAY(SELECT CASE WHEN r.role = 0 THEN 'PUBLIC'
                         ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.role)) END
               FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS r(role, pos) ORDER BY r.pos) AS roles,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS withcheck
  FROM pg_catalog.pg_policy p
  JOIN pg_catalog.pg_class t ON t.oid = p.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE {user}
 ORDER BY p.polrelid, p.polname
"""

COMMANDS = {'*': '', 'r': ' FOR SELECT', 'a': ' FOR INSERT', 'w': ' FOR UPDATE', 'd': ' FOR DELETE'}


def _policy_sql(p):
    sql = 'CREATE POLICY %s ON %s' % (p['name'], p['tab'])
    if not p['polpermissive']:
        sql += ' AS RESTRICTIVE'
    sql += COMMANDS[p['polcmd']]
    if p['roles'] and p['roles'] != ['PUBLIC']:
        sql += ' TO ' + ', '.join(p['roles'])
    if p['qual'] is not None:
        sql += ' USING (%s)' % p['qual']
    if p['withcheck'] is not None:
        sql += ' WITH CHECK (%s)' % p['withcheck']
    return sql + ';'


def policy_items(cur, ctx):
    """One PHASE_TRIGGER item per table with RLS flags and/or policies."""
    user = user_table('n', 't.oid')
    per_table = {}
    names = {}
    for t in fetch_dicts(cur, TABLES_SQL.format(user=user)):
        lines = per_table.setdefault(t['oid'], [])
        names[t['oid']] = t['tab']
        if t['relrowsecurity']:
            lines.append('ALTER TABLE %s ENABLE ROW LEVEL SECURITY;' % t['tab'])
        if t['relforcerowsecurity']:
            lines.append('ALTER TABLE %s FORCE ROW LEVEL SECURITY;' % t['tab'])
    for p in fetch_dicts(cur, POLICIES_SQL.format(user=user)):
        per_table.setdefault(p['rel'], []).append(_policy_sql(p))
        names[p['rel']] = p['tab']
    return [DdlItem(('pg_class', oid, 'rls'), 'POLICY', names[oid], '\n'.join(lines) + '\n',
                    section=POST, phase=PHASE_TRIGGER)
            for oid, lines in sorted(per_table.items())]
