"""Turns the `repository` option into a Repository object."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput
from .local import LocalRepository


def open_repository(params):
    """A local directory (absolute path) or an S3-compatible bucket (s3://bucket/prefix).

    params: the module options; the s3_* and aws_* ones configure S3 (storage/s3.py).
    """
    url = params.get('repository')
    if not url:
        raise BadInput('repository is required: an absolute directory path or s3://bucket/prefix.')
    if url.lower().startswith('s3://'):
        if not url.startswith('s3://'):
            raise BadInput('repository %r: write the scheme in lower case, s3://.' % (url,))
        from .s3 import S3Repository
        return S3Repository.from_params(params)
    if '://' in url:
        raise BadInput('repository %r: only local directory paths and s3:// URLs are supported.' % (url,))
    return LocalRepository(url)
