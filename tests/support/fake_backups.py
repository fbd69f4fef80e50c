"""Backups with chosen start times, written through the engine's writers (tests of info/prune).

Each backup is a real one as far as listing, verification and pruning go: a data file
stored through stream.pipeline.store_file (compressed, hashed) and a manifest published
last with manifest.write_manifest. Only the database behind it is missing.
"""
import datetime
import json

from plugins.module_utils.format.backups import backups_path, kind_path, wal_path
from plugins.module_utils.common.times import isoformat
from plugins.module_utils.format.manifest import new_manifest, write_manifest
from plugins.module_utils.stream.pipeline import store_file


def backup_id(ts):
    return ts.strftime('%Y%m%dT%H%M%SZ')


def series_path(server, kind, database=None):
    return backups_path(server, 'logical', database) if kind == 'logical' else kind_path(server, kind)


def write_backup(repo, server, kind, database, started, complete=True, db_type='postgresql', rows=3, **fields):
    """Write one backup started at `started` (aware datetime); returns its id.

    complete=False leaves the directory with its data file and no manifest (an
    interrupted backup). fields go into the manifest (start_wal_file, databases, ...).
    """
    bid = backup_id(started)
    path = '%s/%s' % (series_path(server, kind, database), bid)
    assert repo.reserve_dir(path), path
    body = b''.join(b'%d\trow %d\n' % (n, n) for n in range(rows))

    def fill(w):
        w.write(body)
        return {'role': 'data', 'rows': rows, 'table': 't', 'schema': 'public', 'name': 't', 'columns': ['a', 'b']}
    entry = store_file(repo, path, 'data/0001.copy.zst', 'zstd', 1, None, fill)
    if not complete:
        return bid
    m = new_manifest(kind, db_type, bid, server, database)
    m.update({'started_at': isoformat(started),
              'finished_at': isoformat(started + datetime.timedelta(seconds=42)),
              'duration_seconds': 42.0, 'server_version': '15.0', 'compression': {'algorithm': 'zstd', 'level': 1},
              'files': [entry],
              'totals': {'files': 1, 'raw_bytes': entry['raw_bytes'], 'stored_bytes': entry['stored_bytes'],
                         'tables': 1, 'rows': rows, 'large_objects': 0}})
    m.update(fields)
    write_manifest(repo, path, m)
    return bid


def write_wal(repo, server, name, body=b'wal'):
    """A fake archived WAL file (only names matter for listing and pruning; history files are read)."""
    suffix = '' if name.endswith('.history') else '.zst'
    repo.write_bytes('%s/%s/%s%s' % (wal_path(server), name[:8], name, suffix), body)


def write_binlog(repo, server, name, first_event_time=None):
    """A fake archived MySQL binlog (record + data, layout of mysql/binlog/archive.py)."""
    base = '%s/binlog' % server
    repo.write_bytes('%s/%s.zst' % (base, name), b'binlog')
    repo.write_bytes('%s/%s.json' % (base, name), json.dumps(
        {'format': 'dbbackup-binlog', 'version': 1, 'file': name, 'path': name + '.zst', 'size': 6,
         'first_event_time': first_event_time, 'last_event_time': first_event_time}).encode('utf-8'))
