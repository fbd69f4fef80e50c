# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""verify.json: the recorded outcome of the last verification of a backup.

It sits next to the manifest, which never changes after the backup (it may be
authenticated); dbbackup_verify and verify-after-backup write it, dbbackup_info
and prune read it.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ..common.errors import NotFound

VERIFY_NAME = 'verify.json'


def record(repo, path, report):
    """Store a verification report (a JSON-clean dict with 'ok', 'verified_at', 'mode', ...)."""
    repo.write_bytes(path + '/' + VERIFY_NAME, (json.dumps(report, indent=1, sort_keys=True) + '\n').encode('utf-8'))


def verification(repo, path):
    """The recorded outcome of the last verification: (state, verified_at, mode)."""
    try:
        report = json.loads(repo.read_bytes(path + '/' + VERIFY_NAME).decode('utf-8'))
    except NotFound:
        return 'never', None, None
    except (ValueError, UnicodeDecodeError):
        return 'unreadable', None, None
    if not isinstance(report, dict):
        return 'unreadable', None, None
    return ('ok' if report.get('ok') else 'failed'), report.get('verified_at'), report.get('mode')
