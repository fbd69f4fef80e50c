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

Without `database`, the server's WAL archive key (<server>/wal/wal-key.json,
postgres/wal_archive.py) is rewrapped too (result `wal_key`); archive_command's
config must then name the new key, or pushes fail with a wrong-key error.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .catalog import backups_path, list_backups, safe_name
from .errors import BadInput
from .keys import key_matches, key_source, rewrap, unwrap_data_key
from .manifest import write_manifest
from .storage.factory import open_repository

KIND = 'logical'


def _prepare(params):
    """Only what naming the server needs: the server_name default as for backups."""
    from .api import DEFAULT_PORT, default_server_name
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
    # the server's WAL archive key (postgres/wal_archive.py): server-wide, so only when no database is named
    wal_key = None if p.get('database') else _wal_key_plan(repo, p['server_name'], old, new)
    if not check_mode:
        for path, manifest, field, entry in changed:
            updated = dict(manifest, encryption=field)
            write_manifest(repo, path, updated)
        if wal_key and wal_key[1] is not None:
            _write_wal_key(repo, p['server_name'], dict(wal_key[0], encryption=wal_key[1]))
    backups = [x[3] for x in plan]
    counts = dict((a, sum(1 for b in backups if b['action'] == a))
                  for a in ('rekeyed', 'unchanged', 'unencrypted'))
    verb = 'would be rewrapped' if check_mode else 'rewrapped'
    msg = '%d backup key(s) %s with the new key; %d already used it; %d unencrypted backup(s) left alone.' % (
        counts['rekeyed'], verb, counts['unchanged'], counts['unencrypted'])
    if not plan:
        msg = 'No complete backups found under %s.' % repo.location(
            '%s/%s' % (p['server_name'], KIND) + ('/' + p['database'] if p.get('database') else ''))
    if wal_key:
        msg += ' The WAL archive key %s.' % ({'rekeyed': verb, 'unchanged': 'already used it'}[wal_key[2]])
    return {'changed': bool(changed) or bool(wal_key and wal_key[1] is not None), 'msg': msg, 'backups': backups,
            'wal_key': wal_key[2] if wal_key else None,
            'rekeyed': counts['rekeyed'], 'unchanged': counts['unchanged'],
            'unencrypted': counts['unencrypted']}


def _wal_key_plan(repo, server_name, old, new):
    """(key document, new encryption field or None, action) for <server>/wal/wal-key.json, or None."""
    from .postgres.wal_archive import key_path, read_key_doc, unwrap_wal_key
    doc = read_key_doc(repo, server_name)
    if doc is None:
        return None
    where = repo.location(key_path(server_name))
    if key_matches(new, doc):
        unwrap_wal_key(new, doc, where)     # proves the document intact too
        return doc, None, 'unchanged'
    unwrap_wal_key(old, doc, where)         # a clear WrongKey before anything is written
    return doc, rewrap(old, new, doc), 'rekeyed'


def _write_wal_key(repo, server_name, doc):
    import json
    from .postgres.wal_archive import key_path
    repo.write_bytes(key_path(server_name), (json.dumps(doc, indent=1, sort_keys=True) + '\n').encode('utf-8'))
