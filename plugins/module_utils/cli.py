"""Host CLI `dbbackup`: the same engine where PostgreSQL or systemd call it.

Options mirror the module options. Passwords come from the environment
(DBBACKUP_LOGIN_PASSWORD, else PGPASSWORD), never from argv, so they do not
show in process lists. Prints the result as JSON; errors go to stderr with
exit status 1 (2 for usage errors).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import sys

from .errors import DbBackupError

CONNECTION = ('db_type', 'login_host', 'login_port', 'login_user', 'login_unix_socket',
              'ssl_mode', 'ca_cert', 'database', 'repository', 'server_name', 'jobs')


def _parser():
    p = argparse.ArgumentParser(prog='dbbackup', description='Native database backup and restore.')
    sub = p.add_subparsers(dest='command')
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--db-type', default='postgresql', choices=('postgresql', 'mysql'))
    common.add_argument('--login-host')
    common.add_argument('--login-port', type=int, default=5432)
    common.add_argument('--login-user', default='postgres')
    common.add_argument('--login-unix-socket')
    common.add_argument('--ssl-mode', default='prefer')
    common.add_argument('--ca-cert')
    common.add_argument('--database', required=True)
    common.add_argument('--repository', required=True)
    common.add_argument('--server-name')
    common.add_argument('--jobs', type=int, default=2)
    b = sub.add_parser('backup', parents=[common], help='take a logical backup')
    b.add_argument('--kind', default='logical', choices=('logical',))
    b.add_argument('--compression', default='zstd', choices=('zstd', 'gzip', 'none'))
    b.add_argument('--compression-level', type=int)
    b.add_argument('--max-age')
    b.add_argument('--check', action='store_true', help='report what would happen, change nothing')
    r = sub.add_parser('restore', parents=[common], help='restore a logical backup')
    r.add_argument('--target-database')
    r.add_argument('--backup-id', default='latest')
    r.add_argument('--if-exists', default='fail', choices=('fail', 'replace'))
    r.add_argument('--check', action='store_true', help='report what would happen, change nothing')
    ls = sub.add_parser('list', parents=[common], help='list complete backups of a database')
    ls.set_defaults(jobs=1)
    return p


def _params(args):
    params = {k: getattr(args, k) for k in vars(args) if k not in ('command', 'check')}
    params['login_password'] = os.environ.get('DBBACKUP_LOGIN_PASSWORD') or os.environ.get('PGPASSWORD')
    return params


def _list(params):
    from .api import _prepare, COMMON_DEFAULTS, _summary
    from .catalog import backups_path, list_backups
    from .storage.factory import open_repository
    p = _prepare(params, COMMON_DEFAULTS)
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    return {'changed': False, 'backups': [
        dict(_summary(m, repo.location(base + '/' + bid)), started_at=m['started_at'])
        for bid, m in list_backups(repo, base)]}


def main(argv=None):
    args = _parser().parse_args(argv)
    params = _params(args)
    try:
        if args.command == 'backup':
            from .api import run_backup
            result = run_backup(params, check_mode=args.check)
        elif args.command == 'restore':
            from .api import run_restore
            result = run_restore(params, check_mode=args.check)
        else:
            result = _list(params)
    except DbBackupError as e:
        sys.stderr.write('dbbackup: %s\n' % e)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write('dbbackup: interrupted; nothing incomplete was recorded.\n')
        return 130
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
