"""Engine entry points: what modules, the host CLI, tests and the bench call.

params use the module option names; missing keys get the defaults below.
Results are JSON-clean dicts with the same keys for every caller.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from .catalog import backups_path, find_backup, fresh_backup, parse_max_age, reserve_backup_id, utcnow
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


def _run_logical_backup(p, check_mode):
    from .postgres.connection import connect
    from .postgres.dump import LogicalDump
    compression, level = check_options(p['compression'], p['compression_level'])
    max_age = parse_max_age(p['max_age'])
    if p['lock_wait_timeout'] is not None and not (str(p['lock_wait_timeout']).isdigit()
                                                   and 1 <= int(p['lock_wait_timeout']) <= 86400):
        raise BadInput('lock_wait_timeout must be a number of seconds from 1 to 86400, got %r.'
                       % (p['lock_wait_timeout'],))
    if p['verify'] not in ('none', 'quick', 'deep'):
        raise BadInput('verify must be none, quick or deep, got %r.' % (p['verify'],))
    encryption = key_source(p)
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    if max_age:
        manifest = fresh_backup(repo, base, max_age)
        # a recent backup counts only when it is encrypted exactly when encryption is asked for
        if manifest and bool(manifest.get('encryption')) == (encryption is not None):
            result = _summary(manifest, repo.location(base + '/' + manifest['backup_id']))
            result.update(changed=False, msg='A complete backup younger than max_age exists (%s).'
                          % manifest['backup_id'])
            return result
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
        from .verify import failure
        result['verification'] = _verify_report(repo, path, manifest, p['verify'], encryption, True)
        if not result['verification']['ok']:
            raise failure([result['verification']])
    return result


VERIFY_DEFAULTS = dict(COMMON_DEFAULTS, backup_id='latest', mode='quick', restored_database=None)


def _verify_report(repo, path, manifest, mode, encryption, record_it):
    """Verify one backup (verify.py) and record the outcome in verify.json."""
    from .verify import MODES, record, verify_backup
    if mode not in MODES:
        raise BadInput('verify must be one of none, %s, got %r.' % (', '.join(MODES), mode))
    data_key = backup_data_key(encryption, manifest) if mode == 'deep' else None
    report = verify_backup(repo, path, manifest, mode, data_key)
    if record_it:
        record(repo, path, report)
    return report


def run_verify(params, check_mode=False):
    """Re-read stored backups and check them against their manifests (module dbbackup_verify).

    backup_id: 'latest' (default), an id, or 'all' complete backups of the database.
    mode quick needs no key; deep decrypts (key required for encrypted backups) and
    decompresses and checks rows and structure. Check mode records nothing.
    """
    from .catalog import list_backups
    from .verify import failure
    p = _prepare(params, VERIFY_DEFAULTS)
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    if p['backup_id'] == 'all':
        manifests = [m for bid, m in list_backups(repo, base)]
        if not manifests:
            find_backup(repo, base, 'latest')      # raises the clear "no complete backup" error
    else:
        manifests = [find_backup(repo, base, p['backup_id'])]
    if p.get('restored_database') and p['backup_id'] == 'all':
        raise BadInput('restored_database compares a database with one backup; give a backup_id or latest, not all.')
    encryption = key_source(p)
    reports = [_verify_report(repo, base + '/' + m['backup_id'], m, p['mode'], encryption, not check_mode)
               for m in manifests]
    if not all(r['ok'] for r in reports):
        raise failure(reports)
    result = {'changed': False, 'ok': True, 'mode': p['mode'], 'verified': reports,
              'backups': len(reports), 'msg': '%d backup(s) of %s verified (%s).'
              % (len(reports), p['database'], p['mode'])}
    if p.get('restored_database'):
        # the live copy against the manifest: rows per table (restored_check.py)
        from .errors import IntegrityError
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


@restore_metrics  # params['metrics_dir']: verification state of the restored backup
def run_restore(params, check_mode=False):
    from .postgres.connection import connect
    from .postgres.restore import LogicalRestore, MAINTENANCE_DB
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
    from .mysql.pitr import run_pitr as mysql_pitr
    encryption = key_source(p)
    return mysql_pitr(p, check_mode, lambda manifest: backup_data_key(encryption, manifest))


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
