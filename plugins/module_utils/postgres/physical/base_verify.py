# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integrity checks of a stored base backup (kind=base), for operations/verify.py.

quick: every stored file's size and SHA-256 (no key needed);
deep:  decrypt and decompress each tar and walk it (streaming): regular files and
       directories only, safe names, the recorded number of files (`members`) and file
       bytes (`data_bytes`), the recorded decompressed size; backup_label parses and
       names the recorded start LSN, WAL file and timeline; tablespace_map names the
       stored tablespaces.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import tarfile

from ...common.errors import DbBackupError, IntegrityError
from ...stream.pipeline import BUFFER_SIZE, StoredFile, verify_stored_file
from .base_backup import parse_label
from .base_restore import MAX_TEXT, check_member, parse_tablespace_map
from .wal_names import parse_lsn


class _Counting(object):
    def __init__(self, source):
        self.source = source
        self.count = 0

    def read(self, n=-1):
        data = self.source.read(n)
        self.count += len(data)
        return data


def _drain(reader):
    """Bytes left in reader, read in pieces."""
    size = 0
    while True:
        piece = reader.read(BUFFER_SIZE)
        if not piece:
            return size
        size += len(piece)


def _walk_tar(stored, entry):
    """Problems of one stored tar of a base backup, and its (files, file bytes)."""
    counting = _Counting(stored.reader)
    files = size = 0
    try:
        tar = tarfile.open(fileobj=counting, mode='r|', bufsize=BUFFER_SIZE)
        for member in tar:
            check_member(member, entry['path'])
            if member.isreg():
                files += 1
                size += member.size
        tar.close()
    except tarfile.TarError as e:
        raise IntegrityError('Backup file %s is not a valid tar archive (%s).' % (entry['path'], e),
                             'It is corrupted or truncated; use another backup.')
    while counting.read(BUFFER_SIZE):      # the zero blocks after the end-of-archive marker
        pass
    stored.finish()
    problems = []
    if files != entry.get('members', files):
        problems.append('holds %d files, the manifest recorded %d' % (files, entry['members']))
    if size != entry.get('data_bytes', size):
        problems.append('holds %d bytes of file data, the manifest recorded %d' % (size, entry['data_bytes']))
    if counting.count != entry['raw_bytes']:
        problems.append('holds %d bytes after decompression, the manifest recorded %d'
                        % (counting.count, entry['raw_bytes']))
    return problems, files, size


def _label_problems(manifest, text):
    fields = parse_label(text)
    location, sep, rest = fields.get('START WAL LOCATION', '').partition(' (file ')
    wal_file = rest[:-1] if rest.endswith(')') else None
    problems = []
    try:
        same = sep and wal_file and parse_lsn(location) == parse_lsn(str(manifest.get('start_lsn')))
    except (DbBackupError, ValueError, TypeError):
        same = False
    if not same:
        problems.append('names the start WAL location %r, the manifest recorded %s'
                        % (fields.get('START WAL LOCATION'), manifest.get('start_lsn')))
    elif wal_file != manifest.get('start_wal_file'):
        problems.append('names the start WAL file %s, the manifest recorded %s'
                        % (wal_file, manifest.get('start_wal_file')))
    timeline = fields.get('START TIMELINE')
    if timeline is not None and (not timeline.isdigit() or int(timeline) != manifest.get('timeline')):
        problems.append('names timeline %s, the manifest recorded %s' % (timeline, manifest.get('timeline')))
    return problems


def _deep(repo, path, manifest, entry, data_key, counts):
    stored = StoredFile(repo, path, entry, manifest['compression']['algorithm'], data_key)
    try:
        if entry['role'] in ('base', 'tablespace'):
            problems, files, size = _walk_tar(stored, entry)
            counts['members'] += files
            counts['data_bytes'] += size
            return problems
        data = stored.reader.read(MAX_TEXT + 1)
        rest = _drain(stored.reader)
        stored.finish()
        if len(data) + rest != entry['raw_bytes']:
            return ['holds %d bytes after decompression, the manifest recorded %d'
                    % (len(data) + rest, entry['raw_bytes'])]
        if entry['role'] not in ('backup_label', 'tablespace_map'):
            return []
        if rest:
            return ['is larger than a %s can be' % entry['role']]
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError:
            return ['is not text']
        if entry['role'] == 'backup_label':
            return _label_problems(manifest, text)
        mapped = set(oid for oid, location in parse_tablespace_map(text))
        stored_oids = set(int(f['oid']) for f in manifest['files'] if f['role'] == 'tablespace')
        if mapped != stored_oids:
            return ['names tablespaces %s, the backup stores %s' % (sorted(mapped), sorted(stored_oids))]
        return []
    finally:
        stored.close()


def check_base_backup(repo, path, manifest, mode, data_key):
    """(problems, counts) of one base backup; counts ({'members', 'data_bytes'}) are None unless deep."""
    problems = []
    counts = {'members': 0, 'data_bytes': 0}
    roles = [f['role'] for f in manifest['files']]
    if roles.count('base') != 1 or roles.count('backup_label') != 1:
        problems.append('the manifest lists %d base tar(s) and %d backup_label(s), not one of each'
                        % (roles.count('base'), roles.count('backup_label')))
    spaces = set(int(t['oid']) for t in manifest.get('tablespaces') or [])
    stored_spaces = set(int(f['oid']) for f in manifest['files'] if f['role'] == 'tablespace')
    if spaces != stored_spaces:
        problems.append('the manifest records tablespaces %s but stores %s' % (sorted(spaces), sorted(stored_spaces)))
    if stored_spaces and 'tablespace_map' not in roles:
        problems.append('the manifest lists tablespace tars but no tablespace_map')
    for entry in manifest['files']:
        try:
            if mode == 'deep':
                problems.extend('%s %s' % (entry['path'], p)
                                for p in _deep(repo, path, manifest, entry, data_key, counts))
            else:
                verify_stored_file(repo, path + '/' + entry['path'], entry['sha256'], entry['stored_bytes'])
        except DbBackupError as e:
            problems.append(str(e))
    return problems, (counts if mode == 'deep' else None)
