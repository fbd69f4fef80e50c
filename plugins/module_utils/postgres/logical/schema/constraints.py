# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Foreign keys and NOT VALID check constraints, added after the data.

NOT VALID checks (PHASE_CONSTRAINT) would reject nothing during the load but
must not be validated, so they come after it; valid checks are part of the
table definition (pre-data). Foreign keys (PHASE_FK) come after the indexes
they need, which also makes FK cycles trivial. The foreign keys of a partition
tree are added deepest partition first, each under its own name: adding one to
a partitioned table (no ONLY: it recurses) then attaches the partitions' equal
keys instead of creating copies with generated names, so every name survives
(pg_dump adds only the parent's key). The rows for the partitions of a
referenced partitioned table (conparentid <> 0, same referencing table) are
created by the statement of their key. Inherited checks are skipped because
their parent's statement makes them (conislocal false).

ADD FOREIGN KEY takes a self-conflicting lock on both tables, so two keys
between the same tables run in parallel can deadlock (pg_restore avoids
running such items together). Foreign keys are therefore grouped into one
item per connected set of partition trees (tables linked by keys): items of
PHASE_FK never share a table and still run in parallel.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_CONSTRAINT, PHASE_FK
from .post_common import USER_NS, NOT_MEMBER, fetch_dicts

CONSTRAINTS_SQL = """
SELECT con.oid, con.contype, pg_catalog.quote_ident(con.conname) AS conname,
       pg_catalog.pg_get_constraintdef(con.oid) AS def, con.conrelid,
       CASE WHEN con.conrelid <> 0 THEN con.conrelid::pg_catalog.regclass::text END AS tab,
       t.relkind, CASE WHEN con.conrelid <> 0 THEN pg_catalog.pg_partition_root(con.conrelid) END AS root,
       CASE WHEN con.confrelid <> 0 THEN pg_catalog.pg_partition_root(con.confrelid) END AS froot,
       CASE WHEN con.contypid <> 0 THEN pg_catalog.format_type(con.contypid, NULL) END AS dom,
       CASE WHEN con.conrelid <> 0 THEN (SELECT count(*) FROM pg_catalog.pg_partition_ancestors(con.conrelid))
            ELSE 0 END AS depth
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_namespace n ON n.oid = con.connamespace
  LEFT JOIN pg_catalog.pg_class t ON t.oid = con.conrelid
 WHERE ((con.contype = 'f' AND (con.conparentid = 0 OR con.conrelid <> (
            SELECT p.conrelid FROM pg_catalog.pg_constraint p WHERE p.oid = con.conparentid)))
        OR (con.contype = 'c' AND NOT con.convalidated AND con.conislocal))
   AND {user_n}
   AND (con.conrelid = 0 OR {member_rel})
   AND (con.contypid = 0 OR {member_type})
 ORDER BY con.conrelid, con.contypid, con.conname
"""


def _sql(row):
    if row['dom']:
        return 'ALTER DOMAIN %s ADD CONSTRAINT %s %s;\n' % (row['dom'], row['conname'], row['def'])
    # ONLY for plain tables; partitioned tables and inheritance parents recurse
    # (checks reach children whose copy is not local; FKs on partitions).
    only = 'ONLY ' if row['contype'] == 'f' and row['relkind'] != 'p' else ''
    return 'ALTER TABLE %s%s ADD CONSTRAINT %s %s;\n' % (only, row['tab'], row['conname'], row['def'])


def _fk_groups(fks):
    """Foreign keys grouped by connected table sets (union-find over partition roots)."""
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in fks:
        parent[find(r['root'])] = find(r['froot'])
    groups, order = {}, []
    for r in fks:
        g = find(r['root'])
        if g not in groups:
            groups[g] = []
            order.append(g)
        groups[g].append(r)
    return [groups[g] for g in order]


def constraint_items(cur, ctx):
    """FOREIGN KEY (PHASE_FK) and NOT VALID CHECK (PHASE_CONSTRAINT) items."""
    sql = CONSTRAINTS_SQL.format(
        user_n=USER_NS.format(n='n'),
        member_rel=NOT_MEMBER.format(catalog='pg_class', oid='con.conrelid'),
        member_type=NOT_MEMBER.format(catalog='pg_type', oid='con.contypid'))
    rows = fetch_dicts(cur, sql)
    items = []
    for r in rows:
        if r['contype'] != 'f':
            items.append(DdlItem(('pg_constraint', r['oid']), 'CHECK CONSTRAINT',
                                 '%s on %s' % (r['conname'], r['tab'] or r['dom']), _sql(r),
                                 section=POST, phase=PHASE_CONSTRAINT))
    for group in _fk_groups([r for r in rows if r['contype'] == 'f']):
        group.sort(key=lambda r: -r['depth'])   # stable: partitions' keys before their parents'
        name = '%s on %s' % (group[0]['conname'], group[0]['tab'])
        if len(group) > 1:
            name += ' (+%d linked)' % (len(group) - 1)
        items.append(DdlItem(('pg_constraint', group[0]['oid']), 'FK', name, ''.join(_sql(r) for r in group),
                             section=POST, phase=PHASE_FK))
    return items
