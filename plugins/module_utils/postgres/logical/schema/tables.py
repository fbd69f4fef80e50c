# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tables: columns, inline CHECK constraints, inheritance and partitioning.

Follows pg_dump: a partition is created as a plain table with all its
columns (so column order survives) and attached afterwards by a separate
ALTER TABLE ... ATTACH PARTITION item; an inheritance child lists only its
local columns and INHERITS its parents; a typed table is CREATE TABLE ... OF
type with only its column options; a foreign table names its SERVER. Indexes, PK/UNIQUE/EXCLUDE/FK and
NOT VALID checks are post-data items (post_data.py), never made here. Defaults and
CHECK constraints that call a user function are items of their own, added after
the table (and the function, which may read the table), as pg_dump does
(pre_common.calling_user_functions).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .foreign import OPTIONS
from .model import DdlItem
from .pre_common import user_object, fetch_dicts
from .quote import option_list, in_tablespace
from .sequences import identity_options

TABLES_SQL = """
SELECT c.oid, c.oid::pg_catalog.regclass::text AS name, c.relkind, c.relpersistence,
       c.relispartition, c.reloptions, tc.reloptions AS toast_options,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partkey,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS bound,
       %(am)s AS am,
       (SELECT pg_catalog.quote_ident(ts.spcname) FROM pg_catalog.pg_tablespace ts
         WHERE ts.oid = c.reltablespace) AS tablespace,
       (SELECT pg_catalog.quote_ident(fs.srvname) FROM pg_catalog.pg_foreign_table ft
          JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver WHERE ft.ftrelid = c.oid) AS server,
       (SELECT %(ftoptions)s FROM pg_catalog.pg_foreign_table ft WHERE ft.ftrelid = c.oid) AS ftoptions,
       CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END AS oftype,
       (SELECT pg_catalog.array_agg(i.inhparent::pg_catalog.regclass::text ORDER BY i.inhseqno)
          FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) AS parents,
       (SELECT pg_catalog.array_agg(i.inhparent ORDER BY i.inhseqno)
          FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) AS parent_oids
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'p', 'f') AND %(filter)s
ORDER BY 2
"""

COLUMNS_SQL = """
SELECT a.attrelid, a.attnum, pg_catalog.quote_ident(a.attname) AS attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS atttype,
       a.attnotnull, a.attislocal, a.attidentity, a.attgenerated,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS defexpr, ad.oid AS defoid,
       CASE WHEN a.attcollation <> t.typcollation
            THEN pg_catalog.format('%%I.%%I', cn.nspname, co.collname) END AS collation,
       COALESCE(a.attstattarget::integer, -1) AS stattarget, a.attstorage, t.typstorage,
       %(compression)s AS compression, %(attoptions)s AS attoptions, %(fdwoptions)s AS fdwoptions
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
WHERE c.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND %(filter)s
ORDER BY a.attrelid, a.attnum
"""

CHECKS_SQL = """
SELECT k.oid, k.conrelid, pg_catalog.quote_ident(k.conname) AS conname,
       pg_catalog.pg_get_constraintdef(k.oid) AS def, k.conislocal
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'c' AND k.convalidated AND c.relkind IN ('r', 'p', 'f') AND %s
ORDER BY k.conrelid, k.conname
"""

# a table's or materialized view's access method, when not the default heap
TABLE_AM = "(SELECT am.amname FROM pg_catalog.pg_am am WHERE am.oid = c.relam AND am.amname <> 'heap')"
STORAGE = {'p': 'PLAIN', 'e': 'EXTERNAL', 'm': 'MAIN', 'x': 'EXTENDED'}
COMPRESSION = {'p': 'pglz', 'l': 'lz4'}


def _read(cur, ctx):
    caps = ctx.caps
    filt = user_object('n', 'pg_class', 'c.oid')
    am = TABLE_AM if caps.table_access_methods else 'NULL::name'
    tables = fetch_dicts(cur, TABLES_SQL % {'am': am, 'filter': filt,
                                            'ftoptions': OPTIONS % 'ft.ftoptions'})
    cols = {}
    comp = caps.column('a', 'pg_attribute', 'attcompression', "''::\"char\"")
    for r in fetch_dicts(cur, COLUMNS_SQL % {'compression': comp, 'filter': filt,
                                             'attoptions': caps.attribute_options('a.attoptions'),
                                             'fdwoptions': OPTIONS % 'a.attfdwoptions'}):
        cols.setdefault(r['attrelid'], []).append(r)
    checks = {}
    for r in fetch_dicts(cur, CHECKS_SQL % filt):
        checks.setdefault(r['conrelid'], []).append(r)
    return tables, cols, checks


def _column_def(col, parents=()):
    """A column in CREATE TABLE; parents: the same-named columns of the parents of a child.

    As pg_dump does, a child's local column leaves out what it inherits anyway: NOT NULL of a
    parent column, and the generation expression (PostgreSQL refuses one in a child).
    """
    sql = '%s %s%s' % (col['attname'], col['atttype'], col['fdwoptions'] or '')
    if col['collation']:
        sql += ' COLLATE %s' % col['collation']
    if col['attgenerated'] == 's':
        if not any(p['attgenerated'] == 's' for p in parents):
            sql += ' GENERATED ALWAYS AS (%s) STORED' % col['defexpr']
    elif col['defexpr'] is not None:
        sql += ' DEFAULT %s' % col['defexpr']
    if col['attnotnull'] and not any(p['attnotnull'] for p in parents):
        sql += ' NOT NULL'
    return sql


def _typed_column_def(col):
    """A column of a typed table (OF type) only states what the type does not."""
    sql = '%s WITH OPTIONS' % col['attname']
    if col['defexpr'] is not None:
        sql += ' DEFAULT %s' % col['defexpr']
    if col['attnotnull']:
        sql += ' NOT NULL'
    return sql


def _inherited_fixes(name, col, parent_cols):
    """ALTERs for a column that only comes from parents: its own default/NOT NULL."""
    out = []
    col_ref = 'ALTER TABLE ONLY %s ALTER COLUMN %s' % (name, col['attname'])
    same = [p for p in parent_cols if p['attname'] == col['attname']]
    if col['attgenerated'] != 's':
        if col['defexpr'] is not None:
            if any(p['defexpr'] != col['defexpr'] for p in same) or not same:
                out.append('%s SET DEFAULT %s;' % (col_ref, col['defexpr']))
        elif any(p['defexpr'] is not None for p in same):
            out.append('%s DROP DEFAULT;' % col_ref)
    if col['attnotnull'] and not any(p['attnotnull'] for p in same):
        out.append('%s SET NOT NULL;' % col_ref)
    return out


def column_settings(name, col, alter='ALTER TABLE ONLY'):
    """Per-column statistics target, storage, compression and options (tables, materialized views)."""
    out = []
    col_ref = '%s %s ALTER COLUMN %s' % (alter, name, col['attname'])
    if col['stattarget'] >= 0:
        out.append('%s SET STATISTICS %d;' % (col_ref, col['stattarget']))
    if col['attstorage'] != col['typstorage'] and col['attstorage'] in STORAGE:
        out.append('%s SET STORAGE %s;' % (col_ref, STORAGE[col['attstorage']]))
    if col['compression'] in COMPRESSION:
        out.append('%s SET COMPRESSION %s;' % (col_ref, COMPRESSION[col['compression']]))
    if col['attoptions']:
        out.append('%s SET (%s);' % (col_ref, option_list(col['attoptions'])))
    return out


def _table_sql(t, cols, checks, all_cols, identity_seqs):
    name = t['name']
    is_child = bool(t['parents']) and not t['relispartition']
    parent_cols = [c for p in (t['parent_oids'] or []) for c in all_cols.get(p, [])]
    if t['oftype']:
        elements = [_typed_column_def(c) for c in cols if c['defexpr'] is not None or c['attnotnull']]
    else:
        elements = [_column_def(c, [p for p in parent_cols if p['attname'] == c['attname']] if is_child else ())
                    for c in cols if c['attislocal'] or not is_child]
    elements += ['CONSTRAINT %s %s' % (k['conname'], k['def']) for k in checks
                 if k['conislocal'] or t['relispartition']]
    body = '(%s)' % ('\n    %s\n' % ',\n    '.join(elements) if elements else '')
    if t['oftype']:
        body = 'OF %s' % t['oftype'] + (' ' + body if elements else '')
    sql = 'CREATE %s%sTABLE %s %s' % ('UNLOGGED ' if t['relpersistence'] == 'u' else '',
                                      'FOREIGN ' if t['relkind'] == 'f' else '', name, body)
    if is_child:
        sql += '\nINHERITS (%s)' % ', '.join(t['parents'])
    if t['partkey']:
        sql += '\nPARTITION BY %s' % t['partkey']
    if t['server']:
        sql += '\nSERVER %s%s' % (t['server'], t['ftoptions'] or '')
    if t['am']:
        sql += '\nUSING %s' % t['am']
    options = [o for o in (option_list(t['reloptions']), option_list(t['toast_options'], 'toast.')) if o]
    if options:
        sql += '\nWITH (%s)' % ', '.join(options)
    stmts = [in_tablespace(sql + ';', t['tablespace'])]
    for c in cols:
        if is_child and not c['attislocal']:
            stmts += _inherited_fixes(name, c, parent_cols)
        if c['attidentity'] in ('a', 'd') and (t['oid'], c['attnum']) in identity_seqs:
            seq = identity_seqs[(t['oid'], c['attnum'])]
            stmts.append('ALTER TABLE %s ALTER COLUMN %s ADD GENERATED %s AS IDENTITY %s;' % (
                name, c['attname'], 'ALWAYS' if c['attidentity'] == 'a' else 'BY DEFAULT', identity_options(seq)))
            if seq['relpersistence'] != t['relpersistence']:   # the sequence was made (un)logged alone
                stmts.append('ALTER SEQUENCE %s SET %s;' % (seq['name'], 'UNLOGGED' if seq['relpersistence'] == 'u'
                                                            else 'LOGGED'))
        stmts += column_settings(name, c)
    return '\n'.join(stmts)


def _split_out(t, cols, checks, split):
    """Items for t's defaults and checks in split (removed from cols/checks, which stay inline)."""
    key, items = ('pg_class', t['oid']), []
    for c in cols:
        if ('pg_attrdef', c['defoid']) in split and c['attgenerated'] != 's' and c['defexpr'] is not None:
            items.append(DdlItem(('pg_attrdef', c['defoid']), 'DEFAULT', '%s.%s' % (t['name'], c['attname']),
                                 'ALTER %sTABLE ONLY %s ALTER COLUMN %s SET DEFAULT %s;' % (
                                     'FOREIGN ' if t['relkind'] == 'f' else '', t['name'], c['attname'],
                                     c['defexpr']), deps=[key]))
            c['defexpr'] = None
    for k in [k for k in checks if ('pg_constraint', k['oid']) in split]:
        checks.remove(k)
        if k['conislocal'] or t['relispartition']:   # inherited copies come with the parent's
            items.append(DdlItem(('pg_constraint', k['oid']), 'CHECK CONSTRAINT', '%s on %s' % (k['conname'], t['name']),
                                 'ALTER %sTABLE %s ADD CONSTRAINT %s %s;' % (
                                     'FOREIGN ' if t['relkind'] == 'f' else '', t['name'], k['conname'], k['def']),
                                 deps=[key]))
    return items


def _restored_orders(tables, all_cols):
    """{table oid: column names in the order a restore creates them}.

    CREATE TABLE ... INHERITS puts the parents' columns first (each parent's in the order
    the restore gives it, merged by name) and the child's own after them. A partition or a
    table without parents is created with its columns in their order.
    """
    by_oid = dict((t['oid'], t) for t in tables)
    orders = {}

    def order(oid, seen=()):
        if oid not in orders:
            t = by_oid.get(oid)
            names = [c['attname'] for c in all_cols.get(oid, ())]
            if t is not None and t['parents'] and not t['relispartition'] and oid not in seen:
                inherited = []
                for parent in t['parent_oids']:
                    for name in order(parent, seen + (oid,)):
                        if name not in inherited:
                            inherited.append(name)
                names = inherited + [n for n in names if n not in inherited]
            orders[oid] = names
        return orders[oid]

    for t in tables:
        order(t['oid'])
    return orders


def _column_order_losses(t, cols, restored):
    """{('table column', identity): reason} for the columns of child table t that a restore moves.

    A column added to a parent after the child existed, or a child made with its own order and
    then given a parent (ALTER TABLE ... INHERIT), has another position than CREATE TABLE ...
    INHERITS gives it. pg_dump moves such columns silently; here the backup names them.
    """
    actual = [c['attname'] for c in cols]
    return dict((('table column', '%s.%s' % (t['name'], name)),
                 'a restore cannot give this child table its column order: the parents\' columns come first')
                for position, name in enumerate(actual) if restored[position] != name)


def table_items(cur, ctx, seqs, split=()):
    """CREATE TABLE items plus ATTACH PARTITION items; seqs from read_sequences.

    split: (catalog, oid) of defaults and checks to add separately (calling_user_functions).
    """
    tables, cols, checks = _read(cur, ctx)
    separate = {}
    for t in tables:
        separate[t['oid']] = _split_out(t, cols.get(t['oid'], []), checks.get(t['oid'], []), split)
    identity_seqs = {}
    for s in seqs:
        if s['deptype'] == 'i':
            key = (s['table_oid'], next((c['attnum'] for c in cols.get(s['table_oid'], [])
                                         if c['attname'] == s['column_name']), None))
            identity_seqs[key] = s
    items = []
    restored = _restored_orders(tables, cols)
    for t in tables:
        key = ('pg_class', t['oid'])
        lossy = _column_order_losses(t, cols.get(t['oid'], []), restored[t['oid']])
        items.append(DdlItem(key, 'TABLE', t['name'],
                             _table_sql(t, cols.get(t['oid'], []), checks.get(t['oid'], []),
                                        cols, identity_seqs), lossy=lossy))
        items.extend(separate[t['oid']])
        if t['relispartition']:
            parent = ('pg_class', t['parent_oids'][0])
            # a partition must have the parent's checks before it is attached
            own_checks = [i.key for i in separate[t['oid']] if i.kind == 'CHECK CONSTRAINT']
            items.append(DdlItem(('pg_class', t['oid'], 'attach'), 'TABLE ATTACH', t['name'],
                                 'ALTER TABLE ONLY %s ATTACH PARTITION %s %s;' % (
                                     t['parents'][0], t['name'], t['bound']),
                                 deps=[key, parent, ('pg_class', t['parent_oids'][0], 'attach')] + own_checks))
    return items
