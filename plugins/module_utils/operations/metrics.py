# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus metrics for node_exporter's textfile collector.

Every backup given a `metrics_dir` (the collector's directory) records its
outcome there: one file `dbbackup.prom` holds the series of every server,
kind and database backed up on the host, written with prometheus_client's
write_to_textfile (a temporary file renamed into place, so node_exporter never
reads half a file). The values survive between runs in a small JSON state file
next to it, `.dbbackup-metrics.json` (node_exporter reads only *.prom), and an
flock on `.dbbackup-metrics.lock` serializes backups that finish at the same
time. Both files are made readable for node_exporter (0644); the directory
must be writable by the user that runs the backups (the metrics role makes it
group-writable for the backup group).

Series (labels server, db_type, kind, database):
  dbbackup_last_success_timestamp_seconds   end of the newest successful backup
  dbbackup_last_attempt_timestamp_seconds   end of the newest attempt, whatever its outcome
  dbbackup_last_attempt_success             1 when the newest attempt succeeded (or found a fresh backup), else 0
  dbbackup_last_duration_seconds            duration of the newest successful backup
  dbbackup_last_size_bytes                  bytes stored by it (compressed, encrypted)
  dbbackup_last_raw_size_bytes              bytes before compression
  dbbackup_last_rows                        table rows in it
  dbbackup_backups_total{status}            attempts by status: success, failed, skipped (max_age)
  dbbackup_verification_ok                  1 when the newest verification of a backup passed, 0 when it failed
  dbbackup_last_verification_timestamp_seconds
A restore verifies every file of the backup against its manifest first, so a
restore with metrics_dir records the verification state of what it restored.

PostgreSQL archive health (dbbackup_pitr state=status, `dbbackup pitr-status`;
labels server, db_type), replaced as a whole at each status run, kept in the
state's `pitr` list next to the backup series (an unknown value is left out):
  dbbackup_wal_archive_healthy              1 when the status found no problem, else 0
  dbbackup_wal_server_reachable             1 when the server could be queried
  dbbackup_wal_chain_ok                     1 when the WAL chain from the oldest base backup has no gap
  dbbackup_wal_chain_gaps                   gaps in that chain
  dbbackup_wal_archive_segments             WAL segments in the repository
  dbbackup_wal_archive_lag_segments         full WAL files the server has not archived yet
  dbbackup_wal_archive_lag_bytes            WAL written after the end of the last archived file
  dbbackup_wal_last_archived_timestamp_seconds   pg_stat_archiver.last_archived_time
  dbbackup_wal_archived_total / dbbackup_wal_archive_failed_total   pg_stat_archiver counters
  dbbackup_base_backups                     complete base backups in the repository
  dbbackup_pitr_recovery_window_start_timestamp_seconds / _end_timestamp_seconds
  dbbackup_wal_status_timestamp_seconds     when the status was measured
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import functools
import importlib
import json
import os
import time

from ..common.deps import require
from ..common.errors import BadInput, DbBackupError, IntegrityError

PROM_NAME = 'dbbackup.prom'
STATE_NAME = '.dbbackup-metrics.json'
LOCK_NAME = '.dbbackup-metrics.lock'
LABELS = ('server', 'db_type', 'kind', 'database')
STATUSES = ('success', 'failed', 'skipped')
STATE_VERSION = 1


def check_dir(path):
    """metrics_dir must be an existing directory this process can write to."""
    if not path or not os.path.isabs(path):
        raise BadInput('metrics_dir must be an absolute directory path, got %r.' % (path,))
    if not os.path.isdir(path):
        raise BadInput('metrics_dir %s does not exist or is not a directory.' % path,
                       'Create it (the metrics role creates node_exporter\'s textfile directory) or fix the path.')
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput('metrics_dir %s is not writable by this user.' % path,
                       'Make it writable for the backup user (the metrics role makes it group-writable).')
    return path


class _Lock(object):
    def __init__(self, directory):
        self.path = os.path.join(directory, LOCK_NAME)
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o664)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM):
                raise
            self.fd = os.open(self.path, os.O_RDONLY)   # someone else's lock file: flock works read-only too
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _read_state(directory):
    try:
        with open(os.path.join(directory, STATE_NAME)) as f:
            state = json.load(f)
        if isinstance(state, dict) and state.get('version') == STATE_VERSION and isinstance(state.get('series'), list):
            return state
    except (IOError, OSError, ValueError):
        pass
    return {'version': STATE_VERSION, 'series': []}   # missing or unreadable: start afresh


def _write_public(path, data):
    """Write bytes to path atomically, readable by node_exporter (0644)."""
    tmp = '%s.%d.tmp' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _series(state, labels):
    for entry in state['series']:
        if entry.get('labels') == labels:
            return entry
    entry = {'labels': labels, 'counts': dict((s, 0) for s in STATUSES)}
    state['series'].append(entry)
    return entry


class _Collector(object):
    """Yields the metric families of a state (prometheus_client custom collector)."""

    def __init__(self, state):
        self.state = state

    def collect(self):
        require('prometheus_client')
        core = importlib.import_module('prometheus_client.metrics_core')
        gauges = [
            ('dbbackup_last_success_timestamp_seconds', 'last_success',
             'Unix time at which the newest successful backup finished.'),
            ('dbbackup_last_attempt_timestamp_seconds', 'last_attempt',
             'Unix time at which the newest backup attempt ended, whatever its outcome.'),
            ('dbbackup_last_attempt_success', 'last_attempt_success',
             '1 when the newest backup attempt succeeded or found a fresh backup (max_age), 0 when it failed.'),
            ('dbbackup_last_duration_seconds', 'duration', 'Duration of the newest successful backup.'),
            ('dbbackup_last_size_bytes', 'size', 'Bytes stored by the newest successful backup.'),
            ('dbbackup_last_raw_size_bytes', 'raw', 'Bytes of the newest successful backup before compression.'),
            ('dbbackup_last_rows', 'rows', 'Table rows in the newest successful backup.'),
            ('dbbackup_verification_ok', 'verification_ok',
             '1 when the newest verification of a backup (by restore) passed, 0 when it failed.'),
            ('dbbackup_last_verification_timestamp_seconds', 'verification_time',
             'Unix time of the newest verification of a backup.'),
        ]
        series = self.state['series']
        for name, key, doc in gauges:
            yield _family(core.GaugeMetricFamily, name, doc, LABELS, series, key)
        counter = core.CounterMetricFamily('dbbackup_backups', 'Backup attempts by outcome.',
                                           labels=list(LABELS) + ['status'])
        for entry in series:
            for status in STATUSES:
                counter.add_metric([entry['labels'][k] for k in LABELS] + [status],
                                   float(entry['counts'].get(status, 0)))
        yield counter
        yield from _pitr_families(core, self.state.get('pitr') or [])

    def describe(self):
        return []


def _publish(directory, state):
    prometheus_client = require('prometheus_client')
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(_Collector(state))
    old = os.umask(0o022)   # write_to_textfile creates its file with the process umask
    try:
        prometheus_client.write_to_textfile(os.path.join(directory, PROM_NAME), registry)
    finally:
        os.umask(old)
    _write_public(os.path.join(directory, STATE_NAME),
                  (json.dumps(state, indent=1, sort_keys=True) + '\n').encode('utf-8'))


def update(directory, labels, change):
    """Under the lock: read the state, change(series_entry), write state and .prom file."""
    require('prometheus_client')
    labels = dict((k, str(labels[k])) for k in LABELS)
    with _Lock(directory):
        state = _read_state(directory)
        change(_series(state, labels))
        _publish(directory, state)


def record_backup(directory, labels, status, result=None, ended=None, finished_at=None):
    """Record one backup attempt: status success | failed | skipped."""
    ended = ended or time.time()

    def change(entry):
        entry['counts'][status] = entry['counts'].get(status, 0) + 1
        entry['last_attempt'] = ended
        entry['last_attempt_success'] = 0 if status == 'failed' else 1
        if status != 'failed' and result:
            when = finished_at or ended
            if entry.get('last_success') is None or when >= entry['last_success']:
                entry['last_success'] = when
                entry['duration'] = result.get('duration_seconds') or 0
                entry['size'] = result.get('size_bytes') or 0
                entry['raw'] = result.get('raw_bytes') or 0
                entry['rows'] = result.get('rows') or 0
                entry['backup_id'] = result.get('backup_id')

    update(directory, labels, change)


def record_verification(directory, labels, ok, when=None):
    def change(entry):
        entry['verification_ok'] = 1 if ok else 0
        entry['verification_time'] = when or time.time()

    update(directory, labels, change)


# --- PostgreSQL archive health (dbbackup_pitr state=status) -------------------------

PITR_LABELS = ('server', 'db_type')
PITR_GAUGES = (
    ('dbbackup_wal_archive_healthy', 'healthy',
     '1 when the newest PITR status found no problem (archiving, base backup, WAL chain), else 0.'),
    ('dbbackup_wal_server_reachable', 'server_reachable', '1 when the PITR status could query the server.'),
    ('dbbackup_wal_chain_ok', 'chain_ok', '1 when the WAL chain from the oldest base backup has no gap, else 0.'),
    ('dbbackup_wal_chain_gaps', 'chain_gaps', 'Gaps in the WAL chain from the oldest base backup.'),
    ('dbbackup_wal_archive_segments', 'segments', 'WAL segments in the repository.'),
    ('dbbackup_wal_archive_lag_segments', 'lag_segments', 'Full WAL files the server has not archived yet.'),
    ('dbbackup_wal_archive_lag_bytes', 'lag_bytes', 'Bytes of WAL written after the end of the last archived file.'),
    ('dbbackup_wal_last_archived_timestamp_seconds', 'last_archived',
     'Unix time at which the server last archived a WAL file (pg_stat_archiver).'),
    ('dbbackup_base_backups', 'base_backups', 'Complete base backups of the server in the repository.'),
    ('dbbackup_pitr_recovery_window_start_timestamp_seconds', 'window_start',
     'Unix time of the earliest point recovery can reach (end of the oldest usable base backup).'),
    ('dbbackup_pitr_recovery_window_end_timestamp_seconds', 'window_end',
     'Unix time of the latest point recovery can reach, when known (end of the contiguous archive).'),
    ('dbbackup_wal_status_timestamp_seconds', 'measured', 'Unix time at which the PITR status was measured.'),
)
PITR_COUNTERS = (
    ('dbbackup_wal_archived', 'archived_count', 'WAL files the server archived (pg_stat_archiver.archived_count).'),
    ('dbbackup_wal_archive_failed', 'failed_count',
     'Failed attempts to archive a WAL file (pg_stat_archiver.failed_count).'),
)


def _family(cls, name, doc, labels, entries, key):
    """A metric family of entry[key] per entry (entries without a value are left out)."""
    family = cls(name, doc, labels=list(labels))
    for entry in entries:
        if entry.get(key) is not None:
            family.add_metric([entry['labels'][k] for k in labels], float(entry[key]))
    return family


def _pitr_families(core, entries):
    for name, key, doc in PITR_GAUGES:
        yield _family(core.GaugeMetricFamily, name, doc, PITR_LABELS, entries, key)
    for name, key, doc in PITR_COUNTERS:
        yield _family(core.CounterMetricFamily, name, doc, PITR_LABELS, entries, key)


def _timestamp(text):
    from ..common.times import parse_iso
    if not text:
        return None
    try:
        return parse_iso(text).timestamp()
    except (DbBackupError, ValueError, TypeError):
        return None


def pitr_values(status, measured):
    """The gauge values of a state=status result (postgres/physical/pitr.py archive_status); None = unknown."""
    chain = status.get('chain')
    archiving = status.get('archiving') or {}
    window = status.get('recovery_window') or {}
    return {
        'healthy': 1 if status.get('healthy') else 0,
        'server_reachable': 1 if status.get('server_reachable') else 0,
        'chain_ok': 1 if chain and chain.get('ok') else 0,
        'chain_gaps': len(chain.get('gaps') or []) if chain else None,
        'segments': (status.get('wal_archive') or {}).get('segments'),
        'lag_segments': archiving.get('lag_segments'),
        'lag_bytes': archiving.get('lag_bytes'),
        'last_archived': _timestamp(archiving.get('last_archived_time')),
        'archived_count': archiving.get('archived_count'),
        'failed_count': archiving.get('failed_count'),
        'base_backups': len(status.get('base_backups') or []),
        'window_start': _timestamp(window.get('earliest_time')),
        'window_end': _timestamp(window.get('latest_time')),
        'measured': measured,
    }


def record_pitr_status(directory, status, db_type='postgresql', measured=None):
    """Replace the archive-health series of status['server_name'] (other series stay as they are)."""
    require('prometheus_client')
    labels = {'server': str(status['server_name']), 'db_type': db_type}
    entry = dict(pitr_values(status, measured or time.time()), labels=labels)
    with _Lock(directory):
        state = _read_state(directory)
        state['pitr'] = [e for e in state.get('pitr') or [] if e.get('labels') != labels] + [entry]
        _publish(directory, state)
    return os.path.join(directory, PROM_NAME)


# --- wiring into the engine entry points -----------------------------------------

def _labels(params):
    """Labels of the backup params describe (server_name resolved as the backup resolves it), or None."""
    from .params import BACKUP_DEFAULTS, prepare
    try:
        kind = (params or {}).get('kind') or 'logical'
        p = prepare(params, BACKUP_DEFAULTS, need_database=kind == 'logical')
    except DbBackupError:
        return None
    return {'server': p['server_name'], 'db_type': p['db_type'],
            'kind': kind, 'database': p.get('database') or ''}


def _finished_ts(params, labels, result):
    """When the backup a run wrote, or a skipped run found (max_age), finished: its manifest's
    finished_at; None if unknown (then the run's own end is recorded)."""
    from ..format.backups import backups_path, find_backup, kind_path
    from ..common.times import parse_iso
    from ..storage.factory import open_repository
    try:
        repo = open_repository(dict(params, server_name=labels['server']))
        base = backups_path(labels['server'], 'logical', labels['database']) if labels['kind'] == 'logical' \
            else kind_path(labels['server'], labels['kind'])      # base and cluster backups: per server
        manifest = find_backup(repo, base, result['backup_id'])
        return parse_iso(manifest['finished_at']).timestamp()
    except (DbBackupError, KeyError, ValueError, TypeError):
        return None


def backup_metrics(run_backup):
    """Decorator of operations.backup.run_backup: with params['metrics_dir'], record success, skip or failure."""
    @functools.wraps(run_backup)
    def wrapper(params, check_mode=False):
        directory = (params or {}).get('metrics_dir')
        if not directory or check_mode:
            return run_backup(params, check_mode=check_mode)
        check_dir(directory)
        try:
            result = run_backup(params, check_mode=check_mode)
        except BaseException:
            labels = _labels(params)
            if labels:
                try:
                    record_backup(directory, labels, 'failed')
                except (DbBackupError, OSError, IOError):
                    pass   # the backup's own error is what the caller must see
            raise
        status = 'success' if result.get('changed') else 'skipped'
        labels = _labels(params)
        # one meaning for both: the end recorded in the manifest of the backup written or found
        finished = _finished_ts(params, labels, result)
        try:
            record_backup(directory, labels, status, result, finished_at=finished)
            result['metrics_file'] = os.path.join(directory, PROM_NAME)
        except (DbBackupError, OSError, IOError) as e:
            result['metrics_error'] = 'The backup succeeded but its metrics could not be written: %s' % e
        return result
    return wrapper


def restore_metrics(run_restore):
    """Decorator of operations.restore.restore: with params['metrics_dir'], record the verification state."""
    @functools.wraps(run_restore)
    def wrapper(params, check_mode=False):
        directory = (params or {}).get('metrics_dir')
        if not directory or check_mode:
            return run_restore(params, check_mode=check_mode)
        check_dir(directory)
        labels = _labels(params)
        try:
            result = run_restore(params, check_mode=check_mode)
        except IntegrityError:
            if labels:
                try:
                    record_verification(directory, labels, False)
                except (DbBackupError, OSError, IOError):
                    pass
            raise
        if result.get('changed') and labels:
            try:
                record_verification(directory, labels, True)
                result['metrics_file'] = os.path.join(directory, PROM_NAME)
            except (DbBackupError, OSError, IOError) as e:
                result['metrics_error'] = 'The restore succeeded but its metrics could not be written: %s' % e
        return result
    return wrapper
