# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Owners and privileges (object and column ACLs) of every dumped object.

One decoration item per object: ALTER ... OWNER first (it rewrites the ACL),
then the GRANT/REVOKE that reproduce the ACL. Sequences owned by a table
(serial / identity) follow the table's owner, so their ACL goes into the
table's item after the table's ALTER OWNER; items of one phase run in
parallel and must not touch the same catalog row. Objects of the system and
of extensions get only what changed since CREATE EXTENSION or initdb
(system_acl.py). Functions are named by their identity arguments with modes
(procedures overloaded by OUT arguments differ only there); an aggregate
without arguments is ALTER AGGREGATE name(*) but GRANT ... ON FUNCTION name().

Schemas get their owner and ACL one phase earlier (PHASE_TRIGGER): a grant
whose grantor is not the owner runs under SET ROLE grantor, and that role
must already have USAGE on the schema to look the object up.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .acl import AclTarget, acl_statements, rename_owner
from .model import DdlItem, POST, PHASE_TRIGGER, PHASE_DECORATION
from .post_common import USER_NS, NOT_MEMBER, role_quoter, fetch_dicts
from .system_acl import system_acl_rows

# catalog, oid, alter keyword (NULL: no ALTER OWNER), grant keyword, identity,
# owner name, acl, baseline acl, initial privileges, group oid (item it goes in)
OBJECTS_SQL = """
SELECT 'pg_namespace' AS catalog, n.oid, 'SCHEMA' AS alter_kw, 'SCHEMA' AS grant_kw,
       pg_catalog.quote_ident(n.nspname) AS ident, pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
       n.nspacl::text[] AS acl, pg_catalog.acldefault('n', n.nspowner)::text[] AS base,
       ip.initprivs::text[] AS initprivs, n.oid AS grp
  FROM pg_catalog.pg_namespace n
  LEFT JOIN pg_catalog.pg_init_privs ip
         ON ip.classoid = 'pg_catalog.pg_namespace'::regclass AND ip.objoid = n.oid AND ip.objsubid = 0
 WHERE {user_n} AND {not_member_n}
UNION ALL
SELECT 'pg_class', c.oid,
       CASE WHEN own.tab IS NOT NULL THEN NULL
            WHEN c.relkind IN ('r', 'p') THEN 'TABLE' WHEN c.relkind = 'v' THEN 'VIEW'
            WHEN c.relkind = 'm' THEN 'MATERIALIZED VIEW' WHEN c.relkind = 'S' THEN 'SEQUENCE'
            WHEN c.relkind = 'f' THEN 'FOREIGN TABLE' END,
       CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
       c.oid::pg_catalog.regclass::text, pg_catalog.pg_get_userbyid(c.relowner),
       c.relacl::text[], pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                               c.relowner)::text[],
       NULL, COALESCE(own.tab, c.oid)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN LATERAL (SELECT d.refobjid AS tab FROM pg_catalog.pg_depend d
                      WHERE c.relkind = 'S' AND d.classid = 'pg_catalog.pg_class'::regclass
                        AND d.objid = c.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass
                        AND d.deptype IN ('a', 'i') LIMIT 1) own ON true
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {user_n} AND {not_member_c}
UNION ALL
SELECT 'pg_proc', p.oid,
       CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
       CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, CASE WHEN p.prokind = 'a' THEN
           COALESCE(NULLIF(pg_catalog.pg_get_function_identity_arguments(p.oid), ''), '*')
           ELSE pg_catalog.pg_get_function_identity_arguments(p.oid) END),
       pg_catalog.pg_get_userbyid(p.proowner),
       p.proacl::text[], pg_catalog.acldefault('f', p.proowner)::text[], NULL, p.oid
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE {user_n} AND {not_member_p}
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'i')
UNION ALL
SELECT 'pg_type', t.oid, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
       CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
       pg_catalog.format_type(t.oid, NULL), pg_catalog.pg_get_userbyid(t.typowner),
       t.typacl::text[], pg_catalog.acldefault('T', t.typowner)::text[], NULL, t.oid
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE (t.typtype IN ('b', 'c', 'd', 'e', 'r') OR (t.typtype = 'p' AND NOT t.typisdefined))
   AND {user_n} AND {not_member_t}
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type a WHERE a.typarray = t.oid)
   AND (t.typrelid = 0 OR (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid = t.typrelid) = 'c')
UNION ALL
SELECT 'pg_collation', o.oid, 'COLLATION', NULL,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(o.collname),
       pg_catalog.pg_get_userbyid(o.collowner), NULL, NULL, NULL, o.oid
  FROM pg_catalog.pg_collation o
  JOIN pg_catalog.pg_namespace n ON n.oid = o.collnamespace
 WHERE {user_n} AND {not_member_coll}
UNION ALL
SELECT 'pg_operator', o.oid, 'OPERATOR', NULL, o.oid::pg_catalog.regoperator::text,
       pg_catalog.pg_get_userbyid(o.oprowner), NULL, NULL, NULL, o.oid
  FROM pg_catalog.pg_operator o
  JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
 WHERE o.oprcode <> 0 AND {user_n} AND {not_member_op}
UNION ALL
SELECT 'pg_statistic_ext', s.oid, 'STATISTICS', NULL,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(s.stxname),
       pg_catalog.pg_get_userbyid(s.stxowner), NULL, NULL, NULL, s.oid
  FROM pg_catalog.pg_statistic_ext s
  JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
  JOIN pg_catalog.pg_class c ON c.oid = s.stxrelid
 WHERE {user_n} AND {not_member_stx}
UNION ALL
SELECT 'pg_publication', p.oid, 'PUBLICATION', NULL, pg_catalog.quote_ident(p.pubname),
       pg_catalog.pg_get_userbyid(p.pubowner), NULL, NULL, NULL, p.oid
  FROM pg_catalog.pg_publication p
UNION ALL
SELECT x.catalog, x.oid, x.kw, NULL, x.ident, pg_catalog.pg_get_userbyid(x.owner), NULL, NULL, NULL, x.oid
  FROM (SELECT 'pg_opfamily' AS catalog, 'pg_catalog.pg_opfamily'::regclass AS classid, f.oid,
               'OPERATOR FAMILY' AS kw, f.opfnamespace AS ns, f.opfowner AS owner,
               pg_catalog.format('%I.%I USING %I', fn.nspname, f.opfname, a.amname) AS ident
          FROM pg_catalog.pg_opfamily f JOIN pg_catalog.pg_am a ON a.oid = f.opfmethod
          JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace
        UNION ALL
        SELECT 'pg_opclass', 'pg_catalog.pg_opclass'::regclass, c.oid, 'OPERATOR CLASS', c.opcnamespace, c.opcowner,
               pg_catalog.format('%I.%I USING %I', cn.nspname, c.opcname, a.amname)
          FROM pg_catalog.pg_opclass c JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod
          JOIN pg_catalog.pg_namespace cn ON cn.oid = c.opcnamespace
        UNION ALL
        SELECT 'pg_ts_dict', 'pg_catalog.pg_ts_dict'::regclass, d.oid, 'TEXT SEARCH DICTIONARY', d.dictnamespace,
               d.dictowner, pg_catalog.format('%I.%I', dn.nspname, d.dictname)
          FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace dn ON dn.oid = d.dictnamespace
        UNION ALL
        SELECT 'pg_ts_config', 'pg_catalog.pg_ts_config'::regclass, c.oid, 'TEXT SEARCH CONFIGURATION',
               c.cfgnamespace, c.cfgowner, pg_catalog.format('%I.%I', cn.nspname, c.cfgname)
          FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.cfgnamespace
        UNION ALL
        SELECT 'pg_conversion', 'pg_catalog.pg_conversion'::regclass, c.oid, 'CONVERSION', c.connamespace,
               c.conowner, pg_catalog.format('%I.%I', cn.nspname, c.conname)
          FROM pg_catalog.pg_conversion c JOIN pg_catalog.pg_namespace cn ON cn.oid = c.connamespace) x
  JOIN pg_catalog.pg_namespace n ON n.oid = x.ns
 WHERE x.oid >= 16384 AND {user_n}
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = x.classid AND xd.objid = x.oid
                      AND xd.deptype = 'e')
UNION ALL
SELECT x.catalog, x.oid, x.kw, x.grant_kw, pg_catalog.quote_ident(x.name), pg_catalog.pg_get_userbyid(x.owner),
       x.acl, x.base, NULL, x.oid
  FROM (SELECT 'pg_language' AS catalog, 'pg_catalog.pg_language'::regclass AS classid, l.oid, 'LANGUAGE' AS kw,
               'LANGUAGE' AS grant_kw, l.lanname AS name, l.lanowner AS owner, l.lanacl::text[] AS acl,
               pg_catalog.acldefault('l', l.lanowner)::text[] AS base
          FROM pg_catalog.pg_language l
        UNION ALL
        SELECT 'pg_foreign_data_wrapper', 'pg_catalog.pg_foreign_data_wrapper'::regclass, w.oid,
               'FOREIGN DATA WRAPPER', 'FOREIGN DATA WRAPPER', w.fdwname, w.fdwowner, w.fdwacl::text[],
               pg_catalog.acldefault('F', w.fdwowner)::text[]
          FROM pg_catalog.pg_foreign_data_wrapper w
        UNION ALL
        SELECT 'pg_foreign_server', 'pg_catalog.pg_foreign_server'::regclass, s.oid, 'SERVER', 'FOREIGN SERVER',
               s.srvname, s.srvowner, s.srvacl::text[], pg_catalog.acldefault('S', s.srvowner)::text[]
          FROM pg_catalog.pg_foreign_server s) x
 WHERE x.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = x.classid AND xd.objid = x.oid
                      AND xd.deptype = 'e')
UNION ALL
SELECT 'pg_largeobject_metadata', l.oid, 'LARGE OBJECT', 'LARGE OBJECT', l.oid::text,
       pg_catalog.pg_get_userbyid(l.lomowner), l.lomacl::text[],
       pg_catalog.acldefault('L', l.lomowner)::text[], NULL, l.oid
  FROM pg_catalog.pg_largeobject_metadata l
"""

# Column ACLs that differ from the initial ones (none for user tables; initdb or CREATE
# EXTENSION may have granted some on their tables), with those as the baseline.
COLUMN_ACL_SQL = """
SELECT c.oid, pg_catalog.quote_ident(a.attname) AS col, a.attacl::text[] AS acl,
       COALESCE(ip.initprivs::text[], '{{}}') AS base
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_init_privs ip ON ip.classoid = 'pg_catalog.pg_class'::regclass AND ip.objoid = c.oid
        AND ip.objsubid = a.attnum
 WHERE a.attnum <> 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND COALESCE(a.attacl::text[], '{{}}') IS DISTINCT FROM COALESCE(ip.initprivs::text[], '{{}}')
   AND n.nspname <> 'information_schema'
 ORDER BY c.oid, a.attnum
"""


def _objects_sql():
    return OBJECTS_SQL.format(
        user_n=USER_NS.format(n='n'),
        not_member_n=NOT_MEMBER.format(catalog='pg_namespace', oid='n.oid'),
        not_member_c=NOT_MEMBER.format(catalog='pg_class', oid='c.oid'),
        not_member_p=NOT_MEMBER.format(catalog='pg_proc', oid='p.oid'),
        not_member_t=NOT_MEMBER.format(catalog='pg_type', oid='t.oid'),
        not_member_coll=NOT_MEMBER.format(catalog='pg_collation', oid='o.oid'),
        not_member_op=NOT_MEMBER.format(catalog='pg_operator', oid='o.oid'),
        not_member_stx=NOT_MEMBER.format(catalog='pg_statistic_ext', oid='s.oid'),
    )


def _baseline(row):
    """The ACL the restored object has before our GRANTs (after ALTER OWNER)."""
    init = row['initprivs']
    if init:
        # Objects that come with the database (public schema): template ACL,
        # with the initial owner (grantor of the first item) renamed.
        first = init[0].rsplit('/', 1)[-1].strip('"')
        return rename_owner(init, first, row['owner'])
    return row['base']


def _object_lines(row, quote):
    lines = []
    if row['alter_kw']:
        lines.append('ALTER %s %s OWNER TO %s;' % (row['alter_kw'], row['ident'], quote(row['owner'])))
    if row['grant_kw']:
        ident = row['ident']
        if ident.endswith('(*)'):   # an aggregate without arguments: GRANT ... ON FUNCTION name()
            ident = ident[:-3] + '()'
        target = AclTarget('%s %s' % (row['grant_kw'], ident), row['owner'], quote)
        lines.extend(acl_statements(target, row['acl'], _baseline(row), reset=bool(row['initprivs'])))
    return lines


def privilege_items(cur, ctx):
    """DdlItems (PHASE_DECORATION) with owners and ACLs, grouped per object."""
    quote = role_quoter(cur)
    columns = {}
    for r in fetch_dicts(cur, COLUMN_ACL_SQL.format()):
        columns.setdefault(r['oid'], []).append(r)
    rows = fetch_dicts(cur, _objects_sql()) + system_acl_rows(cur, ctx, set(columns))
    by_class_oid = {}
    groups = {}
    order = []
    for row in rows:
        gkey = (row['catalog'] if row['grp'] == row['oid'] else 'pg_class', row['grp'])
        if gkey not in groups:
            groups[gkey] = []
            order.append(gkey)
        groups[gkey].append(row)
        if row['catalog'] == 'pg_class':
            by_class_oid[row['oid']] = row
    items = []
    for gkey in order:
        members = sorted(groups[gkey], key=lambda r: r['oid'] != r['grp'])
        lines = []
        for row in members:
            lines.extend(_object_lines(row, quote))
            for col in columns.get(row['oid'], ()) if row['catalog'] == 'pg_class' else ():
                target = AclTarget('TABLE %s' % row['ident'], row['owner'], quote, column=col['col'])
                lines.extend(acl_statements(target, col['acl'] or [], col['base']))
        if lines:
            head = members[0]
            phase = PHASE_TRIGGER if gkey[0] == 'pg_namespace' else PHASE_DECORATION
            items.append(DdlItem((gkey[0], gkey[1], 'owner_acl'), 'ACL', head['ident'],
                                 '\n'.join(lines) + '\n', section=POST, phase=phase))
    return items
