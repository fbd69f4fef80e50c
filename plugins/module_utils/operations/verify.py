# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integrity checks of stored backups, with or without the key.

quick: re-read every stored file and compare size and SHA-256 with the
       manifest (needs no key: the hashes are of the stored bytes).
deep:  also decrypt and decompress every file and check its structure:
       data files have exactly the recorded rows, each with the recorded
       number of columns (COPY / LOAD DATA text: escaped values, tab
       separated, one line per row), schema files parse into the recorded
       items, large-object files into the recorded objects.

Other kinds (verify_kind):
base:    quick as above; deep walks each tar and checks backup_label and
         tablespace_map (postgres/physical/base_verify.py).
cluster: quick as above (the cluster manifest lists every file) plus each
         database's own manifest against the cluster manifest; deep also
         parses globals.sql into the recorded items and checks every database
         with the logical deep check, each with its own data key.

The outcome is written next to the manifest as verify.json (the manifest
itself never changes: it may be authenticated; format/verification.py).
Check mode writes nothing. run_verify is the command (module dbbackup_verify,
CLI `dbbackup verify`); verify_written the verify-after-backup step.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput, DbBackupError, IntegrityError, WrongKey
from ..common.times import isoformat, utcnow
from ..format.backups import backups_path, find_backup, kind_path
from ..format.item_file import read_framed
from ..format.keys import backup_data_key, key_source, planted_unencrypted
from ..format.verification import record
from ..postgres.physical.base_verify import check_base_backup
from ..storage.factory import open_repository
from ..stream.pipeline import BUFFER_SIZE, StoredFile, open_stored_reader, verify_stored_file
from .cluster import GLOBALS_ROLE, member_manifest
from .info import scan
from .params import VERIFY_DEFAULTS, prepare

MODES = ('quick', 'deep')
VERIFY_KINDS = ('logical', 'base', 'cluster')


def _count_stream(reader):
    """(bytes, newlines, tabs, last byte) of a whole stream, read in pieces."""
    size = lines = tabs = 0
    last = b''
    while True:
        piece = reader.read(BUFFER_SIZE)
        if not piece:
            return size, lines, tabs, last
        size += len(piece)
        lines += piece.count(b'\n')
        tabs += piece.count(b'\t')
        last = piece[-1:]


def _check_data(entry, reader):
    size, lines, tabs, last = _count_stream(reader)
    problems = []
    if size != entry['raw_bytes']:
        problems.append('holds %d bytes after decompression, the manifest recorded %d' % (size, entry['raw_bytes']))
    if size and last != b'\n':
        problems.append('does not end with a complete row')
    if lines != entry.get('rows', lines):
        problems.append('holds %d rows, the manifest recorded %d' % (lines, entry['rows']))
    columns = entry.get('columns')
    if columns and tabs != lines * (len(columns) - 1):
        problems.append('has rows whose column count is not %d' % len(columns))
    return problems, lines


def _check_schema(manifest, entry, reader):
    if manifest.get('db_type', 'postgresql') != 'postgresql':
        size = _count_stream(reader)[0]
        return ([] if size == entry['raw_bytes'] else
                ['holds %d bytes after decompression, the manifest recorded %d' % (size, entry['raw_bytes'])]), 0
    from ..postgres.logical.schema.model import PRE, POST
    from ..postgres.logical.schema.sql_file import read_items
    items = read_items(reader, PRE if entry['role'] == 'pre-data' else POST, entry['path'])
    if 'items' in entry and len(items) != entry['items']:
        return ['holds %d schema items, the manifest recorded %d' % (len(items), entry['items'])], 0
    return [], 0


def _check_blobs(entry, reader):
    from ..postgres.logical.large_objects import iter_large_object_pieces
    oids = set(oid for oid, offset, piece in iter_large_object_pieces(reader, entry['path']))
    if len(oids) != entry.get('count', len(oids)):
        return ['holds %d large objects, the manifest recorded %d' % (len(oids), entry['count'])], 0
    return [], 0


def _deep_check(repo, path, manifest, entry, data_key):
    compression = manifest['compression']['algorithm']
    reader = open_stored_reader(repo, path + '/' + entry['path'], compression,
                                entry['sha256'], entry['stored_bytes'], data_key=data_key)
    try:
        if entry['role'] == 'data':
            return _check_data(entry, reader)
        if entry['role'] == 'blobs':
            return _check_blobs(entry, reader)
        return _check_schema(manifest, entry, reader)
    finally:
        reader.close()


def verify_backup(repo, path, manifest, mode='quick', data_key=None):
    """Check one backup; returns a JSON-clean report (ok, problems, counts)."""
    problems = []
    rows = 0
    for entry in manifest['files']:
        try:
            if mode == 'deep':
                found, counted = _deep_check(repo, path, manifest, entry, data_key)
                rows += counted
                problems.extend('%s %s' % (entry['path'], p) for p in found)
            else:
                verify_stored_file(repo, path + '/' + entry['path'], entry['sha256'], entry['stored_bytes'])
        except DbBackupError as e:
            problems.append(str(e))
    report = _report(manifest, mode, problems)
    if mode == 'deep':
        report['rows'] = rows
    return report


def _report(manifest, mode, problems):
    return {
        'backup_id': manifest['backup_id'], 'database': manifest.get('database'),
        'kind': manifest.get('kind') or 'logical', 'mode': mode, 'ok': not problems, 'problems': problems,
        'files': len(manifest['files']),
        'stored_bytes': sum(f['stored_bytes'] for f in manifest['files']),
        'verified_at': isoformat(utcnow()),
    }


def verify_kind(repo, path, manifest, mode='quick', encryption=None, allow_unencrypted=False):
    """Check one backup of any kind; deep unwraps the data key(s) from `encryption` (keys.KeySource).

    With a key given, an unencrypted backup fails (unless allow_unencrypted), as restore refuses it:
    anyone able to write to the repository could have planted it. Raises BadInput/WrongKey when
    deep needs a key that was not given or does not fit, and IntegrityError when an encrypted
    manifest fails its authentication; returns the report.
    """
    report = _verify_kind(repo, path, manifest, mode, encryption)
    if planted_unencrypted(encryption, manifest, allow_unencrypted):
        report['problems'].insert(0, 'it is not encrypted, but a key was given: it was not written with that key, '
                                     'anyone able to write to the repository could have put it there, and restore '
                                     'refuses it (allow_unencrypted accepts a backup made before encryption was '
                                     'switched on)')
        report['ok'] = False
    return report


def _verify_kind(repo, path, manifest, mode, encryption):
    if mode not in MODES:
        raise BadInput('mode must be one of %s, got %r.' % (', '.join(MODES), mode))
    kind = manifest.get('kind') or 'logical'
    data_key = backup_data_key(encryption, manifest, allow_unencrypted=True) if mode == 'deep' else None
    if kind == 'base':
        problems, counts = check_base_backup(repo, path, manifest, mode, data_key)
        report = _report(manifest, mode, problems)
        report.update(counts or {})
        return report
    if kind == 'cluster':
        return _verify_cluster(repo, path, manifest, mode, encryption, data_key)
    return verify_backup(repo, path, manifest, mode, data_key)


# --- cluster backups --------------------------------------------------------------

def _check_globals(repo, path, manifest, entry, data_key):
    stored = StoredFile(repo, path, entry, manifest['compression']['algorithm'], data_key)
    try:
        items = len(read_framed(stored.reader, entry['path']))
        stored.finish()
    finally:
        stored.close()
    if items != entry.get('items', items):
        return ['%s holds %d items, the manifest recorded %d' % (entry['path'], items, entry['items'])]
    return []


def _verify_cluster(repo, path, manifest, mode, encryption, data_key):
    """quick: every file of the cluster manifest, and each database's manifest against it;
    deep: globals parse into the recorded items, each database passes the logical deep check."""
    problems = []
    rows = 0
    databases = list(manifest.get('databases') or [])
    members = {}
    for db in databases:
        try:
            members[db] = member_manifest(repo, path, manifest, db)
        except DbBackupError as e:
            problems.append('%s: %s' % (db, e))
    deep_paths = set()
    if mode == 'deep':
        for entry in manifest['files']:
            if entry['role'] == GLOBALS_ROLE:
                deep_paths.add(entry['path'])
                try:
                    problems.extend(_check_globals(repo, path, manifest, entry, data_key))
                except DbBackupError as e:
                    problems.append(str(e))
        for db, sub in members.items():
            try:
                r = verify_backup(repo, '%s/%s' % (path, db), sub, 'deep',
                                  backup_data_key(encryption, sub, allow_unencrypted=True))
            except (WrongKey, IntegrityError) as e:   # a member key that does not open, a modified member
                problems.append('%s: %s' % (db, e))
                continue
            deep_paths.update('%s/%s' % (db, f['path']) for f in sub['files'])
            rows += r.get('rows', 0)
            problems.extend('%s: %s' % (db, x) for x in r['problems'])
    for entry in manifest['files']:      # quick, or what deep did not reach
        if entry['path'] in deep_paths:
            continue
        try:
            verify_stored_file(repo, path + '/' + entry['path'], entry['sha256'], entry['stored_bytes'])
        except DbBackupError as e:
            problems.append(str(e))
    report = _report(manifest, mode, problems)
    report['databases'] = databases
    if mode == 'deep':
        report['rows'] = rows
    return report


def verify_written(repo, path, manifest, mode, encryption):
    """verify=quick|deep right after a backup: check it, record verify.json, raise failure() when it
    failed; returns the report."""
    report = verify_kind(repo, path, manifest, mode, encryption)
    record(repo, path, report)
    if not report['ok']:
        raise failure([report])
    return report


def failure(reports):
    """One IntegrityError naming every failed backup and its problems."""
    bad = [r for r in reports if not r['ok']]
    lines = ['%s: %s' % (r['backup_id'], '; '.join(r['problems'])) for r in bad]
    return IntegrityError('%d of %d backup(s) failed verification: %s'
                          % (len(bad), len(reports), ' | '.join(lines)),
                          'Do not rely on them; take a new backup and investigate the repository storage.')


def _verify_report(repo, path, manifest, mode, encryption, record_it, allow_unencrypted=False):
    """Verify one backup of any kind (verify_kind) and record the outcome in verify.json."""
    if mode not in MODES:
        raise BadInput('verify must be one of none, %s, got %r.' % (', '.join(MODES), mode))
    report = verify_kind(repo, path, manifest, mode, encryption, allow_unencrypted)
    if record_it:
        record(repo, path, report)
    return report


def run_verify(params, check_mode=False):
    """Re-read stored backups and check them against their manifests (module dbbackup_verify).

    kind: logical (default; needs database), base or cluster (format.backups.kind_path).
    backup_id: 'latest' (default), an id, or 'all' complete backups of the database (or kind).
    mode quick needs no key; deep decrypts (key required for encrypted backups) and
    decompresses and checks rows and structure. Check mode records nothing.
    """
    kind = (params or {}).get('kind') or 'logical'
    if kind not in VERIFY_KINDS:
        raise BadInput('kind must be one of %s, got %r.' % (', '.join(VERIFY_KINDS), kind))
    p = prepare(params, VERIFY_DEFAULTS, need_database=kind == 'logical')
    if kind != 'logical' and p.get('database'):
        raise BadInput('database is not used with kind=%s (got %r): a %s backup belongs to the server.'
                       % (kind, p['database'], kind), 'Leave database out; choose the server with server_name.')
    if kind != 'logical' and p.get('restored_database'):
        raise BadInput('restored_database compares a database with a logical backup; it is not used with '
                       'kind=%s.' % kind)
    if p['mode'] not in ('quick', 'deep'):
        raise BadInput('mode must be quick or deep, got %r.' % (p['mode'],))
    repo = open_repository(p)
    base = backups_path(p['server_name'], 'logical', p['database']) if kind == 'logical' \
        else kind_path(p['server_name'], kind)
    unreadable = []
    if p['backup_id'] == 'all':
        complete, dummy, unreadable = scan(repo, base)     # invalid manifests fail, the others are checked
        manifests = [m for bid, m in complete]
        if not manifests and not unreadable:
            find_backup(repo, base, 'latest')      # raises the clear "no complete backup" error
    else:
        manifests = [find_backup(repo, base, p['backup_id'])]
    if p.get('restored_database') and p['backup_id'] == 'all':
        raise BadInput('restored_database compares a database with one backup; give a backup_id or latest, not all.')
    for m in manifests:
        if (m.get('kind') or 'logical') != kind:
            raise IntegrityError('%s holds a %s backup, not a %s backup.'
                                 % (repo.location(base + '/' + m['backup_id']), m.get('kind'), kind),
                                 'The repository layout was changed by hand; move the backup back.')
    encryption = key_source(p)
    reports = [_verify_report(repo, base + '/' + m['backup_id'], m, p['mode'], encryption, not check_mode,
                              bool(p.get('allow_unencrypted')))
               for m in manifests]
    reports.extend({'backup_id': bid, 'database': p.get('database'), 'kind': kind, 'mode': p['mode'], 'ok': False,
                    'problems': [msg], 'files': 0, 'stored_bytes': 0, 'verified_at': isoformat(utcnow())}
                   for bid, msg in unreadable)
    if not all(r['ok'] for r in reports):
        raise failure(reports)
    whose = p['database'] if kind == 'logical' else '%s (%s)' % (p['server_name'], kind)
    result = {'changed': False, 'ok': True, 'kind': kind, 'mode': p['mode'], 'verified': reports,
              'backups': len(reports), 'msg': '%d backup(s) of %s verified (%s).'
              % (len(reports), whose, p['mode'])}
    if p.get('restored_database'):
        # the live copy against the manifest: rows per table (restored_check.py)
        from .restored_check import check_restored
        check = check_restored(p, manifests[0], p['restored_database'])
        result['restored'] = check
        if not check['ok']:
            raise IntegrityError('Database %s does not hold what backup %s recorded: %s'
                                 % (check['database'], manifests[0]['backup_id'], '; '.join(check['problems'])),
                                 'Do not trust that copy; restore the backup again and investigate.')
        result['msg'] += ' %s holds the recorded %d rows in %d tables' % (
            check['database'], check['rows'], check['tables'])
        inventory = check.get('inventory') or {}
        result['msg'] += (' and the %d recorded objects (%s compared).' % (inventory['objects'], inventory['compared'])
                          if inventory.get('objects') else '.')
    return result
