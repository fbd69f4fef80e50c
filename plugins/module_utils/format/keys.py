# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Encryption keys: the key-encryption key (KEK) and the per-backup data key.

Every encrypted backup has its own random 32-byte data key. The files are
encrypted with it (stream/encrypt.py); the manifest stores it only wrapped
(AES-256-GCM) by the KEK, which comes from one of

- `encryption_key_file`: a file holding 32 raw bytes, or 64 hex digits, or
  base64 of 32 bytes; it must not be accessible by group or others;
- `encryption_key_env`: the name of an environment variable holding the key
  as hex or base64;
- `encryption_passphrase`: stretched by Argon2id (when the installed
  cryptography has it) or scrypt, with a random salt; the KDF name,
  parameters and salt are stored in the manifest.

The manifest's `encryption` field (format in docs/encryption.md) never holds
a key: algorithm, chunk size, KDF parameters, a KEK fingerprint that reveals
nothing about the key, the wrapped data key, and an HMAC (keyed from the
data key) over the manifest fields a restore relies on. Rotating the KEK
rewraps the data key in the manifest; no data file changes.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import stat

from ..common.deps import require
from ..common.errors import BadInput, IntegrityError, MissingDependency, WrongKey
from ..stream.encrypt import ALGORITHM_NAME, CHUNK_SIZE, KEY_SIZE

OPTIONS = ('encryption_key_file', 'encryption_key_env', 'encryption_passphrase')
FIELD_VERSION = 1
WRAP_ALGORITHM = 'AES-256-GCM'
WRAP_AAD_PREFIX = b'dbbackup data key v1\n'
KEK_ID_INFO = b'dbbackup-kek-id'
MAC_INFO = b'dbbackup manifest mac v1'
# Manifest keys covered by encryption.manifest_mac (everything a restore relies on).
MAC_FIELDS = ('format', 'format_version', 'kind', 'db_type', 'backup_id', 'server_name', 'database',
              'started_at', 'finished_at', 'server_version', 'server_version_num', 'consistent_position',
              'database_info', 'compression', 'totals', 'files')
# Further covered keys of the other kinds (only for them: MACs of logical backups stay as they were).
KIND_MAC_FIELDS = {
    'base': ('start_lsn', 'stop_lsn', 'timeline', 'wal_segment_size', 'start_wal_file', 'stop_wal_file',
             'system_identifier', 'tablespaces', 'tablespace_dir'),
    'cluster': ('databases', 'members', 'globals'),
}
# Covered when present (absent from older manifests, whose MACs stay valid); a manifest
# whose totals count objects must carry its inventory (format/manifest.py checks that).
OPTIONAL_MAC_FIELDS = ('inventory', 'unsupported_objects')
SCRYPT_PARAMS = {'n': 1 << 17, 'r': 8, 'p': 1}                        # 128 MiB, OWASP
ARGON2ID_PARAMS = {'iterations': 3, 'lanes': 4, 'memory_cost': 65536}  # 64 MiB, RFC 9106 option 2
SALT_SIZE = 16
_HEX_RE = re.compile(r'^[0-9a-fA-F]{64}\Z')


# --- key material --------------------------------------------------------------

def _b64(data):
    return base64.b64encode(data).decode('ascii')


def _unb64(text, what):
    try:
        return base64.b64decode(text.encode('ascii'), validate=True)
    except (binascii.Error, ValueError, AttributeError, UnicodeError):
        raise IntegrityError('The manifest field encryption.%s is not valid base64.' % what,
                             'The manifest is damaged; restore another backup_id.')


def decode_key_text(text):
    """32-byte key from 64 hex digits or base64 text (surrounding whitespace ignored), else None."""
    text = text.strip()
    if _HEX_RE.match(text):
        return binascii.unhexlify(text)
    if 40 <= len(text) <= 46:
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                padded = text + '=' * (-len(text) % 4)
                key = decode(padded.encode('ascii'))
            except (binascii.Error, ValueError, UnicodeError):
                continue
            if len(key) == KEY_SIZE:
                return key
    return None


def kek_id(kek):
    """Fingerprint of a KEK: HMAC-SHA256(kek, 'dbbackup-kek-id'), first 8 bytes as hex."""
    return hmac.new(kek, KEK_ID_INFO, hashlib.sha256).hexdigest()[:16]


def argon2id_available():
    try:
        kdf = require('cryptography.hazmat.primitives.kdf.argon2')
    except MissingDependency:
        return False
    return hasattr(kdf, 'Argon2id')


def _derive(passphrase, kdf):
    """KEK from a passphrase and a manifest KDF description."""
    salt = _unb64(kdf.get('salt', ''), 'kdf.salt')
    name = kdf.get('name')
    data = passphrase.encode('utf-8')
    try:
        if name == 'argon2id':
            if not argon2id_available():
                raise BadInput('This backup\'s key was derived with Argon2id, which the installed '
                               'cryptography library lacks.',
                               'Install cryptography 44 or newer on the host that runs the restore.')
            argon2 = require('cryptography.hazmat.primitives.kdf.argon2')
            return argon2.Argon2id(salt=salt, length=KEY_SIZE, iterations=int(kdf['iterations']),
                                   lanes=int(kdf['lanes']), memory_cost=int(kdf['memory_cost'])).derive(data)
        if name == 'scrypt':
            scrypt = require('cryptography.hazmat.primitives.kdf.scrypt')
            return scrypt.Scrypt(salt=salt, length=KEY_SIZE, n=int(kdf['n']), r=int(kdf['r']),
                                 p=int(kdf['p'])).derive(data)
    except (KeyError, TypeError, ValueError) as e:
        raise IntegrityError('The key derivation parameters in the manifest are invalid (%s).' % e,
                             'The manifest is damaged; restore another backup_id.')
    raise BadInput('Unknown key derivation function %r in the manifest.' % (name,),
                   'Upgrade the dbbackup collection.')


def new_kdf():
    """KDF description with a fresh salt: Argon2id where available, else scrypt."""
    salt = _b64(os.urandom(SALT_SIZE))
    if argon2id_available():
        return dict(ARGON2ID_PARAMS, name='argon2id', salt=salt)
    return dict(SCRYPT_PARAMS, name='scrypt', salt=salt)


class KeySource(object):
    """Where a KEK comes from. `option` names the user's option (for messages)."""

    def __init__(self, option, raw_key=None, passphrase=None, what=None):
        self.option = option
        self.what = what or option
        self._raw = raw_key
        self._passphrase = passphrase
        self._cache = {}

    @property
    def is_passphrase(self):
        return self._passphrase is not None

    def kek(self, kdf):
        """The KEK for a manifest's `kdf` (None for a raw key)."""
        if self._passphrase is None:
            if kdf:
                raise WrongKey('The backup was encrypted with a key derived from a passphrase, but %s '
                               'gives a raw key.' % self.what,
                               'Use encryption_passphrase with the passphrase of that backup.')
            return self._raw
        if not kdf:
            raise WrongKey('The backup was encrypted with a raw key (key file or environment variable), '
                           'but a passphrase was given.',
                           'Use encryption_key_file or encryption_key_env with that key.')
        cache_key = json.dumps(kdf, sort_keys=True)
        if cache_key not in self._cache:
            self._cache[cache_key] = _derive(self._passphrase, kdf)
        return self._cache[cache_key]

    def new_kek(self):
        """(kdf description or None, KEK) for wrapping a new data key (one salt per KeySource)."""
        if self._passphrase is None:
            return None, self._raw
        if 'new' not in self._cache:
            kdf = new_kdf()
            self._cache['new'] = (kdf, self.kek(kdf))
        return self._cache['new']

    def __repr__(self):
        return '<KeySource %s>' % self.option


def _read_key_file(path, option):
    try:
        st = os.stat(path)
    except OSError as e:
        raise BadInput('%s %s cannot be read (%s).' % (option, path, e.strerror),
                       'Give the path of an existing key file on the host that runs the engine.')
    if not stat.S_ISREG(st.st_mode):
        raise BadInput('%s %s is not a regular file.' % (option, path))
    if st.st_mode & 0o077:
        raise BadInput('%s %s is accessible by group or others (mode %04o).'
                       % (option, path, stat.S_IMODE(st.st_mode)),
                       'Restrict it to its owner: chmod 600 %s.' % path)
    if st.st_size > 4096:
        raise BadInput('%s %s is too large for a key file (%d bytes).' % (option, path, st.st_size),
                       'A key file holds 32 raw bytes, 64 hex digits or base64 of 32 bytes.')
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise BadInput('%s %s cannot be read (%s).' % (option, path, e.strerror))
    key = None
    try:
        key = decode_key_text(data.decode('ascii'))
    except UnicodeDecodeError:
        pass
    if key is None and len(data) == KEY_SIZE:
        key = data
    if key is None:
        raise BadInput('%s %s does not hold a 32-byte key (%d bytes read).' % (option, path, len(data)),
                       'It must hold 32 raw bytes, 64 hex digits or base64 of 32 bytes; create one with '
                       '"openssl rand -hex 32 > %s" (then chmod 600).' % path)
    return key


def key_source(params, prefix=''):
    """The KeySource given by params (options with `prefix`, '' or 'new_'), or None."""
    names = [prefix + o for o in OPTIONS]
    given = [n for n in names if params.get(n) not in (None, '')]
    if len(given) > 1:
        raise BadInput('Give only one of %s, not %s.' % (', '.join(names), ' and '.join(given)))
    if not given:
        for n in names:   # an empty string is a mistake, not "no encryption"
            if params.get(n) == '':
                raise BadInput('%s is empty.' % n)
        return None
    option = given[0]
    value = params[option]
    if option.endswith('encryption_key_file'):
        path = os.path.expanduser(str(value))
        return KeySource(option, raw_key=_read_key_file(path, option), what='%s %s' % (option, path))
    if option.endswith('encryption_key_env'):
        name = str(value)
        text = os.environ.get(name)
        if not text:
            raise BadInput('The environment variable %s named by %s is not set or empty.' % (name, option),
                           'Set it on the host that runs the engine (for a module: the task\'s '
                           'environment keyword) to the key as 64 hex digits or base64.')
        key = decode_key_text(text)
        if key is None:
            raise BadInput('The environment variable %s named by %s does not hold a 32-byte key.'
                           % (name, option), 'It must hold 64 hex digits or base64 of 32 bytes.')
        return KeySource(option, raw_key=key, what='%s %s' % (option, name))
    passphrase = value if isinstance(value, str) else str(value)
    if len(passphrase) < 8:
        raise BadInput('%s is too short (fewer than 8 characters).' % option,
                       'Use a long passphrase, or a key file.')
    return KeySource(option, passphrase=passphrase)


# --- wrapping -------------------------------------------------------------------

def backup_identity(manifest):
    """What the wrapped key is bound to: kind, server, database and backup id."""
    return json.dumps([manifest.get('kind'), manifest.get('server_name'), manifest.get('database'),
                       manifest.get('backup_id')], separators=(',', ':'), ensure_ascii=True).encode('ascii')


def _aesgcm(key):
    require('cryptography')
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    return AESGCM(key)


def _wrap(kek, data_key, identity):
    nonce = os.urandom(12)
    return nonce, _aesgcm(kek).encrypt(nonce, data_key, WRAP_AAD_PREFIX + identity)


def new_data_key():
    return os.urandom(KEY_SIZE)


def wrap_fields(source, data_key, manifest):
    """The key-dependent part of the encryption field: kdf, kek_id, wrapped key."""
    kdf, kek = source.new_kek()
    nonce, wrapped = _wrap(kek, data_key, backup_identity(manifest))
    return {'kdf': kdf, 'kek_id': kek_id(kek),
            'wrap': {'algorithm': WRAP_ALGORITHM, 'nonce': _b64(nonce)},
            'wrapped_key': _b64(wrapped)}


def encryption_field(source, data_key, manifest):
    """The manifest's encryption field for a new backup (call when the manifest is complete)."""
    field = {'version': FIELD_VERSION, 'algorithm': ALGORITHM_NAME, 'chunk_size': CHUNK_SIZE,
             'key_source': source.option.replace('new_', '', 1)}
    field.update(wrap_fields(source, data_key, manifest))
    field['manifest_mac'] = manifest_mac(data_key, dict(manifest, encryption=field))
    return field


def _what(manifest):
    return manifest.get('database') or '%s (%s backup)' % (manifest.get('server_name'), manifest.get('kind'))


def _where(manifest):
    return '%s/%s/%s' % (manifest.get('server_name'), manifest.get('database'), manifest.get('backup_id'))


def _check_field(field, manifest):
    if not isinstance(field, dict) or field.get('version') != FIELD_VERSION or \
            field.get('algorithm') != ALGORITHM_NAME:
        raise IntegrityError('Backup %s uses an encryption format this engine does not know (%r).'
                             % (_where(manifest), (field or {}).get('algorithm') if isinstance(field, dict)
                                else field), 'Upgrade the dbbackup collection.')
    for key in ('kek_id', 'wrap', 'wrapped_key', 'manifest_mac'):
        if key not in field:
            raise IntegrityError('The encryption field of backup %s lacks %s.' % (_where(manifest), key),
                                 'The manifest is damaged; restore another backup_id.')


def key_matches(source, manifest):
    """True when source gives the KEK the backup's data key is wrapped with."""
    field = manifest['encryption']
    _check_field(field, manifest)
    try:
        kek = source.kek(field.get('kdf'))
    except WrongKey:
        return False
    return hmac.compare_digest(kek_id(kek), str(field['kek_id']))


def mismatch_error(source, manifest):
    field = manifest.get('encryption') or {}
    return WrongKey('The key from %s does not match the key backup %s was encrypted with '
                    '(key id %s).' % (source.what, _where(manifest), field.get('kek_id')),
                    'Give the key or passphrase that was used for this backup (or for the last rekey of '
                    'it). Nothing was changed.')


def unwrap_data_key(source, manifest):
    """The backup's data key, after checking KEK fingerprint, wrap tag and manifest MAC.

    Raises WrongKey (one clear message) when the key does not fit, and
    IntegrityError when the manifest was modified.
    """
    field = manifest['encryption']
    _check_field(field, manifest)
    kek = source.kek(field.get('kdf'))
    if not hmac.compare_digest(kek_id(kek), str(field['kek_id'])):
        raise mismatch_error(source, manifest)
    wrap = field['wrap']
    if not isinstance(wrap, dict) or wrap.get('algorithm') != WRAP_ALGORITHM:
        raise IntegrityError('Backup %s wraps its key with an unknown algorithm.' % _where(manifest),
                             'Upgrade the dbbackup collection.')
    nonce = _unb64(wrap.get('nonce', ''), 'wrap.nonce')
    wrapped = _unb64(field['wrapped_key'], 'wrapped_key')
    invalid_tag = require('cryptography.exceptions').InvalidTag
    try:
        data_key = _aesgcm(kek).decrypt(nonce, wrapped, WRAP_AAD_PREFIX + backup_identity(manifest))
    except (invalid_tag, ValueError):
        raise IntegrityError('The wrapped data key of backup %s does not open with the right key: the '
                             'manifest was modified (identity or encryption field).' % _where(manifest),
                             'The backup cannot be trusted; restore another backup_id.')
    if not hmac.compare_digest(manifest_mac(data_key, manifest), str(field['manifest_mac'])):
        raise IntegrityError('The manifest of backup %s was modified after the backup was written '
                             '(its authentication code does not match).' % _where(manifest),
                             'The backup cannot be trusted; restore another backup_id.')
    return data_key


def planted_unencrypted(encryption, manifest, allow_unencrypted=False):
    """True when a key was given and the backup is not encrypted (and that is not allowed): it was not
    written with the key, and anyone able to write to the repository could have put it there.
    Restore refuses it (backup_data_key) and verify fails it (operations/verify.py)."""
    return encryption is not None and not manifest.get('encryption') and not allow_unencrypted


def backup_data_key(encryption, manifest, allow_unencrypted=False):
    """The data key of an encrypted backup; None for an unencrypted one restored without a key.

    Raises BadInput when the backup is encrypted and no key was given, or when a key
    was given for an unencrypted backup (unless allow_unencrypted): anyone able to
    write to the repository can plant an unencrypted backup, and restoring it runs
    its SQL; the key is the promise that only backups made with it are restored.
    WrongKey when the key is not the backup's, IntegrityError when the manifest was modified.
    """
    if not manifest.get('encryption'):
        if planted_unencrypted(encryption, manifest, allow_unencrypted):
            raise BadInput('Backup %s of %s is not encrypted, but a key was given: it was not written with '
                           'that key, and anyone able to write to the repository could have put it there; '
                           'nothing was restored.' % (manifest.get('backup_id'), _what(manifest)),
                           'Restore an encrypted backup (give its backup_id), or, if this unencrypted backup '
                           'is yours (made before encryption was switched on), set allow_unencrypted '
                           '(CLI --allow-unencrypted).')
        return None
    if encryption is None:
        raise BadInput('Backup %s of %s is encrypted and no key was given.'
                       % (manifest['backup_id'], manifest['database']),
                       'Give its key with encryption_key_file, encryption_key_env or encryption_passphrase '
                       '(CLI: --encryption-key-file, --encryption-key-env or the environment variable '
                       'DBBACKUP_ENCRYPTION_PASSPHRASE).')
    return unwrap_data_key(encryption, manifest)


def rewrap(old, new, manifest):
    """A copy of manifest's encryption field with the data key rewrapped from old to new KEK."""
    data_key = unwrap_data_key(old, manifest)
    field = dict(manifest['encryption'])
    field.update(wrap_fields(new, data_key, manifest))
    field['key_source'] = new.option.replace('new_', '', 1)
    return field


# --- manifest authentication ------------------------------------------------------

def manifest_mac(data_key, manifest):
    """HMAC-SHA256 over the manifest fields a restore relies on, keyed from the data key.

    The key-dependent part of `encryption` is not covered, so a rekey keeps it valid.
    """
    mac_key = hmac.new(data_key, MAC_INFO, hashlib.sha256).digest()
    covered = dict((k, manifest.get(k)) for k in MAC_FIELDS + KIND_MAC_FIELDS.get(manifest.get('kind'), ()))
    covered.update((k, manifest[k]) for k in OPTIONAL_MAC_FIELDS if k in manifest)
    enc = manifest.get('encryption') or {}
    covered['encryption'] = dict((k, enc.get(k)) for k in ('version', 'algorithm', 'chunk_size'))
    text = json.dumps(covered, sort_keys=True, separators=(',', ':'), ensure_ascii=True)
    return hmac.new(mac_key, text.encode('ascii'), hashlib.sha256).hexdigest()
