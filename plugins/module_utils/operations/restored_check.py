# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prove a restored database against the backup's manifest: rows per table, and objects.

Restore already checks the rows each COPY/LOAD loaded and (PostgreSQL) every object
against the backup's inventory; this check is independent of the restore run: it
counts the rows of every table the manifest lists in a live database (a DR-drill
copy, or the database itself after a restore) and compares them with the rows the
backup recorded, and for PostgreSQL compares the database's objects with the
inventory (postgres/logical/restored_inventory.py). Tables or objects missing in
the database count as problems too.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput, DbBackupError, name_some


def expected_rows(manifest):
    """{(schema, table): rows} summed over the data files (chunks/pieces) of the manifest.

    Partitions restored through a partitioned table (load_via: hash partitions on an enum,
    whose rows may land in another partition) count under that table, with all its partitions.
    """
    expected = {}
    for entry in manifest['files']:
        if entry.get('role') != 'data':
            continue
        key = tuple(entry['load_via']) if entry.get('load_via') else (entry.get('schema'), entry.get('name'))
        expected[key] = expected.get(key, 0) + int(entry.get('rows') or 0)
    return expected


def _pg_counts(p, database, tables):
    from ..postgres.connection import connect
    conn = connect(p, dbname=database, autocommit=True)
    try:
        cur = conn.cursor()
        counts = {}
        for schema, name in tables:
            cur.execute('SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace '
                        'WHERE n.nspname = %s AND c.relname = %s', (schema, name))
            row = cur.fetchone()
            if row is None:
                counts[(schema, name)] = None
                continue
            only = '' if row[0] == 'p' else 'ONLY '   # a partitioned table counts with its partitions
            cur.execute('SELECT count(*) FROM %s%s.%s' % (only, _pg_ident(schema), _pg_ident(name)))
            counts[(schema, name)] = cur.fetchone()[0]
        return counts
    finally:
        conn.close()


def _pg_ident(name):
    return '"%s"' % name.replace('"', '""')


def _mysql_counts(p, database, tables):
    from ..mysql.connection import connect
    conn = connect(p, database)
    try:
        cur = conn.cursor()
        counts = {}
        for schema, name in tables:
            cur.execute('SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s',
                        (database, name))
            if not cur.fetchone()[0]:
                counts[(schema, name)] = None
                continue
            cur.execute('SELECT COUNT(*) FROM `%s`.`%s`' % (database.replace('`', '``'), name.replace('`', '``')))
            counts[(schema, name)] = cur.fetchone()[0]
        return counts
    finally:
        conn.close()


def check_restored(p, manifest, database):
    """A JSON-clean report comparing live row counts of `database` with the manifest."""
    if not database:
        raise BadInput('restored_database is empty.')
    expected = expected_rows(manifest)
    try:
        if manifest.get('db_type', 'postgresql') == 'mysql':
            counts = _mysql_counts(p, database, sorted(expected))
        else:
            counts = _pg_counts(p, database, sorted(expected))
        inventory, diff = _pg_inventory(p, manifest, database)
    except DbBackupError as e:
        return {'database': database, 'ok': False, 'problems': [str(e)], 'tables': 0, 'rows': 0}
    problems = []
    for key in sorted(expected):
        label = '%s.%s' % key
        if counts[key] is None:
            problems.append('table %s is missing in %s' % (label, database))
        elif counts[key] != expected[key]:
            problems.append('table %s holds %d rows in %s, the backup recorded %d'
                            % (label, counts[key], database, expected[key]))
    for key, text in (('missing', 'missing in %s' % database), ('different', 'with another definition'),
                      ('unexpected', 'in %s but not in the backup' % database)):
        if diff and diff[key]:
            problems.append('%d object(s) %s: %s' % (len(diff[key]), text, name_some(diff[key])))
    result = {'database': database, 'ok': not problems, 'problems': problems, 'tables': len(expected),
              'rows': sum(c for c in counts.values() if c is not None)}
    if inventory is not None:
        result['inventory'] = inventory
    return result


def _pg_inventory(p, manifest, database):
    """(report, differences) of the inventory comparison; (None, None) for MySQL/MariaDB."""
    if manifest.get('db_type', 'postgresql') == 'mysql':
        return None, None
    from ..postgres.logical.restored_inventory import inventory_report
    return inventory_report(p, database, manifest)
