# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cluster backups: the globals and every database of a server under one backup id.

Layout (docs/format.md, docs/cluster.md):

    <server>/cluster/<id>/manifest.json     kind 'cluster', written last: the commit point
                         /globals.sql.zst    PostgreSQL: roles, memberships, role settings, tablespaces
                                             (postgres/logical/globals.py); MySQL/MariaDB: accounts, roles,
                                             grants, default roles (mysql/logical/globals.py)
                         /<db>/...           a complete logical backup of <db>, its own manifest.json included

The orchestration here is the same for both engines; what differs is in the
engine module, postgres/logical/globals.py or mysql/logical/globals.py, which both provide:

    DB_TYPE, PREAMBLE                       manifest db_type, globals.sql preamble
    admin_connect(p, avoid=())              autocommit session not inside the databases in avoid
    list_databases(admin)                   the databases a cluster backup takes by default
    check_globals(admin, include_passwords) BadInput before anything is written
    server_version(admin)                   (number, text)
    dump_globals(admin, include_passwords)  (records, info) for item_file.write_framed
    Dump, Restore                           the logical dump and restore classes
    restore_options(p, restore_globals)     engine restore options, checked
    GlobalsRestore(records, options)        .before(admin, check_mode) and .after(...) the databases
    adjust(p, restores)                     last changes to the planned database restores

Each database is dumped by the engine's logical dump from its own snapshot
(neither engine has a snapshot spanning databases), one after the other. When a
database fails the others are still attempted, then one error names every
failed database and the whole backup directory is removed: nothing that
looks complete is left. The cluster manifest lists every stored file (paths
relative to the backup, `<db>/...` for the databases), so its size and
SHA-256 checks and, when encrypted, its MAC cover the whole backup; each
database's sub-manifest carries its own wrapped data key, so one database
restores without the others (restore: run_cluster_restore). MySQL globals are
restored in two phases around the databases (accounts before, grants after:
table grants need the tables); PostgreSQL's all before.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ..common.errors import BackupFailed, BadInput, DbBackupError, IntegrityError, NotFound, RestoreFailed
from ..common.times import isoformat, utcnow
from ..format.backups import find_backup, kind_path, new_backup, reuse_fresh, safe_name
from ..format.item_file import read_framed, write_framed
from ..format.keys import encryption_field, new_data_key
from ..format.manifest import MANIFEST_NAME, new_manifest, read_manifest, unsupported_warning, write_manifest
from ..format.verification import VERIFY_NAME
from ..stream.compress import SUFFIX
from ..stream.encrypt import SUFFIX as ENCRYPTED_SUFFIX
from ..stream.pipeline import open_stored_reader, store_file
from .params import logical_backup_options

KIND = 'cluster'
GLOBALS_ROLE = 'globals'
RESERVED = (MANIFEST_NAME, VERIFY_NAME)


def _names(value, option):
    """A list option (list, or comma-separated text from the CLI) -> [names] or None."""
    if value in (None, '', []):
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(',')]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise BadInput('%s must be a list of database names, got %r.' % (option, value))
    return list(dict.fromkeys(value))


def engine_for(p):
    """The engine module of p['db_type'] (see the module docstring)."""
    if p['db_type'] == 'mysql':
        from ..mysql.logical import globals as mysql_engine
        return mysql_engine
    from ..postgres.logical import globals as postgres_engine
    return postgres_engine


def _check_database_option(p):
    if p.get('database'):
        raise BadInput('database is not used with kind=cluster (got %r).' % p['database'],
                       'Choose databases with the databases option (and exclude_databases for backups).')


def _select(available, wanted, excluded):
    if wanted:
        missing = [d for d in wanted if d not in available]
        if missing:
            raise BadInput('databases names databases that are not on the server (or that kind=cluster '
                           'never backs up: templates, databases that do not allow connections, system '
                           'databases): %s.' % ', '.join(missing),
                           'Databases on the server: %s.' % ', '.join(available))
    chosen = [d for d in available if (not wanted or d in wanted) and d not in (excluded or ())]
    if not chosen:
        raise BadInput('No database is left to back up after applying databases and exclude_databases.')
    return chosen


def _path_error(db):
    try:
        safe_name(db, 'database')
    except BadInput as e:
        return str(e)
    if db in RESERVED or db.startswith('globals.sql'):
        return 'the name %r is reserved in a cluster backup directory' % db
    return None


# --- backup -------------------------------------------------------------------

def run_cluster_backup(p, check_mode):
    """kind=cluster (operations.backup): globals + every database (PostgreSQL: not a template and allows
    connections; MySQL: not a system database). Returns (result, written) as backup.run_backup expects."""
    engine = engine_for(p)
    _check_database_option(p)
    from ..format.keys import key_source
    from ..storage.factory import open_repository
    compression, level, max_age = logical_backup_options(p)
    wanted = _names(p.get('databases'), 'databases')
    excluded = _names(p.get('exclude_databases'), 'exclude_databases')
    include_passwords = bool(p.get('include_passwords'))
    encryption = key_source(p)
    if include_passwords and encryption is None:
        raise BadInput('include_passwords needs an encrypted backup: password verifiers and hashes are never '
                       'stored unencrypted.', 'Give encryption_key_file, encryption_key_env or encryption_passphrase, '
                       'or leave include_passwords off.')
    repo = open_repository(p)
    base = kind_path(p['server_name'], KIND)
    fresh = reuse_fresh(repo, base, max_age, encryption is not None, cluster_summary, 'cluster backup')
    if fresh:
        return fresh, None
    admin = engine.admin_connect(p)
    try:
        databases = _select(engine.list_databases(admin), wanted, excluded)
        engine.check_globals(admin, include_passwords)
        if check_mode:
            return {'changed': True, 'msg': 'A cluster backup of %d database(s) would be created: %s.'
                    % (len(databases), ', '.join(databases)), 'backup_id': None, 'kind': KIND,
                    'location': repo.location(base), 'database': None, 'databases': databases,
                    'size_bytes': 0, 'raw_bytes': 0, 'duration_seconds': 0, 'tables': 0, 'rows': 0,
                    'server_version': engine.server_version(admin)[1], 'encrypted': encryption is not None}, None
        start = utcnow()
        with new_backup(repo, base, start) as (backup_id, path):
            manifest = _ClusterDump(engine, p, repo, path, backup_id, compression, level, encryption,
                                    include_passwords).run(admin, databases, start)
    finally:
        admin.close()
    result = cluster_summary(manifest, repo.location(path))
    result.update(changed=True, msg='Cluster backup %s written: globals and %d database(s).'
                  % (backup_id, len(databases)))
    return result, (repo, path, manifest, encryption)


class _ClusterDump(object):
    def __init__(self, engine, p, repo, path, backup_id, compression, level, encryption, include_passwords):
        self.engine = engine
        self.p = p
        self.repo = repo
        self.path = path
        self.backup_id = backup_id
        self.compression = compression
        self.level = level
        self.encryption = encryption
        self.include_passwords = include_passwords
        self.data_key = new_data_key() if encryption is not None else None
        self.suffix = SUFFIX[compression] + (ENCRYPTED_SUFFIX if encryption is not None else '')

    def run(self, admin, databases, start):
        t0 = time.time()
        version_num, version = self.engine.server_version(admin)
        records, info = self.engine.dump_globals(admin, self.include_passwords)
        preamble = self.engine.PREAMBLE
        entry = store_file(self.repo, self.path, 'globals.sql' + self.suffix, self.compression, self.level,
                           self.data_key, lambda w: {'role': GLOBALS_ROLE, 'items': write_framed(w, preamble, records)})
        files = [entry]
        members = {}
        failures = []
        for db in databases:
            problem = _path_error(db)
            if problem:
                failures.append((db, problem))
                continue
            sub = dict(self.p, database=db)
            try:
                m = self.engine.Dump(sub, self.repo, '%s/%s' % (self.path, db), self.backup_id, self.compression,
                                     self.level, self.p['jobs'], encryption=self.encryption).run(utcnow())
            except DbBackupError as e:
                failures.append((db, str(e)))
                continue
            for f in m['files']:
                files.append(dict(f, path='%s/%s' % (db, f['path'])))
            members[db] = {
                'path': db, 'started_at': m['started_at'], 'finished_at': m['finished_at'],
                'duration_seconds': m.get('duration_seconds'), 'totals': m['totals'],
                'database_info': m.get('database_info'), 'consistent_position': m.get('consistent_position'),
                'encrypted': bool(m.get('encryption')),
            }
            if m.get('unsupported_objects'):   # unsupported_objects: warn (postgres/logical/dump.py)
                members[db]['unsupported_objects'] = m['unsupported_objects']
        if failures:
            raise BackupFailed('Cluster backup failed for %d of %d database(s): %s'
                               % (len(failures), len(databases),
                                  ' | '.join('%s: %s' % (db, err) for db, err in failures)),
                               'No backup was recorded (the backup directory was removed); fix the cause and '
                               'run the backup again, or leave those databases out with exclude_databases.')
        manifest = new_manifest(KIND, self.engine.DB_TYPE, self.backup_id, self.p['server_name'], None)
        data = [f for f in files if f['role'] == 'data']
        manifest.update({
            'started_at': isoformat(start), 'finished_at': isoformat(utcnow()),
            'duration_seconds': round(time.time() - t0, 3),
            'server_version': version, 'server_version_num': version_num,
            'compression': {'algorithm': self.compression, 'level': self.level},
            'databases': list(members),
            'members': members,
            'globals': dict(info, path=entry['path']),
            'files': files,
            'totals': {
                'files': len(files), 'databases': len(members),
                'raw_bytes': sum(f['raw_bytes'] for f in files),
                'stored_bytes': sum(f['stored_bytes'] for f in files),
                'tables': sum(m['totals']['tables'] for m in members.values()),
                'rows': sum(f['rows'] for f in data),
                'large_objects': sum(f.get('count', 0) for f in files if f['role'] == 'blobs'),
            },
        })
        if self.encryption is not None:
            manifest['encryption'] = encryption_field(self.encryption, self.data_key, manifest)
        write_manifest(self.repo, self.path, manifest)
        return manifest


def cluster_summary(manifest, location):
    t = manifest['totals']
    out = {
        'backup_id': manifest['backup_id'], 'location': location, 'kind': KIND, 'database': None,
        'databases': list(manifest.get('databases') or []),
        'size_bytes': t['stored_bytes'], 'raw_bytes': t['raw_bytes'],
        'duration_seconds': manifest.get('duration_seconds'), 'tables': t['tables'], 'rows': t['rows'],
        'server_version': manifest.get('server_version'), 'encrypted': bool(manifest.get('encryption')),
        'globals': dict(manifest.get('globals') or {}),
    }
    lacking = [unsupported_warning(dict(m, backup_id='%s (%s)' % (manifest['backup_id'], db)))
               for db, m in sorted((manifest.get('members') or {}).items()) if m.get('unsupported_objects')]
    if lacking:
        out['warnings'] = lacking
    return out


def member_manifest(repo, path, manifest, db):
    """The sub-manifest of db in a cluster backup, checked against the cluster manifest's file list."""
    sub = read_manifest(repo, '%s/%s' % (path, db))
    mine = dict((f['path'], f) for f in manifest['files'] if f['path'].startswith(db + '/'))
    theirs = dict(('%s/%s' % (db, f['path']), f) for f in sub['files'])
    if set(mine) != set(theirs) or any(mine[k]['sha256'] != theirs[k]['sha256'] for k in mine) \
            or sub.get('database') != db or sub.get('backup_id') != manifest['backup_id']:
        raise IntegrityError('The manifest of database %s in cluster backup %s does not match the cluster '
                             'manifest (files or identity differ).' % (db, manifest['backup_id']),
                             'The backup was modified; restore another backup_id.')
    return sub


# --- restore ------------------------------------------------------------------

def run_cluster_restore(p, check_mode):
    """Restore globals and/or databases of a cluster backup (api.run_restore with kind=cluster)."""
    from ..format.manifest import check_db_type
    from ..format.keys import backup_data_key
    from ..format.keys import key_source
    from ..storage.factory import open_repository
    engine = engine_for(p)
    _check_database_option(p)
    if p['if_exists'] not in ('fail', 'replace'):
        raise BadInput('if_exists must be fail or replace, got %r.' % (p['if_exists'],))
    wanted = _names(p.get('databases'), 'databases')
    restore_globals = p.get('globals')
    if restore_globals is None:
        restore_globals = wanted is None
    options = engine.restore_options(p, restore_globals)
    repo = open_repository(p)
    base = kind_path(p['server_name'], KIND)
    encryption = key_source(p)
    manifest = find_backup(repo, base, p['backup_id'])
    if manifest.get('kind') != KIND:
        raise IntegrityError('%s is not a cluster backup (kind %r).' % (repo.location(base + '/' + manifest['backup_id']),
                                                                        manifest.get('kind')))
    check_db_type(manifest, p)
    path = base + '/' + manifest['backup_id']
    available = list(manifest.get('databases') or [])
    if wanted:
        missing = [d for d in wanted if d not in available]
        if missing:
            raise NotFound('Cluster backup %s has no database %s.' % (manifest['backup_id'], ', '.join(missing)),
                           'Databases in it: %s.' % (', '.join(available) or 'none'))
    selected = wanted or available
    target_name = p.get('target_database')
    if target_name and len(selected) != 1:
        raise BadInput('target_database renames one database; %d are selected (%s).'
                       % (len(selected), ', '.join(selected)), 'Select exactly one with databases.')
    data_key = backup_data_key(encryption, manifest, p.get('allow_unencrypted'))   # before anything touches the target
    restores = []
    for db in selected:
        sub = member_manifest(repo, path, manifest, db)
        # the marker names the cluster backup, so it differs from a logical backup with the same id
        marked = dict(sub, backup_id='%s-%s' % (KIND, manifest['backup_id']))
        restores.append((db, engine.Restore(dict(p, database=db), repo, '%s/%s' % (path, db), marked,
                                            target_name or db, p['if_exists'], p['jobs'],
                                            data_key=backup_data_key(encryption, sub, p.get('allow_unencrypted')))))
    globals_restore = None
    if restore_globals:
        entry = [f for f in manifest['files'] if f['role'] == GLOBALS_ROLE][0]
        reader = open_stored_reader(repo, path + '/' + entry['path'], manifest['compression']['algorithm'],
                                    entry['sha256'], entry['stored_bytes'], data_key=data_key)
        try:
            records = read_framed(reader, entry['path'])
        finally:
            reader.close()
        globals_restore = engine.GlobalsRestore(records, options)
    result = cluster_summary(manifest, repo.location(path))
    result.update(databases=[], target_database=target_name if target_name else None)
    engine.adjust(p, restores)
    t0 = time.time()
    plans = []
    failures = []
    grants_error = None
    admin = engine.admin_connect(p, avoid=[r.target for db, r in restores])
    try:
        result['server_version'] = engine.server_version(admin)[1]
        plans = [(db, r, r.plan(admin)) for db, r in restores]   # TargetExists before anything changes
        if globals_restore is not None:
            result['globals'] = globals_restore.before(admin, check_mode=check_mode)
        else:
            result['globals'] = {'changed': False, 'skipped': ['globals not restored (globals: false)']}
        for db, r, action in plans:
            item = {'database': db, 'target_database': r.target, 'action': action,
                    'tables': r.manifest['totals']['tables'], 'rows': r.manifest['totals']['rows']}
            result['databases'].append(item)
            if action == 'unchanged' or check_mode:
                continue
            t1 = time.time()
            try:
                r.run(admin, action)
            except DbBackupError as e:
                item['action'] = 'failed'
                item['error'] = str(e)
                failures.append('%s: %s' % (db, e))
                continue
            item['duration_seconds'] = round(time.time() - t1, 3)
            if getattr(r, 'inventory', None):   # PostgreSQL: what proved the copy complete
                item['inventory'] = r.inventory
        if globals_restore is not None:   # MySQL: grants, once the tables exist
            try:
                result['globals'] = globals_restore.after(admin, check_mode=check_mode)
            except DbBackupError as e:
                grants_error = 'grants: %s' % e
    finally:
        admin.close()
    if failures or grants_error:
        raise RestoreFailed('Restoring cluster backup %s failed for %d of %d database(s)%s: %s'
                            % (manifest['backup_id'], len(failures), len(plans),
                               ' and the grants' if grants_error else '',
                               ' | '.join(failures + ([grants_error] if grants_error else []))),
                            'The targets of the failed databases were left as they were; the others were '
                            'restored. Fix the cause and run the restore again (restored ones are skipped).')
    changed = result['globals'].get('changed') or any(d['action'] != 'unchanged' for d in result['databases'])
    result['tables'] = sum(d['tables'] for d in result['databases'])
    result['rows'] = sum(d['rows'] for d in result['databases'])
    result['duration_seconds'] = 0 if check_mode else round(time.time() - t0, 3)
    what = '%s%d database(s)' % ('globals and ' if globals_restore is not None else '', len(plans))
    if not changed:
        msg = 'The server already holds %s of cluster backup %s.' % (what, manifest['backup_id'])
    elif check_mode:
        actions = ', '.join('%s %s' % (d['target_database'], d['action']) for d in result['databases'])
        msg = 'Cluster backup %s would be restored: %s (%s).' % (manifest['backup_id'], what, actions)
    else:
        msg = 'Cluster backup %s restored: %s.' % (manifest['backup_id'], what)
    result.update(changed=bool(changed), msg=msg)
    return result


# --- key rotation (rekey.py) ----------------------------------------------------

def rekey_manifests(repo, server_name):
    """(path, manifest, label) of every complete cluster backup and of each of its databases."""
    from ..format.backups import list_backups
    base = kind_path(server_name, KIND)
    out = []
    for backup_id, manifest in list_backups(repo, base):
        path = base + '/' + backup_id
        for db in manifest.get('databases') or []:
            out.append(('%s/%s' % (path, db), member_manifest(repo, path, manifest, db), db))
        out.append((path, manifest, None))     # the cluster manifest last: written after its members
    return out
