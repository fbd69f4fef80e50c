# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tables.sql / objects.sql: the schema of a MySQL/MariaDB logical backup.

Same framing as the PostgreSQL schema files (format/item_file.py, docs/format.md):
length-prefixed items, so text users control (routine bodies, comments, view
literals) can never start an item.

The header also carries the session settings the object was created under
(sql_mode, character_set_client, collation_connection, time_zone): routines,
triggers, events and views keep them as metadata, and their bodies mean what
they meant only under the same settings. The restorer sets them first.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import IntegrityError
from ...format.item_file import read_framed, write_framed

PREAMBLE = ('-- dbbackup logical dump (MySQL/MariaDB): %s. Restore with dbbackup_restore; each item\n'
            '-- runs with the session settings in its header, in the database being restored.\n')


class Item(object):
    """One schema object: the SQL that creates it and the session it needs."""

    __slots__ = ('kind', 'name', 'sql', 'session', 'table')

    def __init__(self, kind, name, sql, session=None, table=None):
        self.kind = kind
        self.name = name
        self.sql = sql
        self.session = dict(session or {})
        self.table = table

    def __repr__(self):
        return 'Item(%r, %r)' % (self.kind, self.name)


def write_items(writer, items, label):
    records = []
    for item in items:
        meta = {'kind': item.kind, 'name': item.name}
        if item.session:
            meta['session'] = item.session
        if item.table:
            meta['table'] = item.table
        records.append((meta, item.sql.rstrip().rstrip(';') + ';\n'))
    return write_framed(writer, PREAMBLE % label, records)


def read_items(reader, label='schema file'):
    """Items of a file written by write_items, in file order."""
    items = []
    for meta, sql in read_framed(reader, label):
        try:
            items.append(Item(meta['kind'], meta['name'], sql, meta.get('session'), meta.get('table')))
        except KeyError as e:
            raise IntegrityError('Schema file %s has an item without %s.' % (label, e),
                                 'The backup cannot be restored; use another backup_id.')
    return items
