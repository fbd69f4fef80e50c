# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sequences: definitions, OWNED BY links, and current values.

Standalone and serial sequences are CREATE SEQUENCE items; identity
sequences are created by their table (see tables.py), which takes the
options from identity_options(). OWNED BY is a separate item after the
table; the current value is a setval() item read inside the dump's
snapshot, so data and sequence values agree.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts
from .quote import quote_literal

SEQUENCES_SQL = """
SELECT c.oid, c.oid::pg_catalog.regclass::text AS name, c.relpersistence,
       pg_catalog.format_type(s.seqtypid, NULL) AS seqtype, s.seqstart, s.seqincrement,
       s.seqmax, s.seqmin, s.seqcache, s.seqcycle,
       d.deptype, d.refobjid AS table_oid,
       d.refobjid::pg_catalog.regclass::text AS table_name,
       pg_catalog.quote_ident(a.attname) AS column_name
FROM pg_catalog.pg_sequence s
JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_depend d
       ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
      AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE %s
ORDER BY 2
""" % user_object('n', 'pg_class', 'c.oid')

VALUES_BATCH = 200


def read_sequences(cur, ctx):
    """All user sequences as dicts (identity ones have deptype 'i')."""
    return fetch_dicts(cur, SEQUENCES_SQL)


def _options(s, with_type):
    opts = []
    if with_type and s['seqtype'] != 'bigint':
        opts.append('AS %s' % s['seqtype'])
    opts += ['START WITH %d' % s['seqstart'], 'INCREMENT BY %d' % s['seqincrement'],
             'MINVALUE %d' % s['seqmin'], 'MAXVALUE %d' % s['seqmax'], 'CACHE %d' % s['seqcache'],
             'CYCLE' if s['seqcycle'] else 'NO CYCLE']
    return opts


def identity_options(s):
    """The parenthesised options of ADD GENERATED ... AS IDENTITY for sequence s."""
    return '(\n    SEQUENCE NAME %s\n    %s\n)' % (s['name'], '\n    '.join(_options(s, False)))


def read_values(cur, seqs):
    """{oid: (last_value, is_called)}, a few UNION ALL queries instead of one per sequence."""
    values = {}
    for start in range(0, len(seqs), VALUES_BATCH):
        batch = seqs[start:start + VALUES_BATCH]
        cur.execute(' UNION ALL '.join(
            'SELECT %d::pg_catalog.oid, last_value, is_called FROM %s' % (s['oid'], s['name'])
            for s in batch))
        for oid, last_value, is_called in cur.fetchall():
            values[oid] = (last_value, is_called)
    return values


def sequence_items(cur, ctx, seqs):
    """CREATE SEQUENCE, OWNED BY and setval items for seqs (from read_sequences)."""
    items = []
    values = read_values(cur, seqs)
    for s in seqs:
        key = ('pg_class', s['oid'])
        identity = s['deptype'] == 'i'
        if not identity:
            unlogged = 'UNLOGGED ' if s['relpersistence'] == 'u' else ''
            items.append(DdlItem(key, 'SEQUENCE', s['name'], 'CREATE %sSEQUENCE %s\n    %s;' % (
                unlogged, s['name'], '\n    '.join(_options(s, True)))))
        set_deps = [key]
        if s['deptype'] == 'a':
            owned = ('pg_class', s['oid'], 'owned')
            items.append(DdlItem(owned, 'SEQUENCE OWNED BY', s['name'],
                                 'ALTER SEQUENCE %s OWNED BY %s.%s;' % (s['name'], s['table_name'],
                                                                        s['column_name']),
                                 deps=[key, ('pg_class', s['table_oid'])]))
            set_deps.append(owned)
        elif identity:
            set_deps = [('pg_class', s['table_oid'])]
        last_value, is_called = values[s['oid']]
        items.append(DdlItem(('pg_class', s['oid'], 'setval'), 'SEQUENCE SET', s['name'],
                             'SELECT pg_catalog.setval(%s, %d, %s);' % (
                                 quote_literal(s['name']), last_value, 'true' if is_called else 'false'),
                             deps=set_deps))
    return items
