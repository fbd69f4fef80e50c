# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The framing of schema files (pre-data.sql, tables.sql, ...): readable SQL, split by length.

After a preamble of '-- ' comment lines, each item is one header comment line
with its JSON metadata, then exactly meta['bytes'] bytes of UTF-8 SQL:

    -- dbbackup:item {"bytes": 31, "kind": "TABLE", "name": "public.t", ...}
    CREATE TABLE public.t (...);

The reader takes each item by its length and never scans the SQL for
headers: text users control (comments, function bodies, policies, view
literals) may hold anything, including lines that look like headers, and
must never be able to start an item of its own on restore.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ..common.errors import IntegrityError

HEADER = b'-- dbbackup:item '


def write_framed(writer, preamble, records):
    """Write the preamble, then (meta, sql) records; meta gets 'bytes'. Returns the count."""
    writer.write(preamble.encode('utf-8'))
    n = 0
    for meta, sql in records:
        data = sql.encode('utf-8')
        meta = dict(meta, bytes=len(data))
        writer.write(HEADER + json.dumps(meta, sort_keys=True).encode('utf-8') + b'\n')
        writer.write(data)
        n += 1
    return n


def _bad(label, what):
    return IntegrityError('Schema file %s is malformed: %s.' % (label, what),
                          'The backup cannot be restored; use another backup_id.')


def read_framed(reader, label):
    """[(meta, sql)] of a file written by write_framed, in file order."""
    data = reader.read()
    pos = 0
    while pos < len(data) and not data.startswith(HEADER, pos):   # the preamble
        if not data.startswith(b'-- ', pos):
            raise _bad(label, 'unexpected text before the first item')
        pos = data.find(b'\n', pos) + 1 or len(data)
    records = []
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
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise _bad(label, 'bad item header at byte %d (%s)' % (pos, e))
        if eol + 1 + size > len(data):
            raise _bad(label, 'item %s is truncated' % meta.get('name'))
        records.append((meta, sql))
        pos = eol + 1 + size
    return records
