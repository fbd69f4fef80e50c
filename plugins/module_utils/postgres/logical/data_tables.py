# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which tables have data to dump, and how to split the large ones.

Data come from plain tables (partition leaves and inheritance members each
on their own: COPY of a table never includes its children). Generated
columns are left out; they are recomputed on restore. A large table is split
into block ranges (TID range scans, PostgreSQL 14+) so that both dump and
restore can work on it in parallel.

A partition under a table hash-partitioned on an enum column is loaded through
the topmost such table (its data entry says `load_via`), as pg_dump loads such
trees through their root: an enum's hash depends on OIDs that a restore assigns
anew, so a row may belong to another partition in the restored database.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..connection import copy_options, quote_ident

MIN_CHUNK_BYTES = 32 << 20
MAX_CHUNKS = 64

DATA_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_relation_size(c.oid) AS bytes,
       ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attgenerated = '' ORDER BY a.attnum) AS columns,
       CASE WHEN c.relispartition THEN (
              SELECT ARRAY[rn.nspname, r.relname]::text[]
                FROM pg_catalog.pg_partition_ancestors(c.oid) an
                JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = an.relid
                JOIN pg_catalog.pg_class r ON r.oid = an.relid
                JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
               WHERE pt.partstrat = 'h' AND EXISTS (
                       SELECT 1 FROM pg_catalog.pg_attribute ka JOIN pg_catalog.pg_type kt ON kt.oid = ka.atttypid
                        WHERE ka.attrelid = pt.partrelid AND ka.attnum = ANY (pt.partattrs)
                          AND (kt.typtype = 'e' OR EXISTS (SELECT 1 FROM pg_catalog.pg_type bt
                                                            WHERE bt.oid = kt.typbasetype AND bt.typtype = 'e')))
               ORDER BY (SELECT count(*) FROM pg_catalog.pg_partition_ancestors(an.relid)) LIMIT 1) END AS load_via
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY bytes DESC, n.nspname, c.relname
"""


class DataTable(object):
    __slots__ = ('oid', 'schema', 'name', 'bytes', 'columns', 'load_via')

    def __init__(self, oid, schema, name, nbytes, columns, load_via=None):
        self.oid, self.schema, self.name, self.bytes, self.columns = oid, schema, name, nbytes, list(columns)
        self.load_via = list(load_via) if load_via else None   # [schema, name] of the table loaded through

    @property
    def qualified(self):
        return '%s.%s' % (quote_ident(self.schema), quote_ident(self.name))

    @property
    def display(self):
        return '%s.%s' % (self.schema, self.name)


class CopyTask(object):
    """One data file: a whole table, or the block range [first_block, end_block)."""
    __slots__ = ('table', 'chunk', 'chunks', 'first_block', 'end_block', 'bytes')

    def __init__(self, table, chunk=0, chunks=1, first_block=None, end_block=None, nbytes=0):
        self.table, self.chunk, self.chunks = table, chunk, chunks
        self.first_block, self.end_block, self.bytes = first_block, end_block, nbytes

    def copy_sql(self, encoding=None):
        """COPY ... TO STDOUT; encoding: that of the data (the database's), None/UTF8 = client's."""
        cols = ', '.join(quote_ident(c) for c in self.table.columns)
        options = copy_options(encoding)
        if self.chunks == 1:
            return 'COPY %s%s TO STDOUT%s' % (self.table.qualified, ' (%s)' % cols if cols else '', options)
        cond = ["ctid >= '(%d,0)'::pg_catalog.tid" % self.first_block]
        if self.end_block is not None:
            cond.append("ctid < '(%d,0)'::pg_catalog.tid" % self.end_block)
        return 'COPY (SELECT %s FROM ONLY %s WHERE %s) TO STDOUT%s' % (
            cols, self.table.qualified, ' AND '.join(cond), options)


def list_data_tables(cur):
    cur.execute(DATA_TABLES_SQL)
    return [DataTable(*row) for row in cur.fetchall()]


def plan_copy_tasks(tables, jobs, split_blocks, block_size=8192):
    """Tasks largest first; tables above the chunk size split by block ranges when split_blocks
    (the server reads a ctid range without a full scan: Capabilities.tid_range_scans)."""
    tasks = []
    for t in tables:
        chunk_bytes = max(MIN_CHUNK_BYTES, t.bytes // max(1, 4 * jobs))
        n = min(MAX_CHUNKS, t.bytes // chunk_bytes) if split_blocks and t.columns else 1
        if n <= 1:
            tasks.append(CopyTask(t, nbytes=t.bytes))
            continue
        blocks = t.bytes // block_size
        step = -(-blocks // n)
        for i in range(n):
            first = i * step
            end = None if i == n - 1 else (i + 1) * step
            tasks.append(CopyTask(t, i, n, first, end, t.bytes // n))
    tasks.sort(key=lambda task: -task.bytes)
    return tasks
