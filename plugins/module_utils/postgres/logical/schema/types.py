# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""User-defined collations, base, shell, enum, composite and range types, and domains.

Multirange types come with their range type, array types with their element
type and row types with their table, so none of those is an item. A base type
and its input/output functions need each other: as pg_dump does, a shell type
(CREATE TYPE name;) comes first, then the functions, then the type itself
(io_redirects tells pre_data.py which function dependencies go to the shell).
A type that is only a shell in the source stays one.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts
from .quote import quote_literal

COLLATIONS_SQL = """
SELECT c.oid, pg_catalog.format('%%I.%%I', n.nspname, c.collname) AS name,
       c.collprovider AS provider, c.collisdeterministic AS deterministic,
       c.collcollate AS lc_collate, c.collctype AS lc_ctype, %(locale)s AS locale, %(rules)s AS rules
FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
WHERE %(filter)s
ORDER BY 2
"""

ENUMS_SQL = """
SELECT t.oid, pg_catalog.format_type(t.oid, NULL) AS name,
       (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
          FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) AS labels
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND %s
ORDER BY 2
""" % user_object('n', 'pg_type', 't.oid')

COMPOSITES_SQL = """
SELECT t.oid, pg_catalog.format_type(t.oid, NULL) AS name,
       pg_catalog.quote_ident(a.attname) AS attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS atttype,
       CASE WHEN a.attcollation <> at.typcollation
            THEN pg_catalog.format('%%I.%%I', cn.nspname, co.collname) END AS collation
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
WHERE t.typtype = 'c' AND %s
ORDER BY 2, a.attnum
""" % user_object('n', 'pg_type', 't.oid')

RANGES_SQL = """
SELECT t.oid, pg_catalog.format_type(t.oid, NULL) AS name,
       pg_catalog.format_type(r.rngsubtype, NULL) AS subtype,
       %(multi)s AS multirange,
       CASE WHEN NOT opc.opcdefault
            THEN pg_catalog.format('%%I.%%I', opn.nspname, opc.opcname) END AS opclass,
       CASE WHEN r.rngcollation <> st.typcollation
            THEN pg_catalog.format('%%I.%%I', cn.nspname, co.collname) END AS collation,
       CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::pg_catalog.regproc::text END AS canonical,
       CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::pg_catalog.regproc::text END AS subdiff
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype
JOIN pg_catalog.pg_opclass opc ON opc.oid = r.rngsubopc
JOIN pg_catalog.pg_namespace opn ON opn.oid = opc.opcnamespace
LEFT JOIN pg_catalog.pg_collation co ON co.oid = r.rngcollation
LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
WHERE t.typtype = 'r' AND %(filter)s
ORDER BY 2
"""

DOMAINS_SQL = """
SELECT t.oid, pg_catalog.format_type(t.oid, NULL) AS name,
       pg_catalog.format_type(t.typbasetype, t.typtypmod) AS basetype,
       CASE WHEN t.typcollation <> bt.typcollation
            THEN pg_catalog.format('%%I.%%I', cn.nspname, co.collname) END AS collation,
       pg_catalog.pg_get_expr(t.typdefaultbin, 0) AS defexpr, t.typnotnull AS notnull,
       (SELECT pg_catalog.string_agg(pg_catalog.format(E'\\n    CONSTRAINT %%I %%s', k.conname,
                                                       pg_catalog.pg_get_constraintdef(k.oid)),
                                     '' ORDER BY k.conname)
          FROM pg_catalog.pg_constraint k
         WHERE k.contypid = t.oid AND k.contype = 'c' AND k.convalidated AND k.oid <> ALL (__SPLIT__)) AS checks,
       (SELECT pg_catalog.array_agg(pg_catalog.format('%%s %%I %%s', k.oid, k.conname,
                                                      pg_catalog.pg_get_constraintdef(k.oid)) ORDER BY k.conname)
          FROM pg_catalog.pg_constraint k
         WHERE k.contypid = t.oid AND k.contype = 'c' AND k.convalidated AND k.oid = ANY (__SPLIT__)) AS split_checks
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation
LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
WHERE t.typtype = 'd' AND %s
ORDER BY 2
""" % user_object('n', 'pg_type', 't.oid')


_FUNCS = ("CASE WHEN t.typ%s <> 0 THEN t.typ%s::pg_catalog.regproc::text END AS %s"
          % (col, col, name) for col, name in (('input', 'input'), ('output', 'output'), ('receive', 'receive'),
                                               ('send', 'send'), ('modin', 'typmod_in'), ('modout', 'typmod_out'),
                                               ('analyze', 'analyze')))

# Base types (typtype b, not an array type) and types that are only a shell (typtype p).
BASE_TYPES_SQL = """
SELECT t.oid, pg_catalog.format_type(t.oid, NULL) AS name, t.typisdefined, t.typlen, t.typbyval,
       t.typalign, t.typstorage, t.typcategory, t.typispreferred, t.typdelim, t.typdefault,
       t.typcollation <> 0 AS collatable, %s,
       %%(subscript)s AS subscript,
       CASE WHEN t.typelem <> 0 THEN pg_catalog.format_type(t.typelem, NULL) END AS element,
       ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout,
             t.typanalyze]::pg_catalog.oid[] AS functions
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE (t.typtype = 'b' OR (t.typtype = 'p' AND NOT t.typisdefined)) AND %s
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type a WHERE a.typarray = t.oid)
ORDER BY 2
""" % (', '.join(_FUNCS), user_object('n', 'pg_type', 't.oid').replace('%', '%%'))
ALIGNMENT = {'c': 'char', 's': 'int2', 'i': 'int4', 'd': 'double'}
STORAGE = {'p': 'plain', 'e': 'external', 'x': 'extended', 'm': 'main'}


def collation_items(cur, ctx):
    locale = ctx.caps.icu_locale_column
    rules = ctx.caps.column('c', 'pg_collation', 'collicurules', 'NULL::text')
    rows = fetch_dicts(cur, COLLATIONS_SQL % {
        'locale': locale, 'rules': rules, 'filter': user_object('n', 'pg_collation', 'c.oid')})
    items = []
    for r in rows:
        provider = {'i': 'icu', 'c': 'libc', 'b': 'builtin'}.get(r['provider'])
        if provider is None:
            continue  # 'd' (database default) cannot be created
        opts = ['provider = %s' % provider]
        if not r['deterministic']:
            opts.append('deterministic = false')
        if provider != 'libc':
            opts.append('locale = %s' % quote_literal(r['locale'] or ''))
        elif r['lc_collate'] == r['lc_ctype']:
            opts.append('locale = %s' % quote_literal(r['lc_collate']))
        else:
            opts.append('lc_collate = %s' % quote_literal(r['lc_collate']))
            opts.append('lc_ctype = %s' % quote_literal(r['lc_ctype']))
        if r['rules']:
            opts.append('rules = %s' % quote_literal(r['rules']))
        items.append(DdlItem(('pg_collation', r['oid']), 'COLLATION', r['name'],
                             'CREATE COLLATION %s (%s);' % (r['name'], ', '.join(opts))))
    return items


def enum_items(cur, ctx):
    return [DdlItem(('pg_type', r['oid']), 'TYPE', r['name'],
                    'CREATE TYPE %s AS ENUM (%s);' % (r['name'], r['labels'] or ''))
            for r in fetch_dicts(cur, ENUMS_SQL)]


def composite_items(cur, ctx):
    types = {}
    for r in fetch_dicts(cur, COMPOSITES_SQL):
        entry = types.setdefault(r['oid'], (r['name'], []))
        if r['attname'] is not None:
            col = '%s %s' % (r['attname'], r['atttype'])
            if r['collation']:
                col += ' COLLATE %s' % r['collation']
            entry[1].append(col)
    return [DdlItem(('pg_type', oid), 'TYPE', name,
                    'CREATE TYPE %s AS (%s);' % (name, '\n    %s\n' % ',\n    '.join(cols) if cols else ''))
            for oid, (name, cols) in sorted(types.items(), key=lambda kv: kv[1][0])]


def range_items(cur, ctx):
    multi = 'pg_catalog.format_type(r.rngmultitypid, NULL)' if ctx.caps.multiranges else 'NULL::text'
    rows = fetch_dicts(cur, RANGES_SQL % {'multi': multi,
                                          'filter': user_object('n', 'pg_type', 't.oid')})
    items = []
    for r in rows:
        opts = ['subtype = %s' % r['subtype']]
        for opt, col in (('multirange_type_name', 'multirange'), ('subtype_opclass', 'opclass'),
                         ('collation', 'collation'), ('canonical', 'canonical'),
                         ('subtype_diff', 'subdiff')):
            if r[col]:
                opts.append('%s = %s' % (opt, r[col]))
        items.append(DdlItem(('pg_type', r['oid']), 'TYPE', r['name'],
                             'CREATE TYPE %s AS RANGE (\n    %s\n);' % (r['name'], ',\n    '.join(opts))))
    return items


def domain_items(cur, ctx, split=()):
    items = []
    oids = sorted(oid for cat, oid in split if cat == 'pg_constraint')
    sql = DOMAINS_SQL.replace('__SPLIT__', "'{%s}'::pg_catalog.oid[]" % ','.join(str(o) for o in oids))
    for r in fetch_dicts(cur, sql):
        sql = 'CREATE DOMAIN %s AS %s' % (r['name'], r['basetype'])
        if r['collation']:
            sql += ' COLLATE %s' % r['collation']
        if r['defexpr'] is not None:
            sql += ' DEFAULT %s' % r['defexpr']
        if r['notnull']:
            sql += ' NOT NULL'
        sql += (r['checks'] or '') + ';'
        items.append(DdlItem(('pg_type', r['oid']), 'DOMAIN', r['name'], sql))
        for entry in r['split_checks'] or ():   # calling a user function: added after it
            oid, name, definition = entry.split(' ', 2)
            items.append(DdlItem(('pg_constraint', int(oid)), 'CHECK CONSTRAINT', '%s on %s' % (name, r['name']),
                                 'ALTER DOMAIN %s ADD CONSTRAINT %s %s;' % (r['name'], name, definition),
                                 deps=[('pg_type', r['oid'])]))
    return items


def _base_type_sql(r):
    opts = ['INTERNALLENGTH = %s' % ('variable' if r['typlen'] == -1 else r['typlen']),
            'INPUT = %s' % r['input'], 'OUTPUT = %s' % r['output']]
    for opt in ('receive', 'send', 'typmod_in', 'typmod_out', 'analyze'):
        if r[opt]:
            opts.append('%s = %s' % (opt.upper(), r[opt]))
    if r['subscript'] and not (r['element'] and r['subscript'] == 'raw_array_subscript_handler'):
        opts.append('SUBSCRIPT = %s' % r['subscript'])
    if r['typcategory'] != 'U':
        opts.append('CATEGORY = %s' % quote_literal(r['typcategory']))
    if r['typispreferred']:
        opts.append('PREFERRED = true')
    if r['typdefault'] is not None:
        opts.append('DEFAULT = %s' % quote_literal(r['typdefault']))
    if r['element']:
        opts.append('ELEMENT = %s' % r['element'])
    if r['typdelim'] != ',':
        opts.append('DELIMITER = %s' % quote_literal(r['typdelim']))
    opts.append('ALIGNMENT = %s' % ALIGNMENT[r['typalign']])
    opts.append('STORAGE = %s' % STORAGE[r['typstorage']])
    if r['typbyval']:
        opts.append('PASSEDBYVALUE')
    if r['collatable']:
        opts.append('COLLATABLE = true')
    return 'CREATE TYPE %s (\n    %s\n);' % (r['name'], ',\n    '.join(opts))


def base_type_items(cur, ctx):
    """(items, io_redirects): shell and full items of base types, lone shell types, and
    {function key: (type key, shell key)} for the functions a base type is made of."""
    subscript = ('CASE WHEN t.typsubscript <> 0 THEN t.typsubscript::pg_catalog.regproc::text END'
                 if ctx.caps.has_column('pg_type', 'typsubscript') else 'NULL::text')
    items, redirects = [], {}
    for r in fetch_dicts(cur, BASE_TYPES_SQL % {'subscript': subscript}):
        key = ('pg_type', r['oid'])
        if not r['typisdefined']:
            items.append(DdlItem(key, 'SHELL TYPE', r['name'], 'CREATE TYPE %s;' % r['name']))
            continue
        shell = ('pg_type', r['oid'], 'shell')
        items.append(DdlItem(shell, 'SHELL TYPE', r['name'], 'CREATE TYPE %s;' % r['name']))
        items.append(DdlItem(key, 'TYPE', r['name'], _base_type_sql(r), deps=[shell]))
        for func in r['functions'] or ():
            redirects[('pg_proc', func)] = (key, shell)
    return items, redirects


def type_items(cur, ctx, split=()):
    """(items, io_redirects): every collation, base/shell, enum, composite, range and domain item."""
    base, redirects = base_type_items(cur, ctx)
    return (collation_items(cur, ctx) + base + enum_items(cur, ctx) + composite_items(cur, ctx)
            + range_items(cur, ctx) + domain_items(cur, ctx, split)), redirects
