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


def require(name):
    """Import and return module `name`, or raise MissingDependency."""
    if name in _cache:
        return _cache[name]
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        top = name.split('.')
        dist = next((_DISTRIBUTIONS[n] for n in ('.'.join(top[:i]) for i in range(len(top), 0, -1))
                     if n in _DISTRIBUTIONS), name)
        raise MissingDependency(dist, e)
    _cache[name] = mod
    return mod
