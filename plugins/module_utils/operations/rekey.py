# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key rotation: rewrap the data keys of encrypted backups with a new key-encryption key.

For every complete backup of one database (or of every database of a server
when `database` is not given, cluster backups included: the cluster manifest
and each database's manifest in it), the data key is unwrapped with the old KEK
(encryption_key_file / encryption_key_env / encryption_passphrase) and
wrapped again with the new one (new_encryption_key_file / _env /
new_encryption_passphrase). Only manifest.json is rewritten, atomically;
data files never change, and the manifest's authentication code stays
valid because the data key does not change.

Two passes: every backup is checked and its new manifest prepared first, and
manifests are written only when all of them opened with the old key, so a
wrong old key changes nothing. Backups already wrapped with the new key are
left alone (idempotent: an interrupted run is finished by running it again);
unencrypted backups are listed and left alone.

Without `database`, the server's archive keys are rewrapped too
(format/archive_key.py): the PostgreSQL WAL archive's <server>/wal/wal-key.json
(result `wal_key`) and the MySQL/MariaDB binlog archive's
<server>/binlog/binlog-key.json (result `binlog_key`); archive_command's config
and the binlog-push timer must then name the new key, or pushes fail with a
wrong-key error.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput
from ..format.archive_key import KINDS, rekey_plan, write_key_doc
from ..format.backups import backups_path, list_backups, safe_name
from ..format.keys import key_matches, key_source, rewrap, unwrap_data_key
from ..format.manifest import write_manifest
from ..storage.factory import open_repository
from .params import DEFAULT_PORT, default_server_name

KIND = 'logical'
ARCHIVE_KINDS = dict((kind, spec[3]) for kind, spec in KINDS.items())     # kind -> label for messages


def _prepare(params):
    """Only what naming the server needs: the server_name default as for backups."""
    p = dict(params or {})
    default_port = DEFAULT_PORT.get(p.get('db_type') or 'postgresql', 5432)
    try:
        p['login_port'] = int(p.get('login_port') or default_port)
    except (TypeError, ValueError):
        raise BadInput('login_port must be an integer.')
    if not p.get('server_name'):
        p['server_name'] = default_server_name(p)
    return p


def _databases(repo, p):
    if p.get('database'):
        return [p['database']]
    root = '%s/%s' % (safe_name(p['server_name'], 'server_name'), KIND)
    return [name for name in repo.list_dir(root) if not name.startswith('.')]


def rekey(params, check_mode=False):
    p = _prepare(params)
    old = key_source(p)
    new = key_source(p, prefix='new_')
    if old is None:
        raise BadInput('The current key is required: give encryption_key_file, encryption_key_env or '
                       'encryption_passphrase.')
    if new is None:
        raise BadInput('The new key is required: give new_encryption_key_file, new_encryption_key_env or '
                       'new_encryption_passphrase.')
    repo = open_repository(p)
    plan = []        # (path, manifest, new encryption field or None, entry)
    todo = []        # (path, manifest, entry)
    for database in _databases(repo, p):
        base = backups_path(p['server_name'], KIND, database)
        for backup_id, manifest in list_backups(repo, base):
            todo.append((base + '/' + backup_id, manifest, {'server_name': p['server_name'], 'database': database,
                                                            'backup_id': backup_id}))
    if not p.get('database'):   # cluster backups: each database's manifest, then the cluster manifest
        from .cluster import rekey_manifests
        for path, manifest, database in rekey_manifests(repo, p['server_name']):
            todo.append((path, manifest, {'server_name': p['server_name'], 'kind': 'cluster',
                                          'database': database, 'backup_id': manifest['backup_id']}))
    for path, manifest, entry in todo:
        entry['location'] = repo.location(path)
        if not manifest.get('encryption'):
            entry['action'] = 'unencrypted'
            plan.append((path, manifest, None, entry))
            continue
        if key_matches(new, manifest):
            unwrap_data_key(new, manifest)   # proves the manifest intact too
            entry['action'] = 'unchanged'
            plan.append((path, manifest, None, entry))
            continue
        # raises WrongKey / IntegrityError before anything is written
        field = rewrap(old, new, manifest)
        entry['action'] = 'rekeyed'
        plan.append((path, manifest, field, entry))
    changed = [x for x in plan if x[2] is not None]
    # the server's archive keys (format/archive_key.py): server-wide, so only when no database is named
    archives = {} if p.get('database') else dict(
        (kind, rekey_plan(repo, kind, p['server_name'], old, new)) for kind in ARCHIVE_KINDS)
    if not check_mode:
        for path, manifest, field, entry in changed:
            updated = dict(manifest, encryption=field)
            write_manifest(repo, path, updated)
        for kind, key_plan in archives.items():
            if key_plan and key_plan[1] is not None:
                write_key_doc(repo, kind, p['server_name'], dict(key_plan[0], encryption=key_plan[1]))
    backups = [x[3] for x in plan]
    counts = dict((a, sum(1 for b in backups if b['action'] == a))
                  for a in ('rekeyed', 'unchanged', 'unencrypted'))
    verb = 'would be rewrapped' if check_mode else 'rewrapped'
    msg = '%d backup key(s) %s with the new key; %d already used it; %d unencrypted backup(s) left alone.' % (
        counts['rekeyed'], verb, counts['unchanged'], counts['unencrypted'])
    if not plan:
        msg = 'No complete backups found under %s.' % repo.location(
            '%s/%s' % (p['server_name'], KIND) + ('/' + p['database'] if p.get('database') else ''))
    for kind in ARCHIVE_KINDS:
        if archives.get(kind):
            msg += ' The %s key %s.' % (ARCHIVE_KINDS[kind], {'rekeyed': verb, 'unchanged': 'already used it'}[
                archives[kind][2]])
    archive_changed = any(x and x[1] is not None for x in archives.values())
    return {'changed': bool(changed) or archive_changed, 'msg': msg, 'backups': backups,
            'wal_key': archives['wal'][2] if archives.get('wal') else None,
            'binlog_key': archives['binlog'][2] if archives.get('binlog') else None,
            'rekeyed': counts['rekeyed'], 'unchanged': counts['unchanged'],
            'unencrypted': counts['unencrypted']}
