"""Integrity checks of stored backups, with or without the key.

quick: re-read every stored file and compare size and SHA-256 with the
       manifest (needs no key: the hashes are of the stored bytes).
deep:  also decrypt and decompress every file and check its structure:
       data files have exactly the recorded rows, each with the recorded
       number of columns (COPY / LOAD DATA text: escaped values, tab
       separated, one line per row), schema files parse into the recorded
       items, large-object files into the recorded objects.

Other kinds (verify_kind):
base:    quick as above; deep decrypts and decompresses each tar and walks it
         (streaming): regular files and directories only, safe names, the
         recorded number of files (`members`) and file bytes (`data_bytes`),
         the recorded decompressed size; backup_label parses and names the
         recorded start LSN, WAL file and timeline; tablespace_map names the
         stored tablespaces.
cluster: quick as above (the cluster manifest lists every file) plus each
         database's own manifest against the cluster manifest; deep also
         parses globals.sql into the recorded items and checks every database
         with the logical deep check, each with its own data key.

The outcome is written next to the manifest as verify.json (the manifest
itself never changes: it may be authenticated). Check mode writes nothing.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from .catalog import isoformat, utcnow
from .errors import BadInput, DbBackupError, IntegrityError
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


def verify_kind(repo, path, manifest, mode='quick', encryption=None):
    """Check one backup of any kind; deep unwraps the data key(s) from `encryption` (keys.KeySource).

    Raises BadInput/WrongKey when deep needs a key that was not given or does not fit, and
    IntegrityError when an encrypted manifest fails its authentication; returns the report.
    """
    if mode not in MODES:
        raise BadInput('mode must be one of %s, got %r.' % (', '.join(MODES), mode))
    from .api import backup_data_key
    kind = manifest.get('kind') or 'logical'
    data_key = backup_data_key(encryption, manifest) if mode == 'deep' else None
    if kind == 'base':
        return _verify_base(repo, path, manifest, mode, data_key)
    if kind == 'cluster':
        return _verify_cluster(repo, path, manifest, mode, encryption, data_key)
    return verify_backup(repo, path, manifest, mode, data_key)


# --- base backups --------------------------------------------------------------

class _Counting(object):
    def __init__(self, source):
        self.source = source
        self.count = 0

    def read(self, n=-1):
        data = self.source.read(n)
        self.count += len(data)
        return data


def _walk_tar(stored, entry):
    """Problems of one stored tar of a base backup, and its (files, file bytes)."""
    import tarfile
    from .postgres.base_restore import check_member
    counting = _Counting(stored.reader)
    files = size = 0
    try:
        tar = tarfile.open(fileobj=counting, mode='r|', bufsize=BUFFER_SIZE)
        for member in tar:
            check_member(member, entry['path'])
            if member.isreg():
                files += 1
                size += member.size
        tar.close()
    except tarfile.TarError as e:
        raise IntegrityError('Backup file %s is not a valid tar archive (%s).' % (entry['path'], e),
                             'It is corrupted or truncated; use another backup.')
    while counting.read(BUFFER_SIZE):      # the zero blocks after the end-of-archive marker
        pass
    stored.finish()
    problems = []
    if files != entry.get('members', files):
        problems.append('holds %d files, the manifest recorded %d' % (files, entry['members']))
    if size != entry.get('data_bytes', size):
        problems.append('holds %d bytes of file data, the manifest recorded %d' % (size, entry['data_bytes']))
    if counting.count != entry['raw_bytes']:
        problems.append('holds %d bytes after decompression, the manifest recorded %d'
                        % (counting.count, entry['raw_bytes']))
    return problems, files, size


def _label_problems(manifest, text):
    from .postgres.base_backup import parse_label
    from .postgres.wal_names import parse_lsn
    fields = parse_label(text)
    location, sep, rest = fields.get('START WAL LOCATION', '').partition(' (file ')
    wal_file = rest[:-1] if rest.endswith(')') else None
    problems = []
    try:
        same = sep and wal_file and parse_lsn(location) == parse_lsn(str(manifest.get('start_lsn')))
    except (DbBackupError, ValueError, TypeError):
        same = False
    if not same:
        problems.append('names the start WAL location %r, the manifest recorded %s'
                        % (fields.get('START WAL LOCATION'), manifest.get('start_lsn')))
    elif wal_file != manifest.get('start_wal_file'):
        problems.append('names the start WAL file %s, the manifest recorded %s'
                        % (wal_file, manifest.get('start_wal_file')))
    timeline = fields.get('START TIMELINE')
    if timeline is not None and (not timeline.isdigit() or int(timeline) != manifest.get('timeline')):
        problems.append('names timeline %s, the manifest recorded %s' % (timeline, manifest.get('timeline')))
    return problems


def _base_deep(repo, path, manifest, entry, data_key, counts):
    from .postgres.base_restore import MAX_TEXT, _Stored, parse_tablespace_map
    stored = _Stored(repo, path, entry, manifest['compression']['algorithm'], data_key)
    try:
        if entry['role'] in ('base', 'tablespace'):
            problems, files, size = _walk_tar(stored, entry)
            counts['members'] += files
            counts['data_bytes'] += size
            return problems
        data = stored.reader.read(MAX_TEXT + 1)
        rest = _count_stream(stored.reader)[0]
        stored.finish()
        if len(data) + rest != entry['raw_bytes']:
            return ['holds %d bytes after decompression, the manifest recorded %d'
                    % (len(data) + rest, entry['raw_bytes'])]
        if entry['role'] not in ('backup_label', 'tablespace_map'):
            return []
        if rest:
            return ['is larger than a %s can be' % entry['role']]
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError:
            return ['is not text']
        if entry['role'] == 'backup_label':
            return _label_problems(manifest, text)
        mapped = set(oid for oid, location in parse_tablespace_map(text))
        stored_oids = set(int(f['oid']) for f in manifest['files'] if f['role'] == 'tablespace')
        if mapped != stored_oids:
            return ['names tablespaces %s, the backup stores %s' % (sorted(mapped), sorted(stored_oids))]
        return []
    finally:
        stored.close()


def _verify_base(repo, path, manifest, mode, data_key):
    problems = []
    counts = {'members': 0, 'data_bytes': 0}
    roles = [f['role'] for f in manifest['files']]
    if roles.count('base') != 1 or roles.count('backup_label') != 1:
        problems.append('the manifest lists %d base tar(s) and %d backup_label(s), not one of each'
                        % (roles.count('base'), roles.count('backup_label')))
    spaces = set(int(t['oid']) for t in manifest.get('tablespaces') or [])
    stored_spaces = set(int(f['oid']) for f in manifest['files'] if f['role'] == 'tablespace')
    if spaces != stored_spaces:
        problems.append('the manifest records tablespaces %s but stores %s' % (sorted(spaces), sorted(stored_spaces)))
    if stored_spaces and 'tablespace_map' not in roles:
        problems.append('the manifest lists tablespace tars but no tablespace_map')
    for entry in manifest['files']:
        try:
            if mode == 'deep':
                problems.extend('%s %s' % (entry['path'], p)
                                for p in _base_deep(repo, path, manifest, entry, data_key, counts))
            else:
                verify_stored_file(repo, path + '/' + entry['path'], entry['sha256'], entry['stored_bytes'])
        except DbBackupError as e:
            problems.append(str(e))
    report = _report(manifest, mode, problems)
    if mode == 'deep':
        report.update(counts)
    return report


# --- cluster backups --------------------------------------------------------------

def _check_globals(repo, path, manifest, entry, data_key):
    from .item_file import read_framed
    from .postgres.base_restore import _Stored
    stored = _Stored(repo, path, entry, manifest['compression']['algorithm'], data_key)
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
    from .api import backup_data_key
    from .cluster import GLOBALS_ROLE, member_manifest
    from .errors import WrongKey
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
                r = verify_backup(repo, '%s/%s' % (path, db), sub, 'deep', backup_data_key(encryption, sub))
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


def record(repo, path, report):
    repo.write_bytes(path + '/' + VERIFY_NAME, (json.dumps(report, indent=1, sort_keys=True) + '\n').encode('utf-8'))


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
