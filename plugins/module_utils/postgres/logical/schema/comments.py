# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""COMMENT ON for every dumped object and sub-object (columns, constraints, ...).

pg_identify_object gives the object's kind and a SQL-ready identity for all
catalogs at once; only the few kinds whose COMMENT syntax differs from
"COMMENT ON <kind> <identity>" are spelled out. Comments are grouped per
owning relation (or object), one decoration item each. Event-trigger
comments go with the event trigger itself (triggers.py).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_DECORATION
from .post_common import quote_literal, fetch_dicts

# Catalogs whose objects the extractors create (and so may carry a comment).
CATALOGS = ('pg_namespace', 'pg_class', 'pg_proc', 'pg_type', 'pg_collation', 'pg_constraint',
            'pg_trigger', 'pg_policy', 'pg_rewrite', 'pg_statistic_ext', 'pg_largeobject',
            'pg_extension', 'pg_operator', 'pg_cast', 'pg_publication', 'pg_am', 'pg_opclass',
            'pg_opfamily', 'pg_ts_parser', 'pg_ts_template', 'pg_ts_dict', 'pg_ts_config', 'pg_transform',
            'pg_language', 'pg_conversion', 'pg_foreign_data_wrapper', 'pg_foreign_server')

COMMENTS_SQL = """
WITH c AS (
  SELECT d.classoid, d.objoid, d.objsubid, d.description,
         CASE d.classoid
           WHEN 'pg_catalog.pg_class'::regclass THEN
             COALESCE((SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = d.objoid), d.objoid)
           WHEN 'pg_catalog.pg_constraint'::regclass THEN
             (SELECT NULLIF(x.conrelid, 0) FROM pg_catalog.pg_constraint x WHERE x.oid = d.objoid)
           WHEN 'pg_catalog.pg_trigger'::regclass THEN
             (SELECT x.tgrelid FROM pg_catalog.pg_trigger x WHERE x.oid = d.objoid)
           WHEN 'pg_catalog.pg_policy'::regclass THEN
             (SELECT x.polrelid FROM pg_catalog.pg_policy x WHERE x.oid = d.objoid)
           WHEN 'pg_catalog.pg_rewrite'::regclass THEN
             (SELECT x.ev_class FROM pg_catalog.pg_rewrite x WHERE x.oid = d.objoid)
         END AS rel,
         CASE d.classoid WHEN 'pg_catalog.pg_constraint'::regclass THEN
             (SELECT NULLIF(x.contypid, 0) FROM pg_catalog.pg_constraint x WHERE x.oid = d.objoid)
         END AS typ
    FROM pg_catalog.pg_description d
   WHERE d.classoid IN ({catalogs})
     AND (d.objoid >= 16384 OR d.classoid = 'pg_catalog.pg_largeobject'::regclass
          OR (d.classoid = 'pg_catalog.pg_namespace'::regclass
                                AND d.objoid < 16384 AND d.objoid IN (
                                    SELECT p.oid FROM pg_catalog.pg_namespace p WHERE p.nspname = 'public')))
)
SELECT c.classoid::pg_catalog.regclass::text AS catalog, c.objoid, c.objsubid, c.description,
       COALESCE(c.rel, c.typ, c.objoid) AS grp,
       CASE WHEN c.rel IS NOT NULL THEN 'pg_class' WHEN c.typ IS NOT NULL THEN 'pg_type'
            ELSE c.classoid::pg_catalog.regclass::text END AS gcat, o.type, o.identity, a.object_names, a.object_args,
       (SELECT pg_catalog.format('%I.%I(%s)', pn.nspname, p.proname, CASE WHEN p.prokind = 'a' THEN
                  COALESCE(NULLIF(pg_catalog.pg_get_function_identity_arguments(p.oid), ''), '*')
                  ELSE pg_catalog.pg_get_function_identity_arguments(p.oid) END)
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
         WHERE c.classoid = 'pg_catalog.pg_proc'::regclass AND p.oid = c.objoid) AS function
  FROM c
 CROSS JOIN LATERAL pg_catalog.pg_identify_object(c.classoid, c.objoid, c.objsubid) o
 CROSS JOIN LATERAL pg_catalog.pg_identify_object_as_address(c.classoid, c.objoid, c.objsubid) a
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.deptype = 'e' AND (
             (x.classid = c.classoid AND x.objid = c.objoid)
          OR (x.classid = 'pg_catalog.pg_class'::regclass AND x.objid = c.rel)
          OR (x.classid = 'pg_catalog.pg_type'::regclass AND x.objid = c.typ)))
   AND (c.rel IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_class r
              JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
             WHERE r.oid = c.rel AND r.relkind <> 'f' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'))
   AND (o.schema IS NULL OR (o.schema !~ '^pg_' AND o.schema <> 'information_schema'))
   AND NOT (c.classoid = 'pg_catalog.pg_type'::regclass AND EXISTS (
            SELECT 1 FROM pg_catalog.pg_type t WHERE t.oid = c.objoid AND t.typtype IN ('b', 'p')
               AND (t.typisdefined OR t.typtype <> 'p')
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_type a WHERE a.typarray = t.oid)))
   AND NOT (c.classoid = 'pg_catalog.pg_class'::regclass AND EXISTS (
            SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
             WHERE i.indexrelid = c.objoid AND NOT i.indisvalid AND ic.relkind = 'i'))
   AND NOT (c.classoid = 'pg_catalog.pg_trigger'::regclass AND EXISTS (
            SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.oid = c.objoid AND ({trigger_clone})))
 ORDER BY gcat, grp, c.classoid, c.objoid, c.objsubid
"""

PUBLIC_SCHEMA_SQL = """
SELECT pg_catalog.obj_description(n.oid, 'pg_namespace') FROM pg_catalog.pg_namespace n
 WHERE n.nspname = 'public' AND n.oid < 16384
"""

# pg_identify_object type -> COMMENT ON keyword, where it is not type.upper().
KEYWORDS = {
    'table column': 'COLUMN', 'view column': 'COLUMN', 'materialized view column': 'COLUMN',
    'foreign table column': 'COLUMN', 'composite type column': 'COLUMN',
    'table constraint': 'CONSTRAINT', 'composite type': 'TYPE', 'statistics object': 'STATISTICS',
    'foreign-data wrapper': 'FOREIGN DATA WRAPPER',
}


def _quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def comment_sql(row):
    """COMMENT ON statement for one pg_description row."""
    kind = row['type']
    if kind == 'domain constraint':
        target = 'CONSTRAINT %s ON DOMAIN %s' % (_quote_ident(row['object_args'][0]), row['object_names'][0])
    elif kind == 'transform':
        target = 'TRANSFORM FOR %s LANGUAGE %s' % (row['object_names'][0], _quote_ident(row['object_args'][0]))
    elif row.get('function'):   # identity arguments with modes; an aggregate without arguments: (*)
        target = '%s %s' % (kind.upper(), row['function'])
    else:
        target = '%s %s' % (KEYWORDS.get(kind, kind.upper()), row['identity'])
    return 'COMMENT ON %s IS %s;' % (target, quote_literal(row['description']))


def comment_items(cur, ctx):
    """Decoration items with the comments, one per owning object."""
    catalogs = ', '.join("'pg_catalog.%s'::regclass" % c for c in CATALOGS)
    clone = 't.tgisinternal OR %s <> 0' % ctx.caps.column('t', 'pg_trigger', 'tgparentid', '0')
    rows = fetch_dicts(cur, COMMENTS_SQL.format(catalogs=catalogs, trigger_clone=clone))
    groups, order = {}, []
    public_seen = False
    for r in rows:
        if r['catalog'] == 'pg_namespace' and r['identity'] == 'public':
            public_seen = True
        gkey = (r['gcat'], r['grp'])
        if gkey not in groups:
            groups[gkey] = []
            order.append(gkey)
        groups[gkey].append(r)
    items = []
    for gkey in order:
        lines = [comment_sql(r) for r in groups[gkey]]
        head = groups[gkey][0]
        items.append(DdlItem(('pg_description',) + gkey, 'COMMENT', head['identity'],
                             '\n'.join(lines) + '\n', section=POST, phase=PHASE_DECORATION))
    if not public_seen:
        cur.execute(PUBLIC_SCHEMA_SQL)
        if cur.rowcount:
            # the target's public schema comes with a comment; the source had none.
            items.append(DdlItem(('pg_description', 'pg_namespace', 'public'), 'COMMENT', 'public',
                                 'COMMENT ON SCHEMA public IS NULL;\n', section=POST, phase=PHASE_DECORATION))
    return items
