# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A repository in an S3-compatible bucket: s3://bucket/prefix.

Keys are <prefix>/<relpath>. S3 has no directories: a "directory" exists when
an object lies under its key prefix. Publication is atomic by construction:
an object appears only when its PutObject or CompleteMultipartUpload
succeeds.

Writes stream through boto3's transfer manager (multipart uploads, parts of
PART_SIZE, bounded memory) fed from a bounded in-memory pipe. The upload sees
end-of-stream only on commit(); abort() (or the writing thread dying) makes
the pipe's read() raise, so the transfer manager aborts the multipart upload
and no object is created. A killed process leaves at most an incomplete
multipart upload (invisible; a bucket lifecycle rule removes it), never an
object with a truncated body.

open_write(relpath, if_absent=True) (S3IfAbsentFile) publishes with one
conditional request, If-None-Match: *: the body is spooled to a temporary file
(memory stays bounded however many run at once); one up to PART_SIZE is
sent as a conditional PutObject; a larger one becomes a multipart upload whose
CompleteMultipartUpload carries the condition (S3 and recent S3-compatible
servers support both). commit() returns False when the key exists (412): the
object is untouched and the upload is aborted. An endpoint that rejects the
header as unsupported gets check-then-write instead (a window remains there;
docs/repositories.md).

reserve_dir() puts a small marker object (RESERVED_MARKER) under the new
prefix, with the same create-if-absent write. The marker is not listed by
list_dir(); a backup still counts only when its manifest.json exists.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import functools
import os
import re
import socket
import threading
import time
import weakref

from ..common.deps import require
from ..common.errors import (
    BadInput, DbBackupError, IntegrityError, NotFound, RepositoryAccessDenied, RepositoryUnreachable)
from . import object_store
from .base import AtomicFile
from .object_store import (
    CONNECT_TIMEOUT, MAX_ATTEMPTS, READ_TIMEOUT, ObjectStoreRepository, ResumingReader, env_int,
    is_metadata, scrub)

PART_SIZE = object_store.PART_SIZE      # multipart part size: up to 10,000 parts = 156 GiB per file
RESERVED_MARKER = object_store.RESERVED_MARKER
UPLOAD_CONCURRENCY = 2          # parallel part uploads per file
IN_MEMORY_PARTS = 2             # parts buffered per file besides the one being read
PIPE_CAPACITY = 2 << 20         # bytes queued between the producer and the uploader
WINDOW_READ = 64 << 10          # the most one read of an upload body returns
SPOOL_MEMORY = 64 << 10          # create-if-absent bodies: in memory up to this, then in a temporary file
DELETE_BATCH = 1000             # DeleteObjects limit
SSE_CHOICES = ('AES256', 'aws:kms')
ADDRESSING_STYLES = ('auto', 'path', 'virtual')

_BUCKET_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]\Z')
_AUTH_CODES = ('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken',
               'TokenRefreshRequired', 'InvalidClientTokenId', 'UnrecognizedClientException',
               'InvalidSecurity', 'ExpiredTokenException')
_DENIED_CODES = ('AccessDenied', 'AllAccessDisabled', 'AccountProblem', 'InvalidPayer',
                 'KMS.AccessDeniedException', 'KMS.DisabledException', 'KMS.NotFoundException')
_NOT_FOUND_CODES = ('NoSuchKey', '404', 'NotFound')
_PRECONDITION_CODES = ('PreconditionFailed', 'ConditionalRequestConflict')
_UNSUPPORTED_CODES = ('NotImplemented', 'InvalidArgument', 'InvalidRequest')
CONFLICT_RETRIES = 3            # 409 ConditionalRequestConflict: another conditional write is in flight


class _Aborted(Exception):
    """Raised inside the transfer manager's read() when the producer gave up."""


def split_url(url):
    """'s3://bucket/some/prefix/' -> ('bucket', 'some/prefix'); BadInput when malformed."""
    return object_store.split_url(url, 's3', _BUCKET_RE, 'bucket names: 3-255 letters, digits, . _ -')


def _check_options(params):
    """Validate the S3 options; returns the normalised option dict."""
    opts = dict((k, params.get(k)) for k in (
        's3_endpoint_url', 's3_region', 's3_addressing_style', 'aws_access_key', 'aws_secret_key',
        'aws_session_token', 'aws_profile', 's3_storage_class', 's3_sse', 's3_sse_kms_key_id',
        's3_ca_bundle', 's3_validate_certs'))
    endpoint = opts['s3_endpoint_url']
    if endpoint and not re.match(r'^https?://[^/\s]+', endpoint):
        raise BadInput('s3_endpoint_url must be an http:// or https:// URL, got %r.' % (endpoint,))
    if bool(opts['aws_access_key']) != bool(opts['aws_secret_key']):
        raise BadInput('aws_access_key and aws_secret_key must be given together.',
                       'Give both, or neither to use aws_profile or the AWS environment/instance credentials.')
    if opts['aws_session_token'] and not opts['aws_access_key']:
        raise BadInput('aws_session_token needs aws_access_key and aws_secret_key.')
    if opts['aws_profile'] and opts['aws_access_key']:
        raise BadInput('aws_profile and aws_access_key/aws_secret_key are mutually exclusive.',
                       'Give one source of credentials.')
    if opts['s3_sse'] not in (None, '') + SSE_CHOICES:
        raise BadInput('s3_sse must be AES256 or aws:kms, got %r.' % (opts['s3_sse'],))
    if opts['s3_sse_kms_key_id']:
        if opts['s3_sse'] in (None, ''):
            opts['s3_sse'] = 'aws:kms'
        elif opts['s3_sse'] != 'aws:kms':
            raise BadInput('s3_sse_kms_key_id needs s3_sse: aws:kms, got s3_sse: %s.' % opts['s3_sse'])
    if opts['s3_addressing_style'] not in (None, '') + ADDRESSING_STYLES:
        raise BadInput('s3_addressing_style must be auto, path or virtual, got %r.'
                       % (opts['s3_addressing_style'],))
    if opts['s3_validate_certs'] is None:
        opts['s3_validate_certs'] = True
    if opts['s3_ca_bundle']:
        if not opts['s3_validate_certs']:
            raise BadInput('s3_ca_bundle is given but s3_validate_certs is false.',
                           'Drop one of them.')
        if not os.path.isfile(opts['s3_ca_bundle']):
            raise BadInput('s3_ca_bundle %s is not a readable file.' % opts['s3_ca_bundle'])
    storage_class = opts['s3_storage_class']
    if storage_class and not re.match(r'^[A-Z0-9_]+\Z', storage_class):
        raise BadInput('s3_storage_class must look like STANDARD_IA or GLACIER_IR, got %r.' % (storage_class,))
    return opts


class _Pipe(object):
    """A bounded byte pipe: the producer put()s, the transfer manager read()s.

    read(n) collects queued chunks until it has n bytes or the stream ended
    (close()), so only PIPE_CAPACITY bytes wait in the queue; it returns short
    only at end of stream, as a file does (s3transfer relies on that to
    size parts). When the producing thread ends without commit or abort, the
    reader treats that as an abort, so an upload can never complete by accident.
    """

    def __init__(self, capacity, owner):
        self._cond = threading.Condition()
        self._chunks = collections.deque()
        self._size = 0
        self._capacity = capacity
        self._owner = owner
        self._eof = False
        self._abort = None
        self.reader_done = False

    def put(self, data):
        """Queue data; False when the reader is gone (the upload ended)."""
        if not data:
            return True
        data = bytes(data)
        with self._cond:
            while self._size >= self._capacity and not self.reader_done:
                self._cond.wait(1.0)
            if self.reader_done:
                return False
            self._chunks.append(data)
            self._size += len(data)
            self._cond.notify_all()
        return True

    def close(self):
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def abort(self, error):
        with self._cond:
            if self._abort is None:
                self._abort = error
            self._cond.notify_all()

    def finished(self):
        with self._cond:
            self.reader_done = True
            self._cond.notify_all()

    def read(self, amount=-1):
        """Up to amount bytes (all when amount < 0); short only at end of stream."""
        out = []
        taken = 0
        with self._cond:
            while True:
                if self._abort is not None:
                    raise self._abort
                while self._chunks and (amount is None or amount < 0 or taken < amount):
                    chunk = self._chunks.popleft()
                    if amount is not None and 0 <= amount < taken + len(chunk):
                        keep = amount - taken
                        self._chunks.appendleft(chunk[keep:])
                        chunk = chunk[:keep]
                    out.append(chunk)
                    taken += len(chunk)
                    self._size -= len(chunk)
                    self._cond.notify_all()
                if self._eof or (amount is not None and 0 <= amount <= taken):
                    return b''.join(out)
                if not self._owner.is_alive():
                    self._abort = _Aborted('the writing thread ended without commit')
                    continue
                self._cond.wait(1.0)

    def readable(self):
        return True

    def seekable(self):
        return False


def _done_subscriber(pipe):
    """An s3transfer subscriber that tells the pipe when the upload has ended."""
    base = require('s3transfer.subscribers').BaseSubscriber

    class Done(base):
        def on_done(self, future, **kwargs):
            pipe.finished()

    return Done()


class S3AtomicFile(AtomicFile):
    """A streaming multipart upload that creates the object only on commit()."""

    def __init__(self, repo, key, extra_args):
        self._repo = repo
        self.key = key
        self._pipe = _Pipe(PIPE_CAPACITY, threading.current_thread())
        self._manager = repo.transfer_manager()
        self._done = False
        try:
            self._future = self._manager.upload(self._pipe, repo.bucket, key, extra_args=extra_args,
                                                subscribers=[_done_subscriber(self._pipe)])
        except BaseException:
            self._manager.shutdown(cancel=True)
            raise
        # Dropped without commit() or abort() (a bug, an unexpected exit): abort, so the
        # upload ends without an object and no transfer thread waits forever for data.
        self._finalizer = weakref.finalize(self, self._pipe.abort, _Aborted('%s dropped unfinished' % key))

    def write(self, data):
        if self._done:
            raise ValueError('write to a committed or aborted repository file')
        if not self._pipe.put(data):
            self._upload_ended_early()
        return len(data)

    def flush(self):
        pass

    def _upload_ended_early(self):
        self._done = True
        self._finalizer.detach()
        try:
            self._future.result()
        except Exception as e:  # pylint: disable=broad-except
            raise self._repo.error(e, 'uploading', self.key)
        finally:
            self._manager.shutdown()
        raise DbBackupError('The upload of %s ended before all data was written.' % self._repo.location_key(self.key))

    def commit(self):
        if self._done:
            raise ValueError('commit of a committed or aborted repository file')
        self._finalizer.detach()
        self._pipe.close()
        try:
            self._future.result()
        except Exception as e:  # pylint: disable=broad-except
            self._done = True
            self._manager.shutdown(cancel=True)
            raise self._repo.error(e, 'uploading', self.key)
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._manager.shutdown()

    def abort(self):
        if self._done:
            return
        self._done = True
        self._finalizer.detach()
        self._pipe.abort(_Aborted('upload of %s aborted' % self.key))
        try:
            self._future.result()       # returns once the multipart upload is aborted
        except BaseException:  # pylint: disable=broad-except
            pass
        try:
            self._manager.shutdown(cancel=True)
        except BaseException:  # pylint: disable=broad-except
            pass


class _Window(object):
    """A read-only file-like view of length bytes of f from start (a part or a whole body for botocore)."""

    def __init__(self, f, start, length):
        self._f, self._start, self._len, self._pos = f, start, length, 0

    def read(self, size=-1):
        # at most WINDOW_READ at a time (readers loop until b''): botocore hashes bodies in 1 MiB reads,
        # and such buffers per upload thread would stay in the allocator's arenas
        left = min(self._len - self._pos, WINDOW_READ)
        size = left if size is None or size < 0 else min(size, left)
        self._f.seek(self._start + self._pos)
        data = self._f.read(size)
        self._pos += len(data)
        return data

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self._pos, 2: self._len}[whence]
        self._pos = max(0, min(self._len, base + offset))
        return self._pos

    def tell(self):
        return self._pos

    def __len__(self):
        return self._len

    def readable(self):
        return True

    def seekable(self):
        return True


class S3IfAbsentFile(AtomicFile):
    """Create-if-absent upload: the object appears only if its key is free at publication.

    The body goes to a temporary file (in memory up to SPOOL_MEMORY bytes, then on disk), so
    memory stays small whatever the size and however many run at once. At commit a body up to
    PART_SIZE goes out as one conditional PutObject; a larger one as a multipart upload (parts
    of PART_SIZE read from the file) whose CompleteMultipartUpload is conditional. commit()
    returns False when the key existed; the upload is then aborted.
    """

    def __init__(self, repo, key, extra_args):
        import tempfile
        self._repo = repo
        self.key = key
        self._extra = extra_args
        self._buf = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
        self._size = 0
        self._upload_id = None
        self._parts = []
        self._done = False

    def write(self, data):
        if self._done:
            raise ValueError('write to a committed or aborted repository file')
        self._buf.write(data)
        self._size += len(data)
        return len(data)

    def flush(self):
        pass

    def _send_part(self, body):
        repo = self._repo
        if self._upload_id is None:
            resp = repo._call('uploading', self.key, repo.client.create_multipart_upload, Bucket=repo.bucket,
                              Key=self.key, **self._extra)
            self._upload_id = resp['UploadId']
        number = len(self._parts) + 1
        resp = repo._call('uploading', self.key, repo.client.upload_part, Bucket=repo.bucket, Key=self.key,
                          UploadId=self._upload_id, PartNumber=number, Body=body)
        self._parts.append({'PartNumber': number, 'ETag': resp['ETag']})

    def _put(self, **condition):
        return self._repo.client.put_object(Bucket=self._repo.bucket, Key=self.key,
                                            Body=_Window(self._buf, 0, self._size), **dict(self._extra, **condition))

    def commit(self):
        if self._done:
            raise ValueError('commit of a committed or aborted repository file')
        self._done = True
        repo = self._repo
        try:
            if self._size <= PART_SIZE:
                return repo.if_absent('writing', self.key, self._put)
            for start in range(0, self._size, PART_SIZE):
                self._send_part(_Window(self._buf, start, min(PART_SIZE, self._size - start)))
            published = repo.if_absent('uploading', self.key, functools.partial(
                repo.client.complete_multipart_upload, Bucket=repo.bucket, Key=self.key,
                UploadId=self._upload_id, MultipartUpload={'Parts': self._parts}))
        except BaseException:
            self._abort_upload()
            raise
        finally:
            self._buf.close()
        if not published:
            self._abort_upload()
        return published

    def abort(self):
        if self._done:
            return
        self._done = True
        self._buf.close()
        self._abort_upload()

    def _abort_upload(self):
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._repo.client.abort_multipart_upload(Bucket=self._repo.bucket, Key=self.key, UploadId=upload_id)
        except Exception:  # pylint: disable=broad-except
            pass            # left for the bucket's lifecycle rule or dbbackup_prune (incomplete uploads)


class S3Reader(ResumingReader):
    """A streamed GetObject body; a broken connection resumes with a Range request pinned to the ETag."""

    def __init__(self, repo, key):
        self._etag = None
        self._body = None
        self.retryable = repo.stream_errors()
        super(S3Reader, self).__init__(repo, key)

    def _open(self, pos):
        kwargs = {'Bucket': self._repo.bucket, 'Key': self.key}
        if pos:
            kwargs['Range'] = 'bytes=%d-' % pos
            kwargs['IfMatch'] = self._etag
        try:
            resp = self._repo.client.get_object(**kwargs)
        except Exception as e:  # pylint: disable=broad-except
            raise self._repo.error(e, 'reading', self.key)
        self._etag = self._etag or resp.get('ETag')
        self._body = resp['Body']

    def _read_body(self, amt):
        return self._body.read(amt)

    def _close_body(self):
        self._body.close()


class S3Repository(ObjectStoreRepository):
    """See the module docstring; construct with S3Repository.from_params(params)."""

    scheme = 's3'

    def __init__(self, url, client, options=None, jobs=2):
        self.init_location(url, _BUCKET_RE, 'bucket names: 3-255 letters, digits, . _ -')
        self.client = client
        self.options = options or {}
        self.jobs = jobs
        self._secrets = [s for s in (self.options.get('aws_secret_key'), self.options.get('aws_session_token'))
                         if s and len(s) >= 8]
        self._conditional_put = True
        endpoint = self.options.get('s3_endpoint_url')
        self.endpoint = endpoint or getattr(getattr(client, 'meta', None), 'endpoint_url', None) or 'AWS S3'

    @classmethod
    def from_params(cls, params):
        url = params.get('repository') or ''
        split_url(url)
        opts = _check_options(params)
        try:
            jobs = int(params.get('jobs') or 2)
        except (TypeError, ValueError):
            jobs = 2
        client = make_client(opts, jobs)
        return cls(url, client, opts, jobs)

    # --- object options ------------------------------------------------------------

    def _extra_args(self, key):
        """Server-side encryption always; storage class except for metadata objects.

        manifest.json and the reservation marker stay in the bucket's default
        (immediately readable) class, so listing, max_age and restore planning
        work even when data objects go to an archive class.
        """
        extra = {}
        sse = self.options.get('s3_sse')
        if sse:
            extra['ServerSideEncryption'] = sse
            if self.options.get('s3_sse_kms_key_id'):
                extra['SSEKMSKeyId'] = self.options['s3_sse_kms_key_id']
        if self.options.get('s3_storage_class') and not is_metadata(key):
            extra['StorageClass'] = self.options['s3_storage_class']
        return extra

    # --- errors ---------------------------------------------------------------------

    def _scrub(self, text):
        return scrub(text, self._secrets)

    def stream_errors(self):
        """Exceptions of a body read that a resumed Range request may cure."""
        exc = require('botocore.exceptions')
        names = ('ReadTimeoutError', 'ResponseStreamingError', 'IncompleteReadError',
                 'ConnectionClosedError', 'EndpointConnectionError')
        classes = [getattr(exc, n) for n in names if hasattr(exc, n)]
        try:
            classes.append(require('urllib3.exceptions').HTTPError)
        except DbBackupError:
            pass
        return tuple(classes) + (socket.error,)

    def error(self, e, action, key=None):
        """A DbBackupError for exception e raised while `action` (e.g. 'reading') key."""
        if isinstance(e, DbBackupError):
            return e
        exc = require('botocore.exceptions')
        where = self.location_key(key if key is not None else self.prefix)
        if isinstance(e, exc.ClientError):
            err = e.response.get('Error', {}) or {}
            code = str(err.get('Code', ''))
            status = (e.response.get('ResponseMetadata', {}) or {}).get('HTTPStatusCode')
            message = self._scrub(err.get('Message') or code)
            if code == 'NoSuchBucket':
                return NotFound('The bucket %s does not exist at %s.' % (self.bucket, self.endpoint),
                                'Create the bucket, or fix the repository URL (s3://bucket/prefix) '
                                'and s3_endpoint_url.')
            if code in _AUTH_CODES:
                return RepositoryAccessDenied(
                    'The S3 endpoint %s rejected the credentials (%s: %s) while %s %s.'
                    % (self.endpoint, code, message, action, where),
                    'Check aws_access_key/aws_secret_key/aws_session_token or aws_profile (CLI: the '
                    'AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or AWS_PROFILE '
                    'environment variables), and that the system clock is right.')
            if code in _DENIED_CODES or status == 403:
                return RepositoryAccessDenied(
                    'Access denied (%s: %s) while %s %s.' % (code, message, action, where),
                    'Grant these credentials s3:ListBucket on the bucket and s3:GetObject, s3:PutObject, '
                    's3:DeleteObject, s3:AbortMultipartUpload on the prefix (plus kms:GenerateDataKey '
                    'and kms:Decrypt with SSE-KMS); see docs/repositories.md.')
            if code in _NOT_FOUND_CODES or (status == 404 and code not in ('NoSuchUpload',)):
                return NotFound('Backup file %s is missing from the repository.' % where,
                                'The backup is incomplete or was pruned; restore another backup_id.')
            if code in _PRECONDITION_CODES and action == 'reading':
                return IntegrityError('%s was replaced while it was being read.' % where,
                                      'Something else writes to this repository; run the restore again.')
            if code == 'InvalidObjectState':
                return DbBackupError('%s is in an archive storage class and cannot be read directly.' % where,
                                     'Restore the objects of this backup from the archive class first '
                                     '(S3 RestoreObject), then run the restore again.')
            if code == 'InvalidStorageClass':
                return BadInput('The endpoint does not accept s3_storage_class %s (%s).'
                                % (self.options.get('s3_storage_class'), message),
                                'Use a storage class the endpoint supports, or leave it unset.')
            if code == 'PermanentRedirect' or code == 'AuthorizationHeaderMalformed':
                return BadInput('The bucket %s is in another region (%s).' % (self.bucket, message),
                                'Set s3_region to the bucket\'s region.')
            return DbBackupError('S3 error while %s %s: %s (%s, HTTP %s).' % (action, where, message, code, status),
                                 'Retries were exhausted or the request is not retryable; check the endpoint '
                                 'and the bucket, then run again.')
        if isinstance(e, exc.SSLError):
            return RepositoryUnreachable(
                'TLS to the S3 endpoint %s failed while %s %s: %s.' % (self.endpoint, action, where, self._scrub(e)),
                'Give the endpoint\'s CA with s3_ca_bundle (or, for tests only, s3_validate_certs: false).')
        if isinstance(e, (exc.EndpointConnectionError, exc.ConnectTimeoutError, exc.ConnectionClosedError,
                          exc.ReadTimeoutError, exc.ConnectionError)):
            return RepositoryUnreachable(
                'Could not reach the S3 endpoint %s while %s %s (%s).'
                % (self.endpoint, action, where, self._scrub(e)),
                'Check s3_endpoint_url, DNS, the network and proxy settings (retries were exhausted).')
        if isinstance(e, (exc.NoCredentialsError, exc.PartialCredentialsError)):
            return RepositoryAccessDenied(
                'No usable AWS credentials were found for %s (%s).' % (where, self._scrub(e)),
                'Give aws_access_key and aws_secret_key or aws_profile, or set AWS_ACCESS_KEY_ID and '
                'AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) where the engine runs, or use an instance role.')
        if isinstance(e, exc.BotoCoreError):
            return DbBackupError('S3 error while %s %s: %s.' % (action, where, self._scrub(e)))
        if isinstance(e, _Aborted):
            return DbBackupError('The upload of %s was aborted.' % where)
        return DbBackupError('S3 error while %s %s: %s: %s.' % (action, where, type(e).__name__, self._scrub(e)))

    def _call(self, action, key, fn, **kwargs):
        try:
            return fn(**kwargs)
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, action, key)

    # --- the Repository interface ------------------------------------------------------

    def transfer_manager(self):
        """A fresh transfer manager for one upload (bounded memory, see PART_SIZE)."""
        transfer = require('boto3.s3.transfer')
        config = transfer.TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE,
                                         max_concurrency=UPLOAD_CONCURRENCY, use_threads=True)
        config.max_in_memory_upload_chunks = IN_MEMORY_PARTS
        config.max_submission_concurrency = 1
        if hasattr(config, 'preferred_transfer_client'):
            config.preferred_transfer_client = 'classic'
        return transfer.create_transfer_manager(self.client, config)

    def open_write(self, relpath, if_absent=False):
        key = self._key(relpath)
        if if_absent:
            return S3IfAbsentFile(self, key, self._extra_args(key))
        return S3AtomicFile(self, key, self._extra_args(key))

    def write_bytes(self, relpath, data, if_absent=False):
        key = self._key(relpath)
        put = functools.partial(self.client.put_object, Bucket=self.bucket, Key=key, Body=bytes(data),
                                **self._extra_args(key))
        if if_absent:
            return self.if_absent('writing', key, put)
        self._call('writing', key, put)
        return True

    def if_absent(self, action, key, request):
        """Call request(IfNoneMatch='*'); True when it published, False when key existed (HTTP 412).

        An endpoint that does not support the condition (501 NotImplemented, or a
        botocore without the parameter) is remembered and gets check-then-write.
        """
        exc = require('botocore.exceptions')
        for attempt in range(CONFLICT_RETRIES + 1):
            if not self._conditional_put:
                break
            try:
                request(IfNoneMatch='*')
                return True
            except exc.ParamValidationError:     # botocore older than conditional writes
                self._conditional_put = False
            except exc.ClientError as e:
                code = e.response.get('Error', {}).get('Code')
                status = e.response.get('ResponseMetadata', {}).get('HTTPStatusCode')
                if code == 'ConditionalRequestConflict' or status == 409:
                    if attempt < CONFLICT_RETRIES:      # a concurrent conditional write is in flight
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    return False
                if code in _PRECONDITION_CODES or status == 412:
                    return False
                if code not in _UNSUPPORTED_CODES and status != 501:
                    raise self.error(e, action, key)
                self._conditional_put = False
            except Exception as e:  # pylint: disable=broad-except
                raise self.error(e, action, key)
        # endpoint without If-None-Match: check, then write (a window remains; docs/repositories.md)
        if self._head(key) is not None:
            return False
        self._call(action, key, request)
        return True

    def open_read(self, relpath):
        return S3Reader(self, self._key(relpath))

    def _head(self, key):
        """The HeadObject response of key, or None when it does not exist."""
        exc = require('botocore.exceptions')
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except exc.ClientError as e:
            if str(e.response.get('Error', {}).get('Code')) in _NOT_FOUND_CODES:
                return None
            raise self.error(e, 'checking', key)
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'checking', key)

    def modified_at(self, relpath):
        head = self._head(self._key(relpath))
        return head['LastModified'] if head is not None else None

    def _any_under(self, key):
        prefix = key + '/' if key else ''
        resp = self._call('listing', key, self.client.list_objects_v2, Bucket=self.bucket, Prefix=prefix,
                          MaxKeys=1)
        return bool(resp.get('Contents'))

    def _list(self, prefix, delimited):
        kwargs = {'Delimiter': '/'} if delimited else {}
        paginator = self.client.get_paginator('list_objects_v2')
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **kwargs):
                for cp in page.get('CommonPrefixes', []) or []:
                    yield 'dir', cp['Prefix']
                for obj in page.get('Contents', []) or []:
                    yield 'file', obj['Key']
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', prefix.rstrip('/'))

    def _list_sized(self, prefix):
        paginator = self.client.get_paginator('list_objects_v2')
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get('Contents', []) or []:
                    yield obj['Key'], obj['Size']
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', prefix.rstrip('/'))

    def _delete_keys(self, keys):
        ok = True
        for i in range(0, len(keys), DELETE_BATCH):
            batch = [{'Key': k} for k in keys[i:i + DELETE_BATCH]]
            resp = self._call('deleting', batch[0]['Key'], self.client.delete_objects, Bucket=self.bucket,
                              Delete={'Objects': batch, 'Quiet': True})
            ok = not resp.get('Errors') and ok
        return ok

    def delete_key(self, key):
        try:
            self._call('deleting', key, self.client.delete_object, Bucket=self.bucket, Key=key)
        except DbBackupError:
            return False
        return True

    def incomplete_uploads(self, relpath):
        """Multipart uploads under relpath that were never completed or aborted."""
        key = self._key(relpath)
        prefix = key + '/' if key else ''
        strip = len(self.prefix) + 1 if self.prefix else 0
        found = []
        try:
            for page in self.client.get_paginator('list_multipart_uploads').paginate(
                    Bucket=self.bucket, Prefix=prefix):
                for upload in page.get('Uploads', []) or []:
                    found.append({'path': upload['Key'][strip:], 'upload_id': upload['UploadId'],
                                  'initiated': upload['Initiated']})
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing the multipart uploads of', key)
        return found

    def abort_upload(self, relpath, upload_id):
        key = self._key(relpath)
        self._call('aborting the upload of', key, self.client.abort_multipart_upload, Bucket=self.bucket,
                   Key=key, UploadId=upload_id)


def make_client(opts, jobs=2):
    """An S3 client from the checked options (credentials: options, else the AWS chain).

    Built with botocore's session, as boto3's would be: importing boto3 itself costs 3 MiB that
    only the transfer manager (big uploads) needs, and the WAL spooler keeps a client for its life.
    """
    session_mod = require('botocore.session')
    config_mod = require('botocore.config')
    exc = require('botocore.exceptions')
    try:
        session = session_mod.Session()
        if opts.get('aws_profile'):
            session.set_config_variable('profile', opts['aws_profile'])
        if opts.get('aws_access_key') or opts.get('aws_secret_key') or opts.get('aws_session_token'):
            session.set_credentials(opts.get('aws_access_key') or None, opts.get('aws_secret_key') or None,
                                    opts.get('aws_session_token') or None)
        if opts.get('s3_region'):
            session.set_config_variable('region', opts['s3_region'])
        session.get_scoped_config()         # a profile that does not exist fails here, as in boto3
    except exc.ProfileNotFound:
        named = ('%s (aws_profile)' % opts['aws_profile'] if opts.get('aws_profile')
                 else '%s (the AWS_PROFILE environment variable)' % os.environ.get('AWS_PROFILE'))
        raise BadInput('The AWS profile %s was not found.' % named,
                       'Define it in ~/.aws/config or ~/.aws/credentials of the user that runs the engine '
                       '(or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE), or fix aws_profile.')
    endpoint = opts.get('s3_endpoint_url') or None
    style = opts.get('s3_addressing_style') or ('path' if endpoint else 'auto')
    kwargs = {
        'retries': {'mode': os.environ.get('AWS_RETRY_MODE') or 'standard',
                    'max_attempts': env_int('AWS_MAX_ATTEMPTS', MAX_ATTEMPTS)},
        'connect_timeout': CONNECT_TIMEOUT, 'read_timeout': READ_TIMEOUT,
        'max_pool_connections': max(10, jobs * (UPLOAD_CONCURRENCY + 1) + 4),
        's3': {'addressing_style': style},
    }
    if 'tcp_keepalive' in config_mod.Config.OPTION_DEFAULTS:
        kwargs['tcp_keepalive'] = True
    if endpoint and 'request_checksum_calculation' in config_mod.Config.OPTION_DEFAULTS:
        # Many S3-compatible servers reject the CRC checksum headers newer botocore sends
        # by default; integrity is checked end to end with the manifest's SHA-256 anyway.
        kwargs.setdefault('request_checksum_calculation',
                          os.environ.get('AWS_REQUEST_CHECKSUM_CALCULATION') or 'when_required')
        kwargs.setdefault('response_checksum_validation',
                          os.environ.get('AWS_RESPONSE_CHECKSUM_VALIDATION') or 'when_required')
    verify = opts.get('s3_ca_bundle') or bool(opts.get('s3_validate_certs', True))
    try:
        return session.create_client('s3', endpoint_url=endpoint, verify=verify,
                                     config=config_mod.Config(**kwargs))
    except ValueError as e:
        raise BadInput('Cannot use the S3 endpoint %s: %s.' % (endpoint, e))
