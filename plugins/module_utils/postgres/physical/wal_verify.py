# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check every file of a server's WAL archive (dbbackup_pitr state=status verify=quick|deep, pitr-status --verify).

- quick: reads each object and compares its size and the SHA-256 of header + payload with the
  checksum record it carries (format/archive_object.py); no key and no decompression needed.
  Objects pushed before that record existed ('legacy') cannot be checked this way and are
  counted as such.
- deep: decrypts (the WAL key), decompresses and checks everything wal-fetch checks: identity,
  authentication, raw size and SHA-256, and for segments the page headers against the name
  (segment number, timeline, magic); the system identifier in each segment's first page must
  be the base backups' (a segment of another cluster would end a recovery silently).

Objects are read in parallel (jobs threads); memory stays bounded by the read buffers.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import concurrent.futures

from ...common.errors import DbBackupError
from ...format.backups import wal_path
from ...format.keys import key_source
from . import wal_codec
from .wal_archive import parse_stored_name, wal_data_key

MODES = ('none', 'quick', 'deep')


def _objects(repo, server, archive):
    """[(wal name, relpath, compression, encrypted)] of every stored object listed in archive."""
    base = wal_path(server)
    out = []
    for tli in sorted(archive):
        directory = '%s/%08X' % (base, tli)
        for entry in repo.list_dir(directory):
            if entry.startswith('.'):
                continue
            parsed = parse_stored_name(entry)
            if parsed is not None:
                out.append((parsed[0], '%s/%s' % (directory, entry), parsed[1], parsed[2]))
    return out


def _check_one(repo, server, obj, mode, key, sysids):
    name, relpath, comp, enc = obj
    label = repo.location(relpath)
    opened = wal_codec.open_stored(repo.open_read(relpath), label)
    try:
        if mode == 'quick':
            return wal_codec.check_stored(opened, {'server': server, 'name': name})
        decoded = wal_codec.decode(opened, {'server': server, 'name': name, 'compression': comp, 'encrypted': enc},
                                   None, lambda data: None, label, key)
    finally:
        opened.close()
    if decoded.sysid is not None and sysids and str(decoded.sysid) not in sysids:
        raise DbBackupError('Archived WAL file %s belongs to database system %s, not to the base backups\' (%s): '
                            'another server archives under this server_name.'
                            % (label, decoded.sysid, ', '.join(sorted(sysids))))
    return decoded.format


def verify_archive(repo, p, archive, mode, system_identifiers=(), jobs=2):
    """Check every object of the listed archive ({tli: [names]}, wal_chain.list_archive).

    Returns {'mode', 'objects', 'checked', 'legacy', 'damaged': [{'wal_name', 'location', 'error'}], 'ok'};
    deep without a key for an encrypted archive raises BadInput from the key lookup.
    """
    if mode not in MODES:
        from ...common.errors import BadInput
        raise BadInput('verify must be one of %s, got %r.' % (', '.join(MODES), mode))
    server = p['server_name']
    objects = _objects(repo, server, archive)
    result = {'mode': mode, 'objects': len(objects), 'checked': 0, 'legacy': 0, 'damaged': [], 'ok': True}
    if mode == 'none' or not objects:
        return result
    source = key_source(p)
    cache = {}

    def key():
        if 'key' not in cache:
            if source is None:
                from ...common.errors import BadInput
                raise BadInput('verify=deep of an encrypted WAL archive needs its key.',
                               'Give encryption_key_file (or another key option), or use verify=quick.')
            cache['key'] = wal_data_key(repo, server, source)
        return cache['key']

    if mode == 'deep' and any(o[3] for o in objects):
        key()       # one clear error (no key, wrong key) instead of one per file
    sysids = set(str(s) for s in system_identifiers if s)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(jobs or 1))) as pool:
        futures = [(o, pool.submit(_check_one, repo, server, o, mode, key, sysids)) for o in objects]
        for obj, fut in futures:
            try:
                kind = fut.result()
            except DbBackupError as e:
                result['damaged'].append({'wal_name': obj[0], 'location': repo.location(obj[1]),
                                          'error': ' '.join(e.message.split())})
                continue
            if kind == 'legacy' and mode == 'quick':
                result['legacy'] += 1       # no checksum record: only deep can check it
            else:
                result['checked'] += 1
    result['damaged'].sort(key=lambda d: d['wal_name'])
    result['ok'] = not result['damaged']
    return result


def usable_archive(archive, verification):
    """archive ({tli: [names]}) without the files verification found damaged."""
    bad = set(d['wal_name'] for d in verification['damaged'])
    return dict((tli, [n for n in names if n not in bad]) for tli, names in archive.items())
