# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Extended statistics objects (CREATE STATISTICS) and their statistics target.

They are built by ANALYZE, not at creation, so they belong after the data;
owner and comment are decorations like any other object's.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_TRIGGER
from .post_common import USER_NS, NOT_MEMBER, fetch_dicts

STATISTICS_SQL = """
SELECT s.oid, pg_catalog.pg_get_statisticsobjdef(s.oid) AS def,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(s.stxname) AS name,
       {target} AS target
  FROM pg_catalog.pg_statistic_ext s
  JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
 WHERE {user_n} AND {not_member}
 ORDER BY s.oid
"""


def statistics_items(cur, ctx):
    """CREATE STATISTICS (+ ALTER STATISTICS ... SET STATISTICS when not default)."""
    # stxstattarget: 13-16 integer, -1 = default; 17+ nullable, NULL = default; 12 lacks it.
    target = ctx.caps.column('s', 'pg_statistic_ext', 'stxstattarget', 'NULL::integer')
    sql = STATISTICS_SQL.format(target=target, user_n=USER_NS.format(n='n'),
                                not_member=NOT_MEMBER.format(catalog='pg_statistic_ext', oid='s.oid'))
    items = []
    for r in fetch_dicts(cur, sql):
        lines = [r['def'] + ';']
        if r['target'] is not None and r['target'] >= 0:
            lines.append('ALTER STATISTICS %s SET STATISTICS %d;' % (r['name'], r['target']))
        items.append(DdlItem(('pg_statistic_ext', r['oid']), 'STATISTICS', r['name'], '\n'.join(lines) + '\n',
                             section=POST, phase=PHASE_TRIGGER))
    return items
