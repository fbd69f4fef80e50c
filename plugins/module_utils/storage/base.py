# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every repository offers the engine (local directory, S3, ...).

Paths are relative, '/'-separated. open_write() returns an AtomicFile whose
content becomes visible only on commit(): a reader never sees a partial file.

open_write(relpath, if_absent=True) publishes only when nothing exists under
relpath at the moment of publication (no check-then-write window): a local
hard link, S3 If-None-Match: * on PutObject / CompleteMultipartUpload. Its
commit() returns False when something was there (nothing is overwritten and
the new content is dropped); the caller re-reads what is stored.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

# The file that commits a backup directory (written last; format/manifest.py). Repositories keep it
# immediately readable (S3: never in an archive storage class) so listing and planning always work.
MANIFEST_NAME = 'manifest.json'


class AtomicFile(object):
    """Writable whose content is published by commit() and dropped by abort()."""

    def write(self, data):
        raise NotImplementedError

    def commit(self):
        """Publish; True, or False when opened with if_absent and relpath existed (nothing written)."""
        raise NotImplementedError

    def abort(self):
        raise NotImplementedError


class Repository(object):
    """Interface; see storage/local.py for the reference implementation."""

    url = None

    def open_write(self, relpath, if_absent=False):
        raise NotImplementedError

    def open_read(self, relpath):
        raise NotImplementedError

    def write_bytes(self, relpath, data, if_absent=False):
        """Write a small file; returns commit()'s result (False: if_absent and it existed)."""
        f = self.open_write(relpath, if_absent=if_absent)
        try:
            f.write(data)
        except BaseException:
            f.abort()
            raise
        return f.commit()

    def read_bytes(self, relpath):
        f = self.open_read(relpath)
        try:
            return f.read()
        finally:
            f.close()

    def exists(self, relpath):
        raise NotImplementedError

    def list_dir(self, relpath):
        """Names directly below relpath (files and directories); [] if absent."""
        raise NotImplementedError

    def list_names(self, relpath, startswith):
        """Names of the files directly below relpath that start with `startswith` (sorted).

        Object stores answer it with one prefix LIST request, however large the directory.
        """
        return [n for n in self.list_dir(relpath) if n.startswith(startswith)]

    def file_sizes(self, relpath):
        """{path below relpath: size in bytes} of every file under relpath (all levels); {} if absent."""
        raise NotImplementedError

    def modified_at(self, relpath):
        """When relpath was last written (aware UTC datetime), or None when absent or unknown."""
        return None

    def is_link(self, relpath):
        """True when relpath, or a directory on the way to it, is a symbolic link (never followed
        by deletes; object stores have none)."""
        return False

    def delete_tree(self, relpath):
        raise NotImplementedError

    def delete_file(self, relpath):
        """Delete one file; True when it is gone (also when it was not there)."""
        raise NotImplementedError

    def incomplete_uploads(self, relpath):
        """Unfinished uploads below relpath: [{'path', 'upload_id', 'initiated' (aware datetime)}].

        Only object stores have them (S3 multipart uploads); a directory has none.
        """
        return []

    def abort_upload(self, relpath, upload_id):
        raise NotImplementedError

    def reserve_dir(self, relpath):
        """Create relpath if it does not exist; False if it already existed."""
        raise NotImplementedError

    def location(self, relpath):
        """A string users can read: where relpath lives."""
        raise NotImplementedError
