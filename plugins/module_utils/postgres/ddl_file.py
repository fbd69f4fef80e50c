"""pre-data.sql / post-data.sql: readable SQL that the restorer can split again.

Each item is one header comment line with its JSON metadata, then exactly
`bytes` bytes of SQL:

    -- dbbackup:item {"bytes": 31, "kind": "TABLE", "name": "public.t", "phase": 0}
    CREATE TABLE public.t (...);

The reader takes each item by its length and never scans the SQL for
headers: text users control (comments, function bodies, policies) may hold
anything, including lines that look like headers, and must never be able to
start an item of its own on restore.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ..errors import IntegrityError
from .ddl_model import DdlItem, PRE

HEADER = b'-- dbbackup:item '
PREAMBLE = ('-- dbbackup logical dump: %s. Restore with dbbackup_restore, or with psql after\n'
            '-- SET search_path = \'\'; SET check_function_bodies = false;\n')


def write_items(writer, items, section):
    """Write items as text to a binary writer; returns the item count."""
    writer.write((PREAMBLE % ('pre-data' if section == PRE else 'post-data')).encode('utf-8'))
    n = 0
    for item in items:
        sql = item.sql.encode('utf-8')
        meta = {'kind': item.kind, 'name': item.name, 'phase': item.phase,
                'key': list(item.key), 'bytes': len(sql)}
        writer.write(HEADER + json.dumps(meta, sort_keys=True).encode('utf-8') + b'\n')
        writer.write(sql)
        n += 1
    return n


def _bad(label, what):
    return IntegrityError('Schema file %s is malformed: %s.' % (label, what),
                          'The backup cannot be restored; use another backup_id.')


def read_items(reader, section, label='schema file'):
    """Parse a file written by write_items back into DdlItems, in file order."""
    data = reader.read()
    pos = 0
    while pos < len(data) and not data.startswith(HEADER, pos):   # our preamble lines
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
            sql = data[eol + 1:eol + 1 + size].decode('utf-8')
            item = DdlItem(meta.get('key') or (), meta['kind'], meta['name'], sql,
                           section=section, phase=meta.get('phase', 0))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise _bad(label, 'bad item header at byte %d (%s)' % (pos, e))
        if eol + 1 + size > len(data):
            raise _bad(label, 'item %s is truncated' % meta['name'])
        items.append(item)
        pos = eol + 1 + size
    return items
