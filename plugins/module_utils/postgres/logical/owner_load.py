# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Loading a table whose COPY would run code that must not run with the restoring role's rights.

A COPY evaluates the table's CHECK constraints, the CHECKs of domains among
its column types (also inside arrays, composites and ranges), its generated
columns and the partition expressions of its ancestors, as the session's
user. Functions of roles that are not superusers run as their owners during a
restore (restore_guard.py), and immutable built-in or C functions do nothing
but compute. Anything else (a volatile built-in, a built-in that runs SQL
such as query_to_xml, a superuser's own SQL or PL function) would run as the
restoring superuser: such a table is loaded through its owner instead. The
rows go by COPY into a session-private text table, and one INSERT ... SELECT
with a cast per column runs inside a SECURITY DEFINER function owned by the
table's owner, where the code runs as that owner and cannot change role.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ..capabilities import Capabilities
from ..connection import quote_ident

FIRST_USER_OID = 16384
INTERNAL_LANGS = ('internal', 'c')
# stable built-ins that run SQL given as text (or read relations, views included)
SQL_RUNNING = ('query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'table_to_xml',
               'table_to_xmlschema', 'table_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
               'schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema', 'database_to_xml',
               'database_to_xmlschema', 'database_to_xml_and_xmlschema', 'ts_stat', 'ts_rewrite')

TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)),
       r.rolsuper, c.relispartition
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
 WHERE c.relkind = 'r' AND c.oid >= %d
""" % FIRST_USER_OID

# what COPY evaluates, per table: ('con', oid) checks, ('def', oid) generated columns,
# ('type', oid) column types, ('rel', oid) partitioned ancestors (their partition key expressions)
ROOTS_SQL = """
SELECT conrelid, 'con', oid FROM pg_catalog.pg_constraint WHERE contype = 'c' AND conrelid >= %(f)d
UNION ALL
SELECT ad.adrelid, 'def', ad.oid FROM pg_catalog.pg_attrdef ad
  JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
 WHERE a.attgenerated = 's' AND ad.adrelid >= %(f)d
UNION ALL
SELECT attrelid, 'type', atttypid FROM pg_catalog.pg_attribute
 WHERE attrelid >= %(f)d AND attnum > 0 AND NOT attisdropped AND atttypid >= %(f)d
""" % {'f': FIRST_USER_OID}
ANCESTORS_SQL = """
SELECT c.oid, 'rel', a.relid FROM pg_catalog.pg_class c, pg_catalog.pg_partition_ancestors(c.oid) a
 WHERE c.relispartition AND c.oid >= %d AND a.relid <> c.oid
""" % FIRST_USER_OID

# the stored expressions COPY evaluates: CHECKs (of tables and domains), generated columns,
# partition keys. pg_depend would not do: it records no dependency on built-in objects.
EXPRESSIONS_SQL = """
SELECT 'con', oid, conbin::text FROM pg_catalog.pg_constraint WHERE contype = 'c' AND conbin IS NOT NULL
UNION ALL
SELECT 'def', oid, adbin::text FROM pg_catalog.pg_attrdef WHERE adrelid >= %(f)d
UNION ALL
SELECT 'rel', partrelid, partexprs::text FROM pg_catalog.pg_partitioned_table
 WHERE partexprs IS NOT NULL AND partrelid >= %(f)d
""" % {'f': FIRST_USER_OID}
_NODE_REFS = (
    ('proc', re.compile(r':(?:funcid|opfuncid) (\d+)')),
    ('op', re.compile(r':opno (\d+)')),
    ('type', re.compile(r':(?:consttype|resulttype|vartype|minmaxtype|refcontainertype|funcresulttype|array_typeid|element_typeid) (\d+)')),
)
_OPNOS = re.compile(r':opnos \(o ([\d ]+)\)')

# what a user type brings along: base type and CHECKs of a domain, element of an array,
# attributes of a composite, subtype and canonical function of a range (multirange: its range)
TYPES_SQL = """
SELECT t.oid, 'type', t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid >= %(f)d AND t.typbasetype <> 0
UNION ALL SELECT k.contypid, 'con', k.oid FROM pg_catalog.pg_constraint k WHERE k.contypid >= %(f)d AND k.contype = 'c'
UNION ALL SELECT t.oid, 'type', t.typelem FROM pg_catalog.pg_type t WHERE t.oid >= %(f)d AND t.typelem <> 0
UNION ALL SELECT t.oid, 'type', a.atttypid FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE t.oid >= %(f)d AND t.typrelid <> 0
UNION ALL SELECT r.rngtypid, 'type', r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid >= %(f)d
UNION ALL SELECT r.rngtypid, 'proc', r.rngcanonical FROM pg_catalog.pg_range r
 WHERE r.rngtypid >= %(f)d AND r.rngcanonical <> 0
%(multirange)s""" % {'f': FIRST_USER_OID, 'multirange': '%s'}
MULTIRANGE_SQL = ("UNION ALL SELECT r.rngmultitypid, 'type', r.rngtypid FROM pg_catalog.pg_range r "
                  "WHERE r.rngmultitypid >= %d\n" % FIRST_USER_OID)      # PostgreSQL 14+

OPERATORS_SQL = "SELECT oid, oprcode::pg_catalog.oid FROM pg_catalog.pg_operator WHERE oid = ANY(%s)"

FUNCTIONS_SQL = """
SELECT p.oid, p.proname, p.provolatile, l.lanname, p.prosecdef, r.rolsuper
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
  JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
 WHERE p.oid = ANY(%s)
"""


def _edges(cur, sql):
    out = {}
    cur.execute(sql)
    for src, kind, target in cur.fetchall():
        out.setdefault(src, []).append((kind, target))
    return out


def _references(tree):
    """[(kind, oid)] of the functions, operators and types a stored expression (pg_node_tree) uses."""
    out = set()
    for kind, pattern in _NODE_REFS:
        out.update((kind, int(oid)) for oid in pattern.findall(tree) if oid != '0')
    for group in _OPNOS.findall(tree):
        out.update(('op', int(oid)) for oid in group.split())
    return sorted(out)


def _harmless(row):
    """True when the function may run as the restoring role: it runs as its owner, or only computes."""
    oid, name, volatility, language, secdef, owner_super = row
    if secdef or not owner_super:
        return True          # runs as its owner (security definer, or wrapped by restore_guard)
    if oid < FIRST_USER_OID:
        return volatility == 'i' or (volatility == 's' and name not in SQL_RUNNING)
    return volatility == 'i' and language in INTERNAL_LANGS


def tables_to_load_as_owner(conn):
    """{(schema, table): quoted owner} of the tables whose COPY would run other code as the restorer.

    Tables owned by a superuser are loaded as usual (their owner's code is the superuser's).
    """
    cur = conn.cursor()
    cur.execute(TABLES_SQL)
    tables = dict((r[0], r[1:]) for r in cur.fetchall() if not r[4])
    if not tables:
        return {}
    roots = _edges(cur, ROOTS_SQL)
    if any(t[4] for t in tables.values()):
        for src, targets in _edges(cur, ANCESTORS_SQL).items():
            roots.setdefault(src, []).extend(targets)
    uses = {}
    cur.execute(EXPRESSIONS_SQL)
    for kind, oid, tree in cur.fetchall():
        uses[(kind, oid)] = _references(tree)
    for src, targets in _edges(cur, TYPES_SQL % (MULTIRANGE_SQL if Capabilities(conn.server_version).multiranges else '')).items():
        uses.setdefault(('type', src), []).extend(targets)

    reached = {}             # table oid -> set of function oids its COPY may call
    operators = set()
    for table in tables:
        seen, todo, funcs = set(), list(roots.get(table, [])), set()
        while todo:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            kind, oid = node
            if kind == 'proc':
                funcs.add(oid)
            elif kind == 'op':
                operators.add(oid)
                funcs.add(('op', oid))
            elif kind != 'type' or oid >= FIRST_USER_OID:
                todo.extend(uses.get(node, []))
        reached[table] = funcs
    op_code = {}
    if operators:
        cur.execute(OPERATORS_SQL, (sorted(operators),))
        op_code = dict(cur.fetchall())
    all_funcs = set()
    for table, funcs in reached.items():
        reached[table] = set(op_code.get(f[1]) if isinstance(f, tuple) else f for f in funcs) - {None}
        all_funcs |= reached[table]
    if not all_funcs:
        return {}
    cur.execute(FUNCTIONS_SQL, (sorted(all_funcs),))
    harmful = set(r[0] for r in cur.fetchall() if not _harmless(r))
    return dict(((tables[t][0], tables[t][1]), tables[t][2]) for t, funcs in reached.items() if funcs & harmful)


COLUMN_TYPES_SQL = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = %s::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped
"""
STAGE = 'pg_temp._dbbackup_stage'
LOADER = 'pg_temp._dbbackup_load_as_owner(text)'
LOADER_SQL = """
CREATE FUNCTION pg_temp._dbbackup_load_as_owner(statement text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE n bigint;
BEGIN
  EXECUTE statement;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$
"""


def load_as_owner(cur, table, owner, columns, copy_options, reader, buffer_size):
    """COPY reader into a private text table, then INSERT it into table as its owner; returns the rows.

    One transaction; the private table and the function exist only inside it, so no other
    statement of the restore can ever call the function.
    """
    cur.execute(COLUMN_TYPES_SQL, (table,))
    types = dict(cur.fetchall())
    stage_cols = ', '.join('c%d text' % i for i in range(len(columns)))
    casts = ', '.join('c%d::%s' % (i, types[c]) for i, c in enumerate(columns))
    target = ' (%s)' % ', '.join(quote_ident(c) for c in columns) if columns else ''
    cur.execute('BEGIN')
    try:
        cur.execute('CREATE TEMPORARY TABLE _dbbackup_stage (%s) ON COMMIT DROP' % stage_cols)
        cur.copy_expert('COPY %s FROM STDIN%s' % (STAGE, copy_options), reader, size=buffer_size)
        cur.execute(LOADER_SQL)
        cur.execute('ALTER TABLE %s OWNER TO %s' % (STAGE, owner))
        cur.execute('ALTER FUNCTION %s OWNER TO %s' % (LOADER, owner))
        cur.execute('SELECT pg_temp._dbbackup_load_as_owner(%s)',
                    ('INSERT INTO %s%s SELECT %s FROM %s' % (table, target, casts, STAGE),))
        rows = cur.fetchone()[0]
        cur.execute('DROP FUNCTION %s' % LOADER)
        cur.execute('COMMIT')
    except BaseException:
        try:
            cur.execute('ROLLBACK')
        except Exception:  # pylint: disable=broad-except
            pass
        raise
    return rows
