# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One file of a continuous archive (the PostgreSQL WAL archive): framed, checksummed, bound to its name.

    header   magic b'\\x89DBBARC\\n' | version (1 byte) | length (2 bytes, big-endian) | identity
             identity: JSON {"compression", "encrypted", "kind", "name", "server"}, sorted keys
    payload  the file compressed (stream/compress.py; zstd: one frame per piece written, older objects
             hold one frame, both read as one stream), then encrypted when a data key is given
             (stream/encrypt.py) with the header as context: the ciphertext authenticates
             kind, server and name, so it cannot be passed off as another file
    trailer  magic b'\\x89DBBSUM\\n' | raw bytes (8) | payload bytes (8) | SHA-256 of header + payload
             (32), sizes big-endian: TRAILER_SIZE bytes. Version 1 objects also hold the SHA-256 of
             the raw file (32) before the last field.

So each object carries its own record: quick verification (sizes, SHA-256 of header + payload)
needs no key and no codec; reading it back checks the header's identity against the name
asked for, the raw size of what was decoded, and the codec's own check of its output (zstd
frame checksums, gzip CRC; version 1: the raw SHA-256). Everything streams: a reader holds back
only the trailer's bytes.

Version 2 dropped the raw SHA-256 because it repeated what is checked anyway, at a quarter of
the archive's CPU: the stored bytes are covered by their SHA-256 (and the encryption's tags),
and what decompressing them yields by the codec's checksum and the WAL page checks.

Objects written before this format have no header (they start with a zstd, gzip or
encryption magic, or with the file itself); callers recognise them with is_framed().
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import struct

from ..common.errors import IntegrityError
from ..stream.compress import decompressing_reader, frames_writer
from ..stream.encrypt import DecryptingReader, EncryptingWriter
from ..stream.hashing import HashingWriter

MAGIC = b'\x89DBBARC\n'
END_MAGIC = b'\x89DBBSUM\n'
VERSION = 2                             # what new objects are; 1 is read as well
_HEAD = struct.Struct('>8sBH')
_TRAILERS = {1: struct.Struct('>8sQQ32s32s'), 2: struct.Struct('>8sQQ32s')}
TRAILER_SIZE = _TRAILERS[VERSION].size
MAX_IDENTITY = 4096
READ_SIZE = 64 << 10
DECODE_SIZE = 256 << 10
IDENTITY_KEYS = ('compression', 'encrypted', 'kind', 'name', 'server')


def is_framed(head):
    """True when head (the first bytes of a stored object) starts a framed object."""
    return head[:len(MAGIC)] == MAGIC


def build_header(identity):
    """The header bytes for identity (a dict with IDENTITY_KEYS)."""
    doc = dict((k, identity[k]) for k in IDENTITY_KEYS)
    body = json.dumps(doc, sort_keys=True, separators=(',', ':')).encode('utf-8')
    if len(body) > MAX_IDENTITY:
        raise ValueError('identity too long')
    return _HEAD.pack(MAGIC, VERSION, len(body)) + body


class ObjectWriter(object):
    """Writes one framed object into target (a repository file); close() writes the trailer.

    close() returns {'raw_bytes', 'stored_bytes', 'sha256'}: sha256 is of header + payload
    (what the trailer records), stored_bytes the whole object.
    """

    def __init__(self, target, identity, level, data_key=None):
        self.header = build_header(identity)
        self._target = target
        self._stored = HashingWriter(target)
        self._stored.write(self.header)
        self._enc = EncryptingWriter(self._stored, data_key, context=self.header) if data_key is not None else None
        self._codec = frames_writer(self._enc or self._stored, identity['compression'], level)
        self.raw_bytes = 0

    def write(self, data):
        self.raw_bytes += len(data)
        self._codec.write(data)
        return len(data)

    def close(self):
        self._codec.close()
        if self._enc is not None:
            self._enc.close()
        payload = self._stored.count - len(self.header)
        self._target.write(_TRAILERS[VERSION].pack(END_MAGIC, self.raw_bytes, payload, self._stored.sha256.digest()))
        return {'raw_bytes': self.raw_bytes, 'stored_bytes': self._stored.count + TRAILER_SIZE,
                'sha256': self._stored.hexdigest()}


class _Damaged(object):
    """Raises the caller's IntegrityError for one object (subject, label, hint)."""

    def __init__(self, subject, label, hint):
        self.subject, self.label, self.hint = subject, label, hint

    def __call__(self, what):
        raise IntegrityError('%s %s is damaged: %s.' % (self.subject, self.label, what), self.hint)


class FramedReader(object):
    """The payload of a framed object, read from source after its header.

    read(n) hashes header + payload and holds back the trailer; at the end of the
    source check() compares sizes and SHA-256 with the trailer (fail() on a mismatch)
    and returns the trailer as a dict (raw_sha256 None from version 2 on).
    """

    def __init__(self, source, header, rest, fail, version=VERSION):
        self._source = source
        self._fail = fail
        self.version = version
        self._trailer = _TRAILERS[version]
        self._hash = hashlib.sha256(header)
        self._buf = bytearray(rest)
        self._eof = False
        self.payload_bytes = 0
        self.stored_bytes = len(header)
        self.trailer = None

    def _fill(self, want):
        while len(self._buf) < want + self._trailer.size and not self._eof:
            data = self._source.read(max(want, READ_SIZE))
            if not data:
                self._eof = True
                break
            self._buf += data

    def read(self, size=-1):
        want = READ_SIZE if size is None or size < 0 else size
        self._fill(want)
        n = min(want, max(0, len(self._buf) - self._trailer.size))
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self._hash.update(out)
        self.payload_bytes += n
        self.stored_bytes += n
        if not n and self._eof and self.trailer is None:
            self._end()
        return out

    def readable(self):
        return True

    def _end(self):
        tail = bytes(self._buf)
        self.stored_bytes += len(tail)
        if len(tail) != self._trailer.size or not tail.startswith(END_MAGIC):
            self._fail('its checksum record is missing (the object is truncated)')
        fields = self._trailer.unpack(tail)
        self.trailer = {'raw_bytes': fields[1], 'payload_bytes': fields[2], 'sha256': fields[-1].hex(),
                        'raw_sha256': fields[3].hex() if self.version == 1 else None}

    def check(self):
        """Read to the end and compare with the trailer; returns the trailer dict."""
        while self.read(READ_SIZE):
            pass
        t = self.trailer
        if t['payload_bytes'] != self.payload_bytes:
            self._fail('it holds %d bytes of data, its checksum record says %d (truncated or extended)'
                       % (self.payload_bytes, t['payload_bytes']))
        if t['sha256'] != self._hash.hexdigest():
            self._fail('its SHA-256 does not match its checksum record (corrupted or modified)')
        return t

    def close(self):
        close = getattr(self._source, 'close', None)
        if close:
            close()


def open_object(source, label, subject, hint):
    """(identity, header bytes, FramedReader) for a framed object; (None, head, None) otherwise.

    For an object that is not framed, head holds the bytes already read from source
    (the caller decodes head + the rest as a file of the older layout).
    """
    fail = _Damaged(subject, label, hint)
    head = source.read(_HEAD.size)
    while len(head) < _HEAD.size:
        more = source.read(_HEAD.size - len(head))
        if not more:
            break
        head += more
    if not is_framed(head):
        return None, head, None
    if len(head) < _HEAD.size:
        fail('its header is truncated')
    magic, version, length = _HEAD.unpack(head)
    if version not in _TRAILERS:
        fail('its format version %d is not supported by this engine (it reads %s); upgrade the dbbackup '
             'collection' % (version, ' and '.join(str(v) for v in sorted(_TRAILERS))))
    body = b''
    while len(body) < length:
        more = source.read(length - len(body))
        if not more:
            fail('its header is truncated')
        body += more
    try:
        identity = json.loads(body.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        identity = None
    if not isinstance(identity, dict) or any(k not in identity for k in IDENTITY_KEYS):
        fail('its header is not readable')
    header = head + body
    return identity, header, FramedReader(source, header, b'', fail, version)


def check_identity(identity, expect, fail):
    """fail() unless identity says kind, server and name of expect."""
    for key, what in (('kind', 'a file of kind'), ('server', 'a file of server'), ('name', 'file')):
        if identity.get(key) != expect[key]:
            fail('it is %s %r, not %r: it was copied or renamed within the repository'
                 % (what, identity.get(key), expect[key]))


def decode_framed(identity, header, framed, data_key, write, fail, subject, label, hint):
    """Decrypt and decompress a framed payload into write(); checks everything; returns the trailer.

    data_key: the archive's data key when identity says encrypted (else ignored).
    """
    source = framed
    if identity['encrypted']:
        source = DecryptingReader(framed, data_key, label, context=header, subject=subject, hint=hint)
    # output-bounded reads (a zeroed WAL tail compresses 16 MiB into a few bytes); the frame's end is
    # not insisted on here: the trailer's sizes and SHA-256s below decide
    reader = decompressing_reader(source, identity['compression'], label, fail)
    raw = hashlib.sha256() if framed.version == 1 else None
    total = 0
    while True:
        out = reader.read(DECODE_SIZE)
        if not out:
            break
        if raw is not None:
            raw.update(out)
        total += len(out)
        write(out)
    trailer = framed.check()
    if trailer['raw_bytes'] != total:
        fail('what it decodes to (%d bytes) does not match its checksum record (%d bytes)'
             % (total, trailer['raw_bytes']))
    if raw is not None and trailer['raw_sha256'] != raw.hexdigest():
        fail('what it decodes to does not match the SHA-256 in its checksum record')
    return trailer


def damaged(subject, label, hint):
    """The fail(what) callable the functions above take."""
    return _Damaged(subject, label, hint)
