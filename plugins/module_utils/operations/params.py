# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Option defaults and the checks every command shares (module option names throughout).

prepare() fills the defaults of one command, derives the db_type's port and user
and the repository's server name, and refuses values no command accepts.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput
from ..common.times import parse_max_age
from ..stream.compress import check_options

COMMON_DEFAULTS = {
    'db_type': 'postgresql', 'login_host': None, 'login_port': 5432, 'login_user': 'postgres',
    'login_password': None, 'login_unix_socket': None, 'ssl_mode': 'prefer', 'ca_cert': None,
    'database': None, 'repository': None, 'server_name': None, 'jobs': 2,
}
BACKUP_DEFAULTS = dict(COMMON_DEFAULTS, kind='logical', compression='zstd',
                       compression_level=None, max_age=None, verify='none', lock_wait_timeout=None,
                       unsupported_objects='fail')
RESTORE_DEFAULTS = dict(COMMON_DEFAULTS, target_database=None, backup_id='latest', if_exists='fail')
VERIFY_DEFAULTS = dict(COMMON_DEFAULTS, kind='logical', backup_id='latest', mode='quick', restored_database=None,
                       allow_unencrypted=False)
PITR_DEFAULTS = dict(RESTORE_DEFAULTS, state='restored', stop_datetime=None, stop_binlog_file=None,
                     stop_position=None, events_around=None, events_window=None, events_table=None,
                     events_limit=None)
INFO_DEFAULTS = dict(COMMON_DEFAULTS, kind='all', backup_id='all', check_wal=True, leftovers=False)
PRUNE_DEFAULTS = dict(COMMON_DEFAULTS, kind='logical', keep_last=None, keep_daily=None, keep_weekly=None,
                      keep_monthly=None, min_keep=1, max_age=None, grace_period='24h', prune_wal=True,
                      prune_incomplete=True)
WAL_DEFAULTS = dict(COMMON_DEFAULTS, compression='zstd', compression_level=None, archive_async=False,
                    spool_path=None, async_jobs=None, async_queue=None, async_timeout=None)
BINLOG_DEFAULTS = dict(COMMON_DEFAULTS, compression='zstd', compression_level=None)
DEFAULT_PORT = {'postgresql': 5432, 'mysql': 3306}
DEFAULT_USER = {'postgresql': 'postgres', 'mysql': 'root'}


def prepare(params, defaults, need_database=True):
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
    """The repository's name of a server when server_name is not given: host[_port], or localhost[_port]."""
    default = DEFAULT_PORT.get(p.get('db_type') or 'postgresql', 5432)
    if p.get('login_host') and not p.get('login_unix_socket'):
        host = p['login_host']
        return host if p['login_port'] == default else '%s_%d' % (host, p['login_port'])
    return 'localhost' if p['login_port'] == default else 'localhost_%d' % p['login_port']


def logical_backup_options(p):
    """(compression, level, max_age seconds) of logical/cluster backup params, after checking the others."""
    compression, level = check_options(p['compression'], p['compression_level'])
    max_age = parse_max_age(p['max_age'])
    if p['lock_wait_timeout'] is not None and not (str(p['lock_wait_timeout']).isdigit()
                                                   and 1 <= int(p['lock_wait_timeout']) <= 86400):
        raise BadInput('lock_wait_timeout must be a number of seconds from 1 to 86400, got %r.'
                       % (p['lock_wait_timeout'],))
    if p['unsupported_objects'] not in ('fail', 'warn'):
        raise BadInput('unsupported_objects must be fail or warn, got %r.' % (p['unsupported_objects'],))
    if p['verify'] not in ('none', 'quick', 'deep'):
        raise BadInput('verify must be none, quick or deep, got %r.' % (p['verify'],))
    return compression, level, max_age
