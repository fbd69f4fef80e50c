# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Points in time as the engine writes and reads them: UTC, ISO 8601, user input, ages.

Manifests store UTC times as '2026-01-31T12:00:00.000000Z' (isoformat/parse_iso);
users give times with or without an offset (parse_user_time) and ages as '12h'
(parse_max_age).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re

from .errors import BadInput

_AGE_RE = re.compile(r'^\s*(\d+)\s*([smhdw]?)\s*\Z')
_AGE_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def isoformat(ts):
    return ts.strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def parse_iso(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)


def parse_user_time(value, option):
    """A point in time a user gives -> aware UTC datetime; no offset means UTC.

    Accepts '2025-01-31 12:00:00[.ffffff]' with an optional offset ('+01:00', '+01', 'Z'),
    as fromisoformat of Python 3.11 does, also on older Pythons.
    """
    if isinstance(value, datetime.datetime):
        ts = value
    else:
        text = str(value).strip().replace(' ', 'T', 1)
        if text[-1:] in ('Z', 'z'):
            text = text[:-1] + '+00:00'
        m = re.match(r'^(.*[T\d:.])([+-]\d\d)$', text)   # '+01' -> '+01:00'
        if m:
            text = m.group(1) + m.group(2) + ':00'
        try:
            ts = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise BadInput('%s must look like 2025-01-31 12:00:00 (UTC) or carry an offset '
                           '(2025-01-31T13:00:00+01:00), got %r.' % (option, value))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=datetime.timezone.utc)
    return ts.astimezone(datetime.timezone.utc)


def parse_max_age(value):
    """'90s', '30m', '12h', '2d', '1w' or a number of seconds -> seconds (int) or None."""
    if value in (None, ''):
        return None
    if isinstance(value, int):
        seconds = value
    else:
        m = _AGE_RE.match(str(value))
        if not m:
            raise BadInput('max_age must be a number of seconds or a number with s, m, h, d or w '
                           '(for example 12h), got %r.' % (value,))
        seconds = int(m.group(1)) * _AGE_UNITS[m.group(2)]
    if seconds <= 0:
        raise BadInput('max_age must be positive, got %r.' % (value,))
    return seconds
