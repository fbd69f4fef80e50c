# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup manifest: the one file that makes a backup exist.

It is written last and atomically; a backup directory without a valid
manifest is incomplete and is never listed, restored or counted. It records
what a restore and an integrity check need, never a key or password.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ..common.errors import BackupFailed, BadInput, IntegrityError, name_some
from ..storage.base import MANIFEST_NAME   # fixed by the storage layer, which keeps it readable
from .manifest_schema import problems

FORMAT = 'dbbackup-manifest'
FORMAT_VERSION = 1       # what a new manifest says, unless its backup needs more (below)
# The newest format this engine reads. 2: a logical PostgreSQL backup with postponed schema
# items (post-data phase 12, postgres/logical/schema/postpone.py), which older engines skip.
# 3: a logical MySQL backup with FLOAT/DOUBLE values stored as IEEE 754 bits (mysql/logical/data.py),
# which older engines would load as numbers made of the hex digits.
READABLE_VERSION = 3
POSTPONED_ITEMS_VERSION = 2
FLOAT_BITS_VERSION = 3
ENGINE_VERSION = '1.0.0'   # the collection's version (galaxy.yml; tests/unit/test_release.py)
MAX_BYTES = 256 << 20          # a manifest of a million files is about 300 MB; beyond: not ours


def new_manifest(kind, db_type, backup_id, server_name, database):
    return {
        'format': FORMAT,
        'format_version': FORMAT_VERSION,
        'engine': {'name': 'dbbackup', 'version': ENGINE_VERSION},
        'kind': kind,
        'db_type': db_type,
        'backup_id': backup_id,
        'server_name': server_name,
        'database': database,
        'encryption': None,
        'files': [],
    }


def dumps(manifest):
    return (json.dumps(manifest, indent=1, sort_keys=True) + '\n').encode('utf-8')


def write_manifest(repo, backup_path, manifest):
    """Validate and publish the manifest; this is the commit point of a backup.

    Every file it lists must be in the repository with its size (one listing): a backup
    whose files went missing while it ran (pruned, deleted) is never committed.
    """
    validate(manifest, backup_path)
    sizes = repo.file_sizes(backup_path)
    bad = [f['path'] for f in manifest['files'] if sizes.get(f['path']) != f['stored_bytes']]
    if bad:
        raise BackupFailed('%d file(s) of backup %s are missing or changed in the repository: %s.'
                           % (len(bad), repo.location(backup_path), ', '.join(bad[:5])),
                           'Something deleted or changed them while the backup ran (a prune without '
                           'lease support, a person, a bucket lifecycle rule); no backup was recorded. '
                           'Run the backup again.')
    repo.write_bytes(backup_path + '/' + MANIFEST_NAME, dumps(manifest))


def _no_constant(name):
    raise ValueError('%s is not a JSON number' % name)


def parse(data, where):
    if len(data) > MAX_BYTES:
        raise IntegrityError('The manifest of %s is larger than a manifest can be (%d bytes).' % (where, len(data)),
                             'The backup cannot be used; restore another backup_id.')
    try:
        manifest = json.loads(data.decode('utf-8'), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        reason = 'nested too deeply' if isinstance(e, RecursionError) else str(e)
        raise IntegrityError('The manifest of %s is not valid JSON (%s).' % (where, reason),
                             'The backup cannot be used; restore another backup_id.')
    validate(manifest, where)
    return manifest


def read_manifest(repo, backup_path):
    return parse(repo.read_bytes(backup_path + '/' + MANIFEST_NAME), repo.location(backup_path))


def validate(manifest, where):
    """IntegrityError naming what is wrong unless manifest has the shape manifest_schema.py describes."""
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        raise IntegrityError('%s has no dbbackup manifest.' % where)
    version = manifest.get('format_version')
    if isinstance(version, int) and not isinstance(version, bool) and version > READABLE_VERSION:
        raise IntegrityError('The manifest of %s has format version %s; this engine reads up to %d.'
                             % (where, version, READABLE_VERSION), 'Upgrade the dbbackup collection.')
    wrong = problems(manifest)
    if wrong:
        more = ' (and %d more)' % (len(wrong) - 5) if len(wrong) > 5 else ''
        raise IntegrityError('The manifest of %s is invalid: %s%s.' % (where, '; '.join(wrong[:5]), more),
                             'The backup cannot be used; restore another backup_id.')
    if (manifest.get('totals') or {}).get('objects') is not None and not manifest.get('inventory'):
        raise IntegrityError('The manifest of %s counts %s objects but holds no inventory of them.'
                             % (where, manifest['totals']['objects']),
                             'The manifest was changed after the backup; do not use it.')


def check_db_type(manifest, p):
    """A backup restores only with the db_type it was taken with."""
    kind = manifest.get('db_type', 'postgresql')
    if kind != p['db_type']:
        raise BadInput('Backup %s of %s is a %s backup, but db_type is %s.'
                       % (manifest['backup_id'], manifest['database'], kind, p['db_type']),
                       'Set db_type: %s (and the matching login options).' % kind)


def unsupported_warning(manifest):
    """The warning for a backup taken with unsupported_objects: warn, else None.

    `unsupported_objects` lists [type, identity] of the objects that backup lacks.
    """
    lacking = manifest.get('unsupported_objects')
    if not lacking:
        return None
    return ('Backup %s lacks %d object(s) it cannot reproduce: %s.'
            % (manifest['backup_id'], len(lacking), name_some(('%s %s' % tuple(o)).strip() for o in lacking)))
