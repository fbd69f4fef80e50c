# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The object inventory: every object of a database with a digest of its definition.

A backup reads it inside its snapshot and stores it in the manifest; every object
must be claimed by a dump item (else the backup fails naming it, or records it as
unsupported when asked to). A restore reads the inventory of the restored copy
before renaming it into place and compares: an object missing, different or not
in the source fails the restore. dbbackup_verify restored_database does the same
on a live copy. The queries are in inventory_sql.py; this is what is done with them.

Manifest form ("inventory"): {"version": 1, "digest": "sha256-128", "count": n,
"objects": {type: {identity: digest}}}, digest being the first 32 hex digits of the
SHA-256 of the object's definition (canonical JSON text from the server).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib

from ....common.errors import name_some
from .inventory_sql import queries

VERSION = 1
DIGEST = 'sha256-128'


class Entry(object):
    """One object: type and identity (pg_identify_object), digest, claims (item keys), and the
    'kind' of its definition where it has one (relkind, contype, ...)."""

    __slots__ = ('type', 'identity', 'digest', 'claims', 'kind')

    def __init__(self, type_, identity, digest, claims, kind=None):
        self.type = type_
        self.identity = identity
        self.digest = digest
        self.claims = claims
        self.kind = kind

    @property
    def label(self):
        return ('%s %s' % (self.type, self.identity)).strip()


def _claim(text):
    cat, dummy, oid = text.partition(':')
    return (cat, int(oid)) if oid.isdigit() else (cat, oid)


def read_inventory(cur, version_num):
    """Every object of the database cur is connected to, as Entry objects."""
    found, digests = {}, {}
    for label, sql in queries(version_num):
        cur.execute("SELECT q.type, q.identity, q.def::text, q.claims, q.def ->> 'kind' FROM (%s) q" % sql)
        for type_, identity, definition, claims, kind in cur.fetchall():
            key = (type_, identity)
            digests.setdefault(key, []).append(_digest(definition or ''))
            entry = found.setdefault(key, Entry(type_, identity, None, [], kind))
            entry.claims.extend(_claim(c) for c in (claims or ()) if c and not c.endswith(':0')
                                or c == 'unsupported:0')
    for key, entry in found.items():
        # objects sharing one identity (not expected, but possible) get one digest over all, in any order
        entry.digest = digests[key][0] if len(digests[key]) == 1 else _digest(''.join(sorted(digests[key])))
    return [found[k] for k in sorted(found)]


def database_entry_digest(cur, name_literal):
    """The digest of the database's own entry (settings, ACL, comment) for the database named by the SQL
    literal name_literal, read from any session of the server; None when there is no such database."""
    from .inventory_sql import database_itself_sql
    cur.execute('SELECT q.def::text FROM (%s) q' % database_itself_sql(name_literal))
    row = cur.fetchone()
    return None if row is None else _digest(row[0] or '')


def _digest(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:32]


def manifest_form(entries):
    """The manifest's "inventory" value for entries."""
    objects = {}
    for e in entries:
        objects.setdefault(e.type, {})[e.identity] = e.digest
    return {'version': VERSION, 'digest': DIGEST, 'count': len(entries), 'objects': objects}


def uncovered(entries, items):
    """[(entry, reason)] of entries no dump item creates, or not exactly (DdlItem.lossy).

    Claims are matched on (catalog, oid) of item keys. An entry with no claims comes
    with every database (the public schema, the database's own properties) and is
    always covered.
    """
    keys = set(tuple(i.key[:2]) for i in items)
    lossy = {}
    for item in items:
        lossy.update(item.lossy)
    out = []
    for e in entries:
        if e.claims and not any(c in keys for c in e.claims):
            out.append((e, None))
        elif (e.type, e.identity) in lossy:
            out.append((e, lossy[(e.type, e.identity)]))
    return out


def _flat(form):
    out = {}
    for type_, objects in (form or {}).get('objects', {}).items():
        for identity, digest in objects.items():
            out[(type_, identity)] = digest
    return out


def compare(expected_form, entries, definitions=True, skip=(), implicit=()):
    """{'missing': [...], 'different': [...], 'unexpected': [...]} labels (empty lists when equal).

    expected_form is the manifest's inventory; entries the live database's. With
    definitions False only presence is compared (a restore onto another major
    version renders definitions differently). skip: (type, identity) pairs the
    backup recorded as unsupported, not expected in the copy. implicit: (type, kind)
    of objects the live server creates on its own for DDL that an older source
    recorded otherwise (Capabilities.catalogued_flags): not unexpected.
    """
    expected = _flat(expected_form)
    skip = set(tuple(s) for s in skip)
    implicit = set(tuple(i) for i in implicit)
    actual = dict(((e.type, e.identity), e.digest) for e in entries)
    skip.update((e.type, e.identity) for e in entries if (e.type, e.kind) in implicit and
                (e.type, e.identity) not in expected)
    missing = sorted(k for k in expected if k not in actual and k not in skip)
    unexpected = sorted(k for k in actual if k not in expected and k not in skip)
    different = sorted(k for k in expected if k in actual and definitions and actual[k] != expected[k]
                       and k not in skip)
    return {'missing': [_label(k) for k in missing], 'different': [_label(k) for k in different],
            'unexpected': [_label(k) for k in unexpected]}


def _label(key):
    return ('%s %s' % key).strip()


def describe(diff):
    """One sentence per non-empty list of a compare() result."""
    parts = []
    for key, text in (('missing', 'missing'), ('different', 'with another definition'),
                      ('unexpected', 'not in the backup')):
        if diff[key]:
            parts.append('%d %s: %s' % (len(diff[key]), text, name_some(diff[key])))
    return '; '.join(parts)
