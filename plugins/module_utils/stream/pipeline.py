# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stage chains between a data source and a repository file.

write:  source -> 1 MiB buffer -> count raw -> compress [-> encrypt] -> sha256 + count -> atomic repo file
read:   repo file -> sha256 + size check [-> decrypt] -> decompress -> sink

Encryption (stream/encrypt.py) is on when a data key is given. The SHA-256
is of the stored (encrypted) bytes, so integrity checks need no key.

psycopg2's COPY calls write() once per row, so the buffer in front of the
Python stages matters (see the performance notes).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io

from .compress import compressing_writer, decompressing_reader
from .encrypt import DecryptingReader, EncryptingWriter
from .hashing import CountingWriter, HashingWriter, VerifyingReader

BUFFER_SIZE = 1 << 20


class _RawAdapter(io.RawIOBase):
    def __init__(self, sink):
        self._sink = sink

    def writable(self):
        return True

    def write(self, data):
        self._sink.write(data)
        return len(data)


class StoredFileWriter(object):
    """Writes one repository file through compression and hashing.

    commit() makes the file visible and returns its manifest entry fields;
    abort() leaves nothing behind.
    """

    def __init__(self, repo, relpath, compression, level, threads=0, data_key=None):
        self.relpath = relpath
        self._target = repo.open_write(relpath)
        self._stored = HashingWriter(self._target)
        self._encrypt = None
        if data_key is not None:
            try:
                self._encrypt = EncryptingWriter(self._stored, data_key)
            except BaseException:
                self._target.abort()
                raise
        self._codec = compressing_writer(self._encrypt or self._stored, compression, level, threads)
        self._raw = CountingWriter(self._codec)
        self._buf = io.BufferedWriter(_RawAdapter(self._raw), BUFFER_SIZE)

    def write(self, data):
        return self._buf.write(data)

    def commit(self):
        self._buf.flush()
        self._codec.close()
        if self._encrypt is not None:
            self._encrypt.close()
        self._target.commit()
        return {'path': self.relpath, 'raw_bytes': self._raw.count,
                'stored_bytes': self._stored.count, 'sha256': self._stored.hexdigest()}

    def abort(self):
        self._target.abort()


def store_file(repo, backup_path, relpath, compression, level, data_key, fill):
    """Write backup_path/relpath through the stages; fill(writer) returns extra entry fields.

    Returns the file's manifest entry (path relative to the backup); on any
    failure the file is aborted, so nothing partial is left under its name.
    """
    w = StoredFileWriter(repo, backup_path + '/' + relpath, compression, level, data_key=data_key)
    try:
        extra = fill(w) or {}
        entry = w.commit()
    except BaseException:
        w.abort()
        raise
    entry['path'] = relpath
    entry.update(extra)
    return entry


def open_stored_reader(repo, relpath, compression, sha256=None, stored_bytes=None, data_key=None):
    """A readable of the decompressed content of relpath, verified against the manifest.

    data_key: the backup's data key (keys.unwrap_data_key) when it is encrypted.
    """
    verified = VerifyingReader(repo.open_read(relpath), sha256, stored_bytes, relpath)
    source = verified if data_key is None else DecryptingReader(verified, data_key, relpath)
    return decompressing_reader(source, compression, relpath)


def read_stored_file(repo, relpath, compression, data_key, consume):
    """Feed the decompressed (decrypted) content of relpath to consume(chunk), reading it once.

    Nothing is compared; returns (stored_bytes, sha256 of the stored bytes) of the whole
    object, bytes after the end of the compressed stream included.
    """
    verified = VerifyingReader(repo.open_read(relpath), None, None, relpath)
    try:
        source = verified if data_key is None else DecryptingReader(verified, data_key, relpath)
        reader = decompressing_reader(source, compression, relpath)
        while True:
            chunk = reader.read(BUFFER_SIZE)
            if not chunk:
                break
            consume(chunk)
        while verified.read(BUFFER_SIZE):
            pass
        reader.close()
    finally:
        verified.close()
    return verified.count, verified.sha256.hexdigest()


def verify_stored_file(repo, relpath, sha256, stored_bytes):
    """Re-read a stored file and check size and SHA-256 (no key or codec needed)."""
    reader = VerifyingReader(repo.open_read(relpath), sha256, stored_bytes, relpath)
    try:
        while reader.read(BUFFER_SIZE):
            pass
    finally:
        reader.close()


class StoredFile(object):
    """The decompressed content of one stored file (.reader), verified against its manifest entry.

    finish() reads to the end so that size and SHA-256 of the whole stored file are checked.
    """

    def __init__(self, repo, path, entry, compression, data_key):
        self.label = entry['path']
        self._verified = VerifyingReader(repo.open_read(path + '/' + entry['path']), entry['sha256'],
                                         entry['stored_bytes'], entry['path'])
        source = self._verified if data_key is None else DecryptingReader(self._verified, data_key,
                                                                          entry['path'])
        self.reader = decompressing_reader(source, compression, entry['path'])

    def finish(self):
        """Read to the end, so the size and SHA-256 of the whole stored file are checked."""
        while self.reader.read(BUFFER_SIZE):
            pass
        if not self._verified.checked:
            while self._verified.read(BUFFER_SIZE):
                pass
            if not self._verified.checked:
                self._verified.check()

    def close(self):
        try:
            self.reader.close()
        except (OSError, ValueError):
            pass
