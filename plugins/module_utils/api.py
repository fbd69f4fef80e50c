"""Engine entry points: what modules, the host CLI, tests and the bench call.

params use the module option names; missing keys get the defaults below.
Results are JSON-clean dicts with the same keys for every caller.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from .catalog import backups_path, find_backup, parse_max_age, reserve_backup_id, reuse_fresh, utcnow
from .errors import BadInput
from .keys import key_source, unwrap_data_key
from .metrics import backup_metrics, restore_metrics
from .storage.factory import open_repository
from .stream.compress import check_options

COMMON_DEFAULTS = {
    'db_type': 'postgresql', 'login_host': None, 'login_port': 5432, 'login_user': 'postgres',
    'login_password': None, 'login_unix_socket': None, 'ssl_mode': 'prefer', 'ca_cert': None,
    'database': None, 'repository': None, 'server_name': None, 'jobs': 2,
}
BACKUP_DEFAULTS = dict(COMMON_DEFAULTS, kind='logical', compression='zstd',
                       compression_level=None, max_age=None, verify='none', lock_wait_timeout=None)
RESTORE_DEFAULTS = dict(COMMON_DEFAULTS, target_database=None, backup_id='latest', if_exists='fail')
DEFAULT_PORT = {'postgresql': 5432, 'mysql': 3306}
DEFAULT_USER = {'postgresql': 'postgres', 'mysql': 'root'}


def _prepare(params, defaults, need_database=True):
    p = dict(defaults)
    p.update({k: v for k, v in (params or {}).items() if v is not None})
    if p['db_type'] not in DEFAULT_PORT:
        raise BadInput('db_type must be postgresql or mysql, got %r.' % (p['db_type'],))
    # login_port/login_user not given: the db_type's default (5432/postgres, 3306/root)
    if (params or {}).get('login_port') is None:
        p['login_port'] = DEFAULT_PORT[p['db_type']]
    if not (params or {}).get('login_user'):
        p['login_user'] = DEFAULT_USER[p['db_type']]
    if need_database and not p.get('database'):
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
    default = DEFAULT_PORT.get(p.get('db_type') or 'postgresql', 5432)
    if p.get('login_host') and not p.get('login_unix_socket'):
        host = p['login_host']
        return host if p['login_port'] == default else '%s_%d' % (host, p['login_port'])
    return 'localhost' if p['login_port'] == default else 'localhost_%d' % p['login_port']


def _summary(manifest, location):
    t = manifest['totals']
    return {
        'backup_id': manifest['backup_id'], 'location': location,
        'database': manifest['database'], 'size_bytes': t['stored_bytes'],
        'raw_bytes': t['raw_bytes'], 'duration_seconds': manifest.get('duration_seconds'),
        'tables': t['tables'], 'rows': t['rows'],
        'server_version': manifest.get('server_version'),
        'encrypted': bool(manifest.get('encryption')),
    }


KINDS = ('logical', 'base', 'cluster')


@backup_metrics   # params['metrics_dir']: node_exporter textfile metrics (metrics.py)
def run_backup(params, check_mode=False):
    kind = (params or {}).get('kind') or 'logical'
    if kind not in KINDS:
        raise BadInput('kind must be one of %s, got %r.' % (', '.join(KINDS), kind))
    if kind == 'base':      # physical base backup for PITR (postgres/base_backup.py)
        from .postgres.base_backup import run_base_backup
        return run_base_backup(_prepare(params, BACKUP_DEFAULTS, need_database=False), check_mode)
    if kind == 'cluster':   # globals + every database under one backup id (cluster.py)
        from .cluster import run_cluster_backup
        return run_cluster_backup(_prepare(params, BACKUP_DEFAULTS, need_database=False), check_mode)
    return _run_logical_backup(_prepare(params, BACKUP_DEFAULTS), check_mode)


def logical_backup_options(p):
    """(compression, level, max_age seconds) of logical/cluster backup params, after checking the others."""
    compression, level = check_options(p['compression'], p['compression_level'])
    max_age = parse_max_age(p['max_age'])
    if p['lock_wait_timeout'] is not None and not (str(p['lock_wait_timeout']).isdigit()
                                                   and 1 <= int(p['lock_wait_timeout']) <= 86400):
        raise BadInput('lock_wait_timeout must be a number of seconds from 1 to 86400, got %r.'
                       % (p['lock_wait_timeout'],))
    if p['verify'] not in ('none', 'quick', 'deep'):
        raise BadInput('verify must be none, quick or deep, got %r.' % (p['verify'],))
    return compression, level, max_age


def _run_logical_backup(p, check_mode):
    from .postgres.connection import connect
    from .postgres.dump import LogicalDump
    compression, level, max_age = logical_backup_options(p)
    encryption = key_source(p)
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    fresh = reuse_fresh(repo, base, max_age, encryption is not None, _summary, 'backup')
    if fresh:
        return fresh
    if check_mode:
        if p['db_type'] == 'mysql':
            from .mysql.connection import connect as mysql_connect
            mysql_connect(p, p['database']).close()
        else:
            connect(p).close()
        return {'changed': True, 'msg': 'A backup of %s would be created.' % p['database'],
                'backup_id': None, 'location': repo.location(base), 'database': p['database'],
                'size_bytes': 0, 'raw_bytes': 0, 'duration_seconds': 0, 'tables': 0, 'rows': 0,
                'server_version': None, 'encrypted': encryption is not None}
    start = utcnow()
    backup_id, path = reserve_backup_id(repo, base, start)
    if p['db_type'] == 'mysql':
        from .mysql.dump import MysqlLogicalDump as dump_class
    else:
        dump_class = LogicalDump
    try:
        manifest = dump_class(p, repo, path, backup_id, compression, level, p['jobs'],
                              encryption=encryption).run(start)
    except BaseException:
        repo.delete_tree(path)
        raise
    result = _summary(manifest, repo.location(path))
    result.update(changed=True, msg='Backup %s of %s written.' % (backup_id, p['database']))
    if p['verify'] != 'none':
        from .verify import verify_written
        result['verification'] = verify_written(repo, path, manifest, p['verify'], encryption)
    return result


VERIFY_DEFAULTS = dict(COMMON_DEFAULTS, kind='logical', backup_id='latest', mode='quick', restored_database=None)
VERIFY_KINDS = ('logical', 'base', 'cluster')


def _verify_report(repo, path, manifest, mode, encryption, record_it):
    """Verify one backup of any kind (verify.verify_kind) and record the outcome in verify.json."""
    from .verify import MODES, record, verify_kind
    if mode not in MODES:
        raise BadInput('verify must be one of none, %s, got %r.' % (', '.join(MODES), mode))
    report = verify_kind(repo, path, manifest, mode, encryption)
    if record_it:
        record(repo, path, report)
    return report


def run_verify(params, check_mode=False):
    """Re-read stored backups and check them against their manifests (module dbbackup_verify).

    kind: logical (default; needs database), base or cluster (catalog.kind_path).
    backup_id: 'latest' (default), an id, or 'all' complete backups of the database (or kind).
    mode quick needs no key; deep decrypts (key required for encrypted backups) and
    decompresses and checks rows and structure. Check mode records nothing.
    """
    from .catalog import kind_path, list_backups
    from .errors import IntegrityError
    from .verify import failure
    kind = (params or {}).get('kind') or 'logical'
    if kind not in VERIFY_KINDS:
        raise BadInput('kind must be one of %s, got %r.' % (', '.join(VERIFY_KINDS), kind))
    p = _prepare(params, VERIFY_DEFAULTS, need_database=kind == 'logical')
    if kind != 'logical' and p.get('database'):
        raise BadInput('database is not used with kind=%s (got %r): a %s backup belongs to the server.'
                       % (kind, p['database'], kind), 'Leave database out; choose the server with server_name.')
    if kind != 'logical' and p.get('restored_database'):
        raise BadInput('restored_database compares a database with a logical backup; it is not used with '
                       'kind=%s.' % kind)
    if p['mode'] not in ('quick', 'deep'):
        raise BadInput('mode must be quick or deep, got %r.' % (p['mode'],))
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database']) if kind == 'logical' \
        else kind_path(p['server_name'], kind)
    if p['backup_id'] == 'all':
        manifests = [m for bid, m in list_backups(repo, base)]
        if not manifests:
            find_backup(repo, base, 'latest')      # raises the clear "no complete backup" error
    else:
        manifests = [find_backup(repo, base, p['backup_id'])]
    if p.get('restored_database') and p['backup_id'] == 'all':
        raise BadInput('restored_database compares a database with one backup; give a backup_id or latest, not all.')
    for m in manifests:
        if (m.get('kind') or 'logical') != kind:
            raise IntegrityError('%s holds a %s backup, not a %s backup.'
                                 % (repo.location(base + '/' + m['backup_id']), m.get('kind'), kind),
                                 'The repository layout was changed by hand; move the backup back.')
    encryption = key_source(p)
    reports = [_verify_report(repo, base + '/' + m['backup_id'], m, p['mode'], encryption, not check_mode)
               for m in manifests]
    if not all(r['ok'] for r in reports):
        raise failure(reports)
    whose = p['database'] if kind == 'logical' else '%s (%s)' % (p['server_name'], kind)
    result = {'changed': False, 'ok': True, 'kind': kind, 'mode': p['mode'], 'verified': reports,
              'backups': len(reports), 'msg': '%d backup(s) of %s verified (%s).'
              % (len(reports), whose, p['mode'])}
    if p.get('restored_database'):
        # the live copy against the manifest: rows per table (restored_check.py)
        from .restored_check import check_restored
        check = check_restored(p, manifests[0], p['restored_database'])
        result['restored'] = check
        if not check['ok']:
            raise IntegrityError('Database %s does not hold what backup %s recorded: %s'
                                 % (check['database'], manifests[0]['backup_id'], '; '.join(check['problems'])),
                                 'Do not trust that copy; restore the backup again and investigate.')
        result['msg'] += ' %s holds the recorded %d rows in %d tables.' % (
            check['database'], check['rows'], check['tables'])
    return result


def run_restore(params, check_mode=False):
    """Restore a backup (state present, the default), or drop a scratch copy it made (state absent)."""
    state = (params or {}).get('state') or 'present'
    if state not in ('present', 'absent'):
        raise BadInput('state must be present or absent, got %r.' % (state,))
    if state == 'absent':   # DR-drill clean-up: only databases carrying our restore marker (scratch_drop.py)
        from .scratch_drop import drop_restored
        return drop_restored(_prepare(params, RESTORE_DEFAULTS), check_mode)
    return _restore(params, check_mode)


@restore_metrics  # params['metrics_dir']: verification state of the restored backup
def _restore(params, check_mode=False):
    from .postgres.connection import connect
    from .postgres.restore import LogicalRestore, MAINTENANCE_DB
    kind = (params or {}).get('kind') or 'logical'
    if kind == 'cluster':   # globals and databases of a cluster backup (cluster.py)
        from .cluster import run_cluster_restore
        return run_cluster_restore(_prepare(params, RESTORE_DEFAULTS, need_database=False), check_mode)
    if kind != 'logical':
        raise BadInput('kind must be logical or cluster for a restore, got %r.' % (kind,))
    p = _prepare(params, RESTORE_DEFAULTS)
    if p['if_exists'] not in ('fail', 'replace'):
        raise BadInput('if_exists must be fail or replace, got %r.' % (p['if_exists'],))
    target = p.get('target_database') or p['database']
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    encryption = key_source(p)
    manifest = find_backup(repo, base, p['backup_id'])
    check_db_type(manifest, p)
    path = base + '/' + manifest['backup_id']
    data_key = backup_data_key(encryption, manifest)   # before anything touches the target
    if p['db_type'] == 'mysql':
        from .mysql.restore import MysqlLogicalRestore
        from .mysql.connection import connect as mysql_connect
        restore = MysqlLogicalRestore(p, repo, path, manifest, target, p['if_exists'], p['jobs'],
                                      data_key=data_key)
        admin = mysql_connect(p)
    else:
        restore = LogicalRestore(p, repo, path, manifest, target, p['if_exists'], p['jobs'], data_key=data_key)
        admin = connect(p, dbname=MAINTENANCE_DB, autocommit=True)
    t0 = time.time()
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


def check_db_type(manifest, p):
    """A backup restores only with the db_type it was taken with."""
    kind = manifest.get('db_type', 'postgresql')
    if kind != p['db_type']:
        raise BadInput('Backup %s of %s is a %s backup, but db_type is %s.'
                       % (manifest['backup_id'], manifest['database'], kind, p['db_type']),
                       'Set db_type: %s (and the matching login options).' % kind)


def backup_data_key(encryption, manifest):
    """The data key of an encrypted backup (None when it is not encrypted; a key given is then ignored).

    Raises BadInput when the backup is encrypted and no key was given, WrongKey
    when the key is not the backup's, IntegrityError when the manifest was modified.
    """
    if not manifest.get('encryption'):
        return None
    if encryption is None:
        raise BadInput('Backup %s of %s is encrypted and no key was given.'
                       % (manifest['backup_id'], manifest['database']),
                       'Give its key with encryption_key_file, encryption_key_env or encryption_passphrase '
                       '(CLI: --encryption-key-file, --encryption-key-env or the environment variable '
                       'DBBACKUP_ENCRYPTION_PASSPHRASE).')
    return unwrap_data_key(encryption, manifest)


def run_rekey(params, check_mode=False):
    """Rewrap the data keys of encrypted backups with a new key (see rekey.py)."""
    from .rekey import rekey
    return rekey(params, check_mode)


def run_verify_locks(params, check_mode=False):
    """Lock-table capacity against what dumps/restores need (see verify_locks.py, postgres/locks.py)."""
    from .verify_locks import run_verify_locks as verify
    return verify(params, check_mode)


PITR_DEFAULTS = dict(RESTORE_DEFAULTS, state='restored', stop_datetime=None, stop_binlog_file=None,
                     stop_position=None)


def run_pitr(params, check_mode=False):
    """Point-in-time recovery of one database (module dbbackup_pitr); mysql: see mysql/pitr.py."""
    if (params or {}).get('db_type', 'postgresql') == 'postgresql':
        # whole-cluster recovery from base backups and archived WAL (postgres/pitr.py)
        from .postgres.pitr import run_pitr as postgres_pitr
        return postgres_pitr(_prepare(params, PITR_DEFAULTS, need_database=False), check_mode)
    p = _prepare(params, PITR_DEFAULTS)
    if p.get('metrics_dir'):
        raise BadInput('metrics_dir is used with db_type postgresql and state=status only.')
    from .mysql.pitr import run_pitr as mysql_pitr
    encryption = key_source(p)
    return mysql_pitr(p, check_mode, lambda manifest: backup_data_key(encryption, manifest))


def run_pitr_status(params, check_mode=False):
    """Host CLI pitr-status: dbbackup_pitr state=status of a PostgreSQL server (metrics_dir optional)."""
    if (params or {}).get('db_type', 'postgresql') not in (None, 'postgresql'):
        raise BadInput('pitr-status checks the WAL archive of a PostgreSQL server; got db_type %s.'
                       % params['db_type'], 'Leave --db-type out (or set db_type = postgresql).')
    return run_pitr(dict(params, state='status'), check_mode=check_mode)


def run_binlog_push(params, check_mode=False):
    """Archive closed binary-log files of a MySQL/MariaDB server (host CLI binlog-push)."""
    from .mysql.binlog import push
    p = dict(params or {})
    p.setdefault('db_type', 'mysql')
    if not p.get('database'):
        p['database'] = '-'             # not used; _prepare wants one
    p = _prepare(p, dict(COMMON_DEFAULTS, compression='zstd', compression_level=None))
    if p['db_type'] != 'mysql':
        raise BadInput('binlog-push archives MySQL/MariaDB binary logs; db_type must be mysql.')
    return push(p, rotate=bool(p.get('rotate')), binlog_dir=p.get('binlog_dir'),
                compression=p['compression'], level=p['compression_level'], check_mode=check_mode)


INFO_DEFAULTS = dict(COMMON_DEFAULTS, kind='all', backup_id='all', check_wal=True)
PRUNE_DEFAULTS = dict(COMMON_DEFAULTS, kind='logical', keep_last=None, keep_daily=None, keep_weekly=None,
                      keep_monthly=None, min_keep=1, max_age=None, grace_period='24h', prune_wal=True,
                      prune_incomplete=True)


def run_info(params, check_mode=False):
    """What a repository holds (module dbbackup_info): read-only, see catalog_info.py.

    Without server_name (and without login_host/login_unix_socket to derive it from)
    every server of the repository is listed.
    """
    from .catalog_info import run_info as info
    params = params or {}
    derive = params.get('server_name') or params.get('login_host') or params.get('login_unix_socket')
    p = _prepare(params, INFO_DEFAULTS, need_database=False)
    if not derive:
        p['server_name'] = None
    return info(p, check_mode)


def run_prune(params, check_mode=False):
    """Delete backups (and WAL, binlogs, leftovers) a retention policy does not keep; see prune.py."""
    from .prune import run_prune as prune
    return prune(_prepare(params, PRUNE_DEFAULTS, need_database=False), check_mode)


WAL_DEFAULTS = dict(COMMON_DEFAULTS, compression='zstd', compression_level=None)


def _wal_params(params):
    p = _prepare(params, WAL_DEFAULTS, need_database=False)
    if p['db_type'] != 'postgresql':
        raise BadInput('wal-push and wal-fetch archive PostgreSQL WAL; db_type must be postgresql.')
    return p


def run_wal_push(params, check_mode=False):
    """archive_command: archive the WAL file src_path (%p) as wal_name (%f); see postgres/wal_archive.py."""
    from .postgres.wal_archive import wal_push
    p = _wal_params(params)
    return wal_push(p, p.get('src_path'), p.get('wal_name'), check_mode=check_mode)


def run_wal_fetch(params, check_mode=False):
    """restore_command: restore archived wal_name (%f) to dest_path (%p); NotFound when not archived."""
    from .postgres.wal_archive import wal_fetch
    p = _wal_params(params)
    return wal_fetch(p, p.get('wal_name'), p.get('dest_path'), check_mode=check_mode)
