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
- wal_fetch raises NotFound at once when no object exists (PostgreSQL asks
  for files past the end of the archive and for history files that do not
  exist); otherwise it decodes into a temporary file next to dest_path,
  checks that the stream is complete (AES-GCM chunks authenticate everything
  when encrypted; the zstd/gzip frame must end, the zstd frame carries its
  content size and a checksum), fsyncs and renames: dest_path never holds a
  partial file.
- Encryption: one random WAL data key per server, wrapped by the KEK like a
  backup's data key (format/archive_key.py, shared with the binlog archive;
  identity kind 'wal' and the server name) in wal-key.json, created once by the first encrypted push, never overwritten
  (conditional write; two racing first pushes both end up using the stored
  key). A passphrase costs a KDF run per push; use a key file for archive_command.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import shlex
import uuid
import zlib

from ...common.deps import require
from ...common.errors import BadInput, DbBackupError, IntegrityError, NotFound
from ...format import archive_key
from ...format.backups import wal_path
from ...format.keys import key_source
from ...storage.local import fsync_dir
from ...stream.compress import SUFFIX as COMPRESSION_SUFFIX, check_options, compressing_writer
from ...stream.encrypt import SUFFIX as ENCRYPTION_SUFFIX, DecryptingReader, EncryptingWriter
from ...stream.hashing import sha256_file
from .wal_names import MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, check_wal_name, timeline_dir, wal_kind

READ_SIZE = 1 << 20           # source reads
DECODE_INPUT = 64 << 10       # stored bytes fed to the decompressor at a time
FILE_MODE = 0o600


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


# --- encode / decode ------------------------------------------------------------------

def _segment_size_ok(name, raw_bytes):
    """Segments and .partial files are a whole wal_segment_size: a power of two, 1 MiB .. 1 GiB."""
    if wal_kind(name) not in ('segment', 'partial'):
        return True
    return MIN_SEGMENT_SIZE <= raw_bytes <= MAX_SEGMENT_SIZE and not raw_bytes & (raw_bytes - 1)


def _encode(src, size, target, compression, level, data_key, label):
    """Stream src (open binary file of `size` bytes) into target; returns (sha256 hex, raw bytes)."""
    enc = EncryptingWriter(target, data_key) if data_key is not None else None
    writer = compressing_writer(enc or target, compression, level, size=size, checksum=True)
    h = hashlib.sha256()
    done = 0
    while True:
        chunk = src.read(READ_SIZE)
        if not chunk:
            break
        h.update(chunk)
        done += len(chunk)
        if done > size:
            break
        writer.write(chunk)
    if done != size:
        raise IntegrityError('%s changed size while it was being archived (%d bytes expected, %s read).'
                             % (label, size, done), 'PostgreSQL retries archive_command; check who writes it.')
    writer.close()
    if enc is not None:
        enc.close()
    return h.hexdigest(), done


class _Decoder(object):
    """Incremental decompressor that knows whether its frame ended."""

    def __init__(self, compression, label):
        self.compression = compression
        self.label = label
        if compression == 'zstd':
            zstd = require('zstandard')
            self._obj = zstd.ZstdDecompressor().decompressobj()
            self._errors = (zstd.ZstdError,)
        elif compression == 'gzip':
            self._obj = zlib.decompressobj(31)
            self._errors = (zlib.error,)
        else:
            self._obj = None
            self._errors = ()

    def feed(self, data):
        if self._obj is None:
            return data
        if self._obj.eof:
            self._fail('data follows the end of the compressed stream')
        try:
            out = self._obj.decompress(data)
        except self._errors as e:
            self._fail('it cannot be decompressed (%s)' % e)
        if self._obj.eof and self._obj.unused_data:
            self._fail('data follows the end of the compressed stream')
        return out

    def finish(self):
        if self._obj is not None and not self._obj.eof:
            self._fail('the compressed stream is truncated')

    def _fail(self, what):
        raise IntegrityError('Archived WAL file %s is damaged: %s.' % (self.label, what),
                             'It cannot be used for recovery; recovery stops before it.')


def _decode(reader, compression, data_key, label, write):
    """Stream a stored object through decryption and decompression into write(); returns raw bytes."""
    source = DecryptingReader(reader, data_key, label) if data_key is not None else reader
    decoder = _Decoder(compression, label)
    total = 0
    try:
        while True:
            try:
                chunk = source.read(DECODE_INPUT)
            except IntegrityError as e:
                raise IntegrityError(e.message, 'The archived WAL file cannot be trusted; recovery stops before it.')
            if not chunk:
                break
            out = decoder.feed(chunk)
            if out:
                write(out)
                total += len(out)
        decoder.finish()
    finally:
        source.close()
    return total


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


def _archived_sha256(repo, p, found, wal_name):
    relpath, comp, enc, reader = found
    data_key = None
    if enc:
        source = key_source(p)
        if source is None:
            reader.close()
            raise BadInput('%s is archived encrypted already, and no key was given to compare it with.'
                           % wal_name, 'Give the archive\'s key (encryption_key_file in the config file).')
        try:
            data_key = wal_data_key(repo, p['server_name'], source)
        except BaseException:
            reader.close()
            raise
    h = hashlib.sha256()
    raw = _decode(reader, comp, data_key, repo.location(relpath), h.update)
    return h.hexdigest(), raw


# --- push / fetch ---------------------------------------------------------------------

def wal_push(p, src_path, wal_name, check_mode=False):
    """Archive src_path as wal_name (archive_command %p %f); p: prepared params.

    Returns {'changed', 'wal_name', 'location', 'raw_bytes', 'stored_bytes',
    'compression', 'encrypted', 'msg'}; changed False when the same content is
    archived already. Raises IntegrityError when different content is.
    """
    from ...storage.factory import open_repository
    check_wal_name(wal_name)
    if not src_path:
        raise BadInput('The path of the WAL file to archive (%p) is required.')
    compression, level = check_options(p.get('compression') or 'zstd', p.get('compression_level'))
    source = key_source(p)
    try:
        st = os.stat(src_path)
        src = open(src_path, 'rb')
    except (IOError, OSError) as e:
        raise NotFound('WAL file %s cannot be read: %s.' % (src_path, e.strerror),
                       'archive_command must be run by PostgreSQL with %p, from the data directory.')
    try:
        if not _segment_size_ok(wal_name, st.st_size):
            raise BadInput('%s has %d bytes; a WAL segment is a power of two from 1 MiB to 1 GiB.'
                           % (src_path, st.st_size), 'Pass a WAL segment as %p.')
        repo = open_repository(p)
        server = p['server_name']
        result = {'wal_name': wal_name, 'compression': compression, 'encrypted': source is not None,
                  'raw_bytes': st.st_size}
        # usually not archived yet: one listing finds any variant (no probe of the configured name)
        found = _open_existing(repo, server, wal_name, compression, source is not None, probe=False)
        if found is not None:
            return _compare_existing(repo, p, found, wal_name, src_path, result)
        relpath = object_path(server, wal_name, compression, source is not None)
        result['location'] = repo.location(relpath)
        if check_mode:
            result.update(changed=True, stored_bytes=0, msg='%s would be archived.' % wal_name)
            return result
        data_key = wal_data_key(repo, server, source, create=True) if source is not None else None
        counter = {}

        def fill(target):
            counting = _Counting(target)
            counter['sha256'], counter['raw'] = _encode(src, st.st_size, counting, compression, level,
                                                        data_key, src_path)
            counter['stored'] = counting.count

        if _publish_if_absent(repo, relpath, fill):
            result.update(changed=True, stored_bytes=counter['stored'],
                          msg='%s archived to %s.' % (wal_name, result['location']))
            return result
        # a concurrent push of the same name won: compare with what it stored (nothing was overwritten)
        found = _open_existing(repo, server, wal_name, compression, source is not None)
        if found is None:
            raise DbBackupError('%s appeared and vanished while it was being archived.' % result['location'])
        return _compare_existing(repo, p, found, wal_name, src_path, result)
    finally:
        src.close()


class _Counting(object):
    def __init__(self, sink):
        self.sink = sink
        self.count = 0

    def write(self, data):
        self.sink.write(data)
        self.count += len(data)
        return len(data)

    def flush(self):
        pass


def _publish_if_absent(repo, relpath, fill):
    """fill() a create-if-absent file (repository open_write(if_absent=True)); False when relpath existed."""
    f = repo.open_write(relpath, if_absent=True)
    try:
        fill(f)
    except BaseException:
        f.abort()
        raise
    return f.commit()


def _compare_existing(repo, p, found, wal_name, src_path, result):
    relpath = found[0]
    archived, raw = _archived_sha256(repo, p, found, wal_name)
    result.update(location=repo.location(relpath), compression=found[1], encrypted=found[2])
    if raw == result['raw_bytes'] and archived == sha256_file(src_path, READ_SIZE):
        result.update(changed=False, stored_bytes=None,
                      msg='%s is archived already with the same content.' % wal_name)
        return result
    raise IntegrityError('%s is archived already (%s) with different content; it is never overwritten.'
                         % (wal_name, repo.location(relpath)),
                         'Two servers archive to the same server_name, or a restored copy of this server '
                         'does: give each its own server_name.')


def wal_fetch(p, wal_name, dest_path, check_mode=False):
    """Restore archived wal_name to dest_path (restore_command %f %p); p: prepared params.

    Raises NotFound quickly when the file is not archived. dest_path appears
    complete or not at all.
    """
    from ...storage.factory import open_repository
    check_wal_name(wal_name)
    if not dest_path:
        raise BadInput('The path to restore the WAL file to (%p) is required.')
    repo = open_repository(p)
    server = p['server_name']
    source = key_source(p)
    # an encrypted archive (a key is configured, or wal-key.json exists) refuses plain copies below;
    # asked before a copy is opened: one request at a time (a single-threaded endpoint would wait)
    encrypted_archive = not p.get('allow_unencrypted') and (source is not None or
                                                            read_key_doc(repo, server) is not None)
    found = _open_existing(repo, server, wal_name, p.get('compression') or 'zstd', source is not None)
    if found is None:
        raise NotFound('WAL file %s is not in the archive %s.' % (wal_name, repo.location(wal_path(server))))
    relpath, comp, enc, reader = found
    if not enc and encrypted_archive:
        reader.close()
        raise IntegrityError('WAL file %s is stored unencrypted (%s) in an encrypted archive; it was refused, because '
                             'anyone able to write to the repository could have placed it there.'
                             % (wal_name, repo.location(relpath)),
                             'If the archive was encrypted only later and this recovery needs WAL from before, allow it '
                             'for this recovery: allow_unencrypted = true in the config file (CLI --allow-unencrypted, '
                             'dbbackup_pitr allow_unencrypted).')
    result = {'changed': True, 'wal_name': wal_name, 'location': repo.location(relpath), 'compression': comp,
              'encrypted': enc, 'dest_path': dest_path}
    if check_mode:
        reader.close()
        result.update(raw_bytes=None, msg='%s would be restored to %s.' % (wal_name, dest_path))
        return result
    data_key = None
    try:
        if enc:
            if source is None:
                raise BadInput('%s is archived encrypted and no key was given.' % wal_name,
                               'Give the archive\'s key (encryption_key_file in the config file).')
            data_key = wal_data_key(repo, server, source)
    except BaseException:
        reader.close()
        raise
    result['raw_bytes'] = _write_atomically(dest_path, lambda write: _decode(
        reader, comp, data_key, result['location'], write), wal_name)
    result['msg'] = '%s restored to %s.' % (wal_name, dest_path)
    return result


def _write_atomically(dest_path, produce, wal_name):
    """produce(write) into a temporary file next to dest_path; fsync, check, rename."""
    directory = os.path.dirname(os.path.abspath(dest_path))
    tmp = os.path.join(directory, '.%s.dbbackup-%s' % (os.path.basename(dest_path), uuid.uuid4().hex[:12]))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except OSError as e:
        raise DbBackupError('Cannot create a file in %s: %s.' % (directory, e.strerror),
                            'restore_command runs as the PostgreSQL user, from the data directory.')
    try:
        with os.fdopen(fd, 'wb') as f:
            raw = produce(f.write)
            f.flush()
            os.fsync(f.fileno())
        if not _segment_size_ok(wal_name, raw):
            raise IntegrityError('Archived WAL file %s decodes to %d bytes, not a whole segment.' % (wal_name, raw),
                                 'It cannot be used for recovery.')
        os.rename(tmp, dest_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)
    return raw


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
        raise NotFound('WAL file %s is not in the archive %s.' % (wal_name, repo.location(wal_path(server_name))))
    relpath, comp, enc, reader = found
    data_key = None
    if enc:
        if source is None:
            reader.close()
            raise BadInput('%s is archived encrypted and no key was given.' % wal_name,
                           'Give the archive\'s key (encryption_key_file, encryption_key_env or a passphrase).')
        try:
            data_key = wal_data_key(repo, server_name, source)
        except BaseException:
            reader.close()
            raise
    parts = []
    size = [0]

    def write(data):
        size[0] += len(data)
        if size[0] > limit:
            raise IntegrityError('%s is larger than %d bytes; it is not a history file.' % (wal_name, limit))
        parts.append(data)

    _decode(reader, comp, data_key, repo.location(relpath), write)
    return b''.join(parts)
