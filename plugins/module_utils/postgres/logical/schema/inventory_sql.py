# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The catalog queries of the object inventory (inventory.py), one per system catalog.

Each query returns (type, identity, def, claims) per object of the database:
type and identity as pg_identify_object spells them (OID-free, so the same in a
restored copy), def a jsonb of everything that defines the object (OIDs shown as
names, owner, ACL, comment), and claims the keys ('catalog:oid') of the dump
items that may create it, for the coverage check at backup time (an empty array:
the object comes with every database). They are written independently of the
extractors on purpose: an object kind no extractor knows still shows up here.

User objects are those with an OID from 16384 up (FirstNormalObjectId), outside
the system schemas, that no extension owns. Objects of the system or of an
extension appear only when their ACL (or a system object's owner) was changed
(the ACL query), as pg_dump dumps only that of them. Things that legitimately
change in a restore are left out of def: storage (relfilenode, statistics), OIDs,
extension versions (CREATE EXTENSION installs the target's default), the
local/inherited bookkeeping of partitions (ATTACH merges what PARTITION OF
inherited) and secrets (user-mapping option values, subscription connection strings).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...capabilities import Capabilities

FIRST_USER_OID = 16384

USER_NS = "({n}.nspname !~ '^pg_' AND {n}.nspname <> 'information_schema')"
NOT_MEMBER = ("NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = '{cat}'::regclass"
              " AND xd.objid = {oid} AND xd.deptype = 'e')")


def _user(cat, alias, oid, ns=None):
    """WHERE fragment: a user object of catalog cat (oid expression oid, namespace alias ns)."""
    parts = ['%s >= %d' % (oid, FIRST_USER_OID), NOT_MEMBER.format(cat=cat, oid=oid)]
    if ns:
        parts.append(USER_NS.format(n=ns))
    return ' AND '.join(parts)


def _identify(cat, oid, sub='0'):
    return "pg_catalog.pg_identify_object('%s'::regclass, %s, %s)" % (cat, oid, sub)


OWNER = "pg_catalog.pg_get_userbyid(%s)"
ACL = "%s::text[]"
COMMENT = "pg_catalog.obj_description(%s, '%s')"
OPTIONS = ("(SELECT pg_catalog.array_agg(pg_catalog.format('%%I=%%s', o.option_name, o.option_value)"
           " ORDER BY o.option_name) FROM pg_catalog.pg_options_to_table(%s) o)")
OPTION_NAMES = ("(SELECT pg_catalog.array_agg(o.option_name ORDER BY o.option_name)"
                " FROM pg_catalog.pg_options_to_table(%s) o)")
# an option array in name order (ALTER ... SET (...) keeps the order options were given in)
SORTED = "(SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(%s) x)"
PROC = "CASE WHEN {0} <> 0 THEN {0}::pg_catalog.regprocedure::text END"
TYPE = "CASE WHEN {0} <> 0 THEN pg_catalog.format_type({0}, NULL) END"
COLLATION = ("(SELECT pg_catalog.format('%%I.%%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co"
             " JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = %s)")

SCHEMAS = """
SELECT o.type, o.identity,
       pg_catalog.jsonb_build_object(
         'owner', %(owner)s,
         'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                   FROM pg_catalog.unnest(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) x),
         'comment', %(comment)s) AS def,
       CASE WHEN n.oid < %(first)d THEN '{}'::text[] ELSE ARRAY['pg_namespace:' || n.oid] END AS claims
  FROM pg_catalog.pg_namespace n, %(ident)s o
 WHERE %(ns)s AND %(member)s AND (n.oid >= %(first)d OR n.nspname = 'public')
""" % {'owner': OWNER % 'n.nspowner', 'comment': COMMENT % ('n.oid', 'pg_namespace'),
       'ident': _identify('pg_namespace', 'n.oid'), 'ns': USER_NS.format(n='n'),
       'member': NOT_MEMBER.format(cat='pg_namespace', oid='n.oid'), 'first': FIRST_USER_OID}

EXTENSIONS = """
SELECT o.type, o.identity,
       pg_catalog.jsonb_build_object('schema', n.nspname, 'config', (SELECT pg_catalog.array_agg(
           c::pg_catalog.regclass::text ORDER BY c::pg_catalog.regclass::text) FROM pg_catalog.unnest(e.extconfig) c))
         AS def,
       ARRAY['pg_extension:' || e.oid] AS claims
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace,
       %(ident)s o
 WHERE e.oid >= %(first)d
""" % {'ident': _identify('pg_extension', 'e.oid'), 'first': FIRST_USER_OID}

# Tables, views, materialized views, sequences, foreign tables and indexes.
RELATIONS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'kind', c.relkind, 'persistence', c.relpersistence,
         'am', (SELECT a.amname FROM pg_catalog.pg_am a WHERE a.oid = c.relam),
         'tablespace', (SELECT t.spcname FROM pg_catalog.pg_tablespace t WHERE t.oid = c.reltablespace),
         'options', %(sorted_options)s, 'toast_options', %(sorted_toast)s,
         'partkey', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
         'bound', CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
         'parents', (SELECT pg_catalog.array_agg(i.inhparent::pg_catalog.regclass::text ORDER BY i.inhseqno)
                       FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid),
         'of', %(of)s, 'rls', c.relrowsecurity, 'force_rls', c.relforcerowsecurity,
         'replica_identity', c.relreplident,
         'populated', CASE WHEN c.relkind = 'm' THEN c.relispopulated END,
         'query', CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END,
         'server', (SELECT s.srvname FROM pg_catalog.pg_foreign_table f
                      JOIN pg_catalog.pg_foreign_server s ON s.oid = f.ftserver WHERE f.ftrelid = c.oid),
         'server_options', (SELECT %(ftoptions)s FROM pg_catalog.pg_foreign_table f WHERE f.ftrelid = c.oid),
         'index', CASE WHEN c.relkind IN ('i', 'I') THEN pg_catalog.pg_get_indexdef(c.oid) END,
         'clustered', x.indisclustered, 'replident_index', x.indisreplident, 'valid', x.indisvalid,
         'index_of', (SELECT ic.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits ic
                       WHERE c.relkind IN ('i', 'I') AND ic.inhrelid = c.oid),
         'index_stats', CASE WHEN c.relkind IN ('i', 'I') THEN ARRAY(
               SELECT a.attnum || '=' || a.attstattarget FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND a.attstattarget >= 0 ORDER BY a.attnum) END,
         'sequence', (SELECT pg_catalog.jsonb_build_object('type', pg_catalog.format_type(s.seqtypid, NULL),
                        'start', s.seqstart, 'increment', s.seqincrement, 'max', s.seqmax, 'min', s.seqmin,
                        'cache', s.seqcache, 'cycle', s.seqcycle)
                        FROM pg_catalog.pg_sequence s WHERE s.seqrelid = c.oid),
         'owned_by', (SELECT d.deptype::text || ' ' || pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
                        FROM pg_catalog.pg_depend d
                       WHERE c.relkind = 'S' AND d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                         AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1),
         'owner', CASE WHEN c.relkind NOT IN ('i', 'I') THEN %(owner)s END,
         'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                 FROM pg_catalog.unnest(COALESCE(c.relacl, pg_catalog.acldefault(
                     CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) x),
         'comment', %(comment)s) AS def,
       ARRAY['pg_class:' || c.oid]
         || (SELECT pg_catalog.array_agg('pg_constraint:' || k.oid) FROM pg_catalog.pg_constraint k
              WHERE k.conindid = c.oid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))
         || (SELECT pg_catalog.array_agg('pg_class:' || d.refobjid) FROM pg_catalog.pg_depend d
              WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'i') AS claims
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid
  LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid
  LEFT JOIN pg_catalog.pg_class xt ON xt.oid = x.indrelid,
       %(ident)s o
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I') AND %(user)s
   AND (x.indrelid IS NULL OR %(table_member)s)
   AND (c.relkind <> 'i' OR x.indisvalid)   -- an invalid index (a failed CREATE INDEX CONCURRENTLY) is not dumped
""" % {'of': TYPE.format('c.reloftype'), 'sorted_options': SORTED % 'c.reloptions',
       'sorted_toast': SORTED % 'tc.reloptions', 'ftoptions': OPTIONS % 'f.ftoptions',
       'owner': OWNER % 'c.relowner', 'comment': COMMENT % ('c.oid', 'pg_class'),
       'ident': _identify('pg_class', 'c.oid'), 'user': _user('pg_class', 'c', 'c.oid', 'n'),
       'table_member': NOT_MEMBER.format(cat='pg_class', oid='x.indrelid')}

# Columns of tables, views, materialized views, foreign tables and composite types, named
# as pg_identify_object names them (spelled out here: the most numerous objects by far).
# Partitions: whether a column or constraint is local is not compared (see above).
COLUMNS = """
SELECT CASE c.relkind WHEN 'v' THEN 'view column' WHEN 'm' THEN 'materialized view column'
                      WHEN 'f' THEN 'foreign table column' WHEN 'c' THEN 'composite type column'
                      ELSE 'table column' END AS type,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || '.'
         || pg_catalog.quote_ident(a.attname) AS identity,
       pg_catalog.jsonb_build_object(
         'position', pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
         'type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull,
         'local', CASE WHEN NOT c.relispartition THEN a.attislocal END,
         'inherited', CASE WHEN NOT c.relispartition THEN a.attinhcount END,
         'identity', a.attidentity, 'generated', a.attgenerated,
         'collation', CASE WHEN a.attcollation <> t.typcollation THEN %(collation)s END,
         'statistics', a.attstattarget, 'storage', a.attstorage, 'compression', %(compression)s,
         'options', %(attoptions)s, 'fdw_options', %(fdwoptions)s,
         'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                 FROM pg_catalog.unnest(a.attacl) x),
         'comment', pg_catalog.col_description(c.oid, a.attnum)) AS def,
       ARRAY['pg_class:' || c.oid, 'pg_type:' || c.reltype] AS claims
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND a.attnum > 0 AND NOT a.attisdropped AND %(user)s
   AND (c.relkind <> 'c' OR %(type_member)s)
"""

DEFAULTS = """
SELECT o.type, o.identity,
       pg_catalog.jsonb_build_object('expression', pg_catalog.pg_get_expr(d.adbin, d.adrelid)) AS def,
       ARRAY['pg_attrdef:' || d.oid, 'pg_class:' || d.adrelid] AS claims
  FROM pg_catalog.pg_attrdef d
  JOIN pg_catalog.pg_class c ON c.oid = d.adrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       %(ident)s o
 WHERE %(user)s
""" % {'ident': _identify('pg_attrdef', 'd.oid'), 'user': _user('pg_class', 'c', 'c.oid', 'n')}

# Table and domain constraints; constraint triggers are their trigger's (TRIGGERS). A foreign
# key to a partitioned table has a row per partition of that table, named by the server in the
# order partitions happened to come; those are named here by their key and that partition.
CONSTRAINTS = """
SELECT o.type,
       CASE WHEN k.conparentid <> 0 AND k.confrelid <> 0 AND k.conrelid = (
                 SELECT p.conrelid FROM pg_catalog.pg_constraint p WHERE p.oid = k.conparentid)
            THEN (WITH RECURSIVE up(oid, parent) AS (
                    SELECT k.conparentid, (SELECT p.conparentid FROM pg_catalog.pg_constraint p
                                            WHERE p.oid = k.conparentid AND p.conrelid = k.conrelid)
                    UNION ALL
                    SELECT up.parent, (SELECT p.conparentid FROM pg_catalog.pg_constraint p
                                        WHERE p.oid = up.parent AND p.conrelid = k.conrelid)
                      FROM up WHERE up.parent IS NOT NULL AND up.parent <> 0)
                  SELECT pg_catalog.quote_ident(r.conname) || ' on ' || k.conrelid::pg_catalog.regclass::text
                         || ' for ' || k.confrelid::pg_catalog.regclass::text
                    FROM up JOIN pg_catalog.pg_constraint r ON r.oid = up.oid
                   WHERE up.parent IS NULL OR up.parent = 0 LIMIT 1)
            ELSE o.identity END AS identity,
       pg_catalog.jsonb_build_object(
         'kind', k.contype, 'definition', pg_catalog.pg_get_constraintdef(k.oid), 'valid', k.convalidated,
         'local', CASE WHEN NOT COALESCE(c.relispartition, false) THEN k.conislocal END,
         'inherited', CASE WHEN NOT COALESCE(c.relispartition, false) THEN k.coninhcount END,
         'index', CASE WHEN k.conindid <> 0 THEN k.conindid::pg_catalog.regclass::text END,
         'comment', %(comment)s) AS def,
       ARRAY['pg_constraint:' || k.oid, 'pg_class:' || k.conrelid, 'pg_type:' || k.contypid,
             'pg_constraint:' || k.conparentid] AS claims
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
  LEFT JOIN pg_catalog.pg_class c ON c.oid = k.conrelid,
       %(ident)s o
 WHERE k.contype <> 't' AND %(user)s
   AND (k.conrelid = 0 OR %(rel_member)s) AND (k.contypid = 0 OR %(type_member)s)
""" % {'comment': COMMENT % ('k.oid', 'pg_constraint'), 'ident': _identify('pg_constraint', 'k.oid'),
       'user': _user('pg_constraint', 'k', 'k.oid', 'n'),
       'rel_member': NOT_MEMBER.format(cat='pg_class', oid='k.conrelid'),
       'type_member': NOT_MEMBER.format(cat='pg_type', oid='k.contypid')}

TRIGGERS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'definition', pg_catalog.pg_get_triggerdef(g.oid), 'enabled', g.tgenabled,
         'comment', %(comment)s) AS def,
       ARRAY['pg_trigger:' || g.oid, 'pg_class:' || g.tgrelid] AS claims
  FROM pg_catalog.pg_trigger g
  JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       %(ident)s o
 WHERE %(shown)s AND %(user)s
"""

RULES = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'definition', pg_catalog.pg_get_ruledef(r.oid), 'enabled', r.ev_enabled,
         'comment', %(comment)s) AS def,
       ARRAY['pg_rewrite:' || r.oid] AS claims
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       %(ident)s o
 WHERE r.rulename <> '_RETURN' AND %(user)s
""" % {'comment': COMMENT % ('r.oid', 'pg_rewrite'), 'ident': _identify('pg_rewrite', 'r.oid'),
       'user': _user('pg_class', 'c', 'c.oid', 'n')}

POLICIES = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'command', p.polcmd, 'permissive', p.polpermissive,
         'roles', ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r) END
                          FROM pg_catalog.unnest(p.polroles) r),
         'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
         'check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), 'comment', %(comment)s) AS def,
       ARRAY['pg_policy:' || p.oid, 'pg_class:' || p.polrelid] AS claims
  FROM pg_catalog.pg_policy p
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       %(ident)s o
 WHERE %(user)s
""" % {'comment': COMMENT % ('p.oid', 'pg_policy'), 'ident': _identify('pg_policy', 'p.oid'),
       'user': _user('pg_class', 'c', 'c.oid', 'n')}

# Base, shell, enum, range, composite types and domains (array and multirange
# types come with their type, row types with their table).
TYPES = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'kind', t.typtype, 'defined', t.typisdefined, 'length', t.typlen, 'by_value', t.typbyval,
         'category', t.typcategory, 'preferred', t.typispreferred, 'delimiter', t.typdelim,
         'input', %(input)s, 'output', %(output)s, 'receive', %(receive)s, 'send', %(send)s,
         'typmod_in', %(modin)s, 'typmod_out', %(modout)s, 'analyze', %(analyze)s, 'subscript', %(subscript)s,
         'element', %(elem)s, 'align', t.typalign, 'storage', t.typstorage, 'not_null', t.typnotnull,
         'base', CASE WHEN t.typbasetype <> 0 THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
         'collation', %(collation)s, 'default', COALESCE(pg_catalog.pg_get_expr(t.typdefaultbin, 0), t.typdefault),
         'labels', (SELECT pg_catalog.array_agg(e.enumlabel ORDER BY e.enumsortorder)
                      FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid),
         'range', (SELECT pg_catalog.jsonb_build_object('subtype', pg_catalog.format_type(r.rngsubtype, NULL),
                     'opclass', pg_catalog.pg_describe_object('pg_catalog.pg_opclass'::regclass, r.rngsubopc, 0),
                     'collation', CASE WHEN r.rngcollation <> 0 THEN %(rngcollation)s END,
                     'canonical', %(canonical)s, 'subdiff', %(subdiff)s, 'multirange', %(multirange)s)
                     FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid),
         'owner', %(owner)s,
         'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                 FROM pg_catalog.unnest(COALESCE(t.typacl, pg_catalog.acldefault('T', t.typowner))) x),
         'comment', %(comment)s) AS def,
       ARRAY['pg_type:' || t.oid, 'pg_class:' || t.typrelid] AS claims
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace,
       %(ident)s o
 WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r', 'p') AND %(user)s
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type a WHERE a.typarray = t.oid)
   AND (t.typrelid = 0 OR (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid = t.typrelid) = 'c')
"""

FUNCTIONS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'kind', p.prokind,
         'definition', CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END,
         'arguments', pg_catalog.pg_get_function_arguments(p.oid),
         'result', pg_catalog.pg_get_function_result(p.oid), 'parallel', p.proparallel,
         'aggregate', (SELECT pg_catalog.to_jsonb(g) - 'aggfnoid' || pg_catalog.jsonb_build_object(
                          'aggtransfn', g.aggtransfn::text, 'aggfinalfn', g.aggfinalfn::text,
                          'aggcombinefn', g.aggcombinefn::text, 'aggserialfn', g.aggserialfn::text,
                          'aggdeserialfn', g.aggdeserialfn::text, 'aggmtransfn', g.aggmtransfn::text,
                          'aggminvtransfn', g.aggminvtransfn::text, 'aggmfinalfn', g.aggmfinalfn::text,
                          'aggsortop', g.aggsortop::pg_catalog.regoperator::text,
                          'aggtranstype', pg_catalog.format_type(g.aggtranstype, NULL),
                          'aggmtranstype', pg_catalog.format_type(g.aggmtranstype, NULL))
                         FROM pg_catalog.pg_aggregate g WHERE g.aggfnoid = p.oid),
         'owner', %(owner)s,
         'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                 FROM pg_catalog.unnest(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) x),
         'comment', %(comment)s) AS def,
       ARRAY['pg_proc:' || p.oid] AS claims
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace,
       %(ident)s o
 WHERE %(user)s
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i WHERE i.classid = 'pg_catalog.pg_proc'::regclass
                      AND i.objid = p.oid AND i.deptype = 'i')
""" % {'owner': OWNER % 'p.proowner', 'comment': COMMENT % ('p.oid', 'pg_proc'),
       'ident': _identify('pg_proc', 'p.oid'), 'user': _user('pg_proc', 'p', 'p.oid', 'n')}

OPERATORS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'function', o2.oprcode::pg_catalog.regprocedure::text, 'result', pg_catalog.format_type(o2.oprresult, NULL),
         'commutator', CASE WHEN o2.oprcom <> 0 THEN o2.oprcom::pg_catalog.regoperator::text END,
         'negator', CASE WHEN o2.oprnegate <> 0 THEN o2.oprnegate::pg_catalog.regoperator::text END,
         'restrict', %(rest)s, 'join', %(join)s, 'hashes', o2.oprcanhash, 'merges', o2.oprcanmerge,
         'owner', %(owner)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_operator:' || o2.oid] AS claims
  FROM pg_catalog.pg_operator o2
  JOIN pg_catalog.pg_namespace n ON n.oid = o2.oprnamespace,
       %(ident)s o
 WHERE o2.oprcode <> 0 AND %(user)s
""" % {'rest': PROC.format('o2.oprrest'), 'join': PROC.format('o2.oprjoin'), 'owner': OWNER % 'o2.oprowner',
       'comment': COMMENT % ('o2.oid', 'pg_operator'), 'ident': _identify('pg_operator', 'o2.oid'),
       'user': _user('pg_operator', 'o2', 'o2.oid', 'n')}

OPFAMILIES = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'owner', %(owner)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_opfamily:' || f.oid] AS claims
  FROM pg_catalog.pg_opfamily f
  JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace,
       %(ident)s o
 WHERE %(user)s
""" % {'owner': OWNER % 'f.opfowner', 'comment': COMMENT % ('f.oid', 'pg_opfamily'),
       'ident': _identify('pg_opfamily', 'f.oid'), 'user': _user('pg_opfamily', 'f', 'f.oid', 'n')}

OPCLASSES = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'family', pg_catalog.pg_describe_object('pg_catalog.pg_opfamily'::regclass, c.opcfamily, 0),
         'type', pg_catalog.format_type(c.opcintype, NULL), 'default', c.opcdefault,
         'storage', %(keytype)s, 'owner', %(owner)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_opclass:' || c.oid] AS claims
  FROM pg_catalog.pg_opclass c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.opcnamespace,
       %(ident)s o
 WHERE %(user)s
""" % {'keytype': TYPE.format('c.opckeytype'), 'owner': OWNER % 'c.opcowner',
       'comment': COMMENT % ('c.oid', 'pg_opclass'), 'ident': _identify('pg_opclass', 'c.oid'),
       'user': _user('pg_opclass', 'c', 'c.oid', 'n')}

# Operators and functions of user operator families; 'bound' names the class that holds them.
FAMILY_MEMBERS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'member', m.member, 'purpose', m.purpose, 'sort_family', m.sortfamily,
         'bound', (SELECT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0) FROM pg_catalog.pg_depend d
                    WHERE d.classid = m.cat AND d.objid = m.oid AND d.deptype = 'i'
                      AND d.refclassid = 'pg_catalog.pg_opclass'::regclass)) AS def,
       ARRAY['pg_opfamily:' || m.family] || ARRAY(
         SELECT 'pg_opclass:' || d.refobjid FROM pg_catalog.pg_depend d
          WHERE d.classid = m.cat AND d.objid = m.oid AND d.refclassid = 'pg_catalog.pg_opclass'::regclass) AS claims
  FROM (SELECT 'pg_catalog.pg_amop'::regclass AS cat, a.oid, a.amopfamily AS family,
               a.amopopr::pg_catalog.regoperator::text AS member, a.amoppurpose::text AS purpose,
               CASE WHEN a.amopsortfamily <> 0 THEN pg_catalog.pg_describe_object(
                 'pg_catalog.pg_opfamily'::regclass, a.amopsortfamily, 0) END AS sortfamily
          FROM pg_catalog.pg_amop a
        UNION ALL
        SELECT 'pg_catalog.pg_amproc'::regclass, a.oid, a.amprocfamily, a.amproc::pg_catalog.regprocedure::text,
               NULL, NULL
          FROM pg_catalog.pg_amproc a) m
  JOIN pg_catalog.pg_opfamily f ON f.oid = m.family
  JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace,
       pg_catalog.pg_identify_object(m.cat, m.oid, 0) o
 WHERE %(user)s
""" % {'user': _user('pg_opfamily', 'f', 'f.oid', 'n')}

ACCESS_METHODS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'kind', a.amtype, 'handler', a.amhandler::pg_catalog.regprocedure::text,
         'comment', %(comment)s) AS def,
       ARRAY['pg_am:' || a.oid] AS claims
  FROM pg_catalog.pg_am a, %(ident)s o
 WHERE %(user)s
""" % {'comment': COMMENT % ('a.oid', 'pg_am'), 'ident': _identify('pg_am', 'a.oid'),
       'user': _user('pg_am', 'a', 'a.oid')}

CASTS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'function', %(func)s, 'context', c.castcontext, 'method', c.castmethod,
         'comment', %(comment)s) AS def,
       ARRAY['pg_cast:' || c.oid] AS claims
  FROM pg_catalog.pg_cast c, %(ident)s o
 WHERE %(user)s
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i WHERE i.classid = 'pg_catalog.pg_cast'::regclass
                      AND i.objid = c.oid AND i.deptype = 'i')
""" % {'func': PROC.format('c.castfunc'), 'comment': COMMENT % ('c.oid', 'pg_cast'),
       'ident': _identify('pg_cast', 'c.oid'), 'user': _user('pg_cast', 'c', 'c.oid')}

COLLATIONS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'provider', c.collprovider, 'deterministic', c.collisdeterministic, 'collate', c.collcollate,
         'ctype', c.collctype, 'locale', %(locale)s, 'rules', %(rules)s,
         'owner', %(owner)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_collation:' || c.oid] AS claims
  FROM pg_catalog.pg_collation c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace,
       %(ident)s o
 WHERE %(user)s
"""

CONVERSIONS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'from', pg_catalog.pg_encoding_to_char(c.conforencoding),
         'to', pg_catalog.pg_encoding_to_char(c.contoencoding),
         'function', c.conproc::pg_catalog.regprocedure::text, 'default', c.condefault,
         'owner', %(owner)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_conversion:' || c.oid] AS claims
  FROM pg_catalog.pg_conversion c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace,
       %(ident)s o
 WHERE %(user)s
""" % {'owner': OWNER % 'c.conowner', 'comment': COMMENT % ('c.oid', 'pg_conversion'),
       'ident': _identify('pg_conversion', 'c.oid'), 'user': _user('pg_conversion', 'c', 'c.oid', 'n')}

TRANSFORMS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'from_sql', %(fromsql)s, 'to_sql', %(tosql)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_transform:' || t.oid] AS claims
  FROM pg_catalog.pg_transform t, %(ident)s o
 WHERE %(user)s
""" % {'fromsql': PROC.format('t.trffromsql'), 'tosql': PROC.format('t.trftosql'),
       'comment': COMMENT % ('t.oid', 'pg_transform'), 'ident': _identify('pg_transform', 't.oid'),
       'user': _user('pg_transform', 't', 't.oid')}

LANGUAGES = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'trusted', l.lanpltrusted, 'procedural', l.lanispl, 'handler', %(handler)s, 'inline', %(inline)s,
         'validator', %(validator)s, 'owner', %(owner)s,
         'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                 FROM pg_catalog.unnest(COALESCE(l.lanacl, pg_catalog.acldefault('l', l.lanowner))) x),
         'comment', %(comment)s) AS def,
       ARRAY['pg_language:' || l.oid] AS claims
  FROM pg_catalog.pg_language l, %(ident)s o
 WHERE %(user)s
""" % {'handler': PROC.format('l.lanplcallfoid'), 'inline': PROC.format('l.laninline'),
       'validator': PROC.format('l.lanvalidator'), 'owner': OWNER % 'l.lanowner',
       'comment': COMMENT % ('l.oid', 'pg_language'), 'ident': _identify('pg_language', 'l.oid'),
       'user': _user('pg_language', 'l', 'l.oid')}

TEXT_SEARCH = """
SELECT o.type, o.identity, x.def, ARRAY[x.cat || ':' || x.oid] AS claims
  FROM (SELECT 'pg_ts_parser' AS cat, 'pg_catalog.pg_ts_parser'::regclass AS classid, p.oid, p.prsnamespace AS ns,
               pg_catalog.jsonb_build_object('start', p.prsstart::text, 'token', p.prstoken::text,
                 'end', p.prsend::text, 'headline', %(headline)s, 'lextypes', p.prslextype::text,
                 'comment', pg_catalog.obj_description(p.oid, 'pg_ts_parser')) AS def
          FROM pg_catalog.pg_ts_parser p
        UNION ALL
        SELECT 'pg_ts_template', 'pg_catalog.pg_ts_template'::regclass, t.oid, t.tmplnamespace,
               pg_catalog.jsonb_build_object('init', %(init)s, 'lexize', t.tmpllexize::text,
                 'comment', pg_catalog.obj_description(t.oid, 'pg_ts_template'))
          FROM pg_catalog.pg_ts_template t
        UNION ALL
        SELECT 'pg_ts_dict', 'pg_catalog.pg_ts_dict'::regclass, d.oid, d.dictnamespace,
               pg_catalog.jsonb_build_object(
                 'template', pg_catalog.pg_describe_object('pg_catalog.pg_ts_template'::regclass, d.dicttemplate, 0),
                 'options', d.dictinitoption, 'owner', pg_catalog.pg_get_userbyid(d.dictowner),
                 'comment', pg_catalog.obj_description(d.oid, 'pg_ts_dict'))
          FROM pg_catalog.pg_ts_dict d
        UNION ALL
        SELECT 'pg_ts_config', 'pg_catalog.pg_ts_config'::regclass, c.oid, c.cfgnamespace,
               pg_catalog.jsonb_build_object(
                 'parser', pg_catalog.pg_describe_object('pg_catalog.pg_ts_parser'::regclass, c.cfgparser, 0),
                 'mapping', (SELECT pg_catalog.array_agg(m.maptokentype || ' ' || m.mapseqno || ' '
                                 || pg_catalog.pg_describe_object('pg_catalog.pg_ts_dict'::regclass, m.mapdict, 0)
                                 ORDER BY m.maptokentype, m.mapseqno)
                               FROM pg_catalog.pg_ts_config_map m WHERE m.mapcfg = c.oid),
                 'owner', pg_catalog.pg_get_userbyid(c.cfgowner),
                 'comment', pg_catalog.obj_description(c.oid, 'pg_ts_config'))
          FROM pg_catalog.pg_ts_config c) x
  JOIN pg_catalog.pg_namespace n ON n.oid = x.ns,
       pg_catalog.pg_identify_object(x.classid, x.oid, 0) o
 WHERE x.oid >= %(first)d AND %(ns)s
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = x.classid
                      AND xd.objid = x.oid AND xd.deptype = 'e')
""" % {'headline': PROC.format('p.prsheadline'), 'init': PROC.format('t.tmplinit'),
       'first': FIRST_USER_OID, 'ns': USER_NS.format(n='n')}

FOREIGN = """
SELECT o.type, o.identity, x.def, ARRAY[x.cat || ':' || x.oid] AS claims
  FROM (SELECT 'pg_foreign_data_wrapper' AS cat, 'pg_catalog.pg_foreign_data_wrapper'::regclass AS classid,
               w.oid, pg_catalog.jsonb_build_object('handler', %(handler)s, 'validator', %(validator)s,
                 'options', %(woptions)s, 'owner', pg_catalog.pg_get_userbyid(w.fdwowner),
                 'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                         FROM pg_catalog.unnest(COALESCE(w.fdwacl, pg_catalog.acldefault('F', w.fdwowner))) x),
                 'comment', pg_catalog.obj_description(w.oid, 'pg_foreign_data_wrapper')) AS def
          FROM pg_catalog.pg_foreign_data_wrapper w
        UNION ALL
        SELECT 'pg_foreign_server', 'pg_catalog.pg_foreign_server'::regclass, s.oid,
               pg_catalog.jsonb_build_object('wrapper', (SELECT w.fdwname FROM pg_catalog.pg_foreign_data_wrapper w
                                                          WHERE w.oid = s.srvfdw),
                 'type', s.srvtype, 'version', s.srvversion, 'options', %(soptions)s,
                 'owner', pg_catalog.pg_get_userbyid(s.srvowner),
                 'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                         FROM pg_catalog.unnest(COALESCE(s.srvacl, pg_catalog.acldefault('S', s.srvowner))) x),
                 'comment', pg_catalog.obj_description(s.oid, 'pg_foreign_server'))
          FROM pg_catalog.pg_foreign_server s
        UNION ALL
        SELECT 'pg_user_mapping', 'pg_catalog.pg_user_mapping'::regclass, u.umid,
               pg_catalog.jsonb_build_object('option_names', %(unames)s)
          FROM pg_catalog.pg_user_mappings u) x,
       pg_catalog.pg_identify_object(x.classid, x.oid, 0) o
 WHERE x.oid >= %(first)d
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = x.classid
                      AND xd.objid = x.oid AND xd.deptype = 'e')
""" % {'handler': PROC.format('w.fdwhandler'), 'validator': PROC.format('w.fdwvalidator'),
       'woptions': OPTIONS % 'w.fdwoptions', 'soptions': OPTIONS % 's.srvoptions',
       'unames': OPTION_NAMES % 'u.umoptions', 'first': FIRST_USER_OID}

PUBLICATIONS = """
SELECT o.type, o.identity, x.def, ARRAY['pg_publication:' || x.pub] AS claims
  FROM (SELECT 'pg_catalog.pg_publication'::regclass AS classid, p.oid, p.oid AS pub,
               pg_catalog.to_jsonb(p) - 'oid' - 'pubowner' - 'pubname' || pg_catalog.jsonb_build_object(
                 'owner', pg_catalog.pg_get_userbyid(p.pubowner),
                 'comment', pg_catalog.obj_description(p.oid, 'pg_publication')) AS def
          FROM pg_catalog.pg_publication p
        UNION ALL
        SELECT 'pg_catalog.pg_publication_rel'::regclass, r.oid, r.prpubid,
               pg_catalog.jsonb_build_object(%(relparts)s)
          FROM pg_catalog.pg_publication_rel r
        %(namespaces)s) x,
       pg_catalog.pg_identify_object(x.classid, x.oid, 0) o
"""
PUBLICATION_REL_15 = ("'where', pg_catalog.pg_get_expr(r.prqual, r.prrelid), 'columns', ARRAY("
                      "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.prrelid"
                      " AND a.attnum = ANY (r.prattrs::int2[]) ORDER BY a.attnum)")
PUBLICATION_NAMESPACES = """UNION ALL
        SELECT 'pg_catalog.pg_publication_namespace'::regclass, s.oid, s.pnpubid, '{}'::jsonb
          FROM pg_catalog.pg_publication_namespace s"""

# Subscriptions: pg_subscription is shared, so only this database's. Its readable columns
# only: the connection string (it may hold a password) is not compared, nor the enabled
# flag (a restore leaves subscriptions disabled, as pg_dump does).
SUBSCRIPTIONS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'slot', s.subslotname, 'synchronous_commit', s.subsynccommit, 'publications', s.subpublications, %(options)s
         'owner', pg_catalog.pg_get_userbyid(s.subowner),
         'comment', pg_catalog.obj_description(s.oid, 'pg_subscription')) AS def,
       ARRAY['pg_subscription:' || s.oid] AS claims
  FROM pg_catalog.pg_subscription s, %(ident)s o
 WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
"""
# (key, pg_subscription column): options of the versions that have the column
SUBSCRIPTION_OPTIONS = (('binary', 'subbinary'), ('streaming', 'substream'), ('two_phase', 'subtwophasestate'),
                        ('disable_on_error', 'subdisableonerr'), ('password_required', 'subpasswordrequired'),
                        ('run_as_owner', 'subrunasowner'), ('origin', 'suborigin'), ('failover', 'subfailover'))

STATISTICS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'definition', pg_catalog.pg_get_statisticsobjdef(s.oid), 'target', %(target)s,
         'owner', %(owner)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_statistic_ext:' || s.oid] AS claims
  FROM pg_catalog.pg_statistic_ext s
  JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace,
       %(ident)s o
 WHERE %(user)s
"""

EVENT_TRIGGERS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'event', e.evtevent, 'function', e.evtfoid::pg_catalog.regprocedure::text, 'enabled', e.evtenabled,
         'tags', e.evttags, 'owner', %(owner)s, 'comment', %(comment)s) AS def,
       ARRAY['pg_event_trigger:' || e.oid] AS claims
  FROM pg_catalog.pg_event_trigger e, %(ident)s o
 WHERE %(user)s
""" % {'owner': OWNER % 'e.evtowner', 'comment': COMMENT % ('e.oid', 'pg_event_trigger'),
       'ident': _identify('pg_event_trigger', 'e.oid'), 'user': _user('pg_event_trigger', 'e', 'e.oid')}

DEFAULT_ACLS = """
SELECT o.type, o.identity,
       pg_catalog.jsonb_build_object('acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                                               FROM pg_catalog.unnest(d.defaclacl) x)) AS def,
       ARRAY['pg_default_acl:' || d.oid] AS claims
  FROM pg_catalog.pg_default_acl d, %(ident)s o
""" % {'ident': _identify('pg_default_acl', 'd.oid')}

LARGE_OBJECTS = """
SELECT o.type, o.identity, pg_catalog.jsonb_build_object(
         'owner', %(owner)s,
         'acl', (SELECT pg_catalog.array_agg(x::text ORDER BY x::text)
                 FROM pg_catalog.unnest(COALESCE(l.lomacl, pg_catalog.acldefault('L', l.lomowner))) x),
         'comment', pg_catalog.obj_description(l.oid, 'pg_largeobject')) AS def,
       ARRAY['pg_largeobject_metadata:' || l.oid] AS claims
  FROM pg_catalog.pg_largeobject_metadata l, %(ident)s o
""" % {'owner': OWNER % 'l.lomowner', 'ident': _identify('pg_largeobject', 'l.oid')}

# The database itself: settings (not the restore's own dbbackup.* marker), comment, ACL;
# and per-role settings in it. The owner and name are the restore's choice (it may set the
# owner after this check), so the owner appears in the ACL as "owner".
_DB_ROLE = ("CASE a.{0} WHEN d.datdba THEN 'owner' WHEN 0 THEN 'PUBLIC' "
            "ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.{0})) END")
# The row of the database itself, for a database named by %(dbname)s: the restore checks it in the
# transaction that renames the copy into place and gives it its privileges (restore_guard.py).
DATABASE_ITSELF = """
SELECT 'database' AS type, '' AS identity, pg_catalog.jsonb_build_object(
         'settings', (SELECT pg_catalog.array_agg(c ORDER BY c) FROM pg_catalog.pg_db_role_setting s,
                        pg_catalog.unnest(s.setconfig) c
                       WHERE s.setdatabase = d.oid AND s.setrole = 0 AND c NOT LIKE 'dbbackup.%%'),
         'acl', (SELECT pg_catalog.array_agg(x ORDER BY x) FROM (
                   SELECT pg_catalog.concat_ws(' ', %(role)s, a.privilege_type, a.is_grantable,
                                               %(grantor)s) AS x
                     FROM pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) a) e),
         'comment', pg_catalog.shobj_description(d.oid, 'pg_database')) AS def,
       '{}'::text[] AS claims
  FROM pg_catalog.pg_database d WHERE d.datname = %(dbname)s
"""
DATABASE = (DATABASE_ITSELF + 'UNION ALL\n' + """SELECT 'role setting in database', pg_catalog.pg_get_userbyid(s.setrole),
       pg_catalog.jsonb_build_object('settings', s.setconfig), ARRAY['pg_database:settings']
  FROM pg_catalog.pg_db_role_setting s
 WHERE s.setrole <> 0
   AND s.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
""") % {
    'role': _DB_ROLE.format('grantee'), 'grantor': _DB_ROLE.format('grantor'),
    'dbname': 'pg_catalog.current_database()'}


def database_itself_sql(name_literal):
    """DATABASE_ITSELF for the database whose name is the SQL literal name_literal (no parameters)."""
    return DATABASE_ITSELF % {'role': _DB_ROLE.format('grantee'), 'grantor': _DB_ROLE.format('grantor'),
                              'dbname': name_literal}


# Security labels need a label provider on the target; none is loaded here, so they are
# listed with no claim: a backup of a database that has them fails, naming them.
SECURITY_LABELS = """
SELECT 'security label' AS type, o.type || ' ' || o.identity || ' (' || l.provider || ')' AS identity,
       pg_catalog.jsonb_build_object('label', l.label) AS def, ARRAY['unsupported:0'] AS claims
  FROM pg_catalog.pg_seclabel l, pg_catalog.pg_identify_object(l.classoid, l.objoid, l.objsubid) o
UNION ALL
SELECT 'security label', 'database (' || l.provider || ')', pg_catalog.jsonb_build_object('label', l.label),
       ARRAY['unsupported:0']
  FROM pg_catalog.pg_shseclabel l
 WHERE l.classoid = 'pg_catalog.pg_database'::regclass
   AND l.objoid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
"""

# Rows of extension configuration tables (pg_extension_config_dump) that the extension's
# filter marks as the user's: pg_dump dumps them, this engine does not yet, so they are
# listed with no claim and a backup that would lose them fails, naming the table.
# query_to_xml runs the extension's own filter inside this one query.
EXTENSION_DATA = """
SELECT 'extension configuration data' AS type, c.table_name AS identity,
       pg_catalog.jsonb_build_object('rows', c.n) AS def, ARRAY['unsupported:0'] AS claims
  FROM (SELECT x.cfg::pg_catalog.regclass::text AS table_name,
               ((pg_catalog.xpath('/row/n/text()', pg_catalog.query_to_xml(pg_catalog.format(
                   'SELECT count(*) AS n FROM ONLY %s %s', x.cfg::pg_catalog.regclass,
                   COALESCE(x.cond, '')), false, true, ''))))[1]::text::bigint AS n
          FROM pg_catalog.pg_extension e,
               ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS x(cfg, cond)
         WHERE (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid = x.cfg) IN ('r', 'p')) c
 WHERE c.n > 0
"""

# Objects of the system and of extensions whose ACL differs from the initial one
# (pg_init_privs, else the built-in default), and system objects given another owner.
SYSTEM_ACLS = """
WITH changed AS MATERIALIZED (
SELECT x.*
  FROM (SELECT 'pg_class' AS cat, 'pg_catalog.pg_class'::regclass AS classid, c.oid, 0 AS sub, c.relnamespace AS ns,
               c.relowner AS owner,
               c.relacl::text[] AS acl, pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                              c.relowner)::text[] AS base
          FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        UNION ALL
        SELECT 'pg_class', 'pg_catalog.pg_class'::regclass, a.attrelid, a.attnum,
               (SELECT r.relnamespace FROM pg_catalog.pg_class r WHERE r.oid = a.attrelid), 10, a.attacl::text[], NULL
          FROM pg_catalog.pg_attribute a WHERE a.attacl IS NOT NULL OR a.attrelid IN (
                 SELECT i.objoid FROM pg_catalog.pg_init_privs i WHERE i.objsubid > 0)
        UNION ALL
        SELECT 'pg_proc', 'pg_catalog.pg_proc'::regclass, p.oid, 0, p.pronamespace, p.proowner, p.proacl::text[],
               pg_catalog.acldefault('f', p.proowner)::text[]
          FROM pg_catalog.pg_proc p
        UNION ALL
        SELECT 'pg_type', 'pg_catalog.pg_type'::regclass, t.oid, 0, t.typnamespace, t.typowner, t.typacl::text[],
               pg_catalog.acldefault('T', t.typowner)::text[]
          FROM pg_catalog.pg_type t
        UNION ALL
        SELECT 'pg_namespace', 'pg_catalog.pg_namespace'::regclass, n.oid, 0, n.oid, n.nspowner, n.nspacl::text[],
               pg_catalog.acldefault('n', n.nspowner)::text[]
          FROM pg_catalog.pg_namespace n WHERE n.nspname <> 'public'
        UNION ALL
        SELECT 'pg_language', 'pg_catalog.pg_language'::regclass, l.oid, 0, NULL, l.lanowner, l.lanacl::text[],
               pg_catalog.acldefault('l', l.lanowner)::text[]
          FROM pg_catalog.pg_language l
        UNION ALL
        SELECT 'pg_foreign_data_wrapper', 'pg_catalog.pg_foreign_data_wrapper'::regclass, w.oid, 0, NULL, w.fdwowner,
               w.fdwacl::text[], pg_catalog.acldefault('F', w.fdwowner)::text[]
          FROM pg_catalog.pg_foreign_data_wrapper w
        UNION ALL
        SELECT 'pg_foreign_server', 'pg_catalog.pg_foreign_server'::regclass, s.oid, 0, NULL, s.srvowner,
               s.srvacl::text[], pg_catalog.acldefault('S', s.srvowner)::text[]
          FROM pg_catalog.pg_foreign_server s) x
  LEFT JOIN pg_catalog.pg_init_privs ip ON ip.classoid = x.classid AND ip.objoid = x.oid AND ip.objsubid = x.sub
 WHERE x.ns IS DISTINCT FROM (SELECT i.oid FROM pg_catalog.pg_namespace i WHERE i.nspname = 'information_schema')
   AND (x.oid < %(first)d OR x.sub < 0 OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd
                                                     WHERE xd.classid = x.classid AND xd.objid = x.oid
                                                       AND xd.deptype = 'e'))
   AND (COALESCE(x.acl, x.base) IS DISTINCT FROM COALESCE(ip.initprivs::text[], x.base)
        OR (x.oid < %(first)d AND x.owner <> 10))
)
SELECT 'privileges of ' || o.type AS type, o.identity,
       pg_catalog.jsonb_build_object(
         'acl', (SELECT pg_catalog.array_agg(a ORDER BY a) FROM pg_catalog.unnest(x.acl) a),
         'owner', CASE WHEN x.oid < %(first)d AND x.owner <> 10 THEN pg_catalog.pg_get_userbyid(x.owner) END) AS def,
       ARRAY[x.cat || ':' || x.oid] AS claims
  FROM changed x, pg_catalog.pg_identify_object(x.classid, x.oid, x.sub) o
""" % {'first': FIRST_USER_OID}


def queries(version_num):
    """[(label, sql)] for a server of version_num (PostgreSQL 12 and later)."""
    caps = Capabilities(version_num)
    collations = COLLATIONS % {
        'locale': caps.column('c', 'pg_collation', 'colllocale',
                              caps.column('c', 'pg_collation', 'colliculocale', 'NULL::text')),
        'rules': caps.column('c', 'pg_collation', 'collicurules', 'NULL::text'),
        'owner': OWNER % 'c.collowner', 'comment': COMMENT % ('c.oid', 'pg_collation'),
        'ident': _identify('pg_collation', 'c.oid'), 'user': _user('pg_collation', 'c', 'c.oid', 'n')}
    columns = COLUMNS % {
        'collation': COLLATION % 'a.attcollation',
        'compression': caps.column('a', 'pg_attribute', 'attcompression', "''::\"char\""),
        'type_member': NOT_MEMBER.format(cat='pg_type', oid='c.reltype'),
        'fdwoptions': OPTIONS % 'a.attfdwoptions', 'attoptions': SORTED % caps.attribute_options('a.attoptions'),
        'user': _user('pg_class', 'c', 'c.oid', 'n')}
    types = TYPES % dict(
        [(k, PROC.format('t.typ' + col)) for k, col in (
            ('input', 'input'), ('output', 'output'), ('receive', 'receive'), ('send', 'send'),
            ('modin', 'modin'), ('modout', 'modout'), ('analyze', 'analyze'))]
        + [('subscript', PROC.format('t.typsubscript') if caps.has_column('pg_type', 'typsubscript') else 'NULL::text'),
           ('elem', TYPE.format('t.typelem')), ('collation', COLLATION % 't.typcollation'),
           ('rngcollation', COLLATION % 'r.rngcollation'), ('canonical', PROC.format('r.rngcanonical')),
           ('subdiff', PROC.format('r.rngsubdiff')),
           ('multirange', TYPE.format('r.rngmultitypid') if caps.multiranges else 'NULL::text'),
           ('owner', OWNER % 't.typowner'), ('comment', COMMENT % ('t.oid', 'pg_type')),
           ('ident', _identify('pg_type', 't.oid')), ('user', _user('pg_type', 't', 't.oid', 'n'))])
    publications = PUBLICATIONS % {
        'relparts': PUBLICATION_REL_15 if caps.has_column('pg_publication_rel', 'prqual') else '',
        'namespaces': PUBLICATION_NAMESPACES if caps.has_catalog('pg_publication_namespace') else ''}
    subscriptions = SUBSCRIPTIONS % {
        'options': ''.join("'%s', s.%s, " % (key, col) for key, col in SUBSCRIPTION_OPTIONS
                           if caps.has_column('pg_subscription', col)),
        'ident': _identify('pg_subscription', 's.oid')}
    triggers = TRIGGERS % {'comment': COMMENT % ('g.oid', 'pg_trigger'), 'ident': _identify('pg_trigger', 'g.oid'),
                           'shown': caps.shown_triggers('g'), 'user': _user('pg_class', 'c', 'c.oid', 'n')}
    statistics = STATISTICS % {
        'target': caps.column('s', 'pg_statistic_ext', 'stxstattarget', 'NULL::integer'),
        'owner': OWNER % 's.stxowner',
        'comment': COMMENT % ('s.oid', 'pg_statistic_ext'), 'ident': _identify('pg_statistic_ext', 's.oid'),
        'user': _user('pg_statistic_ext', 's', 's.oid', 'n')}
    return [
        ('schemas', SCHEMAS), ('extensions', EXTENSIONS), ('relations', RELATIONS), ('columns', columns),
        ('defaults', DEFAULTS), ('constraints', CONSTRAINTS), ('triggers', triggers), ('rules', RULES),
        ('policies', POLICIES), ('types', types), ('functions', FUNCTIONS), ('operators', OPERATORS),
        ('operator families', OPFAMILIES), ('operator classes', OPCLASSES),
        ('operator family members', FAMILY_MEMBERS), ('access methods', ACCESS_METHODS), ('casts', CASTS),
        ('collations', collations), ('conversions', CONVERSIONS), ('transforms', TRANSFORMS),
        ('languages', LANGUAGES), ('text search', TEXT_SEARCH), ('foreign', FOREIGN),
        ('publications', publications), ('subscriptions', subscriptions), ('statistics', statistics),
        ('event triggers', EVENT_TRIGGERS), ('default privileges', DEFAULT_ACLS),
        ('large objects', LARGE_OBJECTS), ('database', DATABASE), ('security labels', SECURITY_LABELS),
        ('extension configuration data', EXTENSION_DATA),
        ('system privileges', SYSTEM_ACLS),
    ]
