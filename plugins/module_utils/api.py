# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Engine entry points: what modules, the host CLI, tests and the bench call.

params use the module option names; missing keys get the defaults of
operations/params.py. Results are JSON-clean dicts with the same keys for every
caller. Each run_* hands over to one command of operations/ (or, for the WAL and
binlog archive commands that PostgreSQL and timers call, straight to the engine);
commands are imported when called, so a wal-push starts without loading the rest.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .common.errors import BadInput
from .operations.params import (
    BINLOG_DEFAULTS, INFO_DEFAULTS, PRUNE_DEFAULTS, WAL_DEFAULTS, prepare)


def run_backup(params, check_mode=False):
    """A backup of any kind (module dbbackup_backup): operations/backup.py."""
    from .operations.backup import run_backup as backup
    return backup(params, check_mode)


def run_restore(params, check_mode=False):
    """Restore a backup, or drop a scratch copy a restore made (module dbbackup_restore): operations/restore.py."""
    from .operations.restore import run_restore as restore
    return restore(params, check_mode)


def run_verify(params, check_mode=False):
    """Re-read stored backups against their manifests (module dbbackup_verify): operations/verify.py."""
    from .operations.verify import run_verify as verify
    return verify(params, check_mode)


def run_rekey(params, check_mode=False):
    """Rewrap the data keys of encrypted backups with a new key: operations/rekey.py."""
    from .operations.rekey import rekey
    return rekey(params, check_mode)


def run_verify_locks(params, check_mode=False):
    """Lock-table capacity against what dumps/restores need: operations/verify_locks.py."""
    from .operations.verify_locks import run_verify_locks as verify
    return verify(params, check_mode)


def run_pitr(params, check_mode=False):
    """Point-in-time recovery (module dbbackup_pitr): operations/pitr.py."""
    from .operations.pitr import run_pitr as pitr
    return pitr(params, check_mode)


def run_binlog_events(params, check_mode=False):
    """Host CLI binlog-events: dbbackup_pitr state=events (archived MySQL/MariaDB binlog transactions)."""
    p = dict(params or {}, state='events')
    p.setdefault('db_type', 'mysql')
    return run_pitr(p, check_mode)


def run_pitr_status(params, check_mode=False):
    """Host CLI pitr-status: dbbackup_pitr state=status of a PostgreSQL server (metrics_dir optional)."""
    from .operations.pitr import run_pitr_status as status
    return status(params, check_mode)


def run_info(params, check_mode=False):
    """What a repository holds (module dbbackup_info): read-only, operations/info.py.

    Without server_name (and without login_host/login_unix_socket to derive it from)
    every server of the repository is listed.
    """
    from .operations.info import run_info as info
    params = params or {}
    derive = params.get('server_name') or params.get('login_host') or params.get('login_unix_socket')
    p = prepare(params, INFO_DEFAULTS, need_database=False)
    if not derive:
        p['server_name'] = None
    return info(p, check_mode)


def run_prune(params, check_mode=False):
    """Delete backups (and WAL, binlogs, leftovers) a retention policy does not keep: operations/prune.py."""
    from .operations.prune import run_prune as prune
    return prune(prepare(params, PRUNE_DEFAULTS, need_database=False), check_mode)


def run_binlog_push(params, check_mode=False):
    """Archive closed binary-log files of a MySQL/MariaDB server (host CLI binlog-push)."""
    from .mysql.binlog.archive import push
    p = dict(params or {})
    p.setdefault('db_type', 'mysql')
    if not p.get('database'):
        p['database'] = '-'             # not used; prepare wants one
    p = prepare(p, BINLOG_DEFAULTS)
    if p['db_type'] != 'mysql':
        raise BadInput('binlog-push archives MySQL/MariaDB binary logs; db_type must be mysql.')
    return push(p, rotate=bool(p.get('rotate')), binlog_dir=p.get('binlog_dir'),
                compression=p['compression'], level=p['compression_level'], check_mode=check_mode)


def _wal_params(params):
    p = prepare(params, WAL_DEFAULTS, need_database=False)
    if p['db_type'] != 'postgresql':
        raise BadInput('wal-push and wal-fetch archive PostgreSQL WAL; db_type must be postgresql.')
    return p


def run_wal_push(params, check_mode=False):
    """archive_command: archive the WAL file src_path (%p) as wal_name (%f); postgres/physical/wal_archive.py.

    With archive_async: through the spooler (postgres/physical/wal_spool.py), which this process
    starts when none runs (a fork: call it from a single-threaded process such as the CLI).
    """
    p = _wal_params(params)
    if p.get('archive_async') and not check_mode:
        from .postgres.physical.wal_spool import push_async
        return push_async(p, p.get('src_path'), p.get('wal_name'))
    from .postgres.physical.wal_archive import wal_push
    return wal_push(p, p.get('src_path'), p.get('wal_name'), check_mode=check_mode)


def run_wal_fetch(params, check_mode=False):
    """restore_command: restore archived wal_name (%f) to dest_path (%p); NotFound when not archived.

    With archive_async: from the prefetcher (postgres/physical/wal_spool.py), started when none runs.
    """
    p = _wal_params(params)
    if p.get('archive_async') and not check_mode:
        from .postgres.physical.wal_spool import fetch_async
        return fetch_async(p, p.get('wal_name'), p.get('dest_path'))
    from .postgres.physical.wal_archive import wal_fetch
    return wal_fetch(p, p.get('wal_name'), p.get('dest_path'), check_mode=check_mode)
