# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Third-party imports, guarded in one place.

The engine runs inside AnsiballZ on managed hosts and as the host CLI; a
library missing there must become one clear "install X" message, not an
ImportError traceback at import time of an unrelated module.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib
import sys
import threading

from .errors import MissingDependency

# import name -> pip distribution name shown to the user
_DISTRIBUTIONS = {
    'psycopg2': 'psycopg2-binary (or psycopg2)',
    'zstandard': 'zstandard',
    'pymysql': 'PyMySQL',
    'boto3': 'boto3',
    'botocore': 'boto3',
    'azure': 'azure-storage-blob',
    'azure.storage.blob': 'azure-storage-blob',
    'azure.core': 'azure-storage-blob',
    'azure.identity': 'azure-identity (for managed identity or a service principal)',
    'google.cloud.storage': 'google-cloud-storage',
    'google.auth': 'google-cloud-storage',
    'cryptography': 'cryptography',
    'prometheus_client': 'prometheus-client',
}
_cache = {}
_rsa_lock = threading.Lock()


def require(name):
    """Import and return module `name`, or raise MissingDependency."""
    if name in _cache:
        return _cache[name]
    try:
        mod = _import_pymysql() if name == 'pymysql' else importlib.import_module(name)
    except ImportError as e:
        top = name.split('.')
        dist = next((_DISTRIBUTIONS[n] for n in ('.'.join(top[:i]) for i in range(len(top), 0, -1))
                     if n in _DISTRIBUTIONS), name)
        raise MissingDependency(dist, e)
    _cache[name] = mod
    return mod


def _import_pymysql():
    """PyMySQL, without importing cryptography until a login needs it.

    pymysql._auth imports cryptography when it loads (about 20 ms of every MySQL command) for
    one thing only: RSA-encrypting the password of sha256_password / caching_sha2_password
    logins over a connection without TLS (sha2_rsa_encrypt). It treats cryptography as
    optional (PyMySQL[rsa]): without it, it loads and only that function fails. So PyMySQL is
    imported with cryptography hidden (unless something loaded it already), and the first call
    of sha2_rsa_encrypt reloads pymysql._auth with cryptography, as PyMySQL itself would have
    loaded it, and calls the reloaded function. A PyMySQL without that function is reloaded
    at once (nothing deferred).
    """
    hidden = 'cryptography' not in sys.modules
    if hidden:
        sys.modules['cryptography'] = None         # "import cryptography..." raises ImportError
    try:
        mod = importlib.import_module('pymysql')
    finally:
        if hidden and sys.modules.get('cryptography', 0) is None:
            del sys.modules['cryptography']
    auth = sys.modules.get('pymysql._auth')
    if not hidden or auth is None or getattr(auth, '_have_cryptography', True):
        return mod
    if not callable(getattr(auth, 'sha2_rsa_encrypt', None)):
        importlib.reload(auth)
        return mod

    def sha2_rsa_encrypt(password, salt, public_key):
        with _rsa_lock:
            if auth.sha2_rsa_encrypt is sha2_rsa_encrypt:
                importlib.reload(auth)              # with cryptography now (PyMySQL's own error if absent)
        return auth.sha2_rsa_encrypt(password, salt, public_key)

    auth.sha2_rsa_encrypt = sha2_rsa_encrypt
    return mod
