# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a repository holds (module dbbackup_info, CLI `dbbackup info`): read-only.

Walks <server>/logical/<database>/<id>, <server>/base/<id> and <server>/cluster/<id>
and describes every complete backup as one flat dict: identity, times, size, rows,
encryption, the outcome of the last verification (verify.json, format/verification.py) and,
for base backups, PITR coverage: start/stop LSN and timeline, and whether the
archived WAL is continuous from the backup's start_wal_file up to the newest
archived segment (postgres/wal_chain.check_chain). Directories with a backup id
but no manifest are reported as incomplete: running when their writer holds the
lease (format/lease.py), else interrupted.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

from ..common.errors import BadInput, DbBackupError, IntegrityError, NotFound
from ..common.times import isoformat
from ..format.backups import ID_RE, backups_path, kind_path, read_backup, safe_name
from ..format.lease import is_running, lease_age
from ..format.verification import verification

KINDS = ('logical', 'base', 'cluster')
INFO_KINDS = KINDS + ('all',)


def id_time(backup_id):
    """The UTC start time encoded in a backup id (aware datetime)."""
    return datetime.datetime.strptime(backup_id[:16], '%Y%m%dT%H%M%SZ').replace(tzinfo=datetime.timezone.utc)


def servers(repo):
    """Server names at the top of the repository."""
    out = []
    for name in repo.list_dir(''):
        if name.startswith('.'):
            continue
        try:
            safe_name(name, 'server_name')
        except BadInput:
            continue
        if any(k in repo.list_dir(name) for k in KINDS + ('wal', 'binlog')):
            out.append(name)
    return out


def databases(repo, server):
    """Databases with logical backups on the server."""
    out = []
    for name in repo.list_dir('%s/logical' % safe_name(server, 'server_name')):
        try:
            out.append(safe_name(name, 'database'))
        except BadInput:
            continue
    return out


def series(repo, server, kind='all', database=None):
    """(kind, database, path) of each backup series of the server, filtered."""
    out = []
    if kind in ('all', 'logical'):
        for db in ([database] if database else databases(repo, server)):
            out.append(('logical', db, backups_path(server, 'logical', db)))
    for k in ('base', 'cluster'):
        if kind in ('all', k):
            out.append((k, None, kind_path(server, k)))
    return out


def scan(repo, path):
    """Every backup directory of a series: (complete, incomplete, unreadable).

    complete: [(id, manifest)] oldest first; incomplete: [id] (no manifest.json);
    unreadable: [(id, message)] (a manifest this engine cannot read or that is invalid, a symbolic
    link: left alone).
    """
    complete, incomplete, unreadable = [], [], []
    for name in repo.list_dir(path):
        if not ID_RE.match(name):
            continue
        try:                   # one request per backup: a missing manifest raises NotFound
            complete.append((name, read_backup(repo, path, name)))
        except NotFound:
            incomplete.append(name)
        except IntegrityError as e:
            unreadable.append((name, str(e)))
    complete.sort(key=lambda x: (x[1]['started_at'], x[0]))
    incomplete.sort()
    return complete, incomplete, unreadable


def _segment(name):
    """(timeline, position) of a 24-hex WAL file name; positions compare within a segment size."""
    return int(name[:8], 16), name[8:24].upper()


def wal_coverage(repo, server, manifest, encryption=None, archive=None):
    """PITR coverage of a base backup from the WAL archive (postgres/wal_chain.check_chain).

    encryption: a keys.KeySource, needed only to read encrypted timeline history files.
    archive: the server's wal_chain.list_archive(), listed once for all its base backups.
    """
    from ..postgres.physical.wal_chain import check_chain
    start, stop = manifest.get('start_wal_file'), manifest.get('stop_wal_file')
    if not start:
        return {'wal_check': 'no start_wal_file in the manifest', 'pitr_ready': False}
    try:
        chain = check_chain(repo, server, start, manifest.get('wal_segment_size') or 16 << 20,
                            encryption=encryption, archive=archive)
    except DbBackupError as e:
        return {'wal_check': 'failed: %s' % e, 'pitr_ready': False, 'wal_continuous': False}
    gaps = chain.get('gaps') or []
    last = chain.get('last')
    reaches_stop = bool(last and stop and _segment(last)[1] >= _segment(stop)[1])
    out = {'wal_check': 'done', 'wal_continuous': bool(chain.get('ok')) and not gaps,
           'wal_first': chain.get('first'), 'wal_last': last, 'wal_timeline': chain.get('timeline'),
           'wal_segments': chain.get('segments'), 'wal_gaps': len(gaps),
           'wal_first_gap': ('missing %s to %s' % (gaps[0].get('missing_from'), gaps[0].get('missing_to'))
                             if gaps else None),
           'wal_reaches_stop': reaches_stop}
    out['pitr_ready'] = out['wal_continuous'] and reaches_stop
    return out


def _cluster_databases(manifest):
    return list(manifest.get('databases') or sorted((manifest.get('members') or {}).keys()))


def describe(repo, server, kind, path, backup_id, manifest, check_wal=True, encryption=None, archive=None):
    """One flat dict per complete backup (archive: see wal_coverage)."""
    m = manifest
    t = m.get('totals') or {}
    where = '%s/%s' % (path, backup_id)
    state, verified_at, mode = verification(repo, where)
    d = {
        'server': server, 'kind': m.get('kind', kind), 'db_type': m.get('db_type'),
        'database': m.get('database'), 'backup_id': backup_id, 'complete': True,
        'started_at': m.get('started_at'), 'finished_at': m.get('finished_at'),
        'duration_seconds': m.get('duration_seconds'),
        'size_bytes': t.get('stored_bytes', sum(f['stored_bytes'] for f in m['files'])),
        'raw_bytes': t.get('raw_bytes', sum(f['raw_bytes'] for f in m['files'])),
        'files': len(m['files']), 'tables': t.get('tables'), 'rows': t.get('rows'),
        'encrypted': bool(m.get('encryption')), 'server_version': m.get('server_version'),
        'location': repo.location(where),
        'verification': state, 'verified_at': verified_at, 'verify_mode': mode,
    }
    if d['kind'] == 'cluster':
        d['databases'] = _cluster_databases(m)
    if d['kind'] == 'base':
        for key in ('start_lsn', 'stop_lsn', 'timeline', 'start_wal_file', 'stop_wal_file',
                    'wal_segment_size', 'system_identifier'):
            d[key] = m.get(key)
        if check_wal:
            d.update(wal_coverage(repo, server, m, encryption, archive))
    return d


def _check_filters(p):
    kind = p.get('kind') or 'all'
    if kind not in INFO_KINDS:
        raise BadInput('kind must be one of %s, got %r.' % (', '.join(INFO_KINDS), kind))
    backup_id = p.get('backup_id') or 'all'
    if backup_id not in ('all', 'latest') and not ID_RE.match(backup_id):
        raise BadInput('backup_id must be "latest", "all" or look like 20260101T000000Z, got %r.' % (backup_id,))
    if p.get('database'):
        safe_name(p['database'], 'database')
    return kind, backup_id


def collect(repo, server_names, kind='all', database=None, backup_id='all', check_wal=True, encryption=None):
    """(backups, series summaries, incomplete) for the filters; see run_info."""
    backups, summaries, incomplete = [], [], []
    for server in server_names:
        for k, db, path in series(repo, server, kind, database):
            if k == 'base' and database and kind != 'base':
                continue            # a base backup is the whole server: listed without a database filter
            complete, partial, unreadable = scan(repo, path)
            if k == 'cluster' and database:
                complete = [(b, m) for b, m in complete if database in _cluster_databases(m)]
            if not complete and not partial and not unreadable:
                continue
            if complete:
                summaries.append({'server': server, 'kind': k, 'database': db, 'backups': len(complete),
                                  'oldest': complete[0][0], 'newest': complete[-1][0],
                                  'size_bytes': sum((m.get('totals') or {}).get('stored_bytes', 0)
                                                    for b, m in complete),
                                  'incomplete': len(partial)})
            for name in partial:
                age = lease_age(repo, '%s/%s' % (path, name))
                incomplete.append({'server': server, 'kind': k, 'database': db, 'backup_id': name,
                                   'complete': False, 'location': repo.location('%s/%s' % (path, name)),
                                   'running': is_running(age),
                                   'lease_age_seconds': None if age is None else round(age, 1)})
            for name, msg in unreadable:
                incomplete.append({'server': server, 'kind': k, 'database': db, 'backup_id': name,
                                   'complete': False, 'location': repo.location('%s/%s' % (path, name)),
                                   'problem': msg})
            if backup_id == 'latest':
                complete = complete[-1:]
            elif backup_id != 'all':
                complete = [(b, m) for b, m in complete if b == backup_id]
            archive = None
            if k == 'base' and check_wal and complete:
                from ..postgres.physical.wal_chain import list_archive
                try:        # one listing of the WAL archive for all base backups of the server
                    archive = list_archive(repo, server)
                except DbBackupError:
                    archive = None      # each backup's check reports the error
            backups.extend(describe(repo, server, k, path, b, m, check_wal, encryption, archive) for b, m in complete)
    return backups, summaries, incomplete


def run_info(p, check_mode=False):
    """List backups (p: repository options, server_name or all servers, kind, database, backup_id)."""
    from ..format.keys import key_source
    from ..storage.factory import open_repository
    kind, backup_id = _check_filters(p)
    encryption = key_source(p)     # the CLI may give one: encrypted history files in the WAL archive
    repo = open_repository(p)
    if p.get('server_name'):
        names = [safe_name(p['server_name'], 'server_name')]
    else:
        names = servers(repo)
    backups, summaries, incomplete = collect(repo, names, kind, p.get('database'), backup_id,
                                             check_wal=p.get('check_wal', True) is not False,
                                             encryption=encryption)
    if backup_id not in ('all', 'latest') and not backups:
        raise NotFound('Backup %s not found in %s.' % (backup_id, repo.location(names[0] if len(names) == 1 else '')),
                       'List the backups without backup_id to see the ids.')
    uploads = []
    for name in names:    # object stores only: multipart uploads never completed (a killed writer)
        uploads.extend({'server': name, 'location': repo.location(u['path']), 'upload_id': u['upload_id'],
                        'initiated': isoformat(_aware(u['initiated']))} for u in repo.incomplete_uploads(name))
    leftovers = _leftover_databases(p) if p.get('leftovers') else None
    summary = {
        'backups': len(backups), 'servers': len(set(b['server'] for b in backups)),
        'series': len(summaries), 'size_bytes': sum(b['size_bytes'] or 0 for b in backups),
        'incomplete': len(incomplete), 'incomplete_uploads': len(uploads),
        'verification_failed': sum(1 for b in backups if b['verification'] == 'failed'),
        'never_verified': sum(1 for b in backups if b['verification'] == 'never'),
        'encrypted': sum(1 for b in backups if b['encrypted']),
        'pitr_not_ready': sum(1 for b in backups if b['kind'] == 'base' and b.get('pitr_ready') is False),
        'newest': max((b['started_at'] for b in backups), default=None),
        'oldest': min((b['started_at'] for b in backups), default=None),
    }
    msg = '%d backup(s) in %d series, %d bytes' % (summary['backups'], summary['series'], summary['size_bytes'])
    if incomplete:
        msg += '; %d incomplete' % len(incomplete)
    if summary['verification_failed']:
        msg += '; %d failed verification' % summary['verification_failed']
    if summary['pitr_not_ready']:
        msg += '; %d base backup(s) without continuous WAL' % summary['pitr_not_ready']
    if uploads:
        msg += '; %d incomplete upload(s)' % len(uploads)
    result = {'changed': False, 'backups': backups, 'series': summaries, 'incomplete': incomplete,
              'incomplete_uploads': uploads, 'summary': summary}
    if leftovers is not None:
        result['leftover_databases'] = leftovers
        if leftovers:
            msg += '; %d leftover database(s) of killed restores on the server' % len(leftovers)
    result['msg'] = msg + '.'
    return result


def _aware(ts):
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=datetime.timezone.utc)


def _leftover_databases(p):
    """leftovers: true: the restore databases killed restores left on the server (PostgreSQL)."""
    if (p.get('db_type') or 'postgresql') != 'postgresql':
        raise BadInput('leftovers applies to PostgreSQL servers.')
    from ..postgres.connection import connect
    from ..postgres.logical.leftovers import find_leftovers
    from ..postgres.logical.restore import MAINTENANCE_DB
    admin = connect(p, dbname=MAINTENANCE_DB, autocommit=True)
    try:
        return find_leftovers(admin)
    finally:
        admin.close()
