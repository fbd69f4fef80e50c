# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The WAL archive of a PostgreSQL server: archive_command (wal-push) and restore_command (wal-fetch).

Layout (docs/wal.md):

    <repository>/<server>/wal/<TLI>/<walname><.zst|.gz|>[.enc]   one object per WAL file
    <repository>/<server>/wal/wal-key.json                       the WAL data key, wrapped by the KEK

<TLI> is the first 8 hex digits of the name, so a timeline's segments, its
`.partial` and `.backup` files and its `<TLI>.history` file share a directory.

- wal_push is idempotent: when the file is archived already with the same
  content (compared on the raw bytes: encrypted objects differ on every
  write) it succeeds without writing; different content is an error and is
  never overwritten. Objects appear atomically and only when the name is
  free at that moment (the repository's open_write(if_absent=True): a hard
  link locally, If-None-Match: * on S3), so even a concurrent push of the
  same name cannot replace an archived file; the loser compares with what
  the winner stored.
- Finding an archived copy: one listing of <TLI>/<walname> (any compression
  or encryption); wal_fetch first opens the configured name (one request).
- Each object is framed (format/archive_object.py, wal_codec.py): a header
  naming kind, server and file (authenticated by the encryption), and a
  trailer with sizes and SHA-256s, so every object can be checked without
  the key, and a copy under another name is refused.
- wal_fetch raises WalNotArchived at once when no object exists (PostgreSQL
  asks for files past the end of the archive and for history files that do
  not exist); otherwise it decodes into a temporary file next to dest_path
  with every check of wal_codec.decode (identity, checksums, frame end,
  authentication, WAL page headers against the name), fsyncs and renames:
  dest_path never holds a partial or unchecked file. Any other failure means
  "archived but unusable"; the CLI then exits with a status that makes
  PostgreSQL stop recovery instead of taking it for the end of the archive.
- Encryption: one random WAL data key per server, wrapped by the KEK like a
  backup's data key (format/archive_key.py, shared with the binlog archive;
  identity kind 'wal' and the server name) in wal-key.json, created once by the first encrypted push, never overwritten
  (conditional write; two racing first pushes both end up using the stored
  key). A passphrase costs a KDF run per push; use a key file for archive_command.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shlex
import uuid

from ...common.errors import BadInput, DbBackupError, IntegrityError, NotFound
from ...format import archive_key
from ...format.backups import wal_path
from ...format.keys import key_source
from ...storage.local import fsync_dir
from ...stream.compress import SUFFIX as COMPRESSION_SUFFIX, check_options
from ...stream.encrypt import SUFFIX as ENCRYPTION_SUFFIX, is_encrypted_header
from ...stream.hashing import sha256_file
from . import wal_codec
from .wal_names import check_wal_name, timeline_dir, wal_kind

READ_SIZE = 1 << 20           # source reads
FILE_MODE = 0o600
# default levels for WAL: archive_command must keep up with the server (zstd 1: ~600 MB/s per core,
# about as small as level 3 on WAL); compression_level overrides
WAL_LEVEL = {'zstd': 1, 'gzip': 1}


# --- names ----------------------------------------------------------------------------

def _variants(compression=None, encrypted=None):
    """Every (compression, encrypted) a stored WAL file may have; the configured one first."""
    order = []
    first = [compression] if compression else []
    for comp in first + ['zstd', 'gzip', 'none']:
        for enc in ([bool(encrypted)] if encrypted is not None else []) + [False, True]:
            if (comp, enc) not in order:
                order.append((comp, enc))
    return order


def stored_suffix(compression, encrypted):
    return COMPRESSION_SUFFIX[compression] + (ENCRYPTION_SUFFIX if encrypted else '')


def object_path(server_name, wal_name, compression='zstd', encrypted=False):
    """Repository path of one archived WAL file."""
    return '%s/%s/%s%s' % (wal_path(server_name), timeline_dir(wal_name), wal_name,
                           stored_suffix(compression, encrypted))


def parse_stored_name(entry):
    """'000000010000000000000003.zst.enc' -> (wal name, compression, encrypted), or None."""
    encrypted = entry.endswith(ENCRYPTION_SUFFIX)
    rest = entry[:-len(ENCRYPTION_SUFFIX)] if encrypted else entry
    for comp in ('zstd', 'gzip'):
        if rest.endswith(COMPRESSION_SUFFIX[comp]) and wal_kind(rest[:-len(COMPRESSION_SUFFIX[comp])]):
            return rest[:-len(COMPRESSION_SUFFIX[comp])], comp, encrypted
    if wal_kind(rest):
        return rest, 'none', encrypted
    return None


# --- the WAL data key (format/archive_key.py, shared with the binlog archive) ------------------

def key_path(server_name):
    return archive_key.key_path('wal', server_name)


def read_key_doc(repo, server_name):
    """The parsed wal-key.json, or None when the archive has none."""
    return archive_key.read_key_doc(repo, 'wal', server_name)


def unwrap_wal_key(source, doc, where):
    """The WAL data key from a key document; WrongKey with a WAL message when the KEK does not fit."""
    return archive_key.unwrap_key('wal', source, doc, where)


def wal_data_key(repo, server_name, source, create=False):
    """The server's WAL data key (bytes); created and stored when create and none exists."""
    return archive_key.data_key(repo, 'wal', server_name, source, create=create)


# --- finding archived files -----------------------------------------------------------

def stored_copies(repo, server_name, wal_name):
    """[(relpath, compression, encrypted)] of every archived copy of wal_name, from one listing.

    One prefix LIST on S3 (<TLI>/<walname>), whatever the size of the timeline
    directory; hidden temporary files never match.
    """
    directory = '%s/%s' % (wal_path(server_name), timeline_dir(wal_name))
    out = []
    for entry in repo.list_names(directory, wal_name):
        parsed = parse_stored_name(entry)
        if parsed is not None and parsed[0] == wal_name:
            out.append(('%s/%s' % (directory, entry), parsed[1], parsed[2]))
    return out


def _open_existing(repo, server_name, wal_name, compression=None, encrypted=None, probe=True):
    """(relpath, compression, encrypted, open reader) of the archived copy, or None.

    With probe, the configured name is opened first (one request: the common
    case of wal-fetch); otherwise, or when it is missing, one listing finds any
    other compression/encryption variant. So a missing file costs at most two
    requests.
    """
    tried = None
    if probe and compression is not None:
        tried = object_path(server_name, wal_name, compression, bool(encrypted))
        try:
            return tried, compression, bool(encrypted), repo.open_read(tried)
        except NotFound:
            pass
    order = _variants(compression, encrypted)
    copies = [c for c in stored_copies(repo, server_name, wal_name) if c[0] != tried]
    copies.sort(key=lambda c: order.index((c[1], c[2])))
    for relpath, comp, enc in copies:
        try:
            return relpath, comp, enc, repo.open_read(relpath)
        except NotFound:        # deleted since the listing (prune)
            continue
    return None


class WalNotArchived(NotFound):
    """The WAL file asked for is not in the archive: the one failure wal-fetch reports as exit status 1."""


def _key_for(repo, server, source, wal_name):
    """A callable returning the WAL data key (BadInput when no key was given)."""
    def key():
        if source is None:
            raise BadInput('%s is archived encrypted and no key was given.' % wal_name,
                           'Give the archive\'s key (encryption_key_file in the config file).')
        return wal_data_key(repo, server, source)
    return key


def _expect(server, wal_name, comp, enc):
    return {'server': server, 'name': wal_name, 'compression': comp, 'encrypted': enc}


def decode_found(repo, server, found, wal_name, key, write, raw_sha256=False):
    """Decode a found copy (relpath, compression, encrypted, reader) into write(); returns wal_codec.Decoded."""
    relpath, comp, enc, reader = found
    label = repo.location(relpath)
    opened = wal_codec.open_stored(reader, label)
    try:
        return wal_codec.decode(opened, _expect(server, wal_name, comp, enc), None, write, label, key,
                                raw_sha256=raw_sha256)
    finally:
        opened.close()


# --- push / fetch ---------------------------------------------------------------------

def wal_push(p, src_path, wal_name, check_mode=False, repo=None, data_key=None):
    """Archive src_path as wal_name (archive_command %p %f); p: prepared params.

    Returns {'changed', 'wal_name', 'location', 'raw_bytes', 'stored_bytes', 'compression',
    'encrypted', 'msg'}; changed False when the same content is archived
    already. Raises IntegrityError when different content is. repo and data_key: an open
    repository and the unwrapped WAL key, when the caller (the spooler) keeps them.
    """
    check_wal_name(wal_name)
    if not src_path:
        raise BadInput('The path of the WAL file to archive (%p) is required.')
    compression, level = check_options(p.get('compression') or 'zstd', p.get('compression_level'))
    if p.get('compression_level') is None and compression in WAL_LEVEL:
        level = WAL_LEVEL[compression]
    source = key_source(p)
    try:
        st = os.stat(src_path)
        src = open(src_path, 'rb')
    except (IOError, OSError) as e:
        raise NotFound('WAL file %s cannot be read: %s.' % (src_path, e.strerror),
                       'archive_command must be run by PostgreSQL with %p, from the data directory.')
    try:
        if not wal_codec.segment_size_ok(wal_name, st.st_size):
            raise BadInput('%s has %d bytes; a WAL segment is a power of two from 1 MiB to 1 GiB.'
                           % (src_path, st.st_size), 'Pass a WAL segment as %p.')
        if repo is None:
            from ...storage.factory import open_repository
            repo = open_repository(p)
        server = p['server_name']
        result = {'wal_name': wal_name, 'compression': compression, 'encrypted': source is not None,
                  'raw_bytes': st.st_size}
        # usually not archived yet: one listing finds any variant (no probe of the configured name)
        found = _open_existing(repo, server, wal_name, compression, source is not None, probe=False)
        if found is not None:
            return _compare_existing(repo, p, found, wal_name, src_path, result, data_key)
        relpath = object_path(server, wal_name, compression, source is not None)
        result['location'] = repo.location(relpath)
        if check_mode:
            result.update(changed=True, stored_bytes=0, msg='%s would be archived.' % wal_name)
            return result
        if source is not None and data_key is None:
            data_key = wal_data_key(repo, server, source, create=True)
        written = {}

        def fill(target):
            written.update(wal_codec.encode(src, st.st_size, target, server, wal_name, compression, level,
                                            data_key, src_path))

        if _publish_if_absent(repo, relpath, fill):
            result.update(changed=True, stored_bytes=written['stored_bytes'],
                          msg='%s archived to %s.' % (wal_name, result['location']))
            return result
        # a concurrent push of the same name won: compare with what it stored (nothing was overwritten)
        found = _open_existing(repo, server, wal_name, compression, source is not None)
        if found is None:
            raise DbBackupError('%s appeared and vanished while it was being archived.' % result['location'])
        return _compare_existing(repo, p, found, wal_name, src_path, result, data_key)
    finally:
        src.close()


def _publish_if_absent(repo, relpath, fill):
    """fill() a create-if-absent file (repository open_write(if_absent=True)); False when relpath existed."""
    f = repo.open_write(relpath, if_absent=True)
    try:
        fill(f)
    except BaseException:
        f.abort()
        raise
    return f.commit()


def _compare_existing(repo, p, found, wal_name, src_path, result, data_key=None):
    relpath = found[0]
    source = key_source(p)

    def key():
        if data_key is not None:
            return data_key
        if source is None:
            raise BadInput('%s is archived encrypted already, and no key was given to compare it with.'
                           % wal_name, 'Give the archive\'s key (encryption_key_file in the config file).')
        return wal_data_key(repo, p['server_name'], source)

    decoded = decode_found(repo, p['server_name'], found, wal_name, key, lambda data: None, raw_sha256=True)
    result.update(location=repo.location(relpath), compression=decoded.identity['compression'],
                  encrypted=decoded.identity['encrypted'])
    if decoded.raw_bytes == result['raw_bytes'] and decoded.raw_sha256 == sha256_file(src_path, READ_SIZE):
        result.update(changed=False, stored_bytes=None,
                      msg='%s is archived already with the same content.' % wal_name)
        return result
    raise IntegrityError('%s is archived already (%s) with different content; it is never overwritten.'
                         % (wal_name, repo.location(relpath)),
                         'Two servers archive to the same server_name, or a restored copy of this server '
                         'does: give each its own server_name.')


def wal_fetch(p, wal_name, dest_path, check_mode=False, repo=None, data_key=None, encrypted_archive=None,
              durable=True):
    """Restore archived wal_name to dest_path (restore_command %f %p); p: prepared params.

    Raises WalNotArchived quickly when the file is not archived; any other error means the
    file is archived but cannot be used. dest_path appears complete and checked, or not at
    all. repo, data_key, encrypted_archive: kept by the caller (the prefetcher) across files;
    durable=False skips the fsyncs (the prefetcher's spool, which it empties when it starts).
    """
    check_wal_name(wal_name)
    if not dest_path:
        raise BadInput('The path to restore the WAL file to (%p) is required.')
    if repo is None:
        from ...storage.factory import open_repository
        repo = open_repository(p)
    server = p['server_name']
    source = key_source(p)
    if encrypted_archive is None:
        encrypted_archive = is_encrypted_archive(p, repo)
    found = _open_existing(repo, server, wal_name, p.get('compression') or 'zstd', source is not None)
    if found is None:
        raise WalNotArchived('WAL file %s is not in the archive %s.' % (wal_name, repo.location(wal_path(server))))
    relpath, comp, enc, reader = found
    location = repo.location(relpath)
    result = {'changed': True, 'wal_name': wal_name, 'location': location, 'compression': comp,
              'encrypted': enc, 'dest_path': dest_path}
    if check_mode:
        reader.close()
        result.update(raw_bytes=None, msg='%s would be restored to %s.' % (wal_name, dest_path))
        return result
    opened = wal_codec.open_stored(reader, location)
    try:
        stored_encrypted = opened.identity['encrypted'] if opened.identity is not None else \
            (enc or is_encrypted_header(opened.head))
        if not stored_encrypted and encrypted_archive:
            raise IntegrityError('WAL file %s is stored unencrypted (%s) in an encrypted archive; it was refused, '
                                 'because anyone able to write to the repository could have placed it there.'
                                 % (wal_name, location),
                                 'If the archive was encrypted only later and this recovery needs WAL from before, '
                                 'allow it for this recovery: allow_unencrypted = true in the config file (CLI '
                                 '--allow-unencrypted, dbbackup_pitr allow_unencrypted).')
        key = (lambda: data_key) if data_key is not None else _key_for(repo, server, source, wal_name)
        decoded = _write_atomically(dest_path, lambda write: wal_codec.decode(
            opened, _expect(server, wal_name, comp, enc), None, write, location, key), sync=durable)
    finally:
        opened.close()
    result.update(raw_bytes=decoded.raw_bytes, encrypted=decoded.identity['encrypted'],
                  compression=decoded.identity['compression'], format=decoded.format,
                  msg='%s restored to %s.' % (wal_name, dest_path))
    return result


def is_encrypted_archive(p, repo):
    """True when plain copies are refused: a key is configured or wal-key.json exists (unless allow_unencrypted).

    Asked before a copy is opened: one request at a time (a single-threaded endpoint would wait).
    """
    return not p.get('allow_unencrypted') and (key_source(p) is not None or
                                               read_key_doc(repo, p['server_name']) is not None)


def _write_atomically(dest_path, produce, sync=True):
    """produce(write) into a temporary file next to dest_path; fsync (sync), rename; returns produce()'s result."""
    directory = os.path.dirname(os.path.abspath(dest_path))
    tmp = os.path.join(directory, '.%s.dbbackup-%s' % (os.path.basename(dest_path), uuid.uuid4().hex[:12]))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except OSError as e:
        raise DbBackupError('Cannot create a file in %s: %s.' % (directory, e.strerror),
                            'restore_command runs as the PostgreSQL user, from the data directory.')
    try:
        with os.fdopen(fd, 'wb') as f:
            out = produce(f.write)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.rename(tmp, dest_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync:
        fsync_dir(directory)
    return out


# --- postgresql.conf helpers --------------------------------------------------------------

def _command_arg(path):
    if not path or any(c in str(path) for c in '\n\r\0'):
        raise BadInput('%r cannot be used in archive_command/restore_command.' % (path,))
    # shell quoting, then PostgreSQL's own escape of % (only %p, %f, %r, %% are special)
    return shlex.quote(str(path)).replace('%', '%%')


def archive_command(cli_path, config_path):
    """archive_command for postgresql.conf: `<cli> wal-push --config <file> %p %f` (no secrets in it)."""
    return '%s wal-push --config %s %%p %%f' % (_command_arg(cli_path), _command_arg(config_path))


def restore_command(cli_path, config_path, allow_unencrypted=False):
    """restore_command for postgresql.conf: `<cli> wal-fetch --config <file> [--allow-unencrypted] %f %p`."""
    return '%s wal-fetch --config %s %s%%f %%p' % (_command_arg(cli_path), _command_arg(config_path),
                                                   '--allow-unencrypted ' if allow_unencrypted else '')


def conf_quote(value):
    """A postgresql.conf string literal: single quotes, with ' and backslash escaped."""
    return "'%s'" % str(value).replace('\\', '\\\\').replace("'", "''")


# --- reading small files (history) ------------------------------------------------------

def read_wal_bytes(repo, server_name, wal_name, source=None, limit=1 << 20):
    """The raw content of a small archived file (a .history or .backup file); NotFound when absent."""
    check_wal_name(wal_name)
    found = _open_existing(repo, server_name, wal_name)
    if found is None:
        raise WalNotArchived('WAL file %s is not in the archive %s.'
                             % (wal_name, repo.location(wal_path(server_name))))
    parts = []
    size = [0]

    def write(data):
        size[0] += len(data)
        if size[0] > limit:
            raise IntegrityError('%s is larger than %d bytes; it is not a history file.' % (wal_name, limit))
        parts.append(data)

    def key():
        if source is None:
            raise BadInput('%s is archived encrypted and no key was given.' % wal_name,
                           'Give the archive\'s key (encryption_key_file, encryption_key_env or a passphrase).')
        return wal_data_key(repo, server_name, source)

    decode_found(repo, server_name, found, wal_name, key, write)
    return b''.join(parts)
