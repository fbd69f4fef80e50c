# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One exception hierarchy whose messages are shown to users as they are.

Every failure a user can cause is raised as a DbBackupError subclass with a
message that says what was wrong and what to do. Modules turn it into
fail_json(msg=...), the CLI prints it and exits non-zero.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class DbBackupError(Exception):
    """Base class: str(error) is the complete user-facing message."""

    def __init__(self, message, hint=None):
        self.message = message
        self.hint = hint
        message = message.rstrip()
        # one sentence end before the hint: '...connections?' stays, 'x' becomes 'x.'
        end = message if message.endswith(('.', '?', '!', ':')) else message + '.'
        full = message if not hint else '%s %s' % (end, hint)
        super(DbBackupError, self).__init__(full)


class MissingDependency(DbBackupError):
    """A required Python library is not installed where the engine runs."""

    def __init__(self, library, error=None):
        self.library = library
        self.error = error
        super(MissingDependency, self).__init__(
            'The Python library %s is required but could not be imported (%s).' % (library, error),
            'Install it on the host that runs the engine: pip install -r requirements.txt.')


class BadInput(DbBackupError):
    """An option value is invalid."""


class ConnectionFailed(DbBackupError):
    """The database server could not be reached or refused the login."""


class NotFound(DbBackupError):
    """A database, backup or repository path does not exist."""


class TargetExists(DbBackupError):
    """A restore target exists and the user did not ask to replace it."""


class IntegrityError(DbBackupError):
    """Stored bytes do not match the manifest (corrupt, truncated or tampered)."""


class BackupFailed(DbBackupError):
    """Dumping failed; nothing complete was written."""


class RestoreFailed(DbBackupError):
    """Restoring failed; the target was left as it was."""


class WrongKey(BadInput):
    """The encryption key or passphrase given is not the one a backup was encrypted with."""


class RepositoryUnreachable(DbBackupError):
    """The repository endpoint (e.g. S3) could not be reached, after retries."""


class RepositoryAccessDenied(DbBackupError):
    """The repository refused the credentials or the operation (bad keys, missing permissions)."""


def name_some(labels, limit=20):
    """'a, b, c', or the first `limit` labels and 'and N more': messages name objects, not thousands."""
    labels = list(labels)
    if len(labels) <= limit:
        return ', '.join(labels)
    return '%s and %d more' % (', '.join(labels[:limit]), len(labels) - limit)
