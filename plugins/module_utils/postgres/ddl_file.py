"""pre-data.sql / post-data.sql: readable SQL that the restorer can split again.

Each item is one header comment line with its JSON metadata, then its SQL:

    -- dbbackup:item {"kind": "TABLE", "name": "public.t", "phase": 0}
    CREATE TABLE public.t (...);

Splitting relies only on header lines, never on parsing SQL.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from .ddl_model import DdlItem, PRE

HEADER = '-- dbbackup:item '
PREAMBLE = ('-- dbbackup logical dump: %s. Restore with dbbackup_restore, or with psql after\n'
            '-- SET search_path = \'\'; SET check_function_bodies = false;\n')


def write_items(writer, items, section):
    """Write items as text to a binary writer; returns the item count."""
    writer.write((PREAMBLE % ('pre-data' if section == PRE else 'post-data')).encode('utf-8'))
    n = 0
    for item in items:
        meta = {'kind': item.kind, 'name': item.name, 'phase': item.phase,
                'key': list(item.key)}
        writer.write((HEADER + json.dumps(meta, sort_keys=True) + '\n').encode('utf-8'))
        writer.write(item.sql.encode('utf-8'))
        n += 1
    return n


def read_items(reader, section):
    """Parse a file written by write_items back into DdlItems, in file order."""
    items = []
    meta = None
    lines = []

    def flush():
        if meta is not None:
            items.append(DdlItem(meta.get('key') or (), meta['kind'], meta['name'], ''.join(lines),
                                 section=section, phase=meta.get('phase', 0)))

    text = reader.read().decode('utf-8')
    for line in text.splitlines(True):
        if line.startswith(HEADER):
            flush()
            meta = json.loads(line[len(HEADER):])
            lines = []
        elif meta is not None:
            lines.append(line)
    flush()
    return items
