# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The data key of a server's continuous archive (PostgreSQL WAL, MySQL/MariaDB binlogs).

One random data key per server and archive kind, stored only wrapped by the
key-encryption key (keys.py, as a backup's data key) in a small JSON document:

    <server>/wal/wal-key.json         kind 'wal'    (postgres/physical/wal_archive.py)
    <server>/binlog/binlog-key.json   kind 'binlog' (mysql/binlog/archive.py)

The wrapped key is bound (keys.backup_identity) to the kind and the server
name, so a key file copied into another archive does not open. The first
encrypted push creates it with a create-if-absent write and then re-reads
what is stored, so racing first pushes agree on one key. It is never
overwritten except by a rekey (operations/rekey.py), which rewraps it with a new KEK;
archived files never change.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ..common.errors import DbBackupError, IntegrityError, NotFound, WrongKey
from ..common.times import isoformat, utcnow
from .backups import safe_name
from .keys import encryption_field, key_matches, new_data_key, rewrap, unwrap_data_key

FORMAT_VERSION = 1
# kind -> (key file name, document format, db_type, label for messages)
KINDS = {
    'wal': ('wal-key.json', 'dbbackup-wal-key', 'postgresql', 'WAL archive'),
    'binlog': ('binlog-key.json', 'dbbackup-binlog-key', 'mysql', 'binlog archive'),
}


def _kind(kind):
    if kind not in KINDS:
        raise ValueError('unknown archive kind %r' % (kind,))
    return KINDS[kind]


def key_name(kind):
    return _kind(kind)[0]


def key_path(kind, server_name):
    """<server>/<kind>/<kind>-key.json."""
    return '%s/%s/%s' % (safe_name(server_name, 'server_name'), kind, key_name(kind))


def key_identity(kind, server_name):
    """The manifest-like document the wrapped key is bound to (keys.backup_identity)."""
    name, fmt, db_type = _kind(kind)[:3]
    return {'format': fmt, 'format_version': FORMAT_VERSION, 'kind': kind, 'db_type': db_type,
            'server_name': server_name, 'database': None, 'backup_id': name[:-len('.json')]}


def read_key_doc(repo, kind, server_name):
    """The parsed key document, or None when the archive has none."""
    name, fmt, label = _kind(kind)[0], _kind(kind)[1], _kind(kind)[3]
    path = key_path(kind, server_name)
    try:
        data = repo.read_bytes(path)
    except NotFound:
        return None
    where = repo.location(path)
    try:
        doc = json.loads(data.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError('%s is not valid JSON.' % where,
                             'It was damaged; restore it from a copy (without it the encrypted files of the %s '
                             'cannot be read).' % label)
    if not isinstance(doc, dict) or doc.get('format') != fmt or not isinstance(doc.get('encryption'), dict):
        raise IntegrityError('%s is not a dbbackup %s key file.' % (where, label.split()[0]),
                             'Restore it from a copy; never replace it (the %s is encrypted with its key).'
                             % label)
    if doc.get('server_name') != server_name or doc.get('kind') != kind:
        raise IntegrityError('%s belongs to server %r, not %r.' % (where, doc.get('server_name'), server_name),
                             'It was copied from another archive; restore the right file (%s).' % name)
    return doc


def unwrap_key(kind, source, doc, where):
    """The data key from a key document; WrongKey naming the archive when the KEK does not fit."""
    label = _kind(kind)[3]
    try:
        return unwrap_data_key(source, doc)
    except WrongKey as e:
        raise WrongKey('The key from %s is not the key the %s %s is encrypted with (key id %s).'
                       % (source.what, label, where, (doc.get('encryption') or {}).get('kek_id')),
                       'Give the key (or passphrase) of this archive, or of its last rekey; nothing was written.'
                       if 'passphrase' not in e.message else e.hint)


def data_key(repo, kind, server_name, source, create=False):
    """The archive's data key (bytes); created and stored when create and none exists.

    Raises WrongKey when source is not the archive's KEK, NotFound when the
    archive has no key and create is False.
    """
    name, label = _kind(kind)[0], _kind(kind)[3]
    path = key_path(kind, server_name)
    where = repo.location(path)
    doc = read_key_doc(repo, kind, server_name)
    if doc is None:
        if not create:
            raise NotFound('The %s has no key file %s, so its encrypted files cannot be read.' % (label, where),
                           'Restore %s from a copy of the repository.' % name)
        key = new_data_key()
        new = key_identity(kind, server_name)
        new['created_at'] = isoformat(utcnow())
        new['encryption'] = encryption_field(source, key, new)
        repo.write_bytes(path, (json.dumps(new, indent=1, sort_keys=True) + '\n').encode(), if_absent=True)
        # whoever won a race of first pushes: use what is stored
        doc = read_key_doc(repo, kind, server_name)
        if doc is None:
            raise DbBackupError('The key file %s vanished right after it was written.' % where)
    return unwrap_key(kind, source, doc, where)


# --- rotation (operations/rekey.py) ----------------------------------------------------------------

def rekey_plan(repo, kind, server_name, old, new):
    """(key document, new encryption field or None, action) for the archive's key file, or None.

    Raises WrongKey / IntegrityError before anything is written.
    """
    doc = read_key_doc(repo, kind, server_name)
    if doc is None:
        return None
    where = repo.location(key_path(kind, server_name))
    if key_matches(new, doc):
        unwrap_key(kind, new, doc, where)     # proves the document intact too
        return doc, None, 'unchanged'
    unwrap_key(kind, old, doc, where)         # a clear WrongKey before anything is written
    return doc, rewrap(old, new, doc), 'rekeyed'


def write_key_doc(repo, kind, server_name, doc):
    """Replace the key document (rekey only: the data key inside stays the same)."""
    repo.write_bytes(key_path(kind, server_name), (json.dumps(doc, indent=1, sort_keys=True) + '\n').encode('utf-8'))
