# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turns the `repository` option into a Repository object."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput
from .local import LocalRepository

SCHEMES = ('s3', 'azure', 'gs')
FORMS = 'an absolute directory path, s3://bucket/prefix, azure://container/prefix or gs://bucket/prefix'


def open_repository(params):
    """A local directory (absolute path) or a bucket/container of S3, Azure Blob Storage or Google Cloud Storage.

    params: the module options; the s3_*/aws_*, azure_* and gcs_* ones configure
    the object stores (storage/s3.py, azure.py, gcs.py).
    """
    url = params.get('repository')
    if not url:
        raise BadInput('repository is required: %s.' % FORMS)
    scheme = url.split('://', 1)[0] if '://' in url else None
    if scheme is None:
        return LocalRepository(url)
    if scheme.lower() in SCHEMES and scheme not in SCHEMES:
        raise BadInput('repository %r: write the scheme in lower case, %s://.' % (url, scheme.lower()))
    if scheme == 's3':
        from .s3 import S3Repository
        return S3Repository.from_params(params)
    if scheme == 'azure':
        from .azure import AzureRepository
        return AzureRepository.from_params(params)
    if scheme == 'gs':
        from .gcs import GcsRepository
        return GcsRepository.from_params(params)
    raise BadInput('repository %r: the scheme %s:// is not supported.' % (url, scheme), 'Use %s.' % FORMS)
