# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Access methods, operator families and operator classes.

An operator family is created empty, then given its "loose" members (operators
and support functions not bound to one of its classes) with ALTER OPERATOR
FAMILY ... ADD. An operator class names its family explicitly (CREATE OPERATOR
CLASS without FAMILY would look up or create one of the same name, which is what
the explicit family item already made) and lists the members bound to it
(pg_depend deptype 'i'). An empty class gets STORAGE of its own type, which
PostgreSQL records as no storage type, because the syntax needs one entry.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts, NOT_EXTENSION_MEMBER

ACCESS_METHODS_SQL = """
SELECT a.oid, pg_catalog.quote_ident(a.amname) AS name, a.amtype,
       a.amhandler::pg_catalog.regproc::text AS handler
  FROM pg_catalog.pg_am a
 WHERE a.oid >= 16384 AND %s
 ORDER BY 2
""" % NOT_EXTENSION_MEMBER.format(catalog='pg_am', oid='a.oid')

FAMILIES_SQL = """
SELECT f.oid, pg_catalog.format('%%I.%%I', n.nspname, f.opfname) AS name,
       pg_catalog.quote_ident(a.amname) AS method
  FROM pg_catalog.pg_opfamily f
  JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace
  JOIN pg_catalog.pg_am a ON a.oid = f.opfmethod
 WHERE %s
 ORDER BY 2, 3
""" % user_object('n', 'pg_opfamily', 'f.oid')

CLASSES_SQL = """
SELECT c.oid, pg_catalog.format('%%I.%%I', n.nspname, c.opcname) AS name,
       pg_catalog.quote_ident(a.amname) AS method, c.opcdefault,
       pg_catalog.format_type(c.opcintype, NULL) AS intype,
       CASE WHEN c.opckeytype <> 0 THEN pg_catalog.format_type(c.opckeytype, NULL) END AS storage,
       pg_catalog.format('%%I.%%I', fn.nspname, f.opfname) AS family
  FROM pg_catalog.pg_opclass c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.opcnamespace
  JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod
  JOIN pg_catalog.pg_opfamily f ON f.oid = c.opcfamily
  JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace
 WHERE %s
 ORDER BY 2, 3
""" % user_object('n', 'pg_opclass', 'c.oid')

# Members of user families: operators (strategy) then functions (support number),
# with the class they are bound to (or NULL: a loose member of the family).
MEMBERS_SQL = """
SELECT m.family, m.kind, m.number, m.text,
       (SELECT d.refobjid FROM pg_catalog.pg_depend d
         WHERE d.classid = m.classid AND d.objid = m.oid AND d.deptype = 'i'
           AND d.refclassid = 'pg_catalog.pg_opclass'::regclass) AS class
  FROM (SELECT 'pg_catalog.pg_amop'::regclass AS classid, o.oid, o.amopfamily AS family, 0 AS kind,
               o.amopstrategy AS number,
               pg_catalog.format('OPERATOR %%s %%s', o.amopstrategy, o.amopopr::pg_catalog.regoperator)
                 || CASE WHEN o.amoppurpose = 'o' THEN (
                      SELECT pg_catalog.format(' FOR ORDER BY %%I.%%I', sn.nspname, sf.opfname)
                        FROM pg_catalog.pg_opfamily sf JOIN pg_catalog.pg_namespace sn ON sn.oid = sf.opfnamespace
                       WHERE sf.oid = o.amopsortfamily) ELSE '' END AS text
          FROM pg_catalog.pg_amop o
        UNION ALL
        SELECT 'pg_catalog.pg_amproc'::regclass, p.oid, p.amprocfamily, 1, p.amprocnum,
               pg_catalog.format('FUNCTION %%s (%%s, %%s) %%s', p.amprocnum,
                                 pg_catalog.format_type(p.amproclefttype, NULL),
                                 pg_catalog.format_type(p.amprocrighttype, NULL),
                                 p.amproc::pg_catalog.regprocedure)
          FROM pg_catalog.pg_amproc p) m
  JOIN pg_catalog.pg_opfamily f ON f.oid = m.family
  JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace
 WHERE %s
 ORDER BY m.family, m.kind, m.number, m.text
""" % user_object('n', 'pg_opfamily', 'f.oid')

AM_TYPES = {'t': 'TABLE', 'i': 'INDEX'}


def access_method_items(cur, ctx):
    return [DdlItem(('pg_am', r['oid']), 'ACCESS METHOD', r['name'],
                    'CREATE ACCESS METHOD %s TYPE %s HANDLER %s;' % (r['name'], AM_TYPES[r['amtype']], r['handler']))
            for r in fetch_dicts(cur, ACCESS_METHODS_SQL) if r['amtype'] in AM_TYPES]


def operator_class_items(cur, ctx):
    """Operator families (with their loose members) and operator classes (with theirs)."""
    loose, bound = {}, {}
    for m in fetch_dicts(cur, MEMBERS_SQL):
        if m['class']:
            bound.setdefault(m['class'], []).append(m['text'])
        else:
            loose.setdefault(m['family'], []).append(m['text'])
    items = []
    for f in fetch_dicts(cur, FAMILIES_SQL):
        lines = ['CREATE OPERATOR FAMILY %s USING %s;' % (f['name'], f['method'])]
        if loose.get(f['oid']):
            lines.append('ALTER OPERATOR FAMILY %s USING %s ADD\n    %s;' % (
                f['name'], f['method'], ',\n    '.join(loose[f['oid']])))
        items.append(DdlItem(('pg_opfamily', f['oid']), 'OPERATOR FAMILY', '%s USING %s' % (f['name'], f['method']),
                             '\n'.join(lines)))
    for c in fetch_dicts(cur, CLASSES_SQL):
        entries = list(bound.get(c['oid'], ()))
        if c['storage'] or not entries:
            entries.append('STORAGE %s' % (c['storage'] or c['intype']))
        items.append(DdlItem(('pg_opclass', c['oid']), 'OPERATOR CLASS', '%s USING %s' % (c['name'], c['method']),
                             'CREATE OPERATOR CLASS %s%s FOR TYPE %s USING %s FAMILY %s AS\n    %s;' % (
                                 c['name'], ' DEFAULT' if c['opcdefault'] else '', c['intype'], c['method'],
                                 c['family'], ',\n    '.join(entries))))
    return items
