# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""REFRESH MATERIALIZED VIEW for every matview that held data in the source.

Pre-data creates matviews WITH NO DATA; refreshing needs the data and the
indexes, and a matview reading another one (directly or through views) must
be refreshed after it, so items come in dependency order (PHASE_REFRESH is
run serially in list order).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_REFRESH
from .post_common import user_table, fetch_dicts

MATVIEWS_SQL = """
SELECT t.oid, t.oid::pg_catalog.regclass::text AS name
  FROM pg_catalog.pg_class t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE t.relkind = 'm' AND t.relispopulated AND {user}
 ORDER BY t.oid
"""

# Relations each view / matview reads, from the dependencies of its _RETURN rule.
READS_SQL = """
SELECT DISTINCT r.ev_class AS rel, d.refobjid AS reads
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class c ON c.oid = r.ev_class AND c.relkind IN ('v', 'm')
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                             AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
"""


def refresh_items(cur, ctx):
    """REFRESH items, each matview after the matviews it reads."""
    mvs = fetch_dicts(cur, MATVIEWS_SQL.format(user=user_table('n', 't.oid')))
    if not mvs:
        return []
    reads = {}
    for r in fetch_dicts(cur, READS_SQL):
        reads.setdefault(r['rel'], set()).add(r['reads'])
    names = dict((m['oid'], m['name']) for m in mvs)
    done, ordered = set(), []

    def visit(oid, path):
        if oid in done or oid in path:
            return
        path.add(oid)
        for dep in sorted(reads.get(oid, ())):
            visit(dep, path)
        path.discard(oid)
        done.add(oid)
        if oid in names:
            ordered.append(oid)

    for m in mvs:
        visit(m['oid'], set())
    return [DdlItem(('pg_class', oid, 'refresh'), 'REFRESH MATERIALIZED VIEW', names[oid],
                    'REFRESH MATERIALIZED VIEW %s;\n' % names[oid], section=POST, phase=PHASE_REFRESH)
            for oid in ordered]
