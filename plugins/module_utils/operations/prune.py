# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pruning a repository by a retention policy (module dbbackup_prune, CLI `dbbackup prune`).

Retention (retention.py) is applied to each series separately: <server>/logical/<db>
per database, <server>/base, <server>/cluster. Then, optionally:

- WAL (kind=base, prune_wal): archived WAL files that no kept base backup needs are
  removed: those on the kept backups' timelines or older ones whose position is before
  the oldest kept start_wal_file. Timeline history files (*.history) are always kept, and
  newer timelines are never touched. With no complete base backup, every WAL file is kept.
- MySQL binary logs (kind=logical, prune_wal): archived binlog files
  (<server>/binlog, mysql/binlog/archive.py) before the binlog file of the oldest kept MySQL
  logical backup of the server (over all its databases) are removed.
- Incomplete leftovers (prune_incomplete): backup directories without a manifest whose
  id is older than grace_period, unfinished uploads under the pruned prefixes (S3
  multipart uploads, Azure uncommitted blocks, records of GCS resumable sessions)
  started longer ago than grace_period, and hidden temporary files of killed writers
  (`.<name>.tmp-<hex>`, `.<name>.push-<hex>` of older versions) in the WAL archive
  (kind=base: wal/ and its timeline directories) or the binlog archive (kind=logical)
  last modified longer ago than grace_period. They never carry a published name, so
  removing them cannot touch archived data.

Safe order: backups are deleted oldest first, and each backup loses its manifest.json
before anything else, so an interrupted prune never leaves a listed backup with missing
files (what remains is an incomplete directory, which the next prune removes). Check
mode computes exactly the same lists and deletes nothing.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re

from ..common.errors import BadInput, DbBackupError
from ..common.times import isoformat, utcnow
from ..format.backups import backups_path, kind_path, list_backups, safe_name, wal_path
from ..format.lease import lease_age
from ..format.manifest import MANIFEST_NAME
from .info import KINDS, databases, id_time, scan
from .retention import decide, make_policy

_TLI_DIR = re.compile(r'^[0-9A-F]{8}\Z')
_WAL_FILE = re.compile(r'^([0-9A-F]{8})([0-9A-F]{16})')
_TEMP_FILE = re.compile(r'^\..+\.(?:tmp|push)-[0-9a-f]{12}\Z')     # storage/local.py LocalAtomicFile


def _series(repo, p):
    server = p['server_name']
    if p['kind'] == 'logical':
        names = [p['database']] if p.get('database') else databases(repo, server)
        return [('logical', db, backups_path(server, 'logical', db)) for db in names]
    if p.get('database'):
        raise BadInput('database applies to kind=logical only; a %s backup holds the whole server.' % p['kind'],
                       'Leave database unset to prune the %s backups of %s.' % (p['kind'], server))
    return [(p['kind'], None, kind_path(server, p['kind']))]


def plan(repo, p, series, policy, now):
    """Decisions for every backup of every series: (decisions, manifests of kept complete backups)."""
    decisions, kept = [], {}
    for kind, db, path in series:
        complete, incomplete, unreadable = scan(repo, path)
        manifests = dict(complete)
        items = [(b, _started(m, b), True) for b, m in complete]
        items.extend({'backup_id': b, 'started_at': id_time(b), 'complete': False,
                      'lease_age': lease_age(repo, '%s/%s' % (path, b), now)} for b in incomplete)
        for d in decide(items, policy, now, prune_incomplete=p['prune_incomplete']):
            d.update(server=p['server_name'], kind=kind, database=db, path='%s/%s' % (path, d['backup_id']))
            decisions.append(d)
            if d['keep'] and d['complete']:
                kept.setdefault((kind, db), []).append(manifests[d['backup_id']])
        for b, msg in unreadable:
            decisions.append({'backup_id': b, 'started_at': id_time(b), 'complete': True, 'keep': True,
                              'reasons': ['manifest unreadable, left alone: %s' % msg], 'server': p['server_name'],
                              'kind': kind, 'database': db, 'path': '%s/%s' % (path, b)})
    return decisions, kept


def _started(manifest, backup_id):
    from ..common.times import parse_iso
    try:
        return parse_iso(manifest['started_at'])
    except (TypeError, ValueError):
        return id_time(backup_id)


def wal_to_delete(repo, server, kept_base):
    """Archived WAL files (relpaths, oldest first) that no kept base backup needs; (files, note)."""
    starts = [m.get('start_wal_file') for m in kept_base]
    if not kept_base:
        return [], 'no complete base backup is kept: all WAL kept'
    if not all(starts):
        return [], 'a kept base backup has no start_wal_file: all WAL kept'
    cut = min(s[8:24].upper() for s in starts)
    max_tli = max(int(s[:8], 16) for s in starts)
    root = wal_path(server)
    files = []
    for tli in repo.list_dir(root):
        if not _TLI_DIR.match(tli) or int(tli, 16) > max_tli:
            continue
        for name in repo.list_dir('%s/%s' % (root, tli)):
            m = _WAL_FILE.match(name)
            if name.startswith('.') or not m or '.history' in name:
                continue
            if m.group(2) < cut:
                files.append((m.group(2), tli, '%s/%s/%s' % (root, tli, name)))
    files.sort()
    return [f[2] for f in files], 'WAL before %s on timelines up to %d' % (cut, max_tli)


def binlogs_to_delete(repo, server, kept_by_db, pruned_dbs):
    """Archived binlog files (relpaths: record first, then data) older than every kept MySQL backup."""
    from ..mysql.binlog.archive import _number, archive_path, list_archive
    archive = list_archive(repo, server)
    if not archive:
        return [], None
    kept = []
    for db, manifests in kept_by_db.items():
        kept.extend(manifests)
    for db in databases(repo, server):
        if db not in pruned_dbs:          # series not pruned now: all their complete backups stay
            kept.extend(m for b, m in list_backups(repo, backups_path(server, 'logical', db)))
    positions = [(m.get('consistent_position') or {}).get('binlog_file') for m in kept
                 if m.get('db_type') == 'mysql']
    positions = [_number(f) for f in positions if f]
    if not positions:
        return [], 'no kept MySQL backup records a binlog position: all binlogs kept'
    stems = set(s for s, n in positions)
    if len(stems) != 1:
        return [], 'kept backups name binlogs of different bases (%s): all binlogs kept' % ', '.join(sorted(stems))
    stem = stems.pop()
    cut = min(n for s, n in positions)
    base = archive_path(server)
    files = []
    for meta in archive:
        s, n = _number(meta['file'])
        if s == stem and 0 <= n < cut:
            files.append('%s/%s.json' % (base, meta['file']))       # the record goes first
            files.append('%s/%s' % (base, meta['path']))
    return files, 'binlogs before %s.%d' % (stem, cut)


def uploads_to_abort(repo, prefixes, grace, now):
    out = []
    for prefix in prefixes:
        for u in repo.incomplete_uploads(prefix):
            initiated = u['initiated']
            if initiated.tzinfo is None:
                initiated = initiated.replace(tzinfo=datetime.timezone.utc)
            if (now - initiated).total_seconds() > grace:
                out.append(dict(u, initiated=isoformat(initiated)))
    return out


def _archive_dirs(repo, p):
    """The archive directories of the pruned kind (where writers publish by name, not by backup)."""
    server = p['server_name']
    if p['kind'] == 'base':
        root = wal_path(server)
        return [root] + ['%s/%s' % (root, t) for t in repo.list_dir(root) if _TLI_DIR.match(t)]
    if p['kind'] == 'logical':
        from ..mysql.binlog.archive import archive_path
        return [archive_path(server)]
    return []


def temp_files_to_delete(repo, dirs, grace, now):
    """Hidden temporary files in dirs last modified more than grace seconds ago: [{'path', 'modified'}]."""
    out = []
    for directory in dirs:
        for name in repo.list_dir(directory):
            if not _TEMP_FILE.match(name):
                continue
            path = '%s/%s' % (directory, name)
            modified = repo.modified_at(path)
            if modified is not None and (now - modified).total_seconds() > grace:
                out.append({'path': path, 'modified': isoformat(modified)})
    return out


def _row(repo, d):
    return {'server': d['server'], 'kind': d['kind'], 'database': d['database'], 'backup_id': d['backup_id'],
            'started_at': isoformat(d['started_at']), 'complete': d['complete'],
            'reason': '; '.join(d['reasons']), 'location': repo.location(d['path'])}


def _delete_backup(repo, d):
    """Manifest first (the backup stops being listed), then the rest; True when all went."""
    if d['complete'] and not repo.delete_file(d['path'] + '/' + MANIFEST_NAME):
        return False
    repo.delete_tree(d['path'])
    return not repo.exists(d['path'])


def run_prune(p, check_mode=False):
    """p: prepared params (api.PRUNE_DEFAULTS). Returns deleted/kept lists with reasons."""
    from ..storage.factory import open_repository
    if p['kind'] not in KINDS:
        raise BadInput('kind must be one of %s, got %r.' % (', '.join(KINDS), p['kind']))
    policy = make_policy(p.get('keep_last'), p.get('keep_daily'), p.get('keep_weekly'), p.get('keep_monthly'),
                         p.get('min_keep'), p.get('max_age'), p.get('grace_period'))
    safe_name(p['server_name'], 'server_name')
    if p.get('database'):
        safe_name(p['database'], 'database')
    repo = open_repository(p)
    now = p.get('now') or utcnow()          # 'now' only for tests
    series = _series(repo, p)       # one listing of the server's databases for the whole run
    decisions, kept = plan(repo, p, series, policy, now)
    doomed = sorted((d for d in decisions if not d['keep']), key=lambda d: (d['started_at'], d['backup_id']))
    wal_files, wal_note, binlog_files, binlog_note = [], None, [], None
    if p['prune_wal'] and p['kind'] == 'base':
        wal_files, wal_note = wal_to_delete(repo, p['server_name'], kept.get(('base', None), []))
    if p['prune_wal'] and p['kind'] == 'logical':
        binlog_files, binlog_note = binlogs_to_delete(
            repo, p['server_name'], dict((db, ms) for (k, db), ms in kept.items()),
            set(db for k, db, path in series))
    uploads, temp_files = [], []
    if p['prune_incomplete']:
        prefixes = [path for k, db, path in series]
        if p['kind'] == 'base':
            prefixes.append(wal_path(p['server_name']))
        uploads = uploads_to_abort(repo, prefixes, policy['grace_period'], now)
        temp_files = temp_files_to_delete(repo, _archive_dirs(repo, p), policy['grace_period'], now)
    failed = []
    if not check_mode:
        for d in doomed:
            if not _delete_backup(repo, d):
                failed.append(repo.location(d['path']))
        for relpath in wal_files + binlog_files + [t['path'] for t in temp_files]:
            if not repo.delete_file(relpath):
                failed.append(repo.location(relpath))
        for u in uploads:
            try:
                repo.abort_upload(u['path'], u['upload_id'])
            except DbBackupError as e:
                failed.append('%s (upload %s: %s)' % (repo.location(u['path']), u['upload_id'], e))
    if failed:
        raise DbBackupError('Pruning could not delete %d item(s): %s.' % (len(failed), ', '.join(failed[:10])),
                            'Check the permissions on the repository (delete rights) and run the prune again; '
                            'what was deleted is gone, the rest is unchanged.')
    deleted = [_row(repo, d) for d in doomed]
    kept_rows = [_row(repo, d) for d in sorted((d for d in decisions if d['keep']),
                                               key=lambda d: (d['kind'], d['database'] or '', d['started_at']))]
    verb = 'would be ' if check_mode else ''
    changed = bool(deleted or wal_files or binlog_files or uploads or temp_files)
    msg = '%d backup(s) %sdeleted, %d kept' % (len(deleted), verb, len(kept_rows))
    if wal_files:
        msg += '; %d WAL file(s) %sdeleted' % (len(wal_files), verb)
    if binlog_files:
        msg += '; %d binlog file(s) %sdeleted' % (len(binlog_files) // 2, verb)
    if uploads:
        msg += '; %d incomplete upload(s) %saborted' % (len(uploads), verb)
    if temp_files:
        msg += '; %d temporary file(s) of interrupted writes %sdeleted' % (len(temp_files), verb)
    return {
        'changed': changed, 'check_mode': bool(check_mode), 'deleted': deleted, 'kept': kept_rows,
        'wal_deleted': [f.rsplit('/', 1)[-1] for f in wal_files], 'wal_note': wal_note,
        'binlog_deleted': [f.rsplit('/', 1)[-1] for f in binlog_files if not f.endswith('.json')],
        'binlog_note': binlog_note,
        'uploads_aborted': [{'location': repo.location(u['path']), 'upload_id': u['upload_id'],
                             'initiated': u['initiated']} for u in uploads],
        'temp_files_deleted': [{'location': repo.location(t['path']), 'modified': t['modified']}
                               for t in temp_files],
        'policy': dict((k, v) for k, v in policy.items() if v is not None),
        'summary': {'deleted': len(deleted), 'kept': len(kept_rows),
                    'deleted_incomplete': sum(1 for d in deleted if not d['complete']),
                    'wal_deleted': len(wal_files), 'binlog_deleted': len(binlog_files) // 2,
                    'uploads_aborted': len(uploads), 'temp_files_deleted': len(temp_files)},
        'msg': msg + '.',
    }
