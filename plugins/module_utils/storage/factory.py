"""Turns the `repository` option into a Repository object."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..errors import BadInput
from .local import LocalRepository


def open_repository(params):
    url = params.get('repository')
    if not url:
        raise BadInput('repository is required: an absolute directory path.')
    if url.startswith('s3://'):
        raise BadInput('S3 repositories are not supported by this version yet; use a local directory path.')
    return LocalRepository(url)
