"""tables.sql / objects.sql: the schema of a MySQL/MariaDB logical backup.

Same framing as the PostgreSQL schema files (docs/format.md): each item is one
header comment line with JSON metadata, then exactly `bytes` bytes of SQL. The
reader takes items by length and never scans SQL for headers, so text users
control (routine bodies, comments, view literals) cannot start an item.

The header also carries the session settings the object was created under
(sql_mode, character_set_client, collation_connection, time_zone): routines,
triggers, events and views keep them as metadata, and their bodies mean what
they meant only under the same settings. The restorer sets them first.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ..errors import IntegrityError

HEADER = b'-- dbbackup:item '
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
    writer.write((PREAMBLE % label).encode('utf-8'))
    for item in items:
        sql = item.sql.rstrip().rstrip(';') + ';\n'
        data = sql.encode('utf-8')
        meta = {'kind': item.kind, 'name': item.name, 'bytes': len(data)}
        if item.session:
            meta['session'] = item.session
        if item.table:
            meta['table'] = item.table
        writer.write(HEADER + json.dumps(meta, sort_keys=True).encode('utf-8') + b'\n')
        writer.write(data)
    return len(items)


def _bad(label, what):
    return IntegrityError('Schema file %s is malformed: %s.' % (label, what),
                          'The backup cannot be restored; use another backup_id.')


def read_items(reader, label='schema file'):
    """Items of a file written by write_items, in file order."""
    data = reader.read()
    pos = 0
    while pos < len(data) and not data.startswith(HEADER, pos):
        if not data.startswith(b'-- ', pos):
            raise _bad(label, 'unexpected text before the first item')
        pos = data.find(b'\n', pos) + 1 or len(data)
    items = []
    while pos < len(data):
        if not data.startswith(HEADER, pos):
            raise _bad(label, 'expected an item header at byte %d' % pos)
        eol = data.find(b'\n', pos)
        if eol < 0:
            raise _bad(label, 'truncated item header')
        try:
            meta = json.loads(data[pos + len(HEADER):eol].decode('utf-8'))
            size = int(meta['bytes'])
            if eol + 1 + size > len(data):
                raise _bad(label, 'item %s is truncated' % meta.get('name'))
            sql = data[eol + 1:eol + 1 + size].decode('utf-8')
            items.append(Item(meta['kind'], meta['name'], sql, meta.get('session'), meta.get('table')))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise _bad(label, 'bad item header at byte %d (%s)' % (pos, e))
        pos = eol + 1 + size
    return items
