# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The PITR command (module dbbackup_pitr, CLI `dbbackup pitr` and `pitr-status`).

PostgreSQL: the whole server from base backups and archived WAL, states enabled, status,
restored and absent (postgres/physical/pitr.py); state=status can record its health as
metrics here. MySQL/MariaDB: one database, logical restore + binlog replay
(mysql/binlog/pitr.py), and state=events lists archived binlog transactions
(mysql/binlog/event_list.py, CLI binlog-events).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ..common.errors import BadInput, DbBackupError
from ..format.keys import backup_data_key, key_source
from . import metrics
from .params import PITR_DEFAULTS, prepare


def run_pitr(params, check_mode=False):
    """Point-in-time recovery (module dbbackup_pitr)."""
    if (params or {}).get('db_type', 'postgresql') == 'postgresql':
        from ..postgres.physical import pitr as postgres_pitr
        p = prepare(params, PITR_DEFAULTS, need_database=False)
        state = postgres_pitr.check_request(p)
        if state == 'status':
            return status_with_metrics(p, check_mode)
        return postgres_pitr.run_state(p, state, check_mode)
    p = prepare(params, PITR_DEFAULTS)
    if p.get('metrics_dir'):
        raise BadInput('metrics_dir is used with db_type postgresql and state=status only.')
    if p.get('verify') not in (None, 'none'):
        raise BadInput('verify is used with db_type postgresql and state=status only.')
    if p.get('state') == 'events':
        from ..mysql.binlog.event_list import list_events
        return list_events(p)
    from ..mysql.binlog.pitr import run_pitr as mysql_pitr
    encryption = key_source(p)
    return mysql_pitr(p, check_mode, lambda manifest: backup_data_key(encryption, manifest, p.get('allow_unencrypted')))


def run_pitr_status(params, check_mode=False):
    """Host CLI pitr-status: dbbackup_pitr state=status of a PostgreSQL server (metrics_dir optional)."""
    if (params or {}).get('db_type', 'postgresql') not in (None, 'postgresql'):
        raise BadInput('pitr-status checks the WAL archive of a PostgreSQL server; got db_type %s.'
                       % params['db_type'], 'Leave --db-type out (or set db_type = postgresql).')
    return run_pitr(dict(params, state='status'), check_mode=check_mode)


def status_with_metrics(p, check_mode):
    """archive_status, recorded into metrics_dir's dbbackup.prom when given (not in check mode)."""
    from ..postgres.physical.pitr import archive_status
    directory = p.get('metrics_dir')
    if directory:
        metrics.check_dir(directory)   # a wrong directory fails before anything is measured
    measured = time.time()
    result = archive_status(p)
    if directory and not check_mode:
        try:
            result['metrics_file'] = metrics.record_pitr_status(directory, result, measured=measured)
        except (DbBackupError, OSError, IOError) as e:
            result['metrics_error'] = 'The status was measured but its metrics could not be written: %s' % e
    return result
