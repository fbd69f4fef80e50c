# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the object-store repositories (s3.py, azure.py, gcs.py) share.

- URLs: <scheme>://<bucket or container>/<prefix>, and the keys below them.
- The retry policy: MAX_ATTEMPTS tries of every request with exponential
  backoff and jitter (each SDK's own retry machinery is configured from it).
- PartedUpload: the bookkeeping of an upload that becomes visible only when it
  completes. A body up to one part is buffered and published by one request;
  a larger one goes up one part at a time as parts fill (memory: one part) and
  is published by a final request (S3 CompleteMultipartUpload, Azure Put Block
  List, GCS the last chunk of a resumable upload). With if_absent the
  publishing request carries the service's create-if-absent condition.
- ResumingReader: a streamed download that resumes a broken connection at the
  byte it reached, pinned to the version it started with (ETag, generation).
- Directory emulation: list_dir, list_names, exists, reserve_dir and
  delete_tree over a flat key space, with the reservation marker hidden.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import random
import re
import socket
import time
import uuid

from ..common.errors import BadInput, DbBackupError, NotFound
from .base import MANIFEST_NAME, AtomicFile, Repository

PART_SIZE = 16 << 20            # part / block / chunk size of a parted upload (a multiple of 256 KiB)
MAX_ATTEMPTS = 5                # tries of every request (the first one included)
BACKOFF_BASE = 0.5              # seconds before the first retry; doubles each time
BACKOFF_MAX = 20.0
READ_RETRIES = 5                # resumptions of a broken download stream
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
RESERVED_MARKER = '.dbbackup-reserved'


def env_int(name, default):
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        return default


def backoff(attempt):
    """Seconds to wait before retry number attempt (0-based): exponential, with full jitter on top half."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** attempt))
    return delay * random.uniform(0.5, 1.0)


LABELS = {'s3': 'S3', 'azure': 'Azure Blob Storage', 'gs': 'Google Cloud Storage'}


def split_url(url, scheme, name_re, rule):
    """'<scheme>://name/some/prefix/' -> ('name', 'some/prefix'); BadInput when malformed."""
    head = scheme + '://'
    rest = url[len(head):] if url.startswith(head) else None
    name, _sep, prefix = (rest or '').partition('/')
    if not name or not re.match(name_re, name):
        raise BadInput('repository %r is not a valid %s URL.' % (url, LABELS.get(scheme, scheme)),
                       'Use %sNAME or %sNAME/prefix (%s).' % (head, head, rule))
    parts = [p for p in prefix.split('/') if p]
    if any(p in ('.', '..') for p in parts):
        raise BadInput('repository %r: the prefix must not contain . or .. components.' % (url,))
    return name, '/'.join(parts)


def scrub(text, secrets):
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, '********')
    return text


def reservation_body():
    """The reservation marker's body. Its random token tells a reservation that was stored before the
    connection broke (the retried create-if-absent then fails: the marker exists) from someone else's."""
    return json.dumps({'reserved_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                       'host': socket.gethostname(), 'pid': os.getpid(),
                       'token': uuid.uuid4().hex}).encode('utf-8')


def is_metadata(key):
    """manifest.json and the reservation marker: kept immediately readable (no archive tier)."""
    return key.rsplit('/', 1)[-1] in (MANIFEST_NAME, RESERVED_MARKER)


class PartedUpload(AtomicFile):
    """An upload published only by commit(); see the module docstring.

    Subclasses implement _put_whole(body), _start(), _send_part(body, number),
    _complete(last_body) and _cancel(); the publishing calls return False when
    if_absent was asked and the key existed (nothing is overwritten).
    """

    def __init__(self, repo, key, if_absent=False, part_size=PART_SIZE):
        self._repo = repo
        self.key = key
        self.if_absent = if_absent
        self.part_size = part_size
        self._buf = bytearray()
        self._started = False
        self._parts = 0
        self._done = False

    def write(self, data):
        if self._done:
            raise ValueError('write to a committed or aborted repository file')
        self._buf += data
        while len(self._buf) > self.part_size:      # strictly more: the last part is never empty
            body = bytes(self._buf[:self.part_size])
            del self._buf[:self.part_size]
            try:
                if not self._started:
                    self._start()
                    self._started = True
                self._parts += 1
                self._send_part(body, self._parts)
            except BaseException:
                self.abort()
                raise
        return len(data)

    def flush(self):
        pass

    def commit(self):
        if self._done:
            raise ValueError('commit of a committed or aborted repository file')
        self._done = True
        body, self._buf = bytes(self._buf), bytearray()
        if not self._started:
            return self._put_whole(body)
        try:
            published = self._complete(body)
        except BaseException:
            self._cancel_quietly()
            raise
        if not published:
            self._cancel_quietly()
        return published

    def abort(self):
        if self._done and not self._started:
            return
        self._done = True
        self._buf = bytearray()
        self._cancel_quietly()

    def _cancel_quietly(self):
        if not self._started:
            return
        self._started = False
        try:
            self._cancel()
        except Exception:  # pylint: disable=broad-except
            pass            # left for dbbackup_prune (incomplete uploads) or the service's own expiry

    # --- hooks ---------------------------------------------------------------------
    def _put_whole(self, body):
        raise NotImplementedError

    def _start(self):
        raise NotImplementedError

    def _send_part(self, body, number):
        raise NotImplementedError

    def _complete(self, last_body):
        raise NotImplementedError

    def _cancel(self):
        raise NotImplementedError


class ResumingReader(object):
    """A streamed download; a broken connection resumes at the byte reached (same object version).

    Subclasses implement _open(pos) (start the body stream at pos; remember the
    version on the first call and pin later calls to it), _read_body(amt) and
    _close_body(); retryable is the tuple of stream errors worth a resumption.
    """

    retryable = (socket.error,)

    def __init__(self, repo, key):
        self._repo = repo
        self.key = key
        self._pos = 0
        self._open(0)

    def read(self, size=-1):
        amt = None if size is None or size < 0 else size
        for attempt in range(READ_RETRIES + 1):
            try:
                data = self._read_body(amt)
            except self.retryable as e:
                self.close()
                if attempt == READ_RETRIES:
                    raise self._repo.error(e, 'reading', self.key)
                time.sleep(min(2 ** attempt * 0.2, 5))
                self._open(self._pos)
                continue
            self._pos += len(data)
            return data
        return b''

    def readable(self):
        return True

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def close(self):
        try:
            self._close_body()
        except Exception:  # pylint: disable=broad-except
            pass

    def _open(self, pos):
        raise NotImplementedError

    def _read_body(self, amt):
        raise NotImplementedError

    def _close_body(self):
        raise NotImplementedError


class ObjectStoreRepository(Repository):
    """Directories over a flat key space: <prefix>/<relpath>, '/'-separated.

    Subclasses set scheme, bucket and prefix (init_location) and implement
    _list(prefix, delimited) yielding ('file', key) and ('dir', key_prefix)
    rows, _head(key) (properties or None), delete_key(key) (True when gone)
    and the rest of Repository.
    """

    scheme = None
    hidden_names = (RESERVED_MARKER,)

    def init_location(self, url, name_re, rule):
        self.bucket, self.prefix = split_url(url, self.scheme, name_re, rule)
        self.url = '%s://%s%s' % (self.scheme, self.bucket, '/' + self.prefix if self.prefix else '')

    def _key(self, relpath):
        parts = [p for p in relpath.split('/') if p]
        if any(p in ('.', '..') for p in parts):
            raise BadInput('Invalid repository path %r.' % relpath)
        return '/'.join(([self.prefix] if self.prefix else []) + parts)

    def _relpath(self, key):
        return key[len(self.prefix) + 1:] if self.prefix else key

    def location(self, relpath):
        return self.location_key(self._key(relpath))

    def location_key(self, key):
        return '%s://%s/%s' % (self.scheme, self.bucket, key) if key else '%s://%s' % (self.scheme, self.bucket)

    def _hidden(self, name):
        return name in self.hidden_names

    # --- listing ----------------------------------------------------------------------
    def _list(self, prefix, delimited):
        raise NotImplementedError

    def _head(self, key):
        raise NotImplementedError

    def delete_key(self, key):
        raise NotImplementedError

    def _delete_keys(self, keys):
        ok = True
        for key in keys:
            ok = self.delete_key(key) and ok
        return ok

    def delete_file(self, relpath):
        key = self._key(relpath)
        if not key:
            raise BadInput('Refusing to delete the whole repository %s.' % self.url)
        return self.delete_key(key)

    def _any_under(self, key):
        prefix = key + '/' if key else ''
        for dummy in self._list(prefix, False):
            return True
        return False

    def exists(self, relpath):
        key = self._key(relpath)
        if key and self._head(key) is not None:
            return True
        return self._any_under(key)

    def list_dir(self, relpath):
        key = self._key(relpath)
        prefix = key + '/' if key else ''
        names = set()
        for kind, name in self._list(prefix, True):
            names.add(name[len(prefix):].rstrip('/') if kind == 'dir' else name[len(prefix):])
        return sorted(n for n in names if n and not self._hidden(n))

    def list_names(self, relpath, startswith):
        """One prefix LIST (<dir>/<startswith>): files of relpath whose names start so."""
        key = self._key(relpath)
        prefix = (key + '/' if key else '') + startswith
        start = len(prefix) - len(startswith)
        names = [k[start:] for kind, k in self._list(prefix, True) if kind == 'file']
        return sorted(n for n in names if n and not self._hidden(n))

    def delete_tree(self, relpath):
        """Delete every object under relpath; best effort (True when all went), like rmtree."""
        key = self._key(relpath)
        if not key:
            raise BadInput('Refusing to delete the whole repository %s.' % self.url)
        try:
            keys = [k for kind, k in self._list(key + '/', False) if kind == 'file']
            return self._delete_keys(keys) if keys else True
        except DbBackupError:
            return False

    def reserve_dir(self, relpath):
        key = self._key(relpath)
        if self._any_under(key):
            return False
        body = reservation_body()
        if self.write_bytes(relpath + '/' + RESERVED_MARKER, body, if_absent=True):
            return True
        # the marker exists: ours when the connection broke after the store kept it (our token)
        try:
            return self.read_bytes(relpath + '/' + RESERVED_MARKER) == body
        except NotFound:
            return False

    def _list_sized(self, prefix):
        """(key, size) of every object under prefix, all levels."""
        raise NotImplementedError

    def file_sizes(self, relpath):
        key = self._key(relpath)
        prefix = key + '/' if key else ''
        return dict((k[len(prefix):], size) for k, size in self._list_sized(prefix))
