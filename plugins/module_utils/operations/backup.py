# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup command (module dbbackup_backup, CLI `dbbackup backup`): one entry for every kind.

logical: one database, PostgreSQL (postgres/logical/dump.py) or MySQL/MariaDB (mysql/logical/dump.py);
base:    a PostgreSQL physical base backup (postgres/physical/base_backup.py);
cluster: globals and every database under one id (operations/cluster.py).
Each kind's runner returns (result, written); a new backup is then verified here, once for
all kinds, when verify is quick or deep. metrics_dir is handled by the metrics decorator.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput
from ..common.times import utcnow
from ..format.backups import backups_path, new_backup, reuse_fresh
from ..format.keys import key_source
from ..format.manifest import unsupported_warning
from ..storage.factory import open_repository
from .metrics import backup_metrics
from .params import BACKUP_DEFAULTS, logical_backup_options, prepare

KINDS = ('logical', 'base', 'cluster')


def summary(manifest, location):
    """The result fields of a logical backup (also what `dbbackup list` prints per backup)."""
    t = manifest['totals']
    out = {
        'backup_id': manifest['backup_id'], 'location': location,
        'database': manifest['database'], 'size_bytes': t['stored_bytes'],
        'raw_bytes': t['raw_bytes'], 'duration_seconds': manifest.get('duration_seconds'),
        'tables': t['tables'], 'rows': t['rows'],
        'server_version': manifest.get('server_version'),
        'encrypted': bool(manifest.get('encryption')),
    }
    lacking = unsupported_warning(manifest)
    if lacking:   # taken with unsupported_objects: warn (postgres/logical/dump.py)
        out['warnings'] = [lacking]
    return out


@backup_metrics   # params['metrics_dir']: node_exporter textfile metrics (operations/metrics.py)
def run_backup(params, check_mode=False):
    kind = (params or {}).get('kind') or 'logical'
    if kind not in KINDS:
        raise BadInput('kind must be one of %s, got %r.' % (', '.join(KINDS), kind))
    if kind == 'base':      # physical base backup for PITR
        from ..postgres.physical.base_backup import run_base_backup as runner
    elif kind == 'cluster':   # globals + every database under one backup id
        from .cluster import run_cluster_backup as runner
    else:
        runner = _run_logical_backup
    p = prepare(params, BACKUP_DEFAULTS, need_database=kind == 'logical')
    result, written = runner(p, check_mode)
    verify = p.get('verify') or 'none'
    if written is not None and verify != 'none':
        from .verify import verify_written      # here: it loads the PostgreSQL base-backup readers
        repo, path, manifest, encryption = written
        result['verification'] = verify_written(repo, path, manifest, verify, encryption)
    return result


def _run_logical_backup(p, check_mode):
    compression, level, max_age = logical_backup_options(p)
    encryption = key_source(p)
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    fresh = reuse_fresh(repo, base, max_age, encryption is not None, summary, 'backup')
    if fresh:
        return fresh, None
    if check_mode:      # connect (proves credentials and database), write nothing
        return {'changed': True, 'msg': 'A backup of %s would be created.' % p['database'],
                'backup_id': None, 'location': repo.location(base), 'database': p['database'],
                'size_bytes': 0, 'raw_bytes': 0, 'duration_seconds': 0, 'tables': 0, 'rows': 0,
                'server_version': _server_version(p), 'encrypted': encryption is not None}, None
    if p['db_type'] == 'mysql':
        from ..mysql.logical.dump import MysqlLogicalDump as dump_class
    else:
        from ..postgres.logical.dump import LogicalDump as dump_class
    start = utcnow()
    with new_backup(repo, base, start) as (backup_id, path):
        manifest = dump_class(p, repo, path, backup_id, compression, level, p['jobs'],
                              encryption=encryption).run(start)
    result = summary(manifest, repo.location(path))
    result.update(changed=True, msg='Backup %s of %s written.' % (backup_id, p['database']))
    return result, (repo, path, manifest, encryption)


def _server_version(p):
    """The version of the server a check-mode backup connected to."""
    if p['db_type'] == 'mysql':
        from ..mysql.connection import ServerInfo, connect as mysql_connect
        conn = mysql_connect(p, p['database'])
        try:
            return ServerInfo(conn).version
        finally:
            conn.close()
    from ..postgres.connection import connect, server_version
    conn = connect(p)
    try:
        return server_version(conn)[1]
    finally:
        conn.close()
