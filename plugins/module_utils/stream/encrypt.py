# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming authenticated encryption: chunked AES-256-GCM (STREAM construction).

In the spirit of age's STREAM and Tink's streaming AEAD. A stored file is

    header (37 bytes)
      magic         8  b'\\x89DBBENC\\n'
      version       1  1
      algorithm     1  1 = AES-256-GCM, per-file key HKDF-SHA256(data key, salt)
      chunk size    4  big-endian plaintext bytes per chunk (65536)
      salt         16  random, per file
      nonce prefix  7  random, per file
    chunk 0 .. chunk n    ciphertext of `chunk size` plaintext bytes + 16-byte tag;
                          only the last chunk may be shorter (0 .. chunk size bytes)

Chunk i is sealed with nonce = prefix || uint32_be(i) || last-flag (1 for the
final chunk, else 0) and the whole header as associated data, followed by the
caller's `context` bytes when given (they are not stored: the reader must
supply the same, so a file cannot be passed off as another one; the WAL
archive binds server and file name this way). Hence

- tampering with the header or any chunk fails authentication;
- reordering or duplicating chunks fails (the counter is in the nonce);
- truncation fails, also exactly at a chunk boundary: the chunk that is read
  last was sealed with flag 0, and the reader opens the final chunk with flag 1;
- appended bytes fail: the real last chunk is then not the last one read;
- an empty stream still has one (empty, last) chunk, so deleting every chunk
  is truncation too.

Each file gets its own key derived from the backup's data key and a random
salt, so nonces can never repeat across the files of a backup. Memory is
bounded by about two chunks whatever the stream length.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import struct

from ..common.deps import require
from ..common.errors import IntegrityError

MAGIC = b'\x89DBBENC\n'
SUFFIX = '.enc'     # appended to the names of encrypted files
VERSION = 1
ALG_AES256GCM_HKDF = 1
ALGORITHM_NAME = 'AES-256-GCM-STREAM-HKDF-SHA256'
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SALT_SIZE = 16
PREFIX_SIZE = 7
KEY_SIZE = 32
_HEADER = struct.Struct('>8sBBI%ds%ds' % (SALT_SIZE, PREFIX_SIZE))
HEADER_SIZE = _HEADER.size
MAX_CHUNKS = 1 << 32
FILE_KEY_INFO = b'dbbackup stream v1 file key'


def _file_cipher(data_key, salt):
    """AESGCM with the per-file key HKDF-SHA256(data_key, salt)."""
    if not isinstance(data_key, (bytes, bytearray)) or len(data_key) != KEY_SIZE:
        raise ValueError('the data key must be %d bytes' % KEY_SIZE)
    require('cryptography')
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    key = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=FILE_KEY_INFO).derive(bytes(data_key))
    return AESGCM(key)


def _nonce(prefix, counter, last):
    return prefix + struct.pack('>IB', counter, 1 if last else 0)


class EncryptingWriter(object):
    """Encrypts what is written to it into `sink`.

    close() seals the final chunk (it must be called, also for an empty
    stream) and does not close the sink.
    """

    def __init__(self, sink, data_key, chunk_size=CHUNK_SIZE, context=b''):
        if not 1 <= chunk_size <= (1 << 24):
            raise ValueError('chunk_size out of range')
        self.sink = sink
        self.chunk_size = chunk_size
        salt = os.urandom(SALT_SIZE)
        self._prefix = os.urandom(PREFIX_SIZE)
        self._header = _HEADER.pack(MAGIC, VERSION, ALG_AES256GCM_HKDF, chunk_size, salt, self._prefix)
        self._aad = self._header + bytes(context)
        self._aead = _file_cipher(data_key, salt)
        self._buf = bytearray()
        self._counter = 0
        self._closed = False
        self.sink.write(self._header)

    def writable(self):
        return True

    def _seal(self, data, last):
        if self._counter >= MAX_CHUNKS:
            raise ValueError('stream too long for one encrypted file')
        self.sink.write(self._aead.encrypt(_nonce(self._prefix, self._counter, last), data, self._aad))
        self._counter += 1

    def write(self, data):
        if self._closed:
            raise ValueError('write to a closed EncryptingWriter')
        n = len(data)
        if not n:
            return 0
        size = self.chunk_size
        buf = self._buf
        if not buf and n > size:
            # fast path: seal full chunks straight from the caller's buffer,
            # always keeping at least one byte back (the last chunk is sealed by close)
            view = memoryview(data)
            start = 0
            while n - start > size:
                self._seal(view[start:start + size], False)
                start += size
            buf += view[start:]
            return n
        buf += data
        if len(buf) > size:
            view = memoryview(buf)
            start = 0
            while len(buf) - start > size:
                self._seal(view[start:start + size], False)
                start += size
            view.release()
            del buf[:start]
        return n

    def flush(self):
        pass

    def close(self):
        """Seal the last chunk (possibly empty). Idempotent; the sink stays open."""
        if self._closed:
            return
        self._closed = True
        self._seal(bytes(self._buf), True)
        self._buf = bytearray()


class DecryptingReader(object):
    """A readable of the plaintext of an encrypted `source`.

    Raises IntegrityError naming `label` when the stream is not an encrypted
    dbbackup file, was encrypted with another key or another `context`, or was
    modified, truncated, extended or reordered. Plaintext of a chunk is
    returned only after its tag has been checked. `subject` and `hint` word the
    message for the caller's kind of file.
    """

    def __init__(self, source, data_key, label, context=b'', subject='Backup file',
                 hint='It is corrupted, truncated or was modified; restore another backup_id.'):
        self.source = source
        self.label = label
        self.subject = subject
        self.hint = hint
        self._context = bytes(context)
        self._data_key = data_key
        self._aead = None
        self._header = None
        self._prefix = None
        self._size = None
        self._pending = b''      # ciphertext read ahead
        self._plain = b''        # plaintext not yet returned
        self._pos = 0
        self._counter = 0
        self._eof_source = False
        self._done = False

    def readable(self):
        return True

    def _fail(self, what):
        raise IntegrityError('%s %s cannot be decrypted: %s.' % (self.subject, self.label, what), self.hint)

    def _fill(self, want):
        """Read from source until `want` bytes are pending or the source ends."""
        parts = [self._pending]
        have = len(self._pending)
        while have < want and not self._eof_source:
            data = self.source.read(max(want - have, CHUNK_SIZE))
            if not data:
                self._eof_source = True
                break
            parts.append(data)
            have += len(data)
        self._pending = b''.join(parts) if len(parts) > 1 else parts[0]

    def _read_header(self):
        self._fill(HEADER_SIZE)
        head = self._pending[:HEADER_SIZE]
        if len(head) < HEADER_SIZE or not head.startswith(MAGIC):
            if MAGIC.startswith(head[:len(MAGIC)]) and len(head) < HEADER_SIZE:
                self._fail('the file ends inside its encryption header (truncated)')
            self._fail('it is not a dbbackup encrypted file (no encryption header)')
        version, alg, size, salt, prefix = _HEADER.unpack(head)[1:]
        if version != VERSION:
            self._fail('encryption format version %d is not supported by this engine (it reads %d); '
                       'upgrade the dbbackup collection' % (version, VERSION))
        if alg != ALG_AES256GCM_HKDF:
            self._fail('unknown encryption algorithm id %d' % alg)
        if not 1 <= size <= (1 << 24):
            self._fail('invalid chunk size %d in the encryption header' % size)
        self._header = head
        self._prefix = prefix
        self._size = size
        self._pending = self._pending[HEADER_SIZE:]
        self._aead = _file_cipher(self._data_key, salt)
        self._data_key = None

    def _next_chunk(self):
        """Decrypt the next chunk into self._plain; sets self._done after the last."""
        if self._header is None:
            self._read_header()
        full = self._size + TAG_SIZE
        # one byte of look-ahead tells whether this chunk is the last one
        self._fill(full + 1)
        pending = self._pending
        last = len(pending) <= full
        if last:
            chunk, self._pending = pending, b''
            if len(chunk) < TAG_SIZE:
                self._fail('the file is truncated (chunk %d is incomplete)' % self._counter)
        else:
            chunk, self._pending = pending[:full], pending[full:]
        if self._counter >= MAX_CHUNKS:
            self._fail('too many chunks')
        try:
            plain = self._aead.decrypt(_nonce(self._prefix, self._counter, last), chunk,
                                       self._header + self._context)
        except require('cryptography.exceptions').InvalidTag:
            if last and len(chunk) == full:
                what = ('chunk %d failed authentication (truncated at a chunk boundary, '
                        'or corrupted)' % self._counter)
            elif not last:
                what = ('chunk %d failed authentication (corrupted, reordered, or data appended '
                        'after the end)' % self._counter)
            else:
                what = 'chunk %d failed authentication (corrupted or truncated)' % self._counter
            self._fail(what)
        self._counter += 1
        self._plain = plain
        self._pos = 0
        if last:
            self._done = True
            # make sure the source is read to its end (a verifying reader below
            # checks size and SHA-256 only when it sees end of stream)
            if not self._eof_source and self.source.read(1):
                self._fail('data follows the final chunk')
            self._eof_source = True

    def read(self, size=-1):
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(1 << 20)
                if not part:
                    return b''.join(parts)
                parts.append(part)
        if size == 0:
            return b''
        while self._pos >= len(self._plain):
            if self._done:
                return b''
            self._next_chunk()
        start = self._pos
        end = min(start + size, len(self._plain))
        self._pos = end
        if start == 0 and end == len(self._plain):
            return self._plain
        return self._plain[start:end]

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def close(self):
        close = getattr(self.source, 'close', None)
        if close:
            close()


def is_encrypted_header(data):
    """True when data (the first bytes of a stored file) starts with the encryption magic."""
    return data[:len(MAGIC)] == MAGIC
