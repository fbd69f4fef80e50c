# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Indexes and the constraints that own one (PRIMARY KEY, UNIQUE, EXCLUDE).

Built after the data (PHASE_INDEX). Partitioned tables follow pg_dump: the
parent gets CREATE INDEX ... ON ONLY / ALTER TABLE ONLY ... ADD CONSTRAINT
(an invalid index), each partition its own index, and PHASE_INDEX_ATTACH
attaches them (deepest level first, so each parent turns valid once all its
children are attached). CLUSTER ON and REPLICA IDENTITY USING INDEX
need the index, so they go to PHASE_TRIGGER.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_INDEX, PHASE_INDEX_ATTACH, PHASE_TRIGGER
from .post_common import user_table, fetch_dicts, quote_literal

INDEXES_SQL = """
SELECT i.indexrelid AS oid, ic.oid::pg_catalog.regclass::text AS name,
       pg_catalog.quote_ident(ic.relname) AS short, t.oid::pg_catalog.regclass::text AS tab, t.oid AS table_oid,
       t.relkind, pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
       con.oid AS conoid, pg_catalog.quote_ident(con.conname) AS conname,
       pg_catalog.pg_get_constraintdef(con.oid) AS condef,
       con.contype, con.condeferrable, con.condeferred, ic.reloptions,
       i.indisclustered, i.indisreplident, inh.inhparent AS parent,
       (SELECT spcname FROM pg_catalog.pg_tablespace sp WHERE sp.oid = ic.reltablespace) AS tablespace,
       ARRAY(SELECT a.attnum || ' ' || a.attstattarget FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0 AND a.attnum > 0
              ORDER BY a.attnum) AS stats
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN pg_catalog.pg_constraint con
         ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
  LEFT JOIN pg_catalog.pg_inherits inh ON inh.inhrelid = i.indexrelid
 WHERE t.relkind IN ('r', 'p', 'm') AND (i.indisvalid OR t.relkind = 'p') AND {user}
 ORDER BY t.oid, i.indexrelid
"""


REPLICA_SQL = """
SELECT t.oid, t.oid::pg_catalog.regclass::text AS tab, t.relreplident
  FROM pg_catalog.pg_class t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE t.relkind IN ('r', 'p') AND t.relreplident IN ('f', 'n') AND {user}
 ORDER BY t.oid
"""
REPLICA_WORDS = {'f': 'FULL', 'n': 'NOTHING'}


def _alter(row):
    return 'ALTER MATERIALIZED VIEW' if row['relkind'] == 'm' else 'ALTER TABLE ONLY'


def _stat_lines(row):
    # attstattarget is -1 (<= 16) or NULL (17+) when unset; the query keeps >= 0.
    out = []
    for entry in row['stats'] or ():
        num, target = entry.split(' ')
        out.append('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS %s;' % (row['name'], num, target))
    return out


def _quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def _constraint_def(row):
    """pg_get_constraintdef, plus the index storage parameters it omits for PK/UNIQUE.

    They belong after the column/INCLUDE lists, before USING INDEX TABLESPACE
    and the DEFERRABLE attributes (which we can predict from the catalog).
    Returns (definition, extra statements).
    """
    condef = row['condef']
    if row['contype'] not in ('p', 'u') or not row['reloptions']:
        return condef, []
    opts = ', '.join('%s=%s' % (o.split('=', 1)[0], quote_literal(o.split('=', 1)[1]))
                     for o in row['reloptions'])
    tail = ''
    if row['tablespace']:
        tail += ' USING INDEX TABLESPACE %s' % _quote_ident(row['tablespace'])
    if row['condeferrable']:
        tail += ' DEFERRABLE'
    if row['condeferred']:
        tail += ' INITIALLY DEFERRED'
    if tail and not condef.endswith(tail) and condef.endswith(tail.replace('"', '')):
        tail = tail.replace('"', '')
    if condef.endswith(tail):
        cut = len(condef) - len(tail)
        return '%s WITH (%s)%s' % (condef[:cut], opts, condef[cut:]), []
    return condef, ['ALTER INDEX %s SET (%s);' % (row['name'], opts)]


def _index_sql(row):
    if row['conoid']:
        condef, extra = _constraint_def(row)
        lines = ['ALTER TABLE ONLY %s ADD CONSTRAINT %s %s;' % (row['tab'], row['conname'], condef)] + extra
    else:
        lines = [row['def'] + ';']
        if row['tablespace']:
            lines = (['SET default_tablespace = %s;' % quote_literal(row['tablespace'])] + lines
                     + ["SET default_tablespace = '';"])
    return '\n'.join(lines + _stat_lines(row)) + '\n'


def _attach_items(rows):
    """ATTACH PARTITION statements, one item per partition tree, deepest level first.

    One item per tree (not per index) because attaching locks the partitions:
    two items working on one tree in parallel could deadlock.
    """
    by_oid = dict((r['oid'], r) for r in rows)

    def root_depth(r):
        depth = 0
        while r['parent'] in by_oid:
            r = by_oid[r['parent']]
            depth += 1
        return r, depth

    trees, order = {}, []
    for r in rows:
        if r['parent'] in by_oid:
            root, depth = root_depth(r)
            if root['tab'] not in trees:
                trees[root['tab']] = []
                order.append(root['tab'])
            trees[root['tab']].append((depth, root['oid'], r))
    items = []
    for tab in order:
        members = sorted(trees[tab], key=lambda x: (-x[0], x[1], x[2]['oid']))
        sql = ''.join('ALTER INDEX %s ATTACH PARTITION %s;\n' % (by_oid[r['parent']]['name'], r['name'])
                      for r in (m[2] for m in members))
        items.append(DdlItem(('pg_class', members[0][1], 'attach'), 'INDEX ATTACH', tab, sql,
                             section=POST, phase=PHASE_INDEX_ATTACH))
    return items


def index_items(cur, ctx):
    """Indexes, PK/UNIQUE/EXCLUDE constraints, attachments, CLUSTER ON, REPLICA IDENTITY."""
    rows = fetch_dicts(cur, INDEXES_SQL.format(user=user_table('n', 't.oid')))
    items = []
    for r in rows:
        if r['conoid']:
            key, kind = ('pg_constraint', r['conoid']), 'CONSTRAINT'
        else:
            key, kind = ('pg_class', r['oid']), 'INDEX'
        items.append(DdlItem(key, kind, r['name'], _index_sql(r), section=POST, phase=PHASE_INDEX,
                             deps=[('pg_class', r['table_oid'])]))
    items.extend(_attach_items(rows))
    for r in rows:
        if r['indisclustered']:
            items.append(DdlItem(('pg_class', r['oid'], 'cluster'), 'CLUSTER ON', r['name'],
                                 '%s %s CLUSTER ON %s;' % (_alter(r), r['tab'], r['short']),
                                 section=POST, phase=PHASE_TRIGGER))
        if r['indisreplident']:
            items.append(DdlItem(('pg_class', r['oid'], 'replident'), 'REPLICA IDENTITY', r['tab'],
                                 'ALTER TABLE ONLY %s REPLICA IDENTITY USING INDEX %s;' % (r['tab'], r['short']),
                                 section=POST, phase=PHASE_TRIGGER))
    for r in fetch_dicts(cur, REPLICA_SQL.format(user=user_table('n', 't.oid'))):
        items.append(DdlItem(('pg_class', r['oid'], 'replident'), 'REPLICA IDENTITY', r['tab'],
                             'ALTER TABLE ONLY %s REPLICA IDENTITY %s;' % (r['tab'], REPLICA_WORDS[r['relreplident']]),
                             section=POST, phase=PHASE_TRIGGER))
    return items
