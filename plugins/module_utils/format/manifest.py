"""The backup manifest: the one file that makes a backup exist.

It is written last and atomically; a backup directory without a valid
manifest is incomplete and is never listed, restored or counted. It records
what a restore and an integrity check need, never a key or password.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ..common.errors import BadInput, IntegrityError, name_some
from ..storage.base import MANIFEST_NAME   # fixed by the storage layer, which keeps it readable

FORMAT = 'dbbackup-manifest'
FORMAT_VERSION = 1       # what a new manifest says, unless its backup needs more (below)
# The newest format this engine reads. 2: a logical PostgreSQL backup with postponed schema
# items (post-data phase 12, postgres/logical/schema/postpone.py), which older engines skip.
READABLE_VERSION = 2
POSTPONED_ITEMS_VERSION = 2
ENGINE_VERSION = '0.1.0'
REQUIRED = ('format', 'format_version', 'kind', 'db_type', 'backup_id', 'server_name',
            'database', 'started_at', 'finished_at', 'compression', 'files', 'totals')
FILE_REQUIRED = ('path', 'role', 'raw_bytes', 'stored_bytes', 'sha256')


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
    """Validate and publish the manifest; this is the commit point of a backup."""
    validate(manifest, backup_path)
    repo.write_bytes(backup_path + '/' + MANIFEST_NAME, dumps(manifest))


def parse(data, where):
    try:
        manifest = json.loads(data.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as e:
        raise IntegrityError('The manifest of %s is not valid JSON (%s).' % (where, e),
                             'The backup cannot be used; restore another backup_id.')
    validate(manifest, where)
    return manifest


def read_manifest(repo, backup_path):
    return parse(repo.read_bytes(backup_path + '/' + MANIFEST_NAME), repo.location(backup_path))


def validate(manifest, where):
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        raise IntegrityError('%s has no dbbackup manifest.' % where)
    if manifest.get('format_version', 0) > READABLE_VERSION:
        raise IntegrityError('The manifest of %s has format version %s; this engine reads up to %d.'
                             % (where, manifest.get('format_version'), READABLE_VERSION),
                             'Upgrade the dbbackup collection.')
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise IntegrityError('The manifest of %s lacks %s.' % (where, ', '.join(missing)))
    if (manifest.get('totals') or {}).get('objects') is not None and not manifest.get('inventory'):
        raise IntegrityError('The manifest of %s counts %s objects but holds no inventory of them.'
                             % (where, manifest['totals']['objects']),
                             'The manifest was changed after the backup; do not use it.')
    for entry in manifest['files']:
        lacks = [k for k in FILE_REQUIRED if k not in entry]
        if lacks or '..' in entry.get('path', '').split('/'):
            raise IntegrityError('The manifest of %s has an invalid file entry %r.' % (where, entry))


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
