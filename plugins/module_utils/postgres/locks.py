# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lock-table capacity of a PostgreSQL server, and what a dbbackup dump or restore needs of it.

Capacity. PostgreSQL sizes its shared lock table at start from settings that
only change with a restart (lock.c: NLOCKENTS() = max_locks_per_transaction *
(MaxBackends + max_prepared_transactions); postinit.c: InitializeMaxBackends):

    PG 12-16  MaxBackends = max_connections + autovacuum_max_workers + 1
                            + max_worker_processes + max_wal_senders
    PG 17     MaxBackends = max_connections + autovacuum_max_workers
                            + max_worker_processes + max_wal_senders + 2
              (NUM_SPECIAL_WORKER_PROCS: autovacuum launcher and slot-sync worker)
    PG 18+    as 17 with autovacuum_worker_slots instead of autovacuum_max_workers
    PG <= 11  max_connections + autovacuum_max_workers + 1 + max_worker_processes
              (WAL senders were counted inside max_connections)

The documentation of max_locks_per_transaction says the same in words ("space
for max_locks_per_transaction objects per server process or prepared
transaction"; up to PG 15 it wrote the product with max_connections only,
which undercounts). That is the nominal capacity in distinct locked objects;
the server can grow a little beyond it into spare shared memory (a few hundred
entries), so the nominal figure is the one to plan with.

Need. What this engine locks (measured, see docs/modules/dbbackup_verify_locks.md):

- dump: the main session holds ACCESS SHARE on every table with data (LOCK
  TABLE), every sequence it reads and every view or expression it decompiles,
  plus about 170 catalog relations (schema readers and the object inventory),
  until the data are copied; workers add the
  TOAST table and TOAST index of each table whose values they detoast, and
  the indexes of tables split into block ranges (planned queries).
- restore: every schema item is its own transaction (autocommit), so what
  counts is the largest transactions running side by side (`jobs` sessions):
  a foreign-key group (all tables of the group and their partitions, with
  their indexes), an index built on a partitioned table (each partition and
  its new index), a materialized-view refresh (the relations it reads), a
  table load (table, TOAST table and index).
- large objects: reading them takes no locks, and owners/grants/comments of
  each object run in their own transaction, so they add nothing here (a
  pg_restore --single-transaction would need one lock per large object).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

from ..common.errors import BadInput
from .capabilities import Capabilities
from .connection import connect, server_version
from .logical.data_tables import MIN_CHUNK_BYTES

SETTING = 'max_locks_per_transaction'
SETTINGS = (SETTING, 'max_connections', 'max_prepared_transactions', 'autovacuum_max_workers',
            'autovacuum_worker_slots', 'max_worker_processes', 'max_wal_senders')
# catalog relations a dump's main session locks (170 measured on PG 15 with the object
# inventory; a restore's inventory check locks as many), with a margin
CATALOG_LOCKS = 200
# per session: its virtual xid, the database, a few catalog entries of its own
SESSION_LOCKS = 4
# one table load: TRUNCATE + COPY FREEZE locks the table, its TOAST table and TOAST index
LOAD_LOCKS = 3
# tables this large are split into block ranges (2 chunks at least): planned, indexes locked
SPLIT_BYTES = 2 * MIN_CHUNK_BYTES
VERDICTS = ('ok', 'warning', 'insufficient')
OPERATIONS = ('backup', 'restore', 'both')

SETTINGS_SQL = ("SELECT name, setting FROM pg_catalog.pg_settings WHERE name = ANY(%s)")
PENDING_SQL = ("SELECT setting FROM pg_catalog.pg_file_settings "
               "WHERE name = %s ORDER BY seqno DESC LIMIT 1")
DATABASES_SQL = ("SELECT datname FROM pg_catalog.pg_database "
                 "WHERE datallowconn AND NOT datistemplate ORDER BY datname")
IN_USE_SQL = "SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT fastpath"
PENDING_RESTART_SQL = ("SELECT coalesce(bool_or(pending_restart) FILTER (WHERE name = %s), false), "
                       "coalesce(bool_or(pending_restart), false) FROM pg_catalog.pg_settings")

USER_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
           "AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'")
RELATIONS_SQL = """
SELECT c.oid, c.relkind, c.relispartition,
       CASE WHEN c.relkind = 'r' THEN pg_catalog.pg_relation_size(c.oid) ELSE 0 END AS bytes,
       c.reltoastrelid <> 0 AS has_toast,
       c.reltoastrelid <> 0 AND pg_catalog.pg_relation_size(c.reltoastrelid) > 0 AS toasted,
       (SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) AS indexes
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {user_ns}
""".format(user_ns=USER_NS)
PARTITIONS_SQL = """
SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE c.relispartition
"""
FOREIGN_KEYS_SQL = ("SELECT conrelid, confrelid FROM pg_catalog.pg_constraint "
                    "WHERE contype = 'f' AND conparentid = 0")
MATVIEW_REFS_SQL = """
SELECT r.ev_class, d.refobjid
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class m ON m.oid = r.ev_class AND m.relkind = 'm'
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
 WHERE d.refobjid <> r.ev_class
 GROUP BY 1, 2
"""
LARGE_OBJECTS_SQL = "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata"


# --- capacity ----------------------------------------------------------------

def max_backends(settings, version_num):
    """(MaxBackends, [(term, value), ...]) as InitializeMaxBackends computes it (the terms of each
    version: Capabilities.max_backends_terms)."""
    terms = []
    for term in Capabilities(version_num).max_backends_terms(settings.get('autovacuum_worker_slots') is not None):
        terms.append(term if isinstance(term, tuple) else (term, int(settings.get(term) or 0)))
    return sum(v for _name, v in terms), terms


def lock_capacity(settings, version_num, max_locks=None):
    """Nominal number of distinct objects the shared lock table holds."""
    max_locks = int(settings[SETTING] if max_locks is None else max_locks)
    backends, terms = max_backends(settings, version_num)
    prepared = int(settings.get('max_prepared_transactions') or 0)
    slots = backends + prepared
    formula = '%d * (%s + %d max_prepared_transactions) = %d' % (
        max_locks, ' + '.join('%s %s' % (value, name) for name, value in terms), prepared, max_locks * slots)
    return {'capacity': max_locks * slots, 'lock_slots': slots, 'max_backends': backends,
            'formula': formula}


def read_settings(conn):
    cur = conn.cursor()
    cur.execute(SETTINGS_SQL, (list(SETTINGS),))
    return dict(cur.fetchall())


def pending_value(conn):
    """The max_locks_per_transaction the configuration files set now (applied at the next
    restart), or None when it cannot be read (pg_file_settings needs a superuser)."""
    cur = conn.cursor()   # conn is in autocommit mode
    try:
        cur.execute(PENDING_SQL, (SETTING,))
        row = cur.fetchone()
    except Exception:  # insufficient privilege: not knowing is fine
        return None
    # error is 'setting could not be applied' for a changed start-only setting: expected here
    if not row or row[0] is None:
        return None
    try:
        return int(row[0])
    except ValueError:
        return None


# --- need: live database -------------------------------------------------------

class _Tree(object):
    """Partition trees: parent of each partition, descendants of each table."""

    def __init__(self, pairs):
        self.parent = dict(pairs)
        self.children = {}
        for child, parent in pairs:
            self.children.setdefault(parent, []).append(child)

    def root(self, oid):
        seen = 0
        while oid in self.parent and seen < 10000:
            oid = self.parent[oid]
            seen += 1
        return oid

    def members(self, oid):
        """oid and all its descendants."""
        out, todo = [], [oid]
        while todo:
            x = todo.pop()
            out.append(x)
            todo.extend(self.children.get(x, ()))
        return out


def _fk_groups(pairs, tree):
    """Connected sets of partition roots linked by foreign keys (as the restore groups them)."""
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(tree.root(a))] = find(tree.root(b))
    groups = {}
    for x in list(parent):
        groups.setdefault(find(x), set()).add(x)
    return list(groups.values())


def database_need(conn, jobs):
    """Relations of the connected database and the locks a dump and a restore of it take."""
    cur = conn.cursor()
    cur.execute(RELATIONS_SQL)
    rels = {}
    for oid, kind, is_part, nbytes, has_toast, toasted, nindexes in cur.fetchall():
        rels[oid] = {'kind': kind, 'partition': is_part, 'bytes': nbytes or 0, 'has_toast': has_toast,
                     'toasted': toasted, 'indexes': int(nindexes)}
    cur.execute(PARTITIONS_SQL)
    tree = _Tree(cur.fetchall())
    cur.execute(FOREIGN_KEYS_SQL)
    fks = cur.fetchall()
    cur.execute(MATVIEW_REFS_SQL)
    mv_refs = {}
    for mv, ref in cur.fetchall():
        mv_refs.setdefault(mv, []).append(ref)
    cur.execute(LARGE_OBJECTS_SQL)
    large_objects = cur.fetchone()[0]

    def kinds(*wanted):
        return sum(1 for r in rels.values() if r['kind'] in wanted)

    relations = {
        'tables': sum(1 for r in rels.values() if r['kind'] == 'r' and not r['partition']),
        'partitions': sum(1 for r in rels.values() if r['partition']),
        'partitioned_tables': kinds('p'),
        'toast_tables': sum(1 for r in rels.values() if r['has_toast']),
        'toast_tables_with_data': sum(1 for r in rels.values() if r['toasted']),
        'indexes': sum(r['indexes'] for r in rels.values()),
        'sequences': kinds('S'),
        'views': kinds('v'),
        'materialized_views': kinds('m'),
        'foreign_tables': kinds('f'),
        'large_objects': large_objects,
    }
    backup = (CATALOG_LOCKS + jobs * SESSION_LOCKS + len(rels)
              + 2 * relations['toast_tables_with_data']
              + sum(r['indexes'] for r in rels.values() if r['kind'] == 'r' and r['bytes'] >= SPLIT_BYTES))

    def weight(oid):
        r = rels.get(oid)
        return 1 + (r['indexes'] + (2 if r['has_toast'] else 0) if r else 0)

    transactions = [LOAD_LOCKS] * min(jobs, max(1, kinds('r')))
    for group in _fk_groups(fks, tree):
        transactions.append(sum(weight(m) for root in group for m in tree.members(root)))
    for oid, r in rels.items():
        if r['kind'] == 'p' and not r['partition']:
            # CREATE INDEX on the root: every member locked, one new index per member
            transactions.append(2 * len(tree.members(oid)))
    for mv, refs in mv_refs.items():
        transactions.append(weight(mv) + sum(weight(m) for ref in refs for m in tree.members(ref)))
    transactions.sort(reverse=True)
    restore = CATALOG_LOCKS + jobs * SESSION_LOCKS + sum(transactions[:jobs])
    return {'relations': relations, 'backup_need': backup, 'restore_need': restore,
            'largest_restore_transaction': transactions[0] if transactions else 0,
            'source': 'database'}


# --- need: backup manifest -----------------------------------------------------

def manifest_need(manifest, jobs):
    """Upper bound of the locks restoring (or taking again) this backup needs, from its counts.

    The manifest knows the tables (data files), large objects and the number of
    schema items, not which tables are linked or partitioned: the estimate
    assumes the worst (one transaction may touch every table twice and every
    post-data item) and is therefore an upper bound.
    """
    files = manifest.get('files') or []
    tables = len(set((f.get('schema'), f.get('name')) for f in files if f.get('role') == 'data'))
    pre = sum(int(f.get('items') or 0) for f in files if f.get('role') == 'pre-data')
    post = sum(int(f.get('items') or 0) for f in files if f.get('role') == 'post-data')
    totals = manifest.get('totals') or {}
    relations = {'tables': tables, 'pre_data_items': pre, 'post_data_items': post,
                 'large_objects': int(totals.get('large_objects') or 0)}
    base = CATALOG_LOCKS + jobs * SESSION_LOCKS
    return {'relations': relations, 'backup_need': base + 3 * tables + pre,
            'restore_need': base + 2 * tables + post,
            'largest_restore_transaction': 2 * tables + post,
            'source': 'manifest', 'backup_id': manifest.get('backup_id')}


# --- verdict -------------------------------------------------------------------

def recommended_value(need, lock_slots, headroom_percent, current):
    """The smallest max_locks_per_transaction (a multiple of 32, never below current or 64)
    whose capacity keeps headroom_percent of the table free while `need` locks are held."""
    usable = lock_slots * (100 - headroom_percent) / 100.0
    value = int(math.ceil(need / usable)) if usable > 0 else current
    value = max(64, int(math.ceil(value / 32.0)) * 32)
    return max(value, current)


def verdict(need, capacity, headroom_percent, in_use):
    if need > capacity:
        return 'insufficient'
    if need > capacity * (100 - headroom_percent) / 100.0 or need + in_use > capacity:
        return 'warning'
    return 'ok'


def check_options(p):
    op = p.get('operation') or 'both'
    if op not in OPERATIONS:
        raise BadInput('operation must be one of %s, got %r.' % (', '.join(OPERATIONS), op))
    try:
        headroom = int(p.get('headroom_percent') if p.get('headroom_percent') is not None else 25)
    except (TypeError, ValueError):
        raise BadInput('headroom_percent must be an integer, got %r.' % (p.get('headroom_percent'),))
    if not 0 <= headroom <= 90:
        raise BadInput('headroom_percent must be between 0 and 90, got %d.' % headroom)
    return op, headroom


def need_of(entry, operation):
    if operation == 'backup':
        return entry['backup_need']
    if operation == 'restore':
        return entry['restore_need']
    return max(entry['backup_need'], entry['restore_need'])


def server_facts(admin):
    """Settings, version, capacity, pending value and locks in use of a connection's server."""
    settings = read_settings(admin)
    version_num, version = server_version(admin)
    cap = lock_capacity(settings, version_num)
    cur = admin.cursor()
    cur.execute(IN_USE_SQL)
    in_use = cur.fetchone()[0]
    cur.execute(PENDING_RESTART_SQL, (SETTING,))
    ours, anything = cur.fetchone()
    return {
        'pending_restart': bool(ours), 'server_pending_restart': bool(anything),
        'settings': dict((k, int(v)) for k, v in settings.items()),
        'server_version': version, 'server_version_num': version_num,
        'capacity': cap['capacity'], 'lock_slots': cap['lock_slots'],
        'max_backends': cap['max_backends'], 'capacity_formula': cap['formula'],
        'locks_in_use': in_use, 'pending_max_locks_per_transaction': pending_value(admin),
    }


def live_needs(params, admin, databases, jobs):
    """{database: need entry} of databases on the server (all connectable ones when empty)."""
    if not databases:
        cur = admin.cursor()
        cur.execute(DATABASES_SQL)
        databases = [r[0] for r in cur.fetchall()]
    out = {}
    for name in databases:
        conn = connect(params, dbname=name, autocommit=True, application_name='dbbackup-verify-locks')
        try:
            out[name] = database_need(conn, jobs)
        finally:
            conn.close()
    return out


def apply_setting(admin, value):
    """ALTER SYSTEM SET max_locks_per_transaction and reload; takes effect at the next restart."""
    cur = admin.cursor()
    cur.execute('ALTER SYSTEM SET %s = %d' % (SETTING, int(value)))
    cur.execute('SELECT pg_catalog.pg_reload_conf()')
