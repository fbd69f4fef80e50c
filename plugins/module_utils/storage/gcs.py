# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A repository in a Google Cloud Storage bucket: gs://bucket/prefix.

Credentials: gcs_credentials_json (no_log: a service-account key's JSON) or
gcs_credentials_file, else Google's application default credentials
(GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server of a
VM, GKE workload identity). gcs_endpoint_url points at another endpoint
(private service connect, an emulator); STORAGE_EMULATOR_HOST is honoured as
the library does (no credentials then).

Writes (object_store.PartedUpload): a body up to one part is one single-request
upload; a larger one is a resumable upload session, sent one chunk at a time
(memory: one chunk) and finalized by its last chunk: the object appears only
then. With if_absent every request carries ifGenerationMatch=0 (GCS checks it
when the session is finalized); a resumable one also looks for the object just
before its last chunk, as fake-gcs-server before 1.55 ignores the condition on
resumable sessions.

GCS has no way to list unfinished resumable sessions, and the session URI is a
bearer capability (anyone holding it may finish the upload), so it is never
stored. Instead a writer puts a small record `.<name>.upload-<id>` (host,
pid, start) beside the object while its session is open and removes it after
finalizing or cancelling. A killed writer leaves the record (hidden from
listings) and an invisible session that GCS drops after a week; prune reports
and removes such records (incomplete_uploads / abort_upload).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import re
import socket
import time
import uuid

from ..common.deps import require
from ..common.errors import (
    BadInput, DbBackupError, IntegrityError, NotFound, RepositoryAccessDenied, RepositoryUnreachable)
from . import object_store
from .object_store import (
    BACKOFF_BASE, BACKOFF_MAX, CONNECT_TIMEOUT, READ_TIMEOUT, RESERVED_MARKER, ObjectStoreRepository, PartedUpload,
    ResumingReader, is_metadata, scrub)

PART_SIZE = object_store.PART_SIZE      # resumable chunk size (a multiple of 256 KiB)
READ_CHUNK = 4 << 20                    # bytes per ranged GET of a download
RETRY_TIMEOUT = 120                     # seconds of retries with backoff per request
STORAGE_CLASSES = ('STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE')
_BUCKET_RE = r'^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\Z'
_RECORD_RE = re.compile(r'^\.(.+)\.upload-([0-9a-f]{12})$')
DELETE_BATCH = 100                      # JSON API batch limit


def _check_options(params):
    opts = dict((k, params.get(k) or None) for k in (
        'gcs_endpoint_url', 'gcs_credentials_file', 'gcs_credentials_json', 'gcs_project', 'gcs_storage_class',
        'gcs_kms_key_name'))
    if opts['gcs_credentials_file'] and opts['gcs_credentials_json']:
        raise BadInput('gcs_credentials_file and gcs_credentials_json are mutually exclusive.',
                       'Give one source of Google credentials.')
    endpoint = opts['gcs_endpoint_url']
    if endpoint and not re.match(r'^https?://[^/\s]+', endpoint):
        raise BadInput('gcs_endpoint_url must be an http:// or https:// URL, got %r.' % (endpoint,))
    if opts['gcs_credentials_file'] and not os.path.isfile(opts['gcs_credentials_file']):
        raise BadInput('gcs_credentials_file %s is not a readable file.' % opts['gcs_credentials_file'])
    if opts['gcs_storage_class']:
        cls = opts['gcs_storage_class'].upper()
        if cls not in STORAGE_CLASSES:
            raise BadInput('gcs_storage_class must be one of %s, got %r.'
                           % (', '.join(STORAGE_CLASSES), opts['gcs_storage_class']))
        opts['gcs_storage_class'] = cls
    return opts


def record_name(name, upload_id):
    return '.%s.upload-%s' % (name, upload_id)


def _status(e):
    code = getattr(e, 'code', None)
    if isinstance(code, int):
        return code
    response = getattr(e, 'response', None)
    return getattr(response, 'status_code', None)


class GcsUpload(PartedUpload):
    """One request for one part, else a resumable session finalized by its last chunk."""

    def __init__(self, repo, key, if_absent):
        super(GcsUpload, self).__init__(repo, key, if_absent=if_absent, part_size=PART_SIZE)
        self._writer = None
        self._record = None

    def _conditions(self):
        return {'if_generation_match': 0} if self.if_absent else {}

    def _put_whole(self, body):
        blob = self._repo.new_blob(self.key)
        try:
            blob.upload_from_string(body, content_type='application/octet-stream', retry=self._repo.retry,
                                    timeout=self._repo.timeout, **self._conditions())
        except Exception as e:  # pylint: disable=broad-except
            if self.if_absent and _status(e) == 412:
                return False
            raise self._repo.error(e, 'uploading', self.key)
        return True

    def _start(self):
        upload_id = uuid.uuid4().hex[:12]
        directory, _sep, name = self.key.rpartition('/')
        self._record = (directory + '/' if directory else '') + record_name(name, upload_id)
        body = json.dumps({'started_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                           'host': socket.gethostname(), 'pid': os.getpid(), 'object': name}).encode('utf-8')
        self._repo.put_small(self._record, body)
        self._writer = _writer_class()(self._repo.new_blob(self.key), chunk_size=self.part_size,
                                       retry=self._repo.retry, content_type='application/octet-stream',
                                       timeout=self._repo.timeout, **self._conditions())

    def _send_part(self, body, number):
        try:
            self._writer.write(body)
        except Exception as e:  # pylint: disable=broad-except
            raise self._repo.error(e, 'uploading', self.key)

    def _complete(self, last_body):
        if self.if_absent and self._repo._head(self.key) is not None:
            return False            # the finalizing chunk carries ifGenerationMatch=0 too; this spares the upload
        try:
            self._writer.write(last_body)
            self._writer.close()
        except Exception as e:  # pylint: disable=broad-except
            if self.if_absent and _status(e) == 412:
                return False
            raise self._repo.error(e, 'uploading', self.key)
        self._writer = None
        self._drop_record()
        return True

    def _cancel(self):
        try:
            session = getattr(self._writer, '_upload_and_transport', None)
            if session:
                session[1].delete(session[0].upload_url)    # (upload, transport): BlobWriter.terminate in 3.x
        finally:
            self._writer = None
            self._drop_record()

    def _drop_record(self):
        if self._record:
            record, self._record = self._record, None
            self._repo.delete_key(record)


_WRITER = []


def _writer_class():
    """google-cloud-storage's BlobWriter, minus finalizing on garbage collection.

    BlobWriter is an io object: when one is dropped unclosed, io's __del__ calls
    close(), which sends the last chunk and publishes a truncated object. Only
    commit() may finalize an upload here.
    """
    if not _WRITER:
        base = require('google.cloud.storage.fileio').BlobWriter

        class Writer(base):
            def __del__(self):
                pass

        _WRITER.append(Writer)
    return _WRITER[0]


class GcsReader(ResumingReader):
    """Ranged GETs of READ_CHUNK pinned to the object's generation; a broken stream resumes at its offset."""

    def __init__(self, repo, key):
        self._generation = None
        self._reader = None
        self.retryable = repo.stream_errors()
        super(GcsReader, self).__init__(repo, key)

    def _open(self, pos):
        repo = self._repo
        blob = repo.new_blob(self.key)
        if self._generation is None:
            try:
                blob.reload(retry=repo.retry, timeout=repo.timeout)
            except Exception as e:  # pylint: disable=broad-except
                raise repo.error(e, 'reading', self.key)
            self._generation = blob.generation
        self._reader = blob.open('rb', chunk_size=READ_CHUNK, if_generation_match=self._generation,
                                 retry=repo.retry, timeout=repo.timeout)
        if pos:
            self._reader.seek(pos)

    def _read_body(self, amt):
        try:
            return self._reader.read(-1 if amt is None else amt)
        except self.retryable:
            raise
        except Exception as e:  # pylint: disable=broad-except
            if _status(e) == 412:
                raise IntegrityError('%s was replaced while it was being read.' % self._repo.location_key(self.key),
                                     'Something else writes to this repository; run the restore again.')
            raise self._repo.error(e, 'reading', self.key)

    def _close_body(self):
        self._reader = None


class GcsRepository(ObjectStoreRepository):
    """See the module docstring; construct with GcsRepository.from_params(params)."""

    scheme = 'gs'

    def __init__(self, url, client, options):
        self.init_location(url, _BUCKET_RE, 'bucket names: 3-222 lower-case letters, digits, . _ -')
        self.client = client
        self.bucket_ref = client.bucket(self.bucket)
        self.options = options
        self._secrets = []
        creds = options.get('gcs_credentials_json')
        if creds:
            try:
                self._secrets = [json.loads(creds).get('private_key') or '', creds]
            except ValueError:
                self._secrets = [creds]
        self.endpoint = options.get('gcs_endpoint_url') or getattr(
            getattr(client, '_connection', None), 'API_BASE_URL', None) or 'https://storage.googleapis.com'
        retry_mod = require('google.cloud.storage.retry')
        retry = retry_mod.DEFAULT_RETRY.with_delay(initial=BACKOFF_BASE, maximum=BACKOFF_MAX, multiplier=2.0)
        self.retry = retry.with_timeout(RETRY_TIMEOUT) if hasattr(retry, 'with_timeout') \
            else retry.with_deadline(RETRY_TIMEOUT)
        self.timeout = (CONNECT_TIMEOUT, READ_TIMEOUT)

    @classmethod
    def from_params(cls, params):
        url = params.get('repository') or ''
        object_store.split_url(url, 'gs', _BUCKET_RE, 'bucket names: 3-222 lower-case letters, digits, . _ -')
        opts = _check_options(params)
        return cls(url, make_client(opts), opts)

    def new_blob(self, key):
        """A Blob handle with the storage class (data only) and KMS key of new objects."""
        blob = self.bucket_ref.blob(key, kms_key_name=self.options.get('gcs_kms_key_name') or None)
        if self.options.get('gcs_storage_class') and not is_metadata(key):
            blob.storage_class = self.options['gcs_storage_class']
        return blob

    def put_small(self, key, body):
        try:
            self.bucket_ref.blob(key).upload_from_string(body, retry=self.retry, timeout=self.timeout)
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'uploading', key)

    def _hidden(self, name):
        return name == RESERVED_MARKER or bool(_RECORD_RE.match(name))

    # --- errors ---------------------------------------------------------------------
    def stream_errors(self):
        classes = [OSError]
        try:
            req = require('requests.exceptions')
            classes += [req.ConnectionError, req.ChunkedEncodingError, req.Timeout]
        except DbBackupError:
            pass
        return tuple(classes)

    def error(self, e, action, key=None):
        """A DbBackupError for exception e raised while `action` (e.g. 'reading') key."""
        if isinstance(e, DbBackupError):
            return e
        where = self.location_key(key if key is not None else self.prefix)
        text = e.args[0] if getattr(e, 'args', None) and isinstance(e.args[0], str) else str(e)
        message = scrub(getattr(e, 'message', None) or text, self._secrets)[:500]
        auth = require('google.auth.exceptions')
        if isinstance(e, auth.DefaultCredentialsError):
            return RepositoryAccessDenied(
                'No usable Google credentials were found for %s (%s).' % (where, message),
                'Give gcs_credentials_file or gcs_credentials_json, or set GOOGLE_APPLICATION_CREDENTIALS to a '
                'service-account key file, or run where application default credentials exist '
                '(gcloud auth application-default login, a VM or GKE service account).')
        if isinstance(e, (auth.RefreshError, auth.TransportError)) or _status(e) == 401:
            return RepositoryAccessDenied(
                'Google rejected the credentials (%s) while %s %s.' % (message, action, where),
                'Check the service-account key (gcs_credentials_file, gcs_credentials_json or '
                'GOOGLE_APPLICATION_CREDENTIALS): it may be deleted, disabled or for another project; '
                'check the system clock too.')
        status = _status(e)
        if status == 403:
            return RepositoryAccessDenied(
                'Access denied (%s) while %s %s.' % (message, action, where),
                'Grant the service account roles/storage.objectUser on the bucket (or objectViewer for '
                'restore-only use, plus cloudkms.cryptoKeyEncrypterDecrypter with gcs_kms_key_name); '
                'see docs/repositories.md.')
        if status == 404:
            if 'bucket' in message.lower() and self.bucket_ref.exists(retry=self.retry, timeout=self.timeout) is False:
                return NotFound('The bucket %s does not exist at %s.' % (self.bucket, self.endpoint),
                                'Create the bucket, or fix the repository URL (gs://bucket/prefix).')
            return NotFound('Backup file %s is missing from the repository.' % where,
                            'The backup is incomplete or was pruned; restore another backup_id.')
        if status == 412 and action == 'reading':
            return IntegrityError('%s was replaced while it was being read.' % where,
                                  'Something else writes to this repository; run the restore again.')
        if status == 400:
            return BadInput('Google Cloud Storage refused a request while %s %s (%s).' % (action, where, message),
                            'Check gcs_storage_class and gcs_kms_key_name.')
        if isinstance(e, self.stream_errors()):
            return RepositoryUnreachable(
                'Could not reach Google Cloud Storage at %s while %s %s (%s).' % (self.endpoint, action, where,
                                                                                  message[:200]),
                'Check gcs_endpoint_url, DNS, the network and proxy settings (retries were exhausted).')
        return DbBackupError('Google Cloud Storage error while %s %s: %s: %s.'
                             % (action, where, type(e).__name__, message),
                             'Retries were exhausted or the request is not retryable; check the bucket, '
                             'then run again.')

    # --- the Repository interface ---------------------------------------------------
    def open_write(self, relpath, if_absent=False):
        return GcsUpload(self, self._key(relpath), if_absent)

    def open_read(self, relpath):
        return GcsReader(self, self._key(relpath))

    def _head(self, key):
        try:
            return self.bucket_ref.get_blob(key, retry=self.retry, timeout=self.timeout)
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'checking', key)

    def modified_at(self, relpath):
        blob = self._head(self._key(relpath))
        return blob.updated if blob is not None else None

    def _blobs(self, prefix, delimited, page_size=None):
        kwargs = {'prefix': prefix, 'retry': self.retry, 'timeout': self.timeout}
        if delimited:
            kwargs['delimiter'] = '/'
        if page_size:
            kwargs['max_results'] = page_size
        return self.client.list_blobs(self.bucket, **kwargs)

    def _list(self, prefix, delimited):
        try:
            for page in self._blobs(prefix, delimited).pages:
                for blob in page:
                    yield 'file', blob.name
                for p in sorted(page.prefixes):
                    yield 'dir', p
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', prefix.rstrip('/'))

    def _list_sized(self, prefix):
        try:
            for page in self._blobs(prefix, False).pages:
                for blob in page:
                    yield blob.name, blob.size
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', prefix.rstrip('/'))

    def _any_under(self, key):
        prefix = key + '/' if key else ''
        try:
            return any(True for dummy in self._blobs(prefix, False, page_size=1))
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', key)

    def delete_key(self, key):
        exc = require('google.api_core.exceptions')
        try:
            self.bucket_ref.delete_blob(key, retry=self.retry, timeout=self.timeout)
        except exc.NotFound:
            pass
        except Exception:  # pylint: disable=broad-except
            return False
        return True

    def incomplete_uploads(self, relpath):
        """Resumable uploads under relpath whose writer never finalized or cancelled them (their records)."""
        key = self._key(relpath)
        found = []
        try:
            for blob in self._blobs(key + '/' if key else '', False):
                directory, _sep, name = blob.name.rpartition('/')
                m = _RECORD_RE.match(name)
                if m:
                    target = (directory + '/' if directory else '') + m.group(1)
                    found.append({'path': self._relpath(target), 'upload_id': m.group(2),
                                  'initiated': blob.time_created or datetime.datetime.now(datetime.timezone.utc)})
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing the unfinished uploads of', key)
        return found

    def abort_upload(self, relpath, upload_id):
        """Remove the record of an abandoned session (the session itself expires at GCS within a week)."""
        directory, _sep, name = self._key(relpath).rpartition('/')
        record = (directory + '/' if directory else '') + record_name(name, upload_id)
        if not self.delete_key(record):
            raise DbBackupError('Could not delete %s.' % self.location_key(record))


def make_client(opts):
    """A storage.Client from the checked options (credentials: options, else application default credentials)."""
    storage = require('google.cloud.storage')
    credentials = None
    if opts.get('gcs_credentials_json') or opts.get('gcs_credentials_file'):
        service_account = require('google.oauth2.service_account')
        scopes = ['https://www.googleapis.com/auth/devstorage.read_write']
        try:
            if opts.get('gcs_credentials_json'):
                info = json.loads(opts['gcs_credentials_json'])
                credentials = service_account.Credentials.from_service_account_info(info, scopes=scopes)
            else:
                credentials = service_account.Credentials.from_service_account_file(opts['gcs_credentials_file'],
                                                                                    scopes=scopes)
        except (ValueError, KeyError) as e:
            raise BadInput('The Google service-account key is not usable: %s.' % type(e).__name__,
                           'Give the JSON key file of a service account as created by the console or gcloud.')
    kwargs = {}
    if opts.get('gcs_endpoint_url'):
        kwargs['client_options'] = {'api_endpoint': opts['gcs_endpoint_url'].rstrip('/')}
    try:
        return storage.Client(project=opts.get('gcs_project') or None, credentials=credentials, **kwargs)
    except Exception as e:  # pylint: disable=broad-except
        auth = require('google.auth.exceptions')
        if isinstance(e, auth.DefaultCredentialsError):
            raise RepositoryAccessDenied(
                'No usable Google credentials were found (%s).' % str(e).partition('\n')[0][:300],
                'Give gcs_credentials_file or gcs_credentials_json, or set GOOGLE_APPLICATION_CREDENTIALS to a '
                'service-account key file, or run where application default credentials exist.')
        raise
