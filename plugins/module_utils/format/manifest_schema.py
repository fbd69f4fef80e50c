# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shape every manifest must have before any of it is used.

Listing, info, verify, prune and restore read the fields below without further
checks, so a manifest with a field of the wrong type (files: 5, totals: {}, a
numeric path, a null sha256, a backup_id that is a path) is invalid as a whole:
problems() names what is wrong, and the readers report that backup as invalid
while the others keep working. Fields not listed here are optional metadata.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ..common.times import parse_iso

KINDS = ('logical', 'base', 'cluster')
DB_TYPES = ('postgresql', 'mysql')
ALGORITHMS = ('zstd', 'gzip', 'none')
ID_RE = re.compile(r'^\d{8}T\d{6}Z(-\d+)?\Z')
SHA256_RE = re.compile(r'^[0-9a-f]{64}\Z')
STR, INT, NUM, DICT, LIST = 'text', 'integer', 'number', 'object', 'list'

TOP = (('format_version', INT, True), ('kind', STR, True), ('db_type', STR, True), ('backup_id', STR, True),
       ('server_name', STR, True), ('database', STR, False), ('started_at', STR, True),
       ('finished_at', STR, True), ('compression', DICT, True), ('files', LIST, True), ('totals', DICT, True),
       ('encryption', DICT, False), ('duration_seconds', NUM, False), ('server_version', STR, False),
       ('server_version_num', INT, False), ('consistent_position', DICT, False), ('database_info', DICT, False))
TOTALS = (('stored_bytes', INT, True), ('raw_bytes', INT, True), ('files', INT, False), ('tables', INT, False),
          ('rows', INT, False), ('large_objects', INT, False))
TOTALS_OF_DATABASES = ('tables', 'rows')          # logical and cluster backups report them
FILE = (('path', STR, True), ('role', STR, True), ('raw_bytes', INT, True), ('stored_bytes', INT, True),
        ('sha256', STR, True), ('rows', INT, False), ('table', STR, False), ('schema', STR, False),
        ('name', STR, False), ('columns', LIST, False), ('oid', INT, False), ('chunk', INT, False),
        ('chunks', INT, False), ('items', INT, False), ('count', INT, False))
KIND_FIELDS = {
    'base': (('start_lsn', STR, False), ('stop_lsn', STR, False), ('timeline', INT, False),
             ('wal_segment_size', INT, False), ('start_wal_file', STR, False), ('stop_wal_file', STR, False),
             ('tablespaces', LIST, False), ('tablespace_dir', STR, False)),
    'cluster': (('databases', LIST, False), ('members', DICT, False), ('globals', DICT, False)),
}
TABLESPACE = (('oid', INT, True), ('location', STR, True), ('path', STR, False))


def _is(value, kind):
    if kind == STR:
        return isinstance(value, str)
    if kind in (INT, NUM):
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind == NUM else int):
            return False
        return value >= 0
    return isinstance(value, dict if kind == DICT else list)


def _fields(obj, spec, label, out):
    prefix = label + '.' if label else ''
    for key, kind, required in spec:
        if key not in obj or (obj[key] is None and not required):
            if required:
                out.append('%s%s is missing' % (prefix, key))
            continue
        if not _is(obj[key], kind):
            out.append('%s%s is not a%s %s: %s' % (prefix, key, 'n' if kind in (INT, DICT) else '', kind,
                                                   _short(obj[key])))


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def safe_relpath(path):
    """True for a relative path of plain components: nothing that could leave the backup directory."""
    parts = path.split('/')
    return bool(path) and '\0' not in path and '\\' not in path and \
        all(p not in ('', '.', '..') for p in parts)


def problems(m):
    """What is wrong with manifest m ([] when it is valid)."""
    out = []
    _fields(m, TOP, '', out)
    if out:
        return out
    if m['kind'] not in KINDS:
        out.append('kind %r is not one of %s' % (m['kind'], ', '.join(KINDS)))
    if m['db_type'] not in DB_TYPES:
        out.append('db_type %r is not one of %s' % (m['db_type'], ', '.join(DB_TYPES)))
    if not ID_RE.match(m['backup_id']):
        out.append('backup_id %s is not an id like 20260101T000000Z' % _short(m['backup_id']))
    if m['kind'] == 'logical' and not isinstance(m.get('database'), str):
        out.append('database is missing (a logical backup names it)')
    for key in ('started_at', 'finished_at'):
        try:
            parse_iso(m[key])
        except ValueError:
            out.append('%s %s is not a time like 2026-01-31T12:00:00.000000Z' % (key, _short(m[key])))
    if m['compression'].get('algorithm') not in ALGORITHMS:
        out.append('compression.algorithm %r is not one of %s' % (m['compression'].get('algorithm'),
                                                                  ', '.join(ALGORITHMS)))
    _fields(m['totals'], TOTALS, 'totals', out)
    if m['kind'] != 'base':
        out.extend('totals.%s is missing' % k for k in TOTALS_OF_DATABASES if k not in m['totals'])
    for n, entry in enumerate(m['files']):
        label = 'files[%d]' % n
        if not isinstance(entry, dict):
            out.append('%s is not an object' % label)
            continue
        before = len(out)
        _fields(entry, FILE, label, out)
        if len(out) == before:
            if not safe_relpath(entry['path']):
                out.append('%s.path %s is not a plain relative path' % (label, _short(entry['path'])))
            if not SHA256_RE.match(entry['sha256']):
                out.append('%s.sha256 is not 64 hex digits' % label)
            if 'columns' in entry and not all(isinstance(c, str) for c in entry['columns']):
                out.append('%s.columns holds something that is not a name' % label)
    _fields(m, KIND_FIELDS.get(m['kind'], ()), '', out)
    if m['kind'] == 'base' and isinstance(m.get('tablespaces'), list):
        for n, ts in enumerate(m['tablespaces']):
            if not isinstance(ts, dict):
                out.append('tablespaces[%d] is not an object' % n)
            else:
                _fields(ts, TABLESPACE, 'tablespaces[%d]' % n, out)
    if m['kind'] == 'cluster':
        if not all(isinstance(d, str) and safe_relpath(d) for d in m.get('databases') or ()):
            out.append('databases holds something that is not a database name')
        if not all(isinstance(v, dict) for v in (m.get('members') or {}).values()):
            out.append('members holds something that is not an object')
    return out
