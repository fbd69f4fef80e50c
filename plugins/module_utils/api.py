"""Engine entry points: what modules, the host CLI, tests and the bench call.

params use the module option names; missing keys get the defaults below.
Results are JSON-clean dicts with the same keys for every caller.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from .catalog import backups_path, find_backup, fresh_backup, parse_max_age, reserve_backup_id, utcnow
from .errors import BadInput
from .storage.factory import open_repository
from .stream.compress import check_options

COMMON_DEFAULTS = {
    'db_type': 'postgresql', 'login_host': None, 'login_port': 5432, 'login_user': 'postgres',
    'login_password': None, 'login_unix_socket': None, 'ssl_mode': 'prefer', 'ca_cert': None,
    'database': None, 'repository': None, 'server_name': None, 'jobs': 2,
}
BACKUP_DEFAULTS = dict(COMMON_DEFAULTS, kind='logical', compression='zstd',
                       compression_level=None, max_age=None)
RESTORE_DEFAULTS = dict(COMMON_DEFAULTS, target_database=None, backup_id='latest', if_exists='fail')


def _prepare(params, defaults):
    p = dict(defaults)
    p.update({k: v for k, v in (params or {}).items() if v is not None})
    if p['db_type'] == 'mysql':
        raise BadInput('db_type mysql is not supported by this version yet; use postgresql.')
    if p['db_type'] != 'postgresql':
        raise BadInput('db_type must be postgresql or mysql, got %r.' % (p['db_type'],))
    if not p.get('database'):
        raise BadInput('database is required.')
    try:
        p['jobs'] = int(p['jobs'])
        p['login_port'] = int(p['login_port'])
    except (TypeError, ValueError):
        raise BadInput('jobs and login_port must be integers.')
    if not 1 <= p['jobs'] <= 64:
        raise BadInput('jobs must be between 1 and 64, got %d.' % p['jobs'])
    if not p.get('server_name'):
        p['server_name'] = default_server_name(p)
    return p


def default_server_name(p):
    if p.get('login_host') and not p.get('login_unix_socket'):
        host = p['login_host']
        return host if p['login_port'] == 5432 else '%s_%d' % (host, p['login_port'])
    return 'localhost' if p['login_port'] == 5432 else 'localhost_%d' % p['login_port']


def _summary(manifest, location):
    t = manifest['totals']
    return {
        'backup_id': manifest['backup_id'], 'location': location,
        'database': manifest['database'], 'size_bytes': t['stored_bytes'],
        'raw_bytes': t['raw_bytes'], 'duration_seconds': manifest.get('duration_seconds'),
        'tables': t['tables'], 'rows': t['rows'],
        'server_version': manifest.get('server_version'),
    }


def run_backup(params, check_mode=False):
    from .postgres.connection import connect
    from .postgres.dump import LogicalDump
    p = _prepare(params, BACKUP_DEFAULTS)
    if p['kind'] != 'logical':
        raise BadInput('kind must be logical in this version, got %r.' % (p['kind'],))
    compression, level = check_options(p['compression'], p['compression_level'])
    max_age = parse_max_age(p['max_age'])
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    if max_age:
        manifest = fresh_backup(repo, base, max_age)
        if manifest:
            result = _summary(manifest, repo.location(base + '/' + manifest['backup_id']))
            result.update(changed=False, msg='A complete backup younger than max_age exists (%s).'
                          % manifest['backup_id'])
            return result
    if check_mode:
        connect(p).close()
        return {'changed': True, 'msg': 'A backup of %s would be created.' % p['database'],
                'backup_id': None, 'location': repo.location(base), 'database': p['database'],
                'size_bytes': 0, 'raw_bytes': 0, 'duration_seconds': 0, 'tables': 0, 'rows': 0,
                'server_version': None}
    start = utcnow()
    backup_id, path = reserve_backup_id(repo, base, start)
    try:
        manifest = LogicalDump(p, repo, path, backup_id, compression, level, p['jobs']).run(start)
    except BaseException:
        repo.delete_tree(path)
        raise
    result = _summary(manifest, repo.location(path))
    result.update(changed=True, msg='Backup %s of %s written.' % (backup_id, p['database']))
    return result


def run_restore(params, check_mode=False):
    from .postgres.connection import connect
    from .postgres.restore import LogicalRestore, MAINTENANCE_DB
    p = _prepare(params, RESTORE_DEFAULTS)
    if p['if_exists'] not in ('fail', 'replace'):
        raise BadInput('if_exists must be fail or replace, got %r.' % (p['if_exists'],))
    target = p.get('target_database') or p['database']
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    manifest = find_backup(repo, base, p['backup_id'])
    path = base + '/' + manifest['backup_id']
    restore = LogicalRestore(p, repo, path, manifest, target, p['if_exists'], p['jobs'])
    t0 = time.time()
    admin = connect(p, dbname=MAINTENANCE_DB, autocommit=True)
    try:
        action = restore.plan(admin)
        result = _summary(manifest, repo.location(path))
        result['target_database'] = target
        if action == 'unchanged':
            result.update(changed=False, duration_seconds=0,
                          msg='Database %s already holds backup %s.' % (target, manifest['backup_id']))
            return result
        if check_mode:
            result.update(changed=True, duration_seconds=0,
                          msg='Backup %s would be restored into %s (%s).' % (manifest['backup_id'], target, action))
            return result
        version = restore.run(admin, action)
    finally:
        admin.close()
    result.update(changed=True, server_version=version, duration_seconds=round(time.time() - t0, 3),
                  msg='Backup %s restored into %s.' % (manifest['backup_id'], target))
    return result
