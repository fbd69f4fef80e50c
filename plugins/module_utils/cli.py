# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host CLI `dbbackup`: the same engine where PostgreSQL or systemd call it.

Options mirror the module options. Passwords come from the environment
(DBBACKUP_LOGIN_PASSWORD, else PGPASSWORD), never from argv, so they do not
show in process lists; so do encryption passphrases
(DBBACKUP_ENCRYPTION_PASSPHRASE, and DBBACKUP_NEW_ENCRYPTION_PASSPHRASE for
rekey). Keys are given as a file (--encryption-key-file) or the name of an
environment variable holding them (--encryption-key-env). Prints the result
as JSON; errors go to stderr with exit status 1 (2 for usage errors). SIGINT and
SIGTERM stop a run the same way (exit status 130 and 143): a backup removes its
directory, a restore drops its temporary database.
`pitr-status` also exits 1 when the archive is not healthy (after printing it).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

# signal and the engine's modules are imported by _main(): archive_command and restore_command
# answered from the spool (main's fast path) pay only for the interpreter and wal_async.py

CONNECTION = ('db_type', 'login_host', 'login_port', 'login_user', 'login_unix_socket',
              'ssl_mode', 'ca_cert', 'database', 'repository', 'server_name', 'jobs')


def _parser():
    import argparse
    import copy
    p = argparse.ArgumentParser(prog='dbbackup', description='Native database backup and restore.')
    sub = p.add_subparsers(dest='command')
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--db-type', default='postgresql', choices=('postgresql', 'mysql'))
    common.add_argument('--login-host')
    common.add_argument('--login-port', type=int, help='default 5432 (postgresql), 3306 (mysql)')
    common.add_argument('--login-user', help='default postgres (postgresql), root (mysql)')
    common.add_argument('--login-unix-socket')
    common.add_argument('--ssl-mode', default='prefer')
    common.add_argument('--ca-cert')
    common.add_argument('--database', required=True)
    common.add_argument('--repository', required=True)
    common.add_argument('--server-name')
    common.add_argument('--jobs', type=int, default=2)
    s3 = common.add_argument_group(
        's3:// repositories', 'credentials only from the AWS environment (AWS_ACCESS_KEY_ID, '
        'AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE), ~/.aws or an instance role')
    s3.add_argument('--s3-endpoint-url', help='S3-compatible endpoint, e.g. https://minio.example.com:9000')
    s3.add_argument('--s3-region')
    s3.add_argument('--s3-addressing-style', choices=('auto', 'path', 'virtual'))
    s3.add_argument('--aws-profile', help='named profile from ~/.aws/config and ~/.aws/credentials')
    s3.add_argument('--s3-storage-class', help='storage class of data objects, e.g. STANDARD_IA')
    s3.add_argument('--s3-sse', choices=('AES256', 'aws:kms'), help='server-side encryption')
    s3.add_argument('--s3-sse-kms-key-id')
    s3.add_argument('--s3-ca-bundle', help='CA bundle file for the endpoint certificate')
    s3.add_argument('--s3-no-validate-certs', dest='s3_validate_certs', action='store_false', default=None,
                    help='do not verify the endpoint certificate (testing only)')
    az = common.add_argument_group(
        'azure:// repositories', 'credentials from the environment (AZURE_STORAGE_CONNECTION_STRING, '
        'AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN), the --config file, or a managed identity')
    az.add_argument('--azure-account-name', help='storage account (default: AZURE_STORAGE_ACCOUNT)')
    az.add_argument('--azure-account-url', help='blob endpoint, e.g. https://myaccount.blob.core.windows.net')
    az.add_argument('--azure-access-tier', choices=('Hot', 'Cool', 'Cold', 'Archive'), help='tier of data blobs')
    az.add_argument('--azure-encryption-scope')
    gs = common.add_argument_group(
        'gs:// repositories', 'credentials from a key file or application default credentials '
        '(GOOGLE_APPLICATION_CREDENTIALS, gcloud, the VM or GKE service account)')
    gs.add_argument('--gcs-endpoint-url')
    gs.add_argument('--gcs-project')
    gs.add_argument('--gcs-credentials-file', help='service-account key file (JSON)')
    gs.add_argument('--gcs-storage-class', choices=('STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE'))
    gs.add_argument('--gcs-kms-key-name')
    common.add_argument('--config', metavar='FILE',
                        help='read option values (and secrets) from an INI or JSON file (see cli_config.py)')
    common.add_argument('--encryption-key-file', help='key-encryption key file (0600)')
    common.add_argument('--encryption-key-env', metavar='VARIABLE',
                        help='name of an environment variable holding the key-encryption key')
    # a private copy of the parent (see rekey): --database is not used by kind=cluster/base
    b = sub.add_parser('backup', parents=[copy.deepcopy(common)], help='take a backup')
    for action in b._actions:   # still required for kind=logical (the engine says so)
        if action.dest == 'database':
            action.required = False
    b.add_argument('--kind', default='logical', choices=('logical', 'base', 'cluster'))
    b.add_argument('--databases', help='kind=cluster: only these databases (comma-separated)')
    b.add_argument('--exclude-databases', help='kind=cluster: leave these databases out (comma-separated)')
    b.add_argument('--include-passwords', action='store_true', default=None,
                   help='kind=cluster: store password verifiers or hashes (encrypted backups only)')
    b.add_argument('--compression', default='zstd', choices=('zstd', 'gzip', 'none'))
    b.add_argument('--compression-level', type=int)
    b.add_argument('--max-age')
    b.add_argument('--metrics-dir', help='node_exporter textfile directory: record dbbackup_* metrics')
    b.add_argument('--lock-wait-timeout', type=int, metavar='SECONDS',
                   help='fail instead of waiting longer for the table locks (PostgreSQL)')
    b.add_argument('--unsupported-objects', choices=('fail', 'warn'), default=None,
                   help='PostgreSQL: fail (default) on objects the backup cannot reproduce, or warn and record them')
    b.add_argument('--checkpoint', choices=('spread', 'fast'),
                   help='kind=base: checkpoint that starts the backup (default spread, as pg_basebackup)')
    b.add_argument('--archive-wait-timeout', type=int, metavar='SECONDS',
                   help='kind=base: fail after waiting this long for the WAL to be archived (default 600)')
    b.add_argument('--verify', default='none', choices=('none', 'quick', 'deep'),
                   help='re-read the new backup and check it against its manifest')
    b.add_argument('--check', action='store_true', help='report what would happen, change nothing')
    r = sub.add_parser('restore', parents=[copy.deepcopy(common)], help='restore a logical or cluster backup')
    for action in r._actions:   # kind=cluster chooses with --databases
        if action.dest == 'database':
            action.required = False
    r.add_argument('--kind', default='logical', choices=('logical', 'cluster'))
    r.add_argument('--state', default='present', choices=('present', 'absent'),
                   help='absent: drop --target-database, a scratch copy dbbackup restored from --database')
    r.add_argument('--databases', help='kind=cluster: databases to restore (comma-separated; default all)')
    r.add_argument('--globals', dest='globals', action='store_const', const=True, default=None,
                   help='kind=cluster: restore roles and tablespaces (default without --databases)')
    r.add_argument('--no-globals', dest='globals', action='store_const', const=False,
                   help='kind=cluster: do not restore roles and tablespaces')
    r.add_argument('--tablespace-location', dest='tablespace_locations', action='append', metavar='NAME=DIR',
                   help='kind=cluster: create tablespace NAME in DIR instead of its source location')
    r.add_argument('--leftovers', action='store_true', default=None,
                   help='with --state absent: drop the databases killed restores left (none a running restore uses)')
    r.add_argument('--target-database')
    r.add_argument('--backup-id', default='latest')
    r.add_argument('--if-exists', default='fail', choices=('fail', 'replace'))
    r.add_argument('--metrics-dir', help='node_exporter textfile directory: record the verification state')
    r.add_argument('--allow-unencrypted', action='store_true', default=None,
                   help='restore an unencrypted backup although a key is given (one made before encryption)')
    r.add_argument('--check', action='store_true', help='report what would happen, change nothing')
    # a private copy of the parent: argparse shares parent actions between subparsers, so
    # changing `required` or a default on one subcommand would change it for all of them
    rk = sub.add_parser('rekey', parents=[copy.deepcopy(common)],
                        help='rewrap the data keys of encrypted backups with a new key (manifests only)')
    for action in rk._actions:   # all databases of the server when --database is not given
        if action.dest == 'database':
            action.required = False
    rk.add_argument('--new-encryption-key-file', help='the new key-encryption key file (0600)')
    rk.add_argument('--new-encryption-key-env', metavar='VARIABLE',
                    help='name of an environment variable holding the new key-encryption key')
    rk.add_argument('--check', action='store_true', help='list what would be rewrapped, change nothing')
    sub.add_parser('list', parents=[common], help='list complete backups of a database')
    v = sub.add_parser('verify', parents=[copy.deepcopy(common)],   # private copy: see rekey
                       help='check stored backups against their manifests')
    for action in v._actions:   # kind=base/cluster belong to the server (the engine asks for it with logical)
        if action.dest == 'database':
            action.required = False
    v.add_argument('--kind', default='logical', choices=('logical', 'base', 'cluster'))
    v.add_argument('--backup-id', default='latest', help="an id, 'latest' or 'all'")
    v.add_argument('--mode', default='quick', choices=('quick', 'deep'))
    v.add_argument('--restored-database', help='also compare the rows per table of this live database with the backup')
    v.add_argument('--check', action='store_true', help='check, but do not record verify.json')
    v.add_argument('--allow-unencrypted', action='store_true', default=False,
                   help='with a key: accept unencrypted backups (made before encryption was switched on)')
    _mysql_parsers(sub, common)
    _wal_parsers(sub, common)
    ps = sub.add_parser('pitr-status', parents=[copy.deepcopy(common)],   # private copy: see rekey
                        help='PostgreSQL WAL archive health (exit 1 when not healthy); see docs/pitr.md')
    for action in ps._actions:   # the archive belongs to the server; --database: where to connect (postgres)
        if action.dest == 'database':
            action.required = False
    ps.add_argument('--metrics-dir', help='node_exporter textfile directory: record dbbackup_wal_* metrics')
    ps.add_argument('--verify', default='none', choices=('none', 'quick', 'deep'),
                    help='also check every archived file: quick (checksums, no key) or deep (decrypt, WAL pages)')
    ps.add_argument('--check', action='store_true', help='measure, but do not write metrics')
    _repository_parsers(sub, common)
    return p


def _wal_parsers(sub, common):
    """wal-push / wal-fetch: PostgreSQL's archive_command and restore_command (postgres/physical/wal_archive.py)."""
    import copy
    for name, helptext, positionals in (
            ('wal-push', 'archive_command: archive one WAL file (%%p %%f)', (('src_path', '%p'), ('wal_name', '%f'))),
            ('wal-fetch', 'restore_command: restore one archived WAL file (%%f %%p); exit 1 when not archived',
             (('wal_name', '%f'), ('dest_path', '%p')))):
        w = sub.add_parser(name, parents=[copy.deepcopy(common)], help=helptext)   # private copy: see rekey
        for action in w._actions:   # WAL belongs to the server, not to one database
            if action.dest == 'database':
                action.required = False
        for dest, metavar in positionals:
            w.add_argument(dest, metavar=metavar)
        w.add_argument('--compression', default='zstd', choices=('zstd', 'gzip', 'none'),
                       help='for new archive files (fetch reads any)')
        w.add_argument('--compression-level', type=int, help='default 1 for WAL')
        w.add_argument('--archive-async', type=_yes_no, nargs='?', const=True, default=False, metavar='yes|no',
                       help='through the background spooler/prefetcher (docs/wal.md#asynchronous-archiving)')
        w.add_argument('--spool-path', help='directory of the spool (default /var/spool/dbbackup)')
        w.add_argument('--async-jobs', type=int, help='files transferred in parallel (default 4)')
        w.add_argument('--async-queue', type=int, help='files handled ahead of PostgreSQL at most (default 16)')
        w.add_argument('--async-timeout', type=float, help='seconds to wait for the spooler/prefetcher (default 60)')
        w.add_argument('--check', action='store_true', help='report what would happen, change nothing')
        if name == 'wal-fetch':
            w.add_argument('--allow-unencrypted', action='store_true', default=False,
                           help='accept WAL stored unencrypted although the archive is encrypted (a key is given '
                                'or wal-key.json exists): only for WAL archived before encryption was switched on')


def _yes_no(value):
    text = str(value).strip().lower()
    if text in ('1', 'true', 'yes', 'on', 'y'):
        return True
    if text in ('0', 'false', 'no', 'off', 'n', ''):
        return False
    raise ValueError(value)


def _repository_parsers(sub, common):
    """info (what the repository holds) and prune (retention); neither connects to a database."""
    import copy
    inf = sub.add_parser('info', parents=[copy.deepcopy(common)],   # private copy: see rekey
                         help='list backups (all servers unless --server-name/--login-host is given)')
    pr = sub.add_parser('prune', parents=[copy.deepcopy(common)],   # private copy: see rekey
                        help='delete backups a retention policy does not keep (see docs/retention.md)')
    for parser in (inf, pr):
        for action in parser._actions:   # all databases when --database is not given
            if action.dest == 'database':
                action.required = False
    inf.add_argument('--kind', default='all', choices=('all', 'logical', 'base', 'cluster'))
    inf.add_argument('--backup-id', default='all', help="'all', 'latest' (per series) or an id")
    inf.add_argument('--no-check-wal', dest='check_wal', action='store_false', default=True,
                     help='do not check the WAL archive of base backups')
    inf.add_argument('--leftovers', action='store_true', default=None,
                     help='also list the databases killed restores left on the server (--login-* options)')
    inf.add_argument('--check', action='store_true', help='no effect (info never changes anything)')
    pr.add_argument('--kind', default='logical', choices=('logical', 'base', 'cluster'))
    for rule in ('keep-last', 'keep-daily', 'keep-weekly', 'keep-monthly'):
        pr.add_argument('--' + rule, type=int)
    pr.add_argument('--max-age', help='e.g. 90d: older backups are not kept by the keep rules')
    pr.add_argument('--min-keep', type=int, default=1)
    pr.add_argument('--grace-period', default='24h', help='age after which a backup without manifest is a leftover')
    pr.add_argument('--no-prune-wal', dest='prune_wal', action='store_false', default=True,
                    help='keep archived WAL (kind=base) and MySQL binary logs (kind=logical)')
    pr.add_argument('--no-prune-incomplete', dest='prune_incomplete', action='store_false', default=True,
                    help='keep leftovers of interrupted backups')
    pr.add_argument('--check', action='store_true', help='list what would be deleted, delete nothing')


def _mysql_parsers(sub, common):
    """binlog-push (timer-driven archive of closed MySQL/MariaDB binlog files), pitr, binlog-events."""
    import argparse
    import copy
    bp = sub.add_parser('binlog-push', parents=[copy.deepcopy(common)],   # private copy: see rekey
                        help='archive closed MySQL/MariaDB binary-log files (run it from a timer on the db host)')
    for action in bp._actions:   # binlogs belong to the server, not to one database
        if action.dest == 'database':
            action.required = False
    bp.set_defaults(db_type='mysql', jobs=1)
    bp.add_argument('--rotate', action='store_true',
                    help='FLUSH BINARY LOGS first, so everything written until now is archived')
    bp.add_argument('--binlog-dir', help='directory of the binlog files (default: from @@log_bin_basename)')
    bp.add_argument('--compression', default='zstd', choices=('zstd', 'gzip', 'none'))
    bp.add_argument('--compression-level', type=int)
    bp.add_argument('--check', action='store_true', help='report what would be archived, change nothing')
    pt = sub.add_parser('pitr', parents=[copy.deepcopy(common)],   # private copy: see rekey
                        help='restore a logical backup and replay archived binlog events (MySQL/MariaDB)')
    pt.set_defaults(db_type='mysql')
    pt.add_argument('--target-database')
    pt.add_argument('--backup-id', default='latest')
    pt.add_argument('--if-exists', default='fail', choices=('fail', 'replace'))
    pt.add_argument('--stop-datetime', help='UTC, e.g. "2025-01-31 12:00:00"; events at or after it are not applied')
    pt.add_argument('--stop-binlog-file')
    pt.add_argument('--stop-position', type=int)
    pt.add_argument('--allow-unencrypted', action='store_true', default=False,
                    help='replay binlog files stored unencrypted although the archive is encrypted '
                         '(only those archived before encryption was switched on)')
    pt.add_argument('--check', action='store_true', help='report what would happen, change nothing')
    be = sub.add_parser('binlog-events', parents=[copy.deepcopy(common)],   # private copy: see rekey
                        help='list archived binlog transactions of a database (MySQL/MariaDB), to choose a '
                             'pitr stop point')
    be.set_defaults(db_type='mysql')
    be.add_argument('--around', dest='events_around', help='a time (UTC unless it has an offset)')
    be.add_argument('--window', dest='events_window', help='how far around --around, e.g. 10m (default)')
    be.add_argument('--table', dest='events_table', help='only transactions touching this table')
    be.add_argument('--limit', dest='events_limit', type=int, help='list the newest N (default 100)')
    be.add_argument('--allow-unencrypted', action='store_true', default=False,
                    help='read binlog files stored unencrypted although the archive is encrypted')
    be.add_argument('--check', action='store_true', help=argparse.SUPPRESS)


# subcommand -> api entry point (all but list take params and check_mode)
COMMANDS = {'backup': 'run_backup', 'restore': 'run_restore', 'rekey': 'run_rekey',
            'binlog-push': 'run_binlog_push', 'pitr': 'run_pitr', 'verify': 'run_verify',
            'wal-push': 'run_wal_push', 'wal-fetch': 'run_wal_fetch',
            'info': 'run_info', 'prune': 'run_prune', 'pitr-status': 'run_pitr_status',
            'binlog-events': 'run_binlog_events'}


# run by PostgreSQL once per WAL file: success is silent (exit 0), failure one stderr line (exit 1)
QUIET_COMMANDS = ('wal-push', 'wal-fetch')
# wal-fetch: exit 1 means only "not archived" (PostgreSQL then ends recovery: the end of the archive).
# A file that is archived but cannot be restored (damaged, wrong or missing key, repository error,
# a bad command line) exits above 125, which PostgreSQL treats like a shell error: recovery stops
# with FATAL "could not restore file" instead of ending early and promoting a short replay.
FETCH_NOT_ARCHIVED = 1
FETCH_UNUSABLE = 200


def _params(args):
    params = {k: getattr(args, k) for k in vars(args) if k not in ('command', 'check')}
    params['login_password'] = os.environ.get('DBBACKUP_LOGIN_PASSWORD') or os.environ.get(
        'MYSQL_PWD' if params.get('db_type') == 'mysql' else 'PGPASSWORD')
    params['encryption_passphrase'] = os.environ.get('DBBACKUP_ENCRYPTION_PASSPHRASE') or None
    if args.command == 'rekey':
        params['new_encryption_passphrase'] = os.environ.get('DBBACKUP_NEW_ENCRYPTION_PASSPHRASE') or None
    return params


def _list(params):
    from .operations.backup import summary
    from .operations.params import COMMON_DEFAULTS, prepare
    from .format.backups import backups_path, list_backups
    from .storage.factory import open_repository
    p = prepare(params, COMMON_DEFAULTS)
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    backups = [dict(summary(m, repo.location(base + '/' + bid)), started_at=m['started_at'])
               for bid, m in list_backups(repo, base)]
    result = {'changed': False, 'backups': backups, 'server_name': p['server_name']}
    if not backups:     # say where backups are, instead of a bare []: the server name is derived
        from .operations.info import databases, servers
        names = servers(repo)
        if p['server_name'] in names:
            held = databases(repo, p['server_name'])
            result['msg'] = ('No complete backup of %s under server %s in %s; it holds backups of: %s.'
                             % (p['database'], p['server_name'], repo.location(''), ', '.join(held) or 'none'))
        else:
            result['msg'] = ('No backups under server name %s (derived from --login-host/--login-port unless '
                             '--server-name is given) in %s; server names there: %s.'
                             % (p['server_name'], repo.location(''), ', '.join(names) or 'none'))
        sys.stderr.write('dbbackup: %s\n' % result['msg'])
    return result


class Stopped(KeyboardInterrupt):
    """SIGTERM (systemctl stop, timeouts) ends a run as SIGINT does: everything cleans up."""


def _stop(signum, frame):
    raise Stopped()


def _unraisable_in_c(exc_type, value, tb):
    """While a command runs, C code that cannot raise (psycopg2's callbacks when the server goes
    away mid-COPY) reports through sys.excepthook: the command's own error says what happened,
    so those stray tracebacks are not printed. Errors of the command itself still are."""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (['wal-push'], ['wal-fetch']):
        # archive_command / restore_command: answered from the spool when the background process runs
        from .postgres.physical.wal_async import fast_path
        rc = fast_path(argv)
        if rc is not None:
            return rc
    if argv[:1] != ['wal-fetch']:
        return _main(argv)
    try:
        rc = _main(argv)
    except SystemExit as e:     # argparse: a bad command line must not read as "not archived"
        rc = e.code if isinstance(e.code, int) else 2
    # 143: stopped by SIGTERM (PostgreSQL's shutdown asks so): PostgreSQL exits quietly on it
    return rc if rc in (0, FETCH_NOT_ARCHIVED, 143) else FETCH_UNUSABLE


def _main(argv):
    if sys.flags.no_site:       # a launcher may start Python with -S for the fast path: load site-packages now
        import site
        site.main()
    import json
    import signal
    from .cli_config import apply_config, fill_secrets
    from .common.errors import DbBackupError
    signal.signal(signal.SIGTERM, _stop)
    parser = _parser()
    try:   # --config FILE: option values and secrets from a file (cli_config.py)
        secrets = apply_config(parser, argv)
    except DbBackupError as e:
        sys.stderr.write('dbbackup: %s\n' % e)
        return 2
    args = parser.parse_args(argv)
    params = fill_secrets(_params(args), secrets, args.command)
    hook, sys.excepthook = sys.excepthook, _unraisable_in_c
    try:
        if args.command == 'list':
            result = _list(params)
        else:
            from . import api
            result = getattr(api, COMMANDS[args.command])(params, check_mode=args.check)
    except DbBackupError as e:
        # one line: archive_command/restore_command output lands in the server log
        sys.stderr.write('dbbackup: %s\n' % ' '.join(str(e).split()))
        if args.command == 'wal-fetch':
            from .postgres.physical.wal_archive import WalNotArchived
            return FETCH_NOT_ARCHIVED if isinstance(e, WalNotArchived) else FETCH_UNUSABLE
        return 1
    except KeyboardInterrupt as e:
        sys.stderr.write('dbbackup: %s; nothing incomplete was recorded.\n'
                         % ('stopped (SIGTERM)' if isinstance(e, Stopped) else 'interrupted'))
        return 143 if isinstance(e, Stopped) else 130
    finally:
        sys.excepthook = hook
    if args.command not in QUIET_COMMANDS:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + '\n')
    if args.command == 'pitr-status' and not result.get('healthy'):
        return 1   # a timer (OnFailure=) or a monitor alerts on it; the JSON says why
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
