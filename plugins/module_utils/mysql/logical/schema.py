# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Schema extraction from a MySQL/MariaDB server with SHOW CREATE.

Two groups of items:
  tables   tables and sequences: created in the restore's temporary database,
           filled with data, then moved into the target with RENAME TABLE
  objects  routines (functions, procedures, packages), views in dependency
           order, triggers in firing order, events: created in the target
           after the tables are in place (they cannot move across databases,
           and triggers must not fire while data is loaded)

The session that reads runs with `USE <database>`, sql_mode '' and quoted
identifiers, so SHOW CREATE names the database's own objects without a
database qualifier. MariaDB still qualifies names inside view definitions and
the sequences of column defaults; those qualifiers are removed (qualifiers.py)
so views and tables follow into a target_database of another name. Qualifiers
written by users inside routine, trigger and event bodies are kept as written.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import BackupFailed
from ..connection import quote_ident
from .qualifiers import identifiers, strip_qualifier
from .row_sql import INTEGER_TYPES, Column
from .schema_file import Item

TABLES_SQL = """
SELECT TABLE_NAME, TABLE_TYPE, ENGINE, COALESCE(DATA_LENGTH, 0), COALESCE(TABLE_ROWS, 0)
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME
"""
COLUMNS_SQL = """
SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COALESCE(GENERATION_EXPRESSION, ''), EXTRA, IS_NULLABLE,
       CHARACTER_OCTET_LENGTH, COLUMN_TYPE
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION
"""
# Columns whose values the server computes: never dumped, never loaded.
_COMPUTED_EXTRA = ('VIRTUAL', 'PERSISTENT', 'STORED GENERATED', 'ROW START', 'ROW END')
ROUTINE_ORDER = {'PACKAGE': 0, 'FUNCTION': 1, 'PROCEDURE': 2, 'PACKAGE BODY': 3}


class Table(object):
    """A table whose rows are dumped: name, loadable columns (row_sql.Column), range key."""

    __slots__ = ('name', 'kind', 'engine', 'size', 'rows', 'specs', 'split_key')

    def __init__(self, name, kind, engine, size, rows):
        self.name = name
        self.kind = kind
        self.engine = engine
        self.size = int(size or 0)
        self.rows = int(rows or 0)
        self.specs = []
        self.split_key = None     # the primary key's leading column when it is an integer: range pieces

    @property
    def columns(self):
        return [c.name for c in self.specs]

    @property
    def types(self):
        return [c.type for c in self.specs]


def _text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


def database_info(cur, database):
    cur.execute('SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA '
                'WHERE SCHEMA_NAME = %s', (database,))
    row = cur.fetchone()
    if not row:
        return None
    info = {'charset': _text(row[0]), 'collation': _text(row[1])}
    try:
        cur.execute('SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s', (database,))
        comment = cur.fetchone()[0]
        if comment:
            info['comment'] = _text(comment)
    except Exception:        # MySQL has no database comments
        pass
    return info


def list_tables(cur, database):
    """(data tables, sequence names, view names) of a database."""
    cur.execute(TABLES_SQL, (database,))
    tables, sequences, views = {}, [], []
    for name, kind, engine, size, rows in cur.fetchall():
        name, kind = _text(name), _text(kind)
        if kind == 'VIEW':
            views.append(name)
        elif kind == 'SEQUENCE':
            sequences.append(name)
        else:     # BASE TABLE, SYSTEM VERSIONED (current rows only)
            tables[name] = Table(name, kind, _text(engine), size, rows)
    cur.execute(COLUMNS_SQL, (database,))
    for table, column, data_type, generation, extra, nullable, octets, column_type in cur.fetchall():
        t = tables.get(_text(table))
        if t is None:
            continue
        extra = (_text(extra) or '').upper()
        if _text(generation) or any(word in extra for word in _COMPUTED_EXTRA):
            continue
        t.specs.append(Column(_text(column), _text(data_type).lower(), _text(nullable) != 'NO',
                              None if octets is None else int(octets), _text(column_type)))
    return [tables[n] for n in sorted(tables)], sequences, views


PK_SQL = """
SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS
 WHERE TABLE_SCHEMA = %s AND INDEX_NAME = 'PRIMARY' AND SEQ_IN_INDEX = 1
"""


def find_split_keys(cur, database, tables):
    """Set Table.split_key where the primary key's leading column is an integer."""
    by_name = dict((t.name, t) for t in tables)
    cur.execute(PK_SQL, (database,))
    for name, column in cur.fetchall():
        t = by_name.get(_text(name))
        column = _text(column)
        if t is not None and column in t.columns and t.types[t.columns.index(column)] in INTEGER_TYPES:
            t.split_key = column


def lock_tables(cur, database, names, batch=50):
    """Take shared metadata locks on tables (held until the transaction ends), as
    pg_dump's ACCESS SHARE: concurrent DDL waits instead of breaking the dump."""
    for i in range(0, len(names), batch):
        part = names[i:i + batch]
        cur.execute('SELECT 1 FROM %s LIMIT 0' % ', '.join(
            '%s.%s' % (quote_ident(database), quote_ident(n)) for n in part))
        cur.fetchall()


def sequence_states(cur, database, names):
    """name -> (next_not_cached_value, cycle_count), read while writes are locked out."""
    out = {}
    for name in names:
        cur.execute('SELECT next_not_cached_value, cycle_count FROM %s.%s'
                    % (quote_ident(database), quote_ident(name)))
        value, cycles = cur.fetchone()
        out[name] = (int(value), int(cycles))
    return out


def table_items(cur, database, tables, sequences, seq_states):
    """Sequences, then tables (a column default may draw from a sequence: nextval(`db`.`s`),
    which loses its `db`. qualifier so that it names the sequence of the copy)."""
    items = []
    for name in sequences:
        cur.execute('SHOW CREATE SEQUENCE %s' % quote_ident(name))
        sql = _text(cur.fetchone()[1]).rstrip().rstrip(';')
        value, cycles = seq_states[name]
        sql += ';\nSELECT SETVAL(%s, %d, 0, %d)' % (quote_ident(name), value, cycles)
        items.append(Item('SEQUENCE', name, sql))
    names = set(t.name for t in tables) | set(sequences)
    for t in tables:
        cur.execute('SHOW CREATE TABLE %s' % quote_ident(t.name))
        items.append(Item('TABLE', t.name, strip_qualifier(_text(cur.fetchone()[1]), database, names)))
    return items


def _routine_items(cur, database):
    cur.execute('SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES '
                'WHERE ROUTINE_SCHEMA = %s', (database,))
    routines = sorted(((_text(n), _text(t)) for n, t in cur.fetchall()),
                      key=lambda r: (ROUTINE_ORDER.get(r[1], 9), r[0]))
    items = []
    for name, kind in routines:
        cur.execute('SHOW CREATE %s %s' % (kind, quote_ident(name)))
        row = cur.fetchone()
        if not row or row[2] is None:
            raise BackupFailed('The definition of %s %s cannot be read by this user.' % (kind.lower(), name),
                               'Grant SELECT on mysql.proc (MariaDB) or SHOW_ROUTINE (MySQL), '
                               'or back up as the routine\'s definer or root.')
        items.append(Item(kind, name, _text(row[2]), {
            'sql_mode': _text(row[1]), 'character_set_client': _text(row[3]),
            'collation_connection': _text(row[4])}))
    return items


def _view_items(cur, database, views):
    defs = {}
    cur.execute('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s', (database,))
    names = set(_text(r[0]) for r in cur.fetchall())
    for name in views:
        cur.execute('SHOW CREATE VIEW %s' % quote_ident(name))
        row = cur.fetchone()
        defs[name] = Item('VIEW', name, strip_qualifier(_text(row[1]), database, names), {
            'character_set_client': _text(row[2]), 'collation_connection': _text(row[3])})
    return [defs[n] for n in order_views(defs)]


def _trigger_items(cur, database):
    cur.execute('SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS '
                'WHERE TRIGGER_SCHEMA = %s ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, '
                'EVENT_MANIPULATION, ACTION_ORDER', (database,))
    items = []
    for name, table in cur.fetchall():
        name = _text(name)
        cur.execute('SHOW CREATE TRIGGER %s' % quote_ident(name))
        row = cur.fetchone()
        items.append(Item('TRIGGER', name, _text(row[2]), {
            'sql_mode': _text(row[1]), 'character_set_client': _text(row[3]),
            'collation_connection': _text(row[4])}, table=_text(table)))
    return items


def _event_items(cur, database):
    cur.execute('SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s '
                'ORDER BY EVENT_NAME', (database,))
    items = []
    for (name,) in cur.fetchall():
        name = _text(name)
        cur.execute('SHOW CREATE EVENT %s' % quote_ident(name))
        row = cur.fetchone()
        items.append(Item('EVENT', name, _text(row[3]), {
            'sql_mode': _text(row[1]), 'time_zone': _text(row[2]),
            'character_set_client': _text(row[4]), 'collation_connection': _text(row[5])}))
    return items


def object_items(cur, database, views):
    """Routines, views, triggers, events: in the order they are created on restore."""
    return (_routine_items(cur, database) + _view_items(cur, database, views)
            + _trigger_items(cur, database) + _event_items(cur, database))


def order_views(defs):
    """View names so that each comes after the views its definition names."""
    names = sorted(defs)
    deps = {}
    for name in names:
        body = defs[name].sql.split(' AS ', 1)[-1] if ' AS ' in defs[name].sql else defs[name].sql
        deps[name] = set(i for i in identifiers(body) if i in defs and i != name)
    ordered, done, visiting = [], set(), set()

    def visit(name):
        if name in done or name in visiting:
            return        # a cycle cannot exist between real views; keep name order then
        visiting.add(name)
        for dep in sorted(deps[name]):
            visit(dep)
        visiting.discard(name)
        done.add(name)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered
