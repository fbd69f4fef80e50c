# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Binary-log archive of a MySQL/MariaDB server (host CLI `binlog-push`) and its replay.

Archive layout (next to the server's logical backups):

    <repository>/<server_name>/binlog/<file>.zst[.enc]  the binlog file, compressed (and encrypted)
    <repository>/<server_name>/binlog/<file>.json       what it holds: size (= end position),
                                                        SHA-256 of its bytes, first/last event time,
                                                        stored size and SHA-256; written last
    <repository>/<server_name>/binlog/binlog-key.json   only when encrypted: the binlog data key,
                                                        wrapped by the KEK (format/archive_key.py)

Pushing reads CLOSED binlog files (every file SHOW BINARY LOGS lists except the
one the server writes to) from the server's binlog directory (the directory of
@@log_bin_basename, or binlog_dir): the CLI runs on the database host from a
timer, like wal-push does for PostgreSQL. Reading the files (not the
replication protocol) keeps them byte-identical, so mariadb-binlog/mysqlbinlog
read the archived copies as they read the originals. rotate=True runs FLUSH
BINARY LOGS first, so the timer's interval bounds how much is not yet archived.

Idempotent: a file already archived with the same content is skipped (same
size and modification time as recorded, else re-hashed and compared); one
with different content is an error and is never overwritten (for example
after RESET MASTER restarted the numbering: archive to another server_name).
The comparison uses the raw content's SHA-256 in the record, so a file archived
plain is "the same" for a push with a key, and the other way round.

Encryption (a key option given, as for backups): each file is stored as the
AES-256-GCM stream of stream/encrypt.py (suffix .enc) with ONE data key per
server, wrapped by the KEK in binlog-key.json (format/archive_key.py, the code of the
WAL archive's key; operations/rekey.py rewraps it). The record's stored SHA-256 is of the
encrypted bytes, so verifying the archive needs no key. An archive may mix
plain and encrypted files (encryption switched on later); replay decrypts the
encrypted ones and needs the key only when the chain holds one.

Replay (PITR) is replay.py: the engine picks the files here (plan_chain, no
gap allowed), filters and renames the events (replay_filter.py) and pipes them
through `mariadb-binlog` into the `mariadb` client.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import hashlib
import json
import os
import re
import struct

from ...common.errors import BadInput, DbBackupError, IntegrityError, NotFound
from ...common.times import isoformat, parse_iso, utcnow
from ...format import archive_key
from ...format.backups import safe_name
from ...format.keys import key_source
from ...stream.compress import SUFFIX, check_options
from ...stream.encrypt import SUFFIX as ENCRYPTION_SUFFIX
from ...stream.hashing import sha256_file
from ...stream.pipeline import BUFFER_SIZE, StoredFileWriter, read_stored_file, verify_stored_file
from ..connection import ServerInfo, binlog_status, connect, error_text

MAGIC = b'\xfebin'
HEADER = struct.Struct('<IBIII')     # timestamp, type, server_id, event size, next position (+ 2 flag bytes)
HEADER_BYTES = 19
META_FORMAT = 'dbbackup-binlog'
META_VERSION = 1
_NUMBERED = re.compile(r'^(.*)\.(\d+)$')


def archive_path(server_name):
    return '%s/binlog' % safe_name(server_name, 'server_name')


def _text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


def _ts(epoch):
    return isoformat(datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)) if epoch else None


class EventScanner(object):
    """Follows event headers through a binlog byte stream: count, first/last event time."""

    def __init__(self, name):
        self.name = name
        self.offset = 0           # bytes seen
        self.next_event = 4       # file position of the next event header
        self.pending = b''        # the start of a header cut by a chunk boundary
        self.magic = b''
        self.events = 0
        self.first = None
        self.last = None

    def feed(self, chunk):
        if len(self.magic) < 4:
            self.magic += chunk[:4 - len(self.magic)]
            if MAGIC[:len(self.magic)] != self.magic:
                raise BadInput('%s is not a binary log file (no binlog magic number).' % self.name)
        data = self.pending + chunk
        base = self.offset - len(self.pending)     # file position of data[0]
        self.offset += len(chunk)
        self.pending = b''
        while True:
            rel = self.next_event - base
            if rel >= len(data):
                return
            if rel + HEADER_BYTES > len(data):
                self.pending = data[rel:]
                return
            ts, _type, _server, size, _nxt = HEADER.unpack_from(data, rel)
            if size < HEADER_BYTES:
                raise IntegrityError('%s has a malformed event at position %d.' % (self.name, self.next_event))
            self.events += 1
            if ts:
                self.first = ts if self.first is None else min(self.first, ts)
                self.last = ts if self.last is None else max(self.last, ts)
            self.next_event += size

    def finish(self):
        if self.offset and self.next_event != self.offset:
            raise IntegrityError('%s ends inside an event (position %d, size %d): it is not a complete, '
                                 'closed binary log.' % (self.name, self.next_event, self.offset))


def _number(name):
    m = _NUMBERED.match(name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)


# --- archive listing -----------------------------------------------------------------
def read_meta(repo, base, name):
    try:
        meta = json.loads(repo.read_bytes('%s/%s.json' % (base, name)).decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError('The archive record %s/%s.json is not valid JSON.' % (repo.location(base), name))
    if meta.get('format') != META_FORMAT:
        raise IntegrityError('%s/%s.json is not a dbbackup binlog record.' % (repo.location(base), name))
    encrypted = bool(meta.get('encrypted'))     # records from before encryption have no such key: plain
    if encrypted != str(meta.get('path')).endswith(ENCRYPTION_SUFFIX):
        where = '%s/%s.json' % (repo.location(base), name)
        raise IntegrityError('%s says encrypted=%s for %s.' % (where, encrypted, meta.get('path')),
                             'The record was edited; restore it from a copy.')
    return meta


def list_archive(repo, server_name):
    """Records of archived binlog files, in binlog order."""
    base = archive_path(server_name)
    metas = []
    for entry in repo.list_dir(base):
        if entry.endswith('.json') and not entry.startswith('.') and entry != archive_key.key_name('binlog'):
            metas.append(read_meta(repo, base, entry[:-len('.json')]))
    metas.sort(key=lambda m: _number(m['file']))
    return metas


# --- push ----------------------------------------------------------------------------
def _binlog_dir(cur, binlog_dir):
    if binlog_dir:
        return binlog_dir
    cur.execute('SELECT @@GLOBAL.log_bin_basename')
    basename = _text(cur.fetchone()[0])
    if not basename:
        raise BadInput('The server does not report @@log_bin_basename.', 'Give the binlog directory with binlog_dir '
                       '(CLI: --binlog-dir).')
    return os.path.dirname(basename)


def push(params, rotate=False, binlog_dir=None, compression='zstd', level=None, check_mode=False):
    """Archive every closed binlog file not archived yet; returns a JSON-clean result."""
    from ...storage.factory import open_repository
    compression, level = check_options(compression, level)
    repo = open_repository(params)
    base = archive_path(params['server_name'])
    conn = connect(params)
    try:
        cur = conn.cursor()
        info = ServerInfo(conn)
        current, _pos, _gtid = binlog_status(conn)
        if current is None:
            raise BadInput('Binary logging is off on %s; there is nothing to archive.' % info.short(),
                           'Enable log_bin (and binlog_format=ROW for exact point-in-time recovery).')
        if rotate and not check_mode:
            cur.execute('FLUSH BINARY LOGS')
            current = binlog_status(conn)[0]
        cur.execute('SHOW BINARY LOGS')
        logs = [(_text(r[0]), int(r[1])) for r in cur.fetchall()]
        directory = _binlog_dir(cur, binlog_dir)
    except DbBackupError:
        raise
    except Exception as e:
        raise BadInput('Reading the binary log list failed: %s' % error_text(e),
                       'The login user needs REPLICATION CLIENT / BINLOG MONITOR (and RELOAD for rotate).')
    finally:
        conn.close()
    closed = [(n, s) for n, s in logs if n != current]
    data_key = _push_key(repo, params['server_name'], key_source(params), check_mode)
    archived, present = [], []
    for name, size in closed:
        state = _archive_one(repo, base, directory, name, size, (compression, level, data_key), info, check_mode)
        (archived if state == 'archived' else present).append(name)
    return {'changed': bool(archived), 'archived': archived, 'already_archived': len(present),
            'current': current, 'location': repo.location(base), 'encrypted': data_key is not None,
            'msg': ('%d binlog file(s) %sarchived.' % (len(archived), 'would be ' if check_mode else ''))
            if archived else 'Every closed binlog file is archived already.'}


def _push_key(repo, server_name, source, check_mode):
    """The binlog data key for a push with a key (created on the first one), else None.

    Checked before anything is written: a wrong key fails the push at once.
    """
    if source is None:
        return None
    if check_mode:
        doc = archive_key.read_key_doc(repo, 'binlog', server_name)
        return None if doc is None else archive_key.unwrap_key(
            'binlog', source, doc, repo.location(archive_key.key_path('binlog', server_name)))
    return archive_key.data_key(repo, 'binlog', server_name, source, create=True)


def chain_key(repo, server_name, chain, source, allow_unencrypted=False):
    """The binlog data key when a file of chain is stored encrypted, else None (no key needed).

    Raises BadInput without a key and WrongKey with a key that does not open
    binlog-key.json: call it before anything is restored. A plain file in an
    encrypted archive (binlog-key.json exists) is refused
    unless allow_unencrypted: anyone able to write to the repository could
    have put it there, and replay would apply it.
    """
    encrypted = [m['file'] for m in chain if m.get('encrypted')]
    if encrypted and source is None:
        raise BadInput('The archived binlog file(s) %s are encrypted and no key was given.'
                       % ', '.join(encrypted[:3] + (['...'] if len(encrypted) > 3 else [])),
                       'Give the key binlog-push used (or the one of the last rekey) with encryption_key_file, '
                       'encryption_key_env or encryption_passphrase; nothing was restored.')
    data_key = archive_key.data_key(repo, 'binlog', server_name, source) if encrypted else None
    plain = [m['file'] for m in chain if not m.get('encrypted')]
    if plain and not allow_unencrypted and archive_key.read_key_doc(repo, 'binlog', server_name) is not None:
        raise IntegrityError('The archived binlog file(s) %s are stored unencrypted in an encrypted archive; they were '
                             'refused, because anyone able to write to the repository could have placed them there.'
                             % ', '.join(plain[:3] + (['...'] if len(plain) > 3 else [])),
                             'If they were archived before encryption was switched on, allow them for this recovery '
                             'with allow_unencrypted (CLI --allow-unencrypted); nothing was restored.')
    return data_key


def _archive_one(repo, base, directory, name, size, how, info, check_mode):
    compression, level, data_key = how
    local = os.path.join(directory, name)
    data_path = '%s/%s%s%s' % (base, name, SUFFIX[compression], ENCRYPTION_SUFFIX if data_key is not None else '')
    try:
        st = os.stat(local)
    except OSError as e:
        raise NotFound('Binlog file %s cannot be read: %s.' % (local, e.strerror),
                       'Run binlog-push on the database host as root or a member of the mysql group, '
                       'or give the directory with --binlog-dir.')
    if st.st_size != size:
        raise IntegrityError('Binlog file %s has %d bytes, the server reports %d.' % (local, st.st_size, size))
    if repo.exists('%s/%s.json' % (base, name)):
        meta = read_meta(repo, base, name)
        if meta['size'] == size and meta.get('local_mtime') == int(st.st_mtime):
            return 'present'
        if meta['size'] == size and sha256_file(local, BUFFER_SIZE) == meta['sha256']:
            return 'present'
        raise IntegrityError('Binlog file %s differs from the copy archived in %s.' % (name, repo.location(base)),
                             'Archived files are never overwritten: was the binary log reset (RESET MASTER)? '
                             'Archive this server under another server_name.')
    # one prefix LIST (not the whole archive directory) per file not archived yet
    existing = [e for e in repo.list_names(base, name + '.') if not e.endswith('.json') and not e.startswith('.')]
    if check_mode:
        return 'archived'
    if existing:
        # data written by an interrupted push, record missing: adopt it only when identical
        return _adopt(repo, base, existing[0], local, (name, size, st), info, data_key)
    return _store(repo, base, data_path, local, (name, size, st), (compression, level, data_key), info)


def _meta(name, size, raw_sha, scanner, entry, relpath, compression, level, st, info):
    return {'format': META_FORMAT, 'format_version': META_VERSION, 'file': name, 'size': size,
            'sha256': raw_sha, 'path': relpath, 'encrypted': relpath.endswith(ENCRYPTION_SUFFIX),
            'stored_bytes': entry['stored_bytes'],
            'stored_sha256': entry['sha256'], 'compression': {'algorithm': compression, 'level': level},
            'events': scanner.events, 'first_event_time': _ts(scanner.first),
            'last_event_time': _ts(scanner.last), 'archived_at': isoformat(utcnow()),
            'local_mtime': int(st.st_mtime), 'server_version': info.version, 'flavor': info.flavor}


def _store(repo, base, data_path, local, local_file, how, info):
    name, size, st = local_file
    compression, level, data_key = how
    writer = StoredFileWriter(repo, data_path, compression, level, data_key=data_key)
    h = hashlib.sha256()
    scanner = EventScanner(name)
    done = 0
    try:
        with open(local, 'rb') as f:
            while done < size:
                chunk = f.read(min(BUFFER_SIZE, size - done))
                if not chunk:
                    break
                scanner.feed(chunk)
                h.update(chunk)
                writer.write(chunk)
                done += len(chunk)
        if done != size:
            raise IntegrityError('Binlog file %s was shorter than %d bytes while archiving.' % (local, size))
        scanner.finish()
        entry = writer.commit()
    except BaseException:
        writer.abort()
        raise
    relpath = data_path[len(base) + 1:]
    meta = _meta(name, size, h.hexdigest(), scanner, entry, relpath, compression, level, st, info)
    repo.write_bytes('%s/%s.json' % (base, name), (json.dumps(meta, indent=1, sort_keys=True) + '\n').encode('utf-8'))
    return 'archived'


def _adopt(repo, base, stored_name, local, local_file, info, data_key):
    name, size, st = local_file
    suffix = stored_name[len(name):]
    encrypted = suffix.endswith(ENCRYPTION_SUFFIX)
    if encrypted:
        suffix = suffix[:-len(ENCRYPTION_SUFFIX)]
    compression = [a for a, s in SUFFIX.items() if s == suffix]
    if not compression:
        raise IntegrityError('%s/%s is not a file this engine wrote.' % (repo.location(base), stored_name))
    if encrypted and data_key is None:
        raise BadInput('%s/%s (left by an interrupted encrypted push) can only be checked with the archive\'s key.'
                       % (repo.location(base), stored_name),
                       'Push with the key (encryption_key_file, encryption_key_env or a passphrase).')
    h, scanner = hashlib.sha256(), EventScanner(name)

    def consume(chunk):
        scanner.feed(chunk)
        h.update(chunk)
    # one read of the stored object: its raw content and the hash of its stored bytes
    size_stored, stored_sha = read_stored_file(repo, '%s/%s' % (base, stored_name), compression[0],
                                               data_key if encrypted else None, consume)
    if h.hexdigest() != sha256_file(local, BUFFER_SIZE):
        where = '%s/%s' % (repo.location(base), stored_name)
        raise IntegrityError('%s (left by an interrupted push) differs from %s.' % (where, local),
                             'Remove that file by hand after checking it, then push again.')
    entry = {'stored_bytes': size_stored, 'sha256': stored_sha}
    meta = _meta(name, size, h.hexdigest(), scanner, entry, stored_name, compression[0], None, st, info)
    repo.write_bytes('%s/%s.json' % (base, name), (json.dumps(meta, indent=1, sort_keys=True) + '\n').encode('utf-8'))
    return 'archived'


# --- replay --------------------------------------------------------------------------
def plan_chain(archive, start_file, stop_file=None, stop_time=None):
    """The archived records to replay from start_file; checks the chain has no gap.

    stop_time (aware datetime): files after the first one whose last event is at or after it
    are not needed; raises NotFound when the archive does not reach it.
    """
    by_name = dict((m['file'], m) for m in archive)
    if start_file not in by_name:
        raise NotFound('Binlog file %s (where the backup starts) is not in the archive.' % start_file,
                       'Run binlog-push (with --rotate) after the backup, and keep the archive complete.')
    stem, number = _number(start_file)
    chain = []
    while True:
        name = '%s.%0*d' % (stem, len(start_file) - len(stem) - 1, number)
        meta = by_name.get(name)
        if meta is None:
            break
        chain.append(meta)
        if stop_file and name == stop_file:
            break
        if stop_time and meta.get('last_event_time') and parse_iso(meta['last_event_time']) >= stop_time:
            break
        number += 1
    later = [m['file'] for m in archive if _number(m['file'])[0] == stem and _number(m['file'])[1] > number]
    if stop_file and chain[-1]['file'] != stop_file:
        raise NotFound('Binlog file %s is not in the archive, or the chain from %s to it has a gap after %s.'
                       % (stop_file, start_file, chain[-1]['file']),
                       'Archive the missing files (binlog-push) or choose another stop position.')
    if stop_time:
        last = chain[-1].get('last_event_time')
        if not last or parse_iso(last) < stop_time:
            gap = (' (%s follows, with a gap before it)' % later[0]) if later else ''
            raise NotFound('The archived binary logs end at %s (%s)%s, before stop_datetime %s.'
                           % (last, chain[-1]['file'], gap, isoformat(stop_time)),
                           'Run binlog-push with --rotate on the database host, or choose an earlier stop_datetime.')
    return chain


def verify_chain(repo, server_name, chain):
    base = archive_path(server_name)
    for meta in chain:
        verify_stored_file(repo, '%s/%s' % (base, meta['path']), meta['stored_sha256'], meta['stored_bytes'])
