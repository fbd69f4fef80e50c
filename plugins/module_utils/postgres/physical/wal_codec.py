# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Encoding and decoding one archived WAL file, with every check wal-fetch and the verify mode make.

New objects are framed (format/archive_object.py): identity (kind 'wal', server, name,
compression, encrypted) in a header that the encryption authenticates, and sizes and the
stored bytes' SHA-256 in a trailer. Objects pushed before that format (no header) are read as they
were written: a bare zstd/gzip frame (with its content size and checksum), optionally
inside the chunked encryption, or the file itself.

Segments (and the first page of `.partial` files) also pass the page-header checks of
wal_pages.py, on push and on every read, whatever the object's format: a segment stored
under another segment's name is refused before PostgreSQL could take it for the end of
the WAL.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib

from ...common.errors import IntegrityError
from ...format import archive_object
from ...stream.compress import FrameDecoder
from ...stream.encrypt import DecryptingReader, is_encrypted_header
from .wal_names import MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, wal_kind
from .wal_pages import PageChecker, WalPageError

SUBJECT = 'Archived WAL file'
HINT = ('Recovery cannot use it and stops before it. Restore the object from a copy of the repository, or '
        'recover to a target before it; `dbbackup pitr-status --verify deep` (dbbackup_pitr state=status '
        'verify=deep) lists every damaged file of the archive.')
PUSH_HINT = 'archive_command must be given the WAL file PostgreSQL names in %f (%p).'
READ_SIZE = 128 << 10


def segment_size_ok(name, raw_bytes):
    """Segments and .partial files are a whole wal_segment_size: a power of two, 1 MiB .. 1 GiB."""
    if wal_kind(name) not in ('segment', 'partial'):
        return True
    return MIN_SEGMENT_SIZE <= raw_bytes <= MAX_SEGMENT_SIZE and not raw_bytes & (raw_bytes - 1)


def page_checker(name):
    """A wal_pages.PageChecker for segments and .partial files, else None."""
    return PageChecker(name) if wal_kind(name) in ('segment', 'partial') else None


def identity(server, name, compression, encrypted):
    return {'kind': 'wal', 'server': server, 'name': name, 'compression': compression, 'encrypted': bool(encrypted)}


def encode(src, size, target, server, name, compression, level, data_key, label):
    """Stream src (an open file of `size` bytes) into target as a framed object.

    Returns ObjectWriter.close()'s dict. Raises IntegrityError when the file changes size
    while it is read, or when a segment's pages do not belong to `name`.
    """
    writer = archive_object.ObjectWriter(target, identity(server, name, compression, data_key is not None),
                                         level, data_key=data_key)
    pages = page_checker(name)
    done = 0
    try:
        while True:
            chunk = src.read(READ_SIZE)
            if not chunk:
                break
            done += len(chunk)
            if done > size:
                break
            if pages is not None:
                pages.feed(chunk)
            writer.write(chunk)
        if done != size:
            raise IntegrityError('%s changed size while it was being archived (%d bytes expected, %s read).'
                                 % (label, size, done), 'PostgreSQL retries archive_command; check who writes it.')
        if pages is not None:
            pages.finish(size)
    except WalPageError as e:
        raise IntegrityError('%s is not WAL file %s: %s.' % (label, name, e), PUSH_HINT)
    return writer.close()


class Decoded(object):
    """What decode() found: format ('framed' or 'legacy'), identity, raw size (and SHA-256, see decode), page facts."""

    def __init__(self):
        self.format = None
        self.identity = None
        self.raw_bytes = 0
        self.raw_sha256 = None
        self.stored_bytes = None
        self.sysid = None
        self.timelines = None


class Opened(object):
    """A stored object after its first bytes were read: .identity/.header/.framed for a framed object
    (identity None for the older layout, whose first bytes are in .head); .source the repository reader."""

    def __init__(self, reader, label):
        self.source = reader
        self.label = label
        ident, head, framed = archive_object.open_object(reader, label, SUBJECT, HINT)
        self.identity = ident
        self.header = head if ident is not None else None
        self.head = head if ident is None else b''
        self.framed = framed

    def close(self):
        self.source.close()


def open_stored(reader, label):
    """Opened(reader, label); closes reader when its first bytes cannot be read."""
    try:
        return Opened(reader, label)
    except BaseException:
        reader.close()
        raise


def decode(opened, expect, data_key, write, label, key_needed=None, raw_sha256=False):
    """Decode an object opened with open_stored into write(); every check on the way.

    expect: {'server', 'name', 'compression', 'encrypted'} of the stored name (legacy
    objects are decoded as their name says; a framed object's header must name the same
    server and file). data_key: the WAL data key or None. key_needed(): called when the
    object turns out to be encrypted and data_key is None (raises, or returns the key).
    raw_sha256: also hash what is decoded (Decoded.raw_sha256; always set for objects whose
    record holds it). Returns a Decoded. Raises IntegrityError naming the file (label).
    """
    ident, header, framed = opened.identity, opened.header, opened.framed
    fail = archive_object.damaged(SUBJECT, label, HINT)
    pages = page_checker(expect['name'])
    out = Decoded()
    # a version 1 framed object's raw SHA-256 is checked (and returned) by decode_framed
    raw = hashlib.sha256() if ident is None or (raw_sha256 and opened.framed.version != 1) else None

    def sink(data):
        if raw is not None:
            raw.update(data)
        out.raw_bytes += len(data)
        if pages is not None:
            try:
                pages.feed(data)
            except WalPageError as e:
                fail(e)
        write(data)

    if ident is not None:
        archive_object.check_identity(ident, dict(expect, kind='wal'), fail)
        if ident['encrypted'] and data_key is None:
            data_key = key_needed()
        out.format, out.identity = 'framed', ident
        trailer = archive_object.decode_framed(ident, header, framed, data_key, sink, fail, SUBJECT, label, HINT)
        out.stored_bytes = framed.stored_bytes
        out.raw_sha256 = trailer['raw_sha256']        # None from version 2 on (unless hashed below)
    else:
        encrypted = expect['encrypted'] or is_encrypted_header(opened.head)
        if encrypted and data_key is None:
            data_key = key_needed()
        out.format = 'legacy'
        out.identity = dict(expect, kind='wal', encrypted=encrypted)
        out.stored_bytes = _decode_legacy(_Prefixed(opened.head, opened.source), expect['compression'],
                                          data_key if encrypted else None, label, sink, fail)
    if not segment_size_ok(expect['name'], out.raw_bytes):
        fail('it decodes to %d bytes, not a whole segment' % out.raw_bytes)
    if pages is not None:
        try:
            pages.finish(out.raw_bytes)
        except WalPageError as e:
            fail(e)
        out.sysid, out.timelines = pages.sysid, sorted(pages.timelines)
    if raw is not None:
        out.raw_sha256 = raw.hexdigest()
    return out


class _Prefixed(object):
    """head (bytes already read) followed by the rest of source."""

    def __init__(self, head, source):
        self._head = head
        self._source = source
        self.count = 0

    def read(self, size=-1):
        if self._head:
            if size is None or size < 0 or size >= len(self._head):
                data, self._head = self._head, b''
            else:
                data, self._head = self._head[:size], self._head[size:]
        else:
            data = self._source.read(size)
        self.count += len(data)
        return data

    def readable(self):
        return True

    def close(self):
        self._source.close()


def _decode_legacy(source, compression, data_key, label, write, fail):
    """An object of the older layout: [encryption ->] zstd/gzip frame or the file; returns stored bytes."""
    reader = DecryptingReader(source, data_key, label, subject=SUBJECT, hint=HINT) if data_key is not None else source
    decoder = FrameDecoder(compression, fail)
    while True:
        chunk = reader.read(64 << 10)
        if not chunk:
            break
        out = decoder.feed(chunk)
        if out:
            write(out)
    decoder.finish()
    return source.count


def check_stored(opened, expect):
    """Quick verification without key or codec: identity, then header + payload against the trailer.

    expect: {'server', 'name'}. Returns 'framed' (checked) or 'legacy' (no record to check
    against); raises IntegrityError.
    """
    if opened.identity is None:
        return 'legacy'
    archive_object.check_identity(opened.identity, dict(expect, kind='wal'),
                                  archive_object.damaged(SUBJECT, opened.label, HINT))
    opened.framed.check()
    return 'framed'
