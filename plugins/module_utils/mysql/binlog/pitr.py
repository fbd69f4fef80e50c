# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Point-in-time recovery of one MySQL/MariaDB database: logical restore + binlog replay.

1. The backup: backup_id, or with 'latest' the newest logical backup of the
   database whose snapshot was taken before stop_datetime.
2. The binlog chain: archived files from the backup's binlog file on, with no
   gap, up to the file holding the stop point; the archive must reach it.
3. Every file (backup and binlogs) is verified against its SHA-256 first. The
   keys are checked before that: the backup's data key when it is encrypted, and
   the binlog archive's key (binlog-key.json) when a file of the chain is
   encrypted (binlog.chain_key); both come from the same key options.
4. Before anything is touched, the events are read once (replay_filter.py): those of
   the database are kept and renamed, the others left out, and an event that cannot
   be replayed safely under another name (it names another database of the server,
   or drops the database itself, ...) fails the recovery here, naming its position
   and statement. The stop point is found: events at or after stop_datetime, or at or
   after stop_binlog_file:stop_position, are not applied, nor is the rest of the
   transaction the stop point falls into.
5. The backup is restored into a temporary database (restore.py), its routines,
   views and triggers created there, the kept events replayed into it
   (replay.py: mariadb-binlog | mariadb), and only then is it swapped in under
   the target name. A failed replay leaves the target as it was.

Restore and replay sessions run with sql_log_bin=0: recovered rows are not
written to the target server's binary log again (replicas of the target must
be re-seeded; the recovery itself is not a transaction to replicate).
The marker records backup and stop point, so repeating the same recovery
reports no change.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ...common.errors import BadInput, NotFound
from ...common.times import isoformat, parse_iso, parse_user_time
from ...format.backups import backups_path, find_backup, list_backups
from ...format.keys import key_source
from ...storage.factory import open_repository
from ..connection import connect
from ..logical.restore import MysqlLogicalRestore, marker_value
from .archive import chain_key, list_archive, plan_chain, verify_chain
from .replay import check, replay, server_facts


def parse_stop_datetime(value):
    """UTC-aware datetime of stop_datetime ('2025-01-31 12:00:00', ISO 8601; no offset = UTC)."""
    if value in (None, ''):
        return None
    ts = parse_user_time(value, 'stop_datetime')
    if ts.microsecond:
        raise BadInput('stop_datetime %r has fractions of a second; binary-log events carry whole seconds.'
                       % (value,))
    return ts


def _snapshot_time(manifest):
    pos = manifest.get('consistent_position') or {}
    return parse_iso(pos.get('snapshot_time') or manifest['started_at'])


def choose_backup(repo, base, backup_id, stop_time):
    if backup_id not in (None, '', 'latest'):
        manifest = find_backup(repo, base, backup_id)
        if stop_time is not None and _snapshot_time(manifest) >= stop_time:
            raise BadInput('Backup %s was taken at %s, not before stop_datetime %s.'
                           % (manifest['backup_id'], isoformat(_snapshot_time(manifest)), isoformat(stop_time)),
                           'Choose an older backup_id (or backup_id: latest).')
        return manifest
    candidates = [m for _bid, m in list_backups(repo, base)
                  if (m.get('consistent_position') or {}).get('binlog_file')
                  and (stop_time is None or _snapshot_time(m) < stop_time)]
    if not candidates:
        raise NotFound('No complete backup with a binary-log position%s in %s.'
                       % (' taken before %s' % isoformat(stop_time) if stop_time else '', repo.location(base)),
                       'Take a backup with binary logging on (log_bin) before the point to recover to.')
    return candidates[-1]


def run_pitr(p, check_mode, data_key_for):
    """p: prepared params (operations.params.prepare). data_key_for(manifest) -> data key or None."""
    if (p.get('state') or 'restored') != 'restored':
        raise BadInput("state must be 'restored' or 'events' with db_type mysql, got %r." % (p.get('state'),))
    if any(p.get(k) not in (None, '') for k in ('events_around', 'events_window', 'events_table', 'events_limit')):
        raise BadInput('events_around, events_window, events_table and events_limit go with state=events.')
    if p['if_exists'] not in ('fail', 'replace'):
        raise BadInput('if_exists must be fail or replace, got %r.' % (p['if_exists'],))
    stop_time = parse_stop_datetime(p.get('stop_datetime'))
    stop_file, stop_pos = p.get('stop_binlog_file'), p.get('stop_position')
    if (stop_file is None) != (stop_pos is None):
        raise BadInput('stop_binlog_file and stop_position go together.')
    if stop_time is not None and stop_file is not None:
        raise BadInput('Give stop_datetime or stop_binlog_file/stop_position, not both.')
    if stop_pos is not None:
        try:
            stop_pos = int(stop_pos)
        except (TypeError, ValueError):
            raise BadInput('stop_position must be an integer, got %r.' % (stop_pos,))
    target = p.get('target_database') or p['database']
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database'])
    manifest = choose_backup(repo, base, p.get('backup_id'), stop_time)
    if manifest.get('db_type') != 'mysql':
        raise BadInput('Backup %s is a %s backup; dbbackup_pitr with db_type mysql needs a mysql one.'
                       % (manifest['backup_id'], manifest.get('db_type')))
    position = manifest.get('consistent_position') or {}
    if not position.get('binlog_file'):
        raise BadInput('Backup %s has no binary-log position (binary logging was off when it was taken).'
                       % manifest['backup_id'], 'Point-in-time recovery needs log_bin on the source server.')
    start_file, start_pos = position['binlog_file'], int(position['binlog_position'])
    if stop_file == start_file and stop_pos <= start_pos:
        raise BadInput('stop_position %d is not after the backup\'s position %s:%d.' % (stop_pos, start_file, start_pos))
    chain = plan_chain(list_archive(repo, p['server_name']), start_file, stop_file, stop_time)
    if stop_file is not None and stop_pos > chain[-1]['size']:
        raise BadInput('stop_position %d is past the end of %s (%d bytes).' % (stop_pos, stop_file, chain[-1]['size']),
                       'Take the position from the event listing (dbbackup binlog-events).')
    if stop_time is not None:
        stop_label = 'time=' + isoformat(stop_time)
    elif stop_file is not None:
        stop_label = 'position=%s:%d' % (stop_file, stop_pos)
    else:
        stop_label = 'end=%s:%d' % (chain[-1]['file'], chain[-1]['size'])
    path = base + '/' + manifest['backup_id']
    binlog_key = chain_key(repo, p['server_name'], chain, key_source(p), bool(p.get('allow_unencrypted')))   # before anything is restored
    data_key = data_key_for(manifest)      # after the archive: its refusal names the plain binlog files
    restore = MysqlLogicalRestore(p, repo, path, manifest, target, p['if_exists'], p['jobs'], data_key=data_key,
                                  marker=marker_value(manifest, 'pitr:' + stop_label), log_bin=False)
    result = {
        'backup_id': manifest['backup_id'], 'location': repo.location(path), 'database': manifest['database'],
        'target_database': target, 'size_bytes': manifest['totals']['stored_bytes'],
        'raw_bytes': manifest['totals']['raw_bytes'], 'tables': manifest['totals']['tables'],
        'rows': manifest['totals']['rows'], 'server_version': manifest.get('server_version'),
        'binlog_start': '%s:%d' % (start_file, start_pos), 'binlog_files': [m['file'] for m in chain],
        'stop_datetime': isoformat(stop_time) if stop_time else None,
        'stop_position': ('%s:%d' % (stop_file, stop_pos)) if stop_file else None,
        'replayed_bytes': 0, 'duration_seconds': 0, 'binlog_encrypted': binlog_key is not None,
    }
    t0 = time.time()
    admin = connect(p)
    try:
        action = restore.plan(admin)
        if action == 'unchanged':
            result.update(changed=False, msg='Database %s already holds backup %s recovered to %s.'
                          % (target, manifest['backup_id'], stop_label))
            return result
        verify_chain(repo, p['server_name'], chain)
        names, charsets = server_facts(admin)
        plan = {'source': manifest['database'], 'others': names, 'charsets': charsets,
                'start': (start_file, start_pos), 'stop_time': stop_time,
                'stop': (stop_file, stop_pos) if stop_file else None}
        checked = check(repo, p['server_name'], chain, plan, restore.temp, binlog_key)
        result.update(replay_summary(checked))
        if check_mode:
            result.update(changed=True, msg='Backup %s and %d binlog file(s) would be restored into %s (%s).'
                          % (manifest['backup_id'], len(chain), target, action))
            return result
        replayed = {}

        def replay_into(temp):
            replayed.update(replay(p, repo, chain, plan, temp, checked.cut, data_key=binlog_key))

        version = restore.run(admin, action, between=replay_into)
    finally:
        admin.close()
    result.update(changed=True, server_version=version, replayed_bytes=sum(m['size'] for m in chain),
                  duration_seconds=round(time.time() - t0, 3),
                  msg='Backup %s restored into %s and recovered to %s.' % (manifest['backup_id'], target, stop_label))
    return result


def replay_summary(flt):
    """What the replay applies (from the check pass): counts, and where it stops."""
    stats = flt.stats
    out = {'replayed_transactions': stats['transactions'], 'replayed_row_events': stats['row_events'],
           'replayed_statements': stats['statements'], 'rewritten_statements': stats['rewritten'],
           'stopped_before': None}
    if flt.stopped:
        out['stopped_before'] = dict(flt.stopped)
    return out
