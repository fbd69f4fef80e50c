# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore command (module dbbackup_restore, CLI `dbbackup restore`).

state present: a logical backup into a new database swapped in at the end (PostgreSQL:
postgres/logical/restore.py, MySQL/MariaDB: mysql/logical/restore.py), or a cluster backup
(operations/cluster.py); state absent: drop a scratch copy a restore made (scratch_drop.py).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ..common.errors import BadInput
from ..format.backups import backups_path, find_backup
from ..format.keys import backup_data_key, key_source
from ..format.manifest import check_db_type
from ..storage.factory import open_repository
from .backup import summary
from .metrics import restore_metrics
from .params import RESTORE_DEFAULTS, prepare


def run_restore(params, check_mode=False):
    """Restore a backup (state present, the default), or drop a scratch copy it made (state absent)."""
    state = (params or {}).get('state') or 'present'
    if state not in ('present', 'absent'):
        raise BadInput('state must be present or absent, got %r.' % (state,))
    if state == 'absent':   # DR-drill clean-up: only databases carrying our restore marker
        from .scratch_drop import drop_restored
        return drop_restored(prepare(params, RESTORE_DEFAULTS, need_database=not params.get('leftovers')),
                             check_mode)
    return restore(params, check_mode)


@restore_metrics  # params['metrics_dir']: verification state of the restored backup
def restore(params, check_mode=False):
    kind = (params or {}).get('kind') or 'logical'
    if kind == 'cluster':   # globals and databases of a cluster backup
        from .cluster import run_cluster_restore
        return run_cluster_restore(prepare(params, RESTORE_DEFAULTS, need_database=False), check_mode)
    if kind != 'logical':
        raise BadInput('kind must be logical or cluster for a restore, got %r.' % (kind,))
    p = prepare(params, RESTORE_DEFAULTS)
    if p['if_exists'] not in ('fail', 'replace'):
        raise BadInput('if_exists must be fail or replace, got %r.' % (p['if_exists'],))
    target = p.get('target_database') or p['database']
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    encryption = key_source(p)
    manifest = find_backup(repo, base, p['backup_id'])
    check_db_type(manifest, p)
    path = base + '/' + manifest['backup_id']
    data_key = backup_data_key(encryption, manifest, p.get('allow_unencrypted'))   # before anything touches the target
    if p['db_type'] == 'mysql':
        from ..mysql.logical.restore import MysqlLogicalRestore
        from ..mysql.connection import connect as mysql_connect
        restorer = MysqlLogicalRestore(p, repo, path, manifest, target, p['if_exists'], p['jobs'],
                                       data_key=data_key)
        admin = mysql_connect(p)
    else:
        from ..postgres.connection import connect
        from ..postgres.logical.restore import LogicalRestore, MAINTENANCE_DB
        restorer = LogicalRestore(p, repo, path, manifest, target, p['if_exists'], p['jobs'], data_key=data_key)
        admin = connect(p, dbname=MAINTENANCE_DB, autocommit=True)
    t0 = time.time()
    try:
        action = restorer.plan(admin)
        result = summary(manifest, repo.location(path))
        result['target_database'] = target
        if action == 'unchanged':
            result.update(changed=False, duration_seconds=0,
                          msg='Database %s already holds backup %s.' % (target, manifest['backup_id']))
            return result
        if check_mode:
            result.update(changed=True, duration_seconds=0,
                          msg='Backup %s would be restored into %s (%s).' % (manifest['backup_id'], target, action))
            return result
        version = restorer.run(admin, action)
    finally:
        admin.close()
    result.update(changed=True, server_version=version, duration_seconds=round(time.time() - t0, 3),
                  msg='Backup %s restored into %s.' % (manifest['backup_id'], target))
    if getattr(restorer, 'inventory', None):   # PostgreSQL: the restored objects against the backup's
        result['inventory'] = restorer.inventory
    return result
