# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A repository in a local directory: 0700 directories, 0600 files.

Writes go to a hidden temporary name in the same directory, are fsynced and
renamed into place, and the directory is fsynced, so a crash leaves either
the old state or the complete new file, never a partial one under its name.
A killed writer leaves the hidden temporary file (TMP_MARKER in its name);
prune removes such leftovers in the WAL archive after the grace period.

With if_absent the finished file is hard-linked to its name instead of
renamed: link() fails with EEXIST when the name exists, so even two
concurrent writers cannot replace each other's file.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import errno
import os
import shutil
import stat
import uuid

from ..common.errors import BadInput, NotFound, DbBackupError
from .base import AtomicFile, Repository

DIR_MODE = 0o700
FILE_MODE = 0o600
TMP_MARKER = '.tmp-'          # hidden temporary files: .<name>.tmp-<12 hex>


def fsync_dir(path):
    """Make a rename in path durable (also used for wal-fetch's destination)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _storage_error(e, path):
    if e.errno == errno.ENOSPC:
        return DbBackupError('The repository disk is full while writing %s.' % path,
                             'Free space or use another repository; nothing partial was kept.')
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DbBackupError('Permission denied writing %s (%s).' % (path, e.strerror),
                             'Check the owner and mode of the repository directory.')
    return DbBackupError('Writing %s failed: %s.' % (path, e))


class LocalAtomicFile(AtomicFile):
    def __init__(self, final_path, if_absent=False):
        self.final_path = final_path
        self.if_absent = if_absent
        d, name = os.path.split(final_path)
        self.tmp_path = os.path.join(d, '.%s%s%s' % (name, TMP_MARKER, uuid.uuid4().hex[:12]))
        fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        self._f = os.fdopen(fd, 'wb', buffering=0)
        self._done = False

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as e:
            raise _storage_error(e, self.final_path)

    def flush(self):
        pass

    def commit(self):
        if self._done:
            raise ValueError('commit of a committed or aborted repository file')
        try:
            os.fsync(self._f.fileno())
            self._f.close()
            if self.if_absent:
                try:
                    os.link(self.tmp_path, self.final_path)
                except FileExistsError:
                    self.abort()
                    return False
                os.unlink(self.tmp_path)
            else:
                os.rename(self.tmp_path, self.final_path)
            fsync_dir(os.path.dirname(self.final_path))
        except OSError as e:
            self.abort()
            raise _storage_error(e, self.final_path)
        self._done = True
        return True

    def abort(self):
        if self._done:
            return
        self._done = True
        try:
            self._f.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp_path)
        except OSError:
            pass


class LocalRepository(Repository):
    def __init__(self, root):
        if not root or not os.path.isabs(root):
            raise BadInput('repository must be an absolute directory path or s3://bucket/prefix, got %r.' % (root,))
        self.root = os.path.normpath(root)
        self.url = self.root

    def _path(self, relpath):
        parts = [p for p in relpath.split('/') if p]
        if any(p in ('.', '..') for p in parts):
            raise BadInput('Invalid repository path %r.' % relpath)
        return os.path.join(self.root, *parts)

    def _makedirs(self, path):
        if os.path.isdir(path):
            return
        parent = os.path.dirname(path)
        if parent != path:
            self._makedirs(parent)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            pass
        except OSError as e:
            raise _storage_error(e, path)

    def open_write(self, relpath, if_absent=False):
        path = self._path(relpath)
        self._makedirs(os.path.dirname(path))
        try:
            return LocalAtomicFile(path, if_absent=if_absent)
        except OSError as e:
            raise _storage_error(e, path)

    def open_read(self, relpath):
        path = self._path(relpath)
        try:
            return open(path, 'rb')
        except FileNotFoundError:
            raise NotFound('Backup file %s is missing from the repository.' % path,
                           'The backup is incomplete or was pruned; restore another backup_id.')
        except OSError as e:   # e.g. the archive_command's user may not read what a backup run created
            raise DbBackupError('Cannot read %s (%s).' % (path, e.strerror or e),
                                'Check the owner and mode of the repository directory for the user running dbbackup.')

    def exists(self, relpath):
        return os.path.exists(self._path(relpath))

    def list_dir(self, relpath):
        try:
            return sorted(os.listdir(self._path(relpath)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as e:
            raise DbBackupError('Cannot list %s (%s).' % (self._path(relpath), e.strerror or e),
                                'Check the owner and mode of the repository directory for the user running dbbackup.')

    def file_sizes(self, relpath):
        top = self._path(relpath)
        out = {}
        for root, dirs, files in os.walk(top):       # never follows links to directories
            for name in files:
                full = os.path.join(root, name)
                st = os.lstat(full)
                if stat.S_ISREG(st.st_mode):
                    out[os.path.relpath(full, top).replace(os.sep, '/')] = st.st_size
        return out

    def modified_at(self, relpath):
        try:
            mtime = os.lstat(self._path(relpath)).st_mtime
        except OSError:
            return None
        return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc)

    def is_link(self, relpath):
        path = self.root
        for part in [p for p in relpath.split('/') if p]:
            path = os.path.join(path, part)
            if os.path.islink(path):
                return True
        return False

    def delete_tree(self, relpath):
        """Remove relpath and what is below it; a link on the way is never followed (nothing removed)."""
        if self.is_link(relpath):
            return
        shutil.rmtree(self._path(relpath), ignore_errors=True)   # unlinks links inside, never follows them

    def delete_file(self, relpath):
        if self.is_link(relpath):
            return False
        try:
            os.unlink(self._path(relpath))
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True

    def reserve_dir(self, relpath):
        path = self._path(relpath)
        self._makedirs(os.path.dirname(path))
        try:
            os.mkdir(path, DIR_MODE)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            raise _storage_error(e, path)

    def location(self, relpath):
        return self._path(relpath)
