# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Functions, procedures and aggregates.

Range and multirange constructors are created with their type (pg_depend
deptype 'i') and skipped. Functions and procedures come from pg_get_functiondef (all attributes,
SQL-standard bodies included); aggregates have no such function, so
CREATE AGGREGATE is assembled from pg_aggregate the way pg_dump does.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts
from .quote import quote_literal

FUNCTIONS_SQL = """
SELECT p.oid, p.prokind,
       pg_catalog.format('%%I.%%I(%%s)', n.nspname, p.proname,
                         pg_catalog.pg_get_function_identity_arguments(p.oid)) AS name,
       pg_catalog.pg_get_functiondef(p.oid) AS def
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind <> 'a' AND %s
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i WHERE i.classid = 'pg_proc'::regclass
                  AND i.objid = p.oid AND i.deptype = 'i')
ORDER BY 3
""" % user_object('n', 'pg_proc', 'p.oid')

AGG_FUNCS = ('aggtransfn', 'aggfinalfn', 'aggcombinefn', 'aggserialfn', 'aggdeserialfn',
             'aggmtransfn', 'aggminvtransfn', 'aggmfinalfn')

AGGREGATES_SQL = """
SELECT p.oid,
       pg_catalog.format('%%I.%%I', n.nspname, p.proname) AS qname,
       pg_catalog.pg_get_function_arguments(p.oid) AS args,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_args,
       a.aggkind, p.proparallel, %(funcs)s,
       a.aggfinalextra, a.aggmfinalextra, %(modify)s,
       pg_catalog.format_type(a.aggtranstype, NULL) AS stype, a.aggtransspace,
       CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END AS mstype,
       a.aggmtransspace, a.agginitval, a.aggminitval,
       CASE WHEN a.aggsortop <> 0 THEN
         (SELECT pg_catalog.format('OPERATOR(%%I.%%s)', opn.nspname, o.oprname)
            FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace
           WHERE o.oid = a.aggsortop) END AS sortop
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
WHERE p.prokind = 'a' AND %(filter)s
ORDER BY 2, 4
"""

MODIFY = {'r': 'READ_ONLY', 's': 'SHAREABLE', 'w': 'READ_WRITE'}
PARALLEL = {'s': 'SAFE', 'r': 'RESTRICTED', 'u': 'UNSAFE'}


def function_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, FUNCTIONS_SQL):
        kind = 'PROCEDURE' if r['prokind'] == 'p' else 'FUNCTION'
        body = r['def'].rstrip()
        items.append(DdlItem(('pg_proc', r['oid']), kind, r['name'], body + ';'))
    return items


def _aggregate_sql(r):
    opts = ['SFUNC = %s' % r['aggtransfn'], 'STYPE = %s' % r['stype']]
    if r['aggtransspace']:
        opts.append('SSPACE = %d' % r['aggtransspace'])
    if r['agginitval'] is not None:
        opts.append('INITCOND = %s' % quote_literal(r['agginitval']))
    if r['aggfinalfn']:
        opts.append('FINALFUNC = %s' % r['aggfinalfn'])
        if r['aggfinalextra']:
            opts.append('FINALFUNC_EXTRA')
        if r['finalmodify'] in MODIFY:
            opts.append('FINALFUNC_MODIFY = %s' % MODIFY[r['finalmodify']])
    for opt, col in (('COMBINEFUNC', 'aggcombinefn'), ('SERIALFUNC', 'aggserialfn'),
                     ('DESERIALFUNC', 'aggdeserialfn'), ('MSFUNC', 'aggmtransfn'),
                     ('MINVFUNC', 'aggminvtransfn')):
        if r[col]:
            opts.append('%s = %s' % (opt, r[col]))
    if r['mstype']:
        opts.append('MSTYPE = %s' % r['mstype'])
        if r['aggmtransspace']:
            opts.append('MSSPACE = %d' % r['aggmtransspace'])
        if r['aggminitval'] is not None:
            opts.append('MINITCOND = %s' % quote_literal(r['aggminitval']))
    if r['aggmfinalfn']:
        opts.append('MFINALFUNC = %s' % r['aggmfinalfn'])
        if r['aggmfinalextra']:
            opts.append('MFINALFUNC_EXTRA')
        if r['mfinalmodify'] in MODIFY:
            opts.append('MFINALFUNC_MODIFY = %s' % MODIFY[r['mfinalmodify']])
    if r['sortop']:
        opts.append('SORTOP = %s' % r['sortop'])
    if r['aggkind'] == 'h':
        opts.append('HYPOTHETICAL')
    if r['proparallel'] in PARALLEL and r['proparallel'] != 'u':
        opts.append('PARALLEL = %s' % PARALLEL[r['proparallel']])
    return 'CREATE AGGREGATE %s(%s) (\n    %s\n);' % (r['qname'], r['args'] or '*', ',\n    '.join(opts))


def aggregate_items(cur, ctx):
    funcs = ', '.join("CASE WHEN a.%s <> 0 THEN a.%s::pg_catalog.regproc::text END AS %s" % (f, f, f)
                      for f in AGG_FUNCS)
    modify = '%s AS finalmodify, %s AS mfinalmodify' % (
        ctx.caps.column('a', 'pg_aggregate', 'aggfinalmodify'), ctx.caps.column('a', 'pg_aggregate', 'aggmfinalmodify'))
    rows = fetch_dicts(cur, AGGREGATES_SQL % {'funcs': funcs, 'modify': modify,
                                              'filter': user_object('n', 'pg_proc', 'p.oid')})
    return [DdlItem(('pg_proc', r['oid']), 'AGGREGATE', '%s(%s)' % (r['qname'], r['identity_args']),
                    _aggregate_sql(r)) for r in rows]
