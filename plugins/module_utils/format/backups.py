# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding backups in a repository: ids, listing, latest, freshness.

Only directories with a valid manifest count as backups. Ids are the UTC
start time YYYYMMDDTHHMMSSZ (with -N on collision), so they sort by time.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import re

from ..common.errors import BadInput, IntegrityError, NotFound
from ..common.times import parse_iso, utcnow
from .lease import leased
from .manifest import MANIFEST_NAME, read_manifest
from .manifest_schema import ID_RE

_NAME_RE = re.compile(r'^[\w.@:-][\w.@:+ -]*\Z')   # unicode letters allowed


def backup_id_for(ts):
    return ts.strftime('%Y%m%dT%H%M%SZ')


def safe_name(value, what):
    """Server and database names become path components: refuse what could escape."""
    if not value or value in ('.', '..') or '/' in value or not _NAME_RE.match(value):
        raise BadInput('%s %r cannot be used as a repository path component.' % (what, value),
                       'Use letters, digits and _ . @ : - + (no slashes).')
    return value


def backups_path(server_name, kind, database):
    return '%s/%s/%s' % (safe_name(server_name, 'server_name'), kind, safe_name(database, 'database'))


def kind_path(server_name, kind):
    """Where server-wide backups live: <server>/base, <server>/cluster (ids below it)."""
    return '%s/%s' % (safe_name(server_name, 'server_name'), kind)


def wal_path(server_name):
    """The WAL archive of a PostgreSQL server: <server>/wal/<timeline>/<file>."""
    return '%s/wal' % safe_name(server_name, 'server_name')


def reserve_backup_id(repo, base, start):
    """Create the backup directory for the start time; returns (backup_id, path)."""
    stem = backup_id_for(start)
    for n in range(0, 1000):
        backup_id = stem if n == 0 else '%s-%d' % (stem, n)
        path = '%s/%s' % (base, backup_id)
        if repo.reserve_dir(path):
            return backup_id, path
    raise BadInput('Could not allocate a backup id under %s.' % repo.location(base))


@contextlib.contextmanager
def new_backup(repo, base, start):
    """Reserve the directory of a new backup and hold its lease (lease.py) while the block
    writes it; on any error, the directory is removed: (backup_id, path)."""
    backup_id, path = reserve_backup_id(repo, base, start)
    with leased(repo, path):
        yield backup_id, path


def read_backup(repo, base, name):
    """The manifest of backup `name` of series `base`, which must be the backup it describes.

    Its backup_id must be the directory's name and its server, kind and database those
    of the series: a manifest copied into another directory (or a series) is refused,
    never taken for the backup it names. (For an encrypted backup all of these are also
    under the MAC and the wrapped key's associated data.)
    """
    if repo.is_link('%s/%s' % (base, name)):
        raise IntegrityError('%s is a symbolic link: backups are never read or deleted through links.'
                             % repo.location('%s/%s' % (base, name)), 'Move the backup into the repository.')
    manifest = read_manifest(repo, '%s/%s' % (base, name))
    parts = base.split('/')
    expected = {'backup_id': name, 'server_name': parts[0], 'kind': parts[1] if len(parts) > 1 else None}
    if len(parts) > 2:
        expected['database'] = parts[2]
    wrong = ['%s %r' % (k, manifest.get(k)) for k in sorted(expected) if manifest.get(k) != expected[k]]
    if wrong:
        raise IntegrityError('The manifest in %s describes another backup (%s): it was copied or moved there.'
                             % (repo.location('%s/%s' % (base, name)), ', '.join(wrong)),
                             'The backup cannot be used; restore another backup_id.')
    return manifest


def list_backups(repo, base):
    """Complete backups under base, oldest first, as (backup_id, manifest)."""
    found = []
    for name in repo.list_dir(base):
        if not ID_RE.match(name) or not repo.exists('%s/%s/%s' % (base, name, MANIFEST_NAME)):
            continue
        try:
            found.append((name, read_backup(repo, base, name)))
        except (IntegrityError, NotFound):
            continue
    found.sort(key=lambda x: (x[1]['started_at'], x[0]))
    return found


def find_backup(repo, base, backup_id):
    """The manifest of backup_id ('latest' = newest complete one), or NotFound."""
    if backup_id in (None, '', 'latest'):
        backups = list_backups(repo, base)
        if not backups:
            raise NotFound('No complete backup found in %s.' % repo.location(base),
                           'Check repository, server_name and database, or run a backup first.')
        return backups[-1][1]
    if not ID_RE.match(backup_id):
        raise BadInput('backup_id must be "latest" or look like 20260101T000000Z, got %r.' % (backup_id,))
    path = '%s/%s' % (base, backup_id)
    if not repo.exists(path + '/' + MANIFEST_NAME):
        ids = [b[0] for b in list_backups(repo, base)]
        raise NotFound('Backup %s not found in %s.' % (backup_id, repo.location(base)),
                       ('Available backups: %s.' % ', '.join(ids[-10:])) if ids else
                       'There are no complete backups there.')
    return read_backup(repo, base, backup_id)


def fresh_backup(repo, base, max_age_seconds, now=None):
    """The newest complete backup younger than max_age_seconds, or None."""
    now = now or utcnow()
    backups = list_backups(repo, base)
    if not backups:
        return None
    manifest = backups[-1][1]
    age = (now - parse_iso(manifest['started_at'])).total_seconds()
    return manifest if age < max_age_seconds else None


def reuse_fresh(repo, base, max_age_seconds, encrypted, summarize, what):
    """max_age: the result for a complete backup younger than max_age, or None.

    A recent backup counts only when it is encrypted exactly when encryption is
    asked for. summarize(manifest, location) builds the kind's result fields.
    """
    if not max_age_seconds:
        return None
    manifest = fresh_backup(repo, base, max_age_seconds)
    if not manifest or bool(manifest.get('encryption')) != bool(encrypted):
        return None
    result = summarize(manifest, repo.location(base + '/' + manifest['backup_id']))
    result.update(changed=False, msg='A complete %s younger than max_age exists (%s).' % (what, manifest['backup_id']))
    return result
