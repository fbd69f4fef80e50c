"""Integrity checks of stored backups, with or without the key.

quick: re-read every stored file and compare size and SHA-256 with the
       manifest (needs no key: the hashes are of the stored bytes).
deep:  also decrypt and decompress every file and check its structure:
       data files have exactly the recorded rows, each with the recorded
       number of columns (COPY / LOAD DATA text: escaped values, tab
       separated, one line per row), schema files parse into the recorded
       items, large-object files into the recorded objects.

The outcome is written next to the manifest as verify.json (the manifest
itself never changes: it may be authenticated). Check mode writes nothing.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from .catalog import isoformat, utcnow
from .errors import DbBackupError, IntegrityError
from .stream.pipeline import BUFFER_SIZE, open_stored_reader, verify_stored_file

VERIFY_NAME = 'verify.json'
MODES = ('quick', 'deep')


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
    from .postgres.ddl_file import read_items
    from .postgres.ddl_model import PRE, POST
    items = read_items(reader, PRE if entry['role'] == 'pre-data' else POST, entry['path'])
    if 'items' in entry and len(items) != entry['items']:
        return ['holds %d schema items, the manifest recorded %d' % (len(items), entry['items'])], 0
    return [], 0


def _check_blobs(entry, reader):
    from .postgres.large_objects import iter_large_object_pieces
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
    report = {
        'backup_id': manifest['backup_id'], 'database': manifest['database'],
        'mode': mode, 'ok': not problems, 'problems': problems,
        'files': len(manifest['files']),
        'stored_bytes': sum(f['stored_bytes'] for f in manifest['files']),
        'verified_at': isoformat(utcnow()),
    }
    if mode == 'deep':
        report['rows'] = rows
    return report


def record(repo, path, report):
    repo.write_bytes(path + '/' + VERIFY_NAME, (json.dumps(report, indent=1, sort_keys=True) + '\n').encode('utf-8'))


def last_verification(repo, path):
    """The recorded verify.json of a backup, or None."""
    if not repo.exists(path + '/' + VERIFY_NAME):
        return None
    try:
        return json.loads(repo.read_bytes(path + '/' + VERIFY_NAME).decode('utf-8'))
    except ValueError:
        return None


def failure(reports):
    """One IntegrityError naming every failed backup and its problems."""
    bad = [r for r in reports if not r['ok']]
    lines = ['%s: %s' % (r['backup_id'], '; '.join(r['problems'])) for r in bad]
    return IntegrityError('%d of %d backup(s) failed verification: %s'
                          % (len(bad), len(reports), ' | '.join(lines)),
                          'Do not rely on them; take a new backup and investigate the repository storage.')
