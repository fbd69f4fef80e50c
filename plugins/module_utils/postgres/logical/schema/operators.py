# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""User-defined operators and casts.

An operator naming its commutator/negator before that one exists leaves a
shell operator that the later CREATE OPERATOR fills in, exactly as with
pg_dump, so operator pairs need no special ordering. Shell operators of the
source (no function) and casts made with a type (multirange, deptype 'i')
are skipped.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts, NOT_EXTENSION_MEMBER

_OPREF = ("(SELECT pg_catalog.format('OPERATOR(%%I.%%s)', xn.nspname, x.oprname)"
          " FROM pg_catalog.pg_operator x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.oprnamespace"
          " WHERE x.oid = o.%s)")

OPERATORS_SQL = """
SELECT o.oid, pg_catalog.format('%%I.%%s', n.nspname, o.oprname) AS qname,
       CASE WHEN o.oprleft <> 0 THEN pg_catalog.format_type(o.oprleft, NULL) END AS leftarg,
       CASE WHEN o.oprright <> 0 THEN pg_catalog.format_type(o.oprright, NULL) END AS rightarg,
       o.oprcode::pg_catalog.regproc::text AS func,
       %(com)s AS commutator, %(neg)s AS negator,
       CASE WHEN o.oprrest <> 0 THEN o.oprrest::pg_catalog.regproc::text END AS restrict,
       CASE WHEN o.oprjoin <> 0 THEN o.oprjoin::pg_catalog.regproc::text END AS join_,
       o.oprcanhash AS hashes, o.oprcanmerge AS merges
FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
WHERE o.oprcode <> 0 AND %(filter)s
ORDER BY 2, 3, 4
""" % {'com': _OPREF % 'oprcom', 'neg': _OPREF % 'oprnegate',
       'filter': user_object('n', 'pg_operator', 'o.oid')}

CASTS_SQL = """
SELECT c.oid, pg_catalog.format_type(c.castsource, NULL) AS source,
       pg_catalog.format_type(c.casttarget, NULL) AS target,
       CASE WHEN c.castfunc <> 0 THEN c.castfunc::pg_catalog.regprocedure::text END AS func,
       c.castcontext, c.castmethod
FROM pg_catalog.pg_cast c
WHERE c.oid >= 16384 AND %s
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i WHERE i.classid = 'pg_cast'::regclass
                  AND i.objid = c.oid AND i.deptype = 'i')
ORDER BY 2, 3
""" % NOT_EXTENSION_MEMBER.format(catalog='pg_cast', oid='c.oid')

CONTEXT = {'a': ' AS ASSIGNMENT', 'i': ' AS IMPLICIT', 'e': ''}


def operator_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, OPERATORS_SQL):
        opts = ['FUNCTION = %s' % r['func']]
        for opt, col in (('LEFTARG', 'leftarg'), ('RIGHTARG', 'rightarg'), ('COMMUTATOR', 'commutator'),
                         ('NEGATOR', 'negator'), ('RESTRICT', 'restrict'), ('JOIN', 'join_')):
            if r[col]:
                opts.append('%s = %s' % (opt, r[col]))
        opts += [flag for flag, col in (('HASHES', 'hashes'), ('MERGES', 'merges')) if r[col]]
        name = '%s(%s, %s)' % (r['qname'], r['leftarg'] or 'NONE', r['rightarg'] or 'NONE')
        items.append(DdlItem(('pg_operator', r['oid']), 'OPERATOR', name,
                             'CREATE OPERATOR %s (\n    %s\n);' % (r['qname'], ',\n    '.join(opts))))
    return items


def cast_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, CASTS_SQL):
        if r['castmethod'] == 'i':
            how = 'WITH INOUT'
        elif r['castmethod'] == 'b' or not r['func']:
            how = 'WITHOUT FUNCTION'
        else:
            how = 'WITH FUNCTION %s' % r['func']
        name = '(%s AS %s)' % (r['source'], r['target'])
        items.append(DdlItem(('pg_cast', r['oid']), 'CAST', name, 'CREATE CAST %s %s%s;' % (
            name, how, CONTEXT.get(r['castcontext'], ''))))
    return items
