# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SHA-256 and byte counting stages, for writing and for verified reading."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib

from ..common.errors import IntegrityError


def sha256_file(path, chunk_size=1 << 20):
    """SHA-256 (hex) of a local file, read in chunks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


class HashingWriter(object):
    """Passes bytes to `sink` while counting them and hashing them."""

    def __init__(self, sink):
        self.sink = sink
        self.sha256 = hashlib.sha256()
        self.count = 0

    def write(self, data):
        self.sha256.update(data)
        self.count += len(data)
        self.sink.write(data)
        return len(data)

    def flush(self):
        flush = getattr(self.sink, 'flush', None)
        if flush:
            flush()

    def hexdigest(self):
        return self.sha256.hexdigest()


class CountingWriter(object):
    """Counts bytes on their way to `sink` (raw size before compression)."""

    def __init__(self, sink):
        self.sink = sink
        self.count = 0

    def write(self, data):
        self.count += len(data)
        return self.sink.write(data)

    def writable(self):
        return True

    def flush(self):
        pass


class VerifyingReader(object):
    """Reads `source`, and at end of stream checks size and SHA-256.

    Raises IntegrityError naming `label` when the stored bytes are not the
    ones the manifest recorded (corrupt, truncated, extended, replaced).
    """

    def __init__(self, source, expected_sha256, expected_size, label):
        self.source = source
        self.expected_sha256 = expected_sha256
        self.expected_size = expected_size
        self.label = label
        self.sha256 = hashlib.sha256()
        self.count = 0
        self.checked = False

    def read(self, size=-1):
        data = self.source.read(size)
        if data:
            self.sha256.update(data)
            self.count += len(data)
            if self.expected_size is not None and self.count > self.expected_size:
                self._fail('is longer than recorded')
        elif not self.checked and size != 0:
            self.check()
        return data

    def readable(self):
        return True

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def check(self):
        self.checked = True
        if self.expected_size is not None and self.count != self.expected_size:
            self._fail('has %d bytes, the manifest recorded %d (truncated?)' % (self.count, self.expected_size))
        if self.expected_sha256 and self.sha256.hexdigest() != self.expected_sha256:
            self._fail('does not match its SHA-256 in the manifest (corrupted or modified)')

    def _fail(self, what):
        raise IntegrityError('Backup file %s %s.' % (self.label, what),
                             'The backup cannot be trusted; restore another backup_id '
                             'or re-run the backup.')

    def close(self):
        close = getattr(self.source, 'close', None)
        if close:
            close()
