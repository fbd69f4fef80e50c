# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dependencies between pre-data items, from pg_depend, mapped to item keys.

pg_depend speaks about catalog rows (a view's pg_rewrite rule, a column
default's pg_attrdef, an array type, a table's row type, a check
constraint ...); items are keyed ('pg_class', oid), ('pg_type', oid),
('pg_proc', oid), ('pg_namespace', oid), ('pg_extension', oid),
('pg_collation', oid), ('pg_operator', oid), ('pg_cast', oid), ('pg_foreign_data_wrapper', oid),
('pg_foreign_server', oid). key_of() folds each catalog row onto the item that
creates it; extension members fold onto their extension.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

FIRST_USER_OID = 16384

CATALOGS = ('pg_class', 'pg_type', 'pg_proc', 'pg_namespace', 'pg_extension',
            'pg_collation', 'pg_operator', 'pg_cast', 'pg_foreign_data_wrapper', 'pg_foreign_server',
            'pg_rewrite', 'pg_attrdef', 'pg_constraint', 'pg_am', 'pg_opclass', 'pg_opfamily',
            'pg_amop', 'pg_amproc', 'pg_ts_parser', 'pg_ts_template', 'pg_ts_dict', 'pg_ts_config',
            'pg_transform', 'pg_language', 'pg_conversion')

_CAT_CASE = ' '.join("WHEN '%s'::regclass THEN '%s'" % (c, c) for c in CATALOGS)
_CAT_LIST = ', '.join("'%s'::regclass" % c for c in CATALOGS)

DEPEND_SQL = """
SELECT CASE d.classid %(case)s END, d.objid,
       CASE d.refclassid %(case)s END, d.refobjid, d.deptype
FROM pg_catalog.pg_depend d
WHERE d.deptype IN ('n', 'a') AND d.objid >= %(first)d AND d.refobjid >= %(first)d
  AND d.classid IN (%(list)s) AND d.refclassid IN (%(list)s)
""" % {'case': _CAT_CASE, 'list': _CAT_LIST, 'first': FIRST_USER_OID}

EXT_MEMBER_SQL = """
SELECT CASE d.classid %(case)s END, d.objid, d.refobjid
FROM pg_catalog.pg_depend d
WHERE d.deptype = 'e' AND d.classid IN (%(list)s)
""" % {'case': _CAT_CASE, 'list': _CAT_LIST}

# Identity sequences are created by their table (deptype 'i'), so they fold onto it.
REL_SQL = """
SELECT c.oid, c.relkind, c.reltype,
       (SELECT i.refobjid FROM pg_catalog.pg_depend i
         WHERE c.relkind = 'S' AND i.classid = 'pg_class'::regclass AND i.objid = c.oid
           AND i.refclassid = 'pg_class'::regclass AND i.deptype = 'i' LIMIT 1) AS identity_of
FROM pg_catalog.pg_class c
WHERE c.oid >= %d AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
""" % FIRST_USER_OID

TYPE_SQL = """
SELECT t.oid, t.typtype, t.typrelid,
       (SELECT e.oid FROM pg_catalog.pg_type e WHERE e.typarray = t.oid) AS elem,
       %s AS range_of
FROM pg_catalog.pg_type t
WHERE t.oid >= %d
"""
RANGE_OF_14 = "(SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid)"

# Rows that belong to another object's item (a view's rule, a default, a constraint, an
# operator-class member); primary key, unique and exclusion constraints (post-data items,
# which a view grouping by a key waits for) and split defaults/checks keep their own key.
OWNER_SQL = """
SELECT 'pg_rewrite', oid, 'pg_class', ev_class FROM pg_catalog.pg_rewrite WHERE oid >= %(f)d
UNION ALL SELECT 'pg_attrdef', oid, 'pg_class', adrelid FROM pg_catalog.pg_attrdef WHERE oid >= %(f)d
UNION ALL SELECT 'pg_constraint', oid, CASE WHEN conrelid <> 0 THEN 'pg_class' ELSE 'pg_type' END,
       CASE WHEN contype IN ('p', 'u', 'x') AND conrelid <> 0 THEN NULL
            WHEN conrelid <> 0 THEN conrelid ELSE contypid END
  FROM pg_catalog.pg_constraint WHERE oid >= %(f)d
UNION ALL SELECT m.cat, m.oid, CASE WHEN d.refobjid IS NULL THEN 'pg_opfamily' ELSE 'pg_opclass' END,
       COALESCE(d.refobjid, m.family)
  FROM (SELECT 'pg_amop' AS cat, 'pg_catalog.pg_amop'::regclass AS classid, oid, amopfamily AS family
          FROM pg_catalog.pg_amop WHERE oid >= %(f)d
        UNION ALL SELECT 'pg_amproc', 'pg_catalog.pg_amproc'::regclass, oid, amprocfamily
          FROM pg_catalog.pg_amproc WHERE oid >= %(f)d) m
  LEFT JOIN pg_catalog.pg_depend d ON d.classid = m.classid AND d.objid = m.oid AND d.deptype = 'i'
       AND d.refclassid = 'pg_catalog.pg_opclass'::regclass
""" % {'f': FIRST_USER_OID}


class DependencyMap(object):
    """pg_depend folded onto item keys: deps_of(key) -> set of keys."""

    def __init__(self, cur, ctx, own=()):
        self.own = set(own)   # (catalog, oid) of rows that are items themselves (split defaults, ...)
        cur.execute(EXT_MEMBER_SQL)
        self.ext = dict(((cat, oid), ext) for cat, oid, ext in cur.fetchall())
        cur.execute(REL_SQL)
        self.rel = dict((r[0], r[1:]) for r in cur.fetchall())
        range_of = RANGE_OF_14 if ctx.caps.multiranges else 'NULL::oid'
        cur.execute(TYPE_SQL % (range_of, FIRST_USER_OID))
        self.typ = dict((r[0], r[1:]) for r in cur.fetchall())
        cur.execute(OWNER_SQL)
        self.owner = dict(((cat, oid), (refcat, ref)) for cat, oid, refcat, ref in cur.fetchall())
        cur.execute(DEPEND_SQL)
        self.deps = {}
        for cat, oid, refcat, refoid, deptype in cur.fetchall():
            if deptype == 'a' and cat == 'pg_class' and self.rel.get(oid, ('',))[0] == 'S':
                continue  # OWNED BY: a separate item after the table
            a, b = self.key_of(cat, oid), self.key_of(refcat, refoid)
            if a is not None and b is not None and a != b:
                self.deps.setdefault(a, set()).add(b)

    def key_of(self, cat, oid, depth=0):
        """The item key that creates catalog row (cat, oid); None when no item does."""
        if (cat, oid) in self.ext:
            return ('pg_extension', self.ext[(cat, oid)])
        if (cat, oid) in self.own:
            return (cat, oid)
        if depth > 4:
            return None
        if cat == 'pg_class':
            info = self.rel.get(oid)
            if info is None:
                return None
            relkind, reltype, identity_of = info
            if relkind == 'c':
                return self.key_of('pg_type', reltype, depth + 1)
            if identity_of:
                return self.key_of('pg_class', identity_of, depth + 1)
            return ('pg_class', oid)
        if cat == 'pg_type':
            info = self.typ.get(oid)
            if info is None:
                return None
            typtype, typrelid, elem, range_of = info
            if elem:
                return self.key_of('pg_type', elem, depth + 1)
            if range_of:
                return self.key_of('pg_type', range_of, depth + 1)
            if typtype == 'c' and self.rel.get(typrelid, ('c',))[0] != 'c':
                return self.key_of('pg_class', typrelid, depth + 1)
            return ('pg_type', oid)
        if cat in ('pg_rewrite', 'pg_attrdef', 'pg_constraint', 'pg_amop', 'pg_amproc'):
            ref = self.owner.get((cat, oid))
            if ref and ref[1] is None:
                return (cat, oid)
            return self.key_of(ref[0], ref[1], depth + 1) if ref else None
        return (cat, oid)

    def deps_of(self, key):
        return self.deps.get(tuple(key), set())
