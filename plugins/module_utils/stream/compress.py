# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compression stages: zstd (default), gzip, none — streaming both ways.

zstd level 1-3 keeps up with a COPY stream on one core (see the performance
notes); gzip exists for compatibility, none for already-compressed data.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import zlib

from ..common.deps import require
from ..common.errors import BadInput, IntegrityError

ALGORITHMS = ('zstd', 'gzip', 'none')
DEFAULT_LEVEL = {'zstd': 3, 'gzip': 6, 'none': None}
LEVEL_RANGE = {'zstd': (1, 19), 'gzip': (1, 9)}
SUFFIX = {'zstd': '.zst', 'gzip': '.gz', 'none': ''}


def check_options(algorithm, level):
    """Validate and return (algorithm, level) with the default level filled in."""
    if algorithm not in ALGORITHMS:
        raise BadInput('compression must be one of %s, got %r.' % (', '.join(ALGORITHMS), algorithm))
    if level is None:
        return algorithm, DEFAULT_LEVEL[algorithm]
    if algorithm == 'none':
        raise BadInput('compression_level has no meaning with compression none; leave it unset.')
    lo, hi = LEVEL_RANGE[algorithm]
    try:
        level = int(level)
    except (TypeError, ValueError):
        raise BadInput('compression_level must be an integer, got %r.' % (level,))
    if not lo <= level <= hi:
        raise BadInput('compression_level for %s must be between %d and %d, got %d.' % (algorithm, lo, hi, level))
    return algorithm, level


class _Passthrough(object):
    def __init__(self, sink):
        self.sink = sink

    def write(self, data):
        return self.sink.write(data)

    def flush(self):
        pass

    def close(self):
        pass


class _FrameWriter(object):
    """A codec's stream writer whose close() ends the frame but not the sink."""

    def __init__(self, writer):
        self._w = writer

    def write(self, data):
        return self._w.write(data)

    def flush(self):
        pass

    def close(self):
        self._w.close()


def compressing_writer(sink, algorithm, level, threads=0):
    """A writer that compresses into `sink`; close() ends the last frame, not the sink.

    zstd without threads writes a frame per piece of at least PIECE_BYTES (_ZstdFrames); with
    threads, one multi-threaded stream (physical base backups of large files).
    """
    if algorithm == 'zstd':
        if not threads:
            return _ZstdFrames(sink, level, checksum=False, piece=PIECE_BYTES)
        cctx = require('zstandard').ZstdCompressor(level=level, threads=threads)
        return _FrameWriter(cctx.stream_writer(sink, closefd=False, write_return_read=True))
    if algorithm == 'gzip':
        return _FrameWriter(gzip.GzipFile(fileobj=sink, mode='wb', compresslevel=level, mtime=0))
    return _Passthrough(sink)


PIECE_BYTES = 1 << 20


class _ZstdFrames(object):
    """Whole zstd frames (content size in each; a checksum if asked), one per piece of at least `piece`
    bytes: writes that long are compressed as they come, shorter ones are gathered first.

    One-shot compression of a piece costs about a tenth less CPU than feeding the same bytes to a
    stream (measured at level 1: on WAL segments with 128 KiB pieces, and on MySQL batches of
    1-2 MiB), at the same ratio, and memory stays bounded by the pieces. zstd reads concatenated
    frames as one stream (decompressing_reader, and `zstd -d`, do).
    """

    def __init__(self, sink, level, checksum=True, piece=0):
        self._sink = sink
        self._cctx = require('zstandard').ZstdCompressor(level=level, write_checksum=checksum)
        self._piece = piece
        self._pending = bytearray()
        self._empty = True

    def write(self, data):
        n = len(data)
        if self._pending or n < self._piece:
            self._pending += data
            if len(self._pending) >= self._piece:
                self._frame(self._pending)
                self._pending = bytearray()
        elif n:
            self._frame(data)
        return n

    def _frame(self, data):
        self._sink.write(self._cctx.compress(data))
        self._empty = False

    def flush(self):
        pass

    def close(self):
        if self._pending or self._empty:        # an empty file is still one (empty) frame
            self._frame(self._pending)
            self._pending = bytearray()


def frames_writer(sink, algorithm, level):
    """Like compressing_writer, but zstd makes one checksummed frame per write() (see _ZstdFrames): for
    files without a manifest to check them against (the WAL archive), written in pieces of a bounded
    size and read back across frames. gzip checks its output with its own CRC."""
    if algorithm == 'zstd':
        return _ZstdFrames(sink, level)
    return compressing_writer(sink, algorithm, level)


class _DecompressErrors(object):
    """Turns codec errors into IntegrityError naming the file (or into the caller's fail(what))."""

    def __init__(self, reader, label, errors, fail=None):
        self._r = reader
        self._label = label
        self._errors = errors
        self._fail = fail

    def read(self, size=-1):
        try:
            return self._r.read(size)
        except IntegrityError:
            raise
        except self._errors as e:
            if self._fail is not None:
                self._fail('it cannot be decompressed (%s)' % e)
            raise IntegrityError('Backup file %s cannot be decompressed (%s).' % (self._label, e),
                                 'It is corrupted or truncated; restore another backup_id.')

    def readable(self):
        return True

    def close(self):
        self._r.close()


class FrameDecoder(object):
    """Push-style decompressor that knows whether its frame ended (for files without a manifest).

    feed(data) returns the decompressed bytes; finish() checks that the frame is complete.
    fail(what) is called (and must raise) on damage: undecodable data, data after the end
    of the frame, a truncated frame.
    """

    def __init__(self, algorithm, fail):
        self._fail = fail
        if algorithm == 'zstd':
            zstd = require('zstandard')
            self._obj = zstd.ZstdDecompressor().decompressobj()
            self._errors = (zstd.ZstdError,)
        elif algorithm == 'gzip':
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


def decompressing_reader(source, algorithm, label, fail=None):
    """A readable that yields the decompressed bytes of `source`; each read returns at most what was asked.

    fail(what): called (it must raise) instead of the backup-worded IntegrityError on a codec error.
    The reader itself does not insist that a frame ends: callers check sizes and SHA-256s.
    """
    if algorithm == 'zstd':
        zstd = require('zstandard')
        r = zstd.ZstdDecompressor().stream_reader(source, read_across_frames=True, closefd=False)
        return _DecompressErrors(r, label, (zstd.ZstdError,), fail)
    if algorithm == 'gzip':
        return _DecompressErrors(gzip.GzipFile(fileobj=source, mode='rb'), label,
                                 (OSError, EOFError, zlib.error), fail)
    return source
