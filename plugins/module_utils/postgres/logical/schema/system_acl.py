# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Privileges changed on objects of the system or of an extension, as pg_dump keeps them.

Such objects are not created by the restore (initdb or CREATE EXTENSION made
them), so only what was changed since is dumped: their ACL relative to the
initial one (pg_init_privs, else the built-in default), and for a system object
(OID below 16384) an owner other than the bootstrap superuser. Rows come in the
form privileges.py turns into statements; information_schema is left alone as
pg_dump leaves it.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .post_common import fetch_dicts

BOOTSTRAP_SUPERUSER = 10

# catalog, oid, alter keyword (system object with another owner), grant keyword, identity,
# owner, acl, baseline (default ACL), initial privileges, group oid
SYSTEM_ACL_SQL = """
SELECT x.catalog, x.oid,
       CASE WHEN x.oid < 16384 AND x.ownerid <> %(boot)d THEN x.alter_kw END AS alter_kw,
       x.grant_kw, x.ident, pg_catalog.pg_get_userbyid(x.ownerid) AS owner, x.acl, x.base,
       ip.initprivs::text[] AS initprivs, x.oid AS grp
  FROM (SELECT 'pg_class' AS catalog, 'pg_catalog.pg_class'::regclass AS classid, c.oid, c.relnamespace AS ns,
               CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS alter_kw,
               CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS grant_kw,
               c.oid::pg_catalog.regclass::text AS ident, c.relowner AS ownerid, c.relacl::text[] AS acl,
               pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                     c.relowner)::text[] AS base, c.oid = ANY (__COLUMNS__) AS columns
          FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        UNION ALL
        SELECT 'pg_proc', 'pg_catalog.pg_proc'::regclass, p.oid, p.pronamespace,
               CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
               CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
               pg_catalog.format('%%I.%%I(%%s)', n.nspname, p.proname,
                                 pg_catalog.pg_get_function_identity_arguments(p.oid)),
               p.proowner, p.proacl::text[], pg_catalog.acldefault('f', p.proowner)::text[], false
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        UNION ALL
        SELECT 'pg_type', 'pg_catalog.pg_type'::regclass, t.oid, t.typnamespace,
               CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
               pg_catalog.format_type(t.oid, NULL), t.typowner, t.typacl::text[],
               pg_catalog.acldefault('T', t.typowner)::text[], false
          FROM pg_catalog.pg_type t
        UNION ALL
        SELECT 'pg_namespace', 'pg_catalog.pg_namespace'::regclass, n.oid, n.oid, 'SCHEMA', 'SCHEMA',
               pg_catalog.quote_ident(n.nspname), n.nspowner, n.nspacl::text[],
               pg_catalog.acldefault('n', n.nspowner)::text[], false
          FROM pg_catalog.pg_namespace n WHERE n.nspname <> 'public'
        UNION ALL
        SELECT 'pg_language', 'pg_catalog.pg_language'::regclass, l.oid, NULL, 'LANGUAGE', 'LANGUAGE',
               pg_catalog.quote_ident(l.lanname), l.lanowner, l.lanacl::text[],
               pg_catalog.acldefault('l', l.lanowner)::text[], false
          FROM pg_catalog.pg_language l
        UNION ALL
        SELECT 'pg_foreign_data_wrapper', 'pg_catalog.pg_foreign_data_wrapper'::regclass, w.oid, NULL,
               'FOREIGN DATA WRAPPER', 'FOREIGN DATA WRAPPER', pg_catalog.quote_ident(w.fdwname), w.fdwowner,
               w.fdwacl::text[], pg_catalog.acldefault('F', w.fdwowner)::text[], false
          FROM pg_catalog.pg_foreign_data_wrapper w
        UNION ALL
        SELECT 'pg_foreign_server', 'pg_catalog.pg_foreign_server'::regclass, s.oid, NULL, 'SERVER',
               'FOREIGN SERVER', pg_catalog.quote_ident(s.srvname), s.srvowner, s.srvacl::text[],
               pg_catalog.acldefault('S', s.srvowner)::text[], false
          FROM pg_catalog.pg_foreign_server s) x
  LEFT JOIN pg_catalog.pg_init_privs ip ON ip.classoid = x.classid AND ip.objoid = x.oid AND ip.objsubid = 0
 WHERE x.ns IS DISTINCT FROM (SELECT i.oid FROM pg_catalog.pg_namespace i WHERE i.nspname = 'information_schema')
   AND (x.oid < 16384 OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = x.classid
                                    AND d.objid = x.oid AND d.deptype = 'e'))
   AND (COALESCE(x.acl, x.base) IS DISTINCT FROM COALESCE(ip.initprivs::text[], x.base) OR x.columns
        OR (x.oid < 16384 AND x.ownerid <> %(boot)d))
 ORDER BY 1, 2
""" % {'boot': BOOTSTRAP_SUPERUSER}


def system_acl_rows(cur, ctx, column_tables=()):
    """Rows (privileges.py form) of system and extension objects with changed privileges or owner.

    column_tables: OIDs of tables with changed column ACLs (their table row is needed too).
    """
    oids = "'{%s}'::pg_catalog.oid[]" % ','.join(str(o) for o in sorted(column_tables))
    rows = fetch_dicts(cur, SYSTEM_ACL_SQL.replace('__COLUMNS__', oids))
    for r in rows:
        if r['acl'] is None:   # the default ACL, where the initial one may have been another
            r['acl'] = r['base']
    return rows
