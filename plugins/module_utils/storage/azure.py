# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A repository in an Azure Blob Storage container: azure://container/prefix.

The storage account comes from azure_account_name (or AZURE_STORAGE_ACCOUNT,
or the connection string); the endpoint is https://<account>.blob.core.windows.net
unless azure_account_url says otherwise (Azurite, sovereign clouds, private
endpoints). Credentials, first found wins: the azure_connection_string,
azure_account_key or azure_sas_token options (no_log), the same in
AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN,
then azure-identity's DefaultAzureCredential (managed identity, workload
identity, a service principal in AZURE_CLIENT_ID/AZURE_TENANT_ID/
AZURE_CLIENT_SECRET, az login).

Writes are block blobs (object_store.PartedUpload): a body up to one part is one
Put Blob; a larger one is staged block by block (Put Block, memory: one block)
and appears only when Put Block List commits it. Block ids carry the upload id
and its start time, so prune can tell an abandoned upload's age. With
if_absent the publishing request carries If-None-Match: *. A killed writer
leaves uncommitted blocks: no blob is listed or readable under the name, and
Azure discards them after a week; dbbackup_prune removes them sooner.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import datetime
import os
import re
import time
import uuid

from ..common.deps import require
from ..common.errors import (
    BadInput, DbBackupError, IntegrityError, NotFound, RepositoryAccessDenied, RepositoryUnreachable)
from . import object_store
from .object_store import (
    CONNECT_TIMEOUT, MAX_ATTEMPTS, READ_TIMEOUT, ObjectStoreRepository, PartedUpload, ResumingReader,
    is_metadata, scrub)

PART_SIZE = object_store.PART_SIZE      # block size: up to 50,000 blocks = 781 GiB per file
READ_CHUNK = 4 << 20                    # bytes per ranged GET of a download
TIERS = ('Hot', 'Cool', 'Cold', 'Archive')
_CONTAINER_RE = r'^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]\Z'
_BLOCK_ID = re.compile(r'^dbb-([0-9a-f]{12})-([0-9]{10})-[0-9]{6}$')
_CREDENTIAL_CODES = ('AuthenticationFailed', 'InvalidAuthenticationInfo', 'NoAuthenticationInformation')
_DENIED_CODES = ('AuthorizationPermissionMismatch', 'AuthorizationResourceTypeMismatch',
                 'AuthorizationServiceMismatch', 'AuthorizationSourceIPMismatch', 'AuthorizationProtocolMismatch',
                 'AuthorizationFailure', 'InsufficientAccountPermissions', 'KeyVaultAccessTokenCannotBeAcquired')
_EXISTS_CODES = ('BlobAlreadyExists', 'ConditionNotMet', 'TargetConditionNotMet')
ENV = {'azure_connection_string': 'AZURE_STORAGE_CONNECTION_STRING', 'azure_account_key': 'AZURE_STORAGE_KEY',
       'azure_sas_token': 'AZURE_STORAGE_SAS_TOKEN', 'azure_account_name': 'AZURE_STORAGE_ACCOUNT'}
SECRET_OPTIONS = ('azure_connection_string', 'azure_account_key', 'azure_sas_token')


def _check_options(params):
    """The azure_* options, validated; secrets the options leave empty come from the environment."""
    opts = dict((k, params.get(k) or None) for k in (
        'azure_account_name', 'azure_account_url', 'azure_connection_string', 'azure_account_key',
        'azure_sas_token', 'azure_access_tier', 'azure_encryption_scope'))
    given = [k for k in SECRET_OPTIONS if opts[k]]
    if len(given) > 1:
        raise BadInput('%s are mutually exclusive.' % ' and '.join(given),
                       'Give one source of Azure credentials.')
    if not given:
        for k in SECRET_OPTIONS:
            if os.environ.get(ENV[k]):
                opts[k] = os.environ[ENV[k]]
                break
    if not opts['azure_account_name'] and os.environ.get(ENV['azure_account_name']):
        opts['azure_account_name'] = os.environ[ENV['azure_account_name']]
    url = opts['azure_account_url']
    if url and not re.match(r'^https?://[^/\s]+', url):
        raise BadInput('azure_account_url must be an http:// or https:// URL, got %r.' % (url,))
    if not opts['azure_connection_string'] and not url and not opts['azure_account_name']:
        raise BadInput('An azure:// repository needs the storage account.',
                       'Set azure_account_name (or AZURE_STORAGE_ACCOUNT), azure_account_url, or give a '
                       'connection string (azure_connection_string or AZURE_STORAGE_CONNECTION_STRING).')
    if opts['azure_account_name'] and not re.match(r'^[a-z0-9]{3,24}$', opts['azure_account_name']):
        raise BadInput('azure_account_name must be 3-24 lower-case letters and digits, got %r.'
                       % (opts['azure_account_name'],))
    tier = opts['azure_access_tier']
    if tier:
        match = [t for t in TIERS if t.lower() == tier.lower()]
        if not match:
            raise BadInput('azure_access_tier must be one of %s, got %r.' % (', '.join(TIERS), tier))
        opts['azure_access_tier'] = match[0]
    return opts


def sas_signatures(text):
    """The sig= values of a SAS, as given and URL-decoded/encoded, so messages can be scrubbed of them."""
    from urllib.parse import quote, unquote
    out = []
    for sig in re.findall(r'(?:^|[?&;])sig=([^&;]+)', text or ''):
        out += [sig, unquote(sig), quote(unquote(sig), safe='')]
    return out


def block_id(upload_id, started, number):
    """Base64 of dbb-<upload id>-<start unix time>-<number>: all ids of a blob have one length."""
    return base64.b64encode(('dbb-%s-%010d-%06d' % (upload_id, started, number)).encode('ascii')).decode('ascii')


def parse_block_id(encoded):
    """(upload_id, started datetime) of one of our block ids, or None."""
    try:
        m = _BLOCK_ID.match(base64.b64decode(encoded).decode('ascii'))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not m:
        return None
    return m.group(1), datetime.datetime.fromtimestamp(int(m.group(2)), datetime.timezone.utc)


class AzureUpload(PartedUpload):
    """Put Blob for one part, else staged blocks committed by Put Block List (conditional with if_absent)."""

    def __init__(self, repo, key, if_absent):
        super(AzureUpload, self).__init__(repo, key, if_absent=if_absent, part_size=PART_SIZE)
        self._blob = repo.container.get_blob_client(key)
        self._ids = []
        self._upload_id = uuid.uuid4().hex[:12]
        self._started_at = int(time.time())

    def _publish(self, fn, *args, **kwargs):
        """fn(...) with the object options; False when if_absent and the blob existed."""
        kwargs.update(self._repo.blob_options(self.key))
        if self.if_absent:
            kwargs['if_none_match'] = '*'
        try:
            fn(*args, **kwargs)
        except Exception as e:  # pylint: disable=broad-except
            if self.if_absent and self._repo.existed(e, self.key):
                return False
            raise self._repo.error(e, 'uploading', self.key)
        return True

    def _put_whole(self, body):
        return self._publish(self._blob.upload_blob, body, length=len(body), overwrite=not self.if_absent,
                             max_concurrency=1)

    def _start(self):
        pass

    def _send_part(self, body, number):
        bid = block_id(self._upload_id, self._started_at, number)
        kwargs = {}
        if self._repo.options.get('azure_encryption_scope'):
            kwargs['encryption_scope'] = self._repo.options['azure_encryption_scope']
        try:
            self._blob.stage_block(bid, body, length=len(body), validate_content=True, **kwargs)
        except Exception as e:  # pylint: disable=broad-except
            raise self._repo.error(e, 'uploading', self.key)
        self._ids.append(bid)

    def _complete(self, last_body):
        self._parts += 1
        self._send_part(last_body, self._parts)
        blocks = [require('azure.storage.blob').BlobBlock(block_id=i) for i in self._ids]
        return self._publish(self._blob.commit_block_list, blocks)

    def _cancel(self):
        self._repo.discard_blocks(self.key)


class AzureReader(ResumingReader):
    """Ranged GETs of READ_CHUNK; a broken stream resumes at its offset, pinned to the blob's ETag."""

    def __init__(self, repo, key):
        self._etag = None
        self._stream = None
        self.retryable = repo.stream_errors()
        super(AzureReader, self).__init__(repo, key)

    def _open(self, pos):
        kwargs = {'offset': pos, 'max_concurrency': 1}
        if self._etag:
            kwargs['etag'] = self._etag
            kwargs['match_condition'] = require('azure.core').MatchConditions.IfNotModified
        try:
            blob = self._repo.container.get_blob_client(self.key)
            self._stream = blob.download_blob(**kwargs)
        except Exception as e:  # pylint: disable=broad-except
            if 'InvalidRange' in str(e) and pos:        # resumed exactly at the end
                self._stream = None
                return
            raise self._repo.error(e, 'reading', self.key)
        self._etag = self._etag or self._stream.properties.etag

    def _read_body(self, amt):
        if self._stream is None:
            return b''
        return self._stream.read(-1 if amt is None else amt)

    def _close_body(self):
        self._stream = None


class AzureRepository(ObjectStoreRepository):
    """See the module docstring; construct with AzureRepository.from_params(params)."""

    scheme = 'azure'

    def __init__(self, url, service, options):
        self.init_location(url, _CONTAINER_RE, 'container names: 3-63 lower-case letters, digits and -')
        self.service = service
        self.container = service.get_container_client(self.bucket)
        self.options = options
        self._secrets = [options.get(k) for k in SECRET_OPTIONS]
        self._secrets += [v for part in (options.get('azure_connection_string') or '').split(';')
                          for k, s, v in [part.partition('=')] if k.lower() in ('accountkey', 'sharedaccesssignature')]
        self._secrets += sas_signatures(options.get('azure_sas_token') or options.get('azure_connection_string'))
        self.endpoint = service.url.rstrip('/')

    @classmethod
    def from_params(cls, params):
        url = params.get('repository') or ''
        object_store.split_url(url, 'azure', _CONTAINER_RE, 'container names: 3-63 lower-case letters, digits and -')
        opts = _check_options(params)
        return cls(url, make_service(opts), opts)

    def blob_options(self, key):
        """Access tier (data blobs only: manifests stay readable) and encryption scope of a new blob."""
        out = {}
        if self.options.get('azure_access_tier') and not is_metadata(key):
            out['standard_blob_tier'] = require('azure.storage.blob').StandardBlobTier(self.options['azure_access_tier'])
        if self.options.get('azure_encryption_scope'):
            out['encryption_scope'] = self.options['azure_encryption_scope']
        return out

    # --- errors ---------------------------------------------------------------------
    def stream_errors(self):
        exc = require('azure.core.exceptions')
        classes = [exc.ServiceResponseError, exc.ServiceRequestError]
        if hasattr(exc, 'IncompleteReadError'):
            classes.append(exc.IncompleteReadError)
        return tuple(classes) + (OSError,)

    @staticmethod
    def _code(e):
        code = getattr(e, 'error_code', None)
        return str(getattr(code, 'value', code) or '')

    def existed(self, e, key):
        """Did a conditional publish fail because the blob exists (409/412, or blocks discarded by its commit)?"""
        code = self._code(e)
        if code in _EXISTS_CODES or getattr(e, 'status_code', None) == 412:
            return True
        return code == 'InvalidBlockList' and self._head(key) is not None

    def error(self, e, action, key=None):
        """A DbBackupError for exception e raised while `action` (e.g. 'reading') key."""
        if isinstance(e, DbBackupError):
            return e
        exc = require('azure.core.exceptions')
        where = self.location_key(key if key is not None else self.prefix)
        message = scrub(getattr(e, 'reason', None) or str(e).partition('\n')[0], self._secrets)
        code = self._code(e)
        status = getattr(e, 'status_code', None)
        identity_errors = ()
        try:
            ident = require('azure.identity')
            identity_errors = (ident.CredentialUnavailableError,)
        except DbBackupError:
            pass
        if identity_errors and isinstance(e, identity_errors) or (
                isinstance(e, exc.ClientAuthenticationError) and status is None):
            return RepositoryAccessDenied(
                'No usable Azure credentials were found for %s (%s).' % (where, scrub(e, self._secrets)[:300]),
                'Give azure_account_key, azure_sas_token or azure_connection_string (CLI: AZURE_STORAGE_KEY, '
                'AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING), or run where a managed identity '
                'or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET is available.')
        if code == 'ContainerNotFound':
            return NotFound('The container %s does not exist at %s.' % (self.bucket, self.endpoint),
                            'Create the container, or fix the repository URL (azure://container/prefix) '
                            'and azure_account_name / azure_account_url.')
        if code in _CREDENTIAL_CODES or (code == 'AuthorizationFailure' and 'authenticate' in message):
            return RepositoryAccessDenied(
                'The Azure storage account at %s rejected the credentials (%s) while %s %s.'
                % (self.endpoint, code, action, where),
                'Check azure_account_key, azure_sas_token or azure_connection_string (CLI: AZURE_STORAGE_KEY, '
                'AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING), the SAS expiry, and that the '
                'system clock is right.')
        if code in _DENIED_CODES or status == 403:
            return RepositoryAccessDenied(
                'Access denied (%s: %s) while %s %s.' % (code or status, message, action, where),
                'Grant the identity "Storage Blob Data Contributor" on the container (a SAS: read, add, create, '
                'write, delete and list permissions); see docs/repositories.md.')
        if code == 'BlobNotFound' or (status == 404 and code != 'ContainerNotFound'):
            return NotFound('Backup file %s is missing from the repository.' % where,
                            'The backup is incomplete or was pruned; restore another backup_id.')
        if code == 'BlobArchived':
            return DbBackupError('%s is in the Archive access tier and cannot be read directly.' % where,
                                 'Rehydrate the blobs of this backup to Hot or Cool (Set Blob Tier), then run '
                                 'the restore again.')
        if isinstance(e, exc.ResourceModifiedError) and action == 'reading':
            return IntegrityError('%s was replaced while it was being read.' % where,
                                  'Something else writes to this repository; run the restore again.')
        if code in ('InvalidHeaderValue', 'InvalidBlobTier', 'FeatureNotSupportedByEmulator') and status == 400:
            return BadInput('The storage account refused an option while %s %s (%s: %s).' % (action, where, code, message),
                            'Check azure_access_tier and azure_encryption_scope.')
        if isinstance(e, (exc.ServiceRequestError, exc.ServiceResponseError)):
            return RepositoryUnreachable(
                'Could not reach the Azure endpoint %s while %s %s (%s).' % (self.endpoint, action, where, message),
                'Check azure_account_name / azure_account_url, DNS, the network and proxy settings '
                '(retries were exhausted).')
        if isinstance(e, exc.HttpResponseError):
            return DbBackupError('Azure error while %s %s: %s (%s, HTTP %s).' % (action, where, message, code, status),
                                 'Retries were exhausted or the request is not retryable; check the account and '
                                 'the container, then run again.')
        detail = scrub(e, self._secrets)[:500]
        return DbBackupError('Azure error while %s %s: %s: %s.' % (action, where, type(e).__name__, detail))

    # --- the Repository interface ---------------------------------------------------
    def open_write(self, relpath, if_absent=False):
        return AzureUpload(self, self._key(relpath), if_absent)

    def open_read(self, relpath):
        return AzureReader(self, self._key(relpath))

    def _head(self, key):
        exc = require('azure.core.exceptions')
        try:
            return self.container.get_blob_client(key).get_blob_properties()
        except exc.ResourceNotFoundError as e:
            if self._code(e) == 'ContainerNotFound':
                raise self.error(e, 'checking', key)
            return None
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'checking', key)

    def modified_at(self, relpath):
        props = self._head(self._key(relpath))
        return props.last_modified if props is not None else None

    def _list(self, prefix, delimited, include=None):
        try:
            if delimited:
                prefix_class = require('azure.storage.blob').BlobPrefix
                for item in self.container.walk_blobs(name_starts_with=prefix, delimiter='/'):
                    yield ('dir' if isinstance(item, prefix_class) else 'file'), item.name
            else:
                for item in self.container.list_blobs(name_starts_with=prefix, include=include):
                    yield 'file', item.name
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', prefix.rstrip('/'))

    def _list_sized(self, prefix):
        try:
            for item in self.container.list_blobs(name_starts_with=prefix):
                yield item.name, item.size
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', prefix.rstrip('/'))

    def _any_under(self, key):
        prefix = key + '/' if key else ''
        try:
            for dummy in self.container.list_blobs(name_starts_with=prefix, results_per_page=1).by_page():
                return bool(list(dummy))
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing', key)
        return False

    def delete_key(self, key):
        exc = require('azure.core.exceptions')
        try:
            self.container.delete_blob(key)
        except exc.ResourceNotFoundError:
            pass
        except Exception:  # pylint: disable=broad-except
            return False
        return True

    def incomplete_uploads(self, relpath):
        """Blobs under relpath that have staged blocks but were never committed."""
        key = self._key(relpath)
        prefix = key + '/' if key else ''
        committed = set(k for kind, k in self._list(prefix, False))
        found = []
        try:
            items = list(self.container.list_blobs(name_starts_with=prefix, include=['uncommittedblobs']))
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'listing the uncommitted blocks of', key)
        for item in items:
            if item.name in committed:
                continue
            upload_id, initiated = 'blocks', item.creation_time or item.last_modified
            try:
                dummy, uncommitted = self.container.get_blob_client(item.name).get_block_list('uncommitted')
            except Exception:  # pylint: disable=broad-except
                uncommitted = []
            parsed = [p for p in (parse_block_id(b.id) for b in uncommitted) if p]
            if parsed:
                upload_id, initiated = min(parsed, key=lambda p: p[1])
            found.append({'path': self._relpath(item.name), 'upload_id': upload_id, 'initiated': initiated})
        return found

    def abort_upload(self, relpath, upload_id):
        self.discard_blocks(self._key(relpath))

    def discard_blocks(self, key):
        """Drop the uncommitted blocks of key; a committed blob under key is never touched.

        Azure has no call for that: deleting a blob that has only uncommitted
        blocks removes them. When a committed blob exists its leftover blocks
        are Azure's to discard (at its next commit, or after a week).
        """
        if self._head(key) is not None:
            return
        exc = require('azure.core.exceptions')
        try:
            self.container.delete_blob(key)
        except exc.ResourceNotFoundError:
            pass
        except Exception as e:  # pylint: disable=broad-except
            raise self.error(e, 'discarding the uncommitted blocks of', key)


def make_service(opts):
    """A BlobServiceClient from the checked options (see the module docstring for the order)."""
    blob = require('azure.storage.blob')
    kwargs = {
        'retry_policy': blob.ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=MAX_ATTEMPTS - 1,
                                              random_jitter_range=1),
        'connection_timeout': CONNECT_TIMEOUT, 'read_timeout': READ_TIMEOUT,
        'max_single_get_size': READ_CHUNK, 'max_chunk_get_size': READ_CHUNK,
        'max_single_put_size': PART_SIZE + (1 << 20), 'max_block_size': PART_SIZE,
    }
    try:
        if opts.get('azure_connection_string'):
            if opts.get('azure_account_url'):
                kwargs['account_url'] = opts['azure_account_url']
            return blob.BlobServiceClient.from_connection_string(opts['azure_connection_string'], **kwargs)
        url = opts.get('azure_account_url') or 'https://%s.blob.core.windows.net' % opts['azure_account_name']
        if opts.get('azure_account_key'):
            account = opts.get('azure_account_name') or _account_from_url(url)
            credential = {'account_name': account, 'account_key': opts['azure_account_key']}
        elif opts.get('azure_sas_token'):
            credential = require('azure.core.credentials').AzureSasCredential(opts['azure_sas_token'].lstrip('?'))
        elif url.startswith('http://'):
            raise RepositoryAccessDenied(
                'No Azure credentials were found for %s (managed identity and other token credentials need '
                'an https:// endpoint).' % url,
                'Give azure_account_key, azure_sas_token or azure_connection_string (CLI: AZURE_STORAGE_KEY, '
                'AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING).')
        else:
            identity = require('azure.identity')
            credential = identity.DefaultAzureCredential(exclude_interactive_browser_credential=True)
        return blob.BlobServiceClient(url, credential=credential, **kwargs)
    except (ValueError, TypeError) as e:
        raise BadInput('Cannot use the Azure storage settings: %s.' % scrub(e, [opts.get(k) for k in SECRET_OPTIONS]),
                       'Check azure_account_url and the connection string or key format.')


def _account_from_url(url):
    """The account name in https://<account>.blob.core.windows.net or http://host:port/<account> (Azurite)."""
    m = re.match(r'^https?://([^./:]+)\.blob\.', url)
    if m:
        return m.group(1)
    path = [p for p in url.split('://', 1)[-1].split('/')[1:] if p]
    if path:
        return path[0]
    raise BadInput('Cannot tell the storage account from azure_account_url %s.' % url,
                   'Set azure_account_name too.')
