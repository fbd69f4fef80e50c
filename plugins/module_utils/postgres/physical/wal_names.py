# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL WAL file names and log sequence numbers (pure functions).

A WAL segment is named TTTTTTTTXXXXXXXXYYYYYYYY (24 upper-case hex digits):
timeline, then the segment number split into a "log id" and the segment
within it (there are 0x100000000 / wal_segment_size segments per log id).
Next to segments, an archive holds `<segment>.partial` (the last, unfinished
segment of a timeline that ended on promotion), `<segment>.<offset>.backup`
(backup history) and `<timeline>.history` (timeline history) files.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ...common.errors import BadInput

DEFAULT_SEGMENT_SIZE = 16 << 20
MIN_SEGMENT_SIZE = 1 << 20
MAX_SEGMENT_SIZE = 1 << 30
XLOG_ID_SPACE = 1 << 32

SEGMENT_RE = re.compile(r'^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\Z')
_PARTIAL_RE = re.compile(r'^([0-9A-F]{8})[0-9A-F]{16}\.partial\Z')
_BACKUP_RE = re.compile(r'^([0-9A-F]{8})[0-9A-F]{16}\.[0-9A-F]{8}\.backup\Z')
_HISTORY_RE = re.compile(r'^([0-9A-F]{8})\.history\Z')
_LSN_RE = re.compile(r'^\s*([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})\s*\Z')
KINDS = (('segment', SEGMENT_RE), ('partial', _PARTIAL_RE), ('backup', _BACKUP_RE), ('history', _HISTORY_RE))


def parse_lsn(text):
    """'16/B374D848' -> int."""
    m = _LSN_RE.match(str(text or ''))
    if not m:
        raise BadInput('%r is not a PostgreSQL LSN (two hex numbers separated by /, e.g. 0/3000028).' % (text,))
    return (int(m.group(1), 16) << 32) | int(m.group(2), 16)


def format_lsn(value):
    """int -> '16/B374D848' (the pg_lsn text form)."""
    value = int(value)
    if not 0 <= value < (1 << 64):
        raise BadInput('LSN %r is out of range.' % (value,))
    return '%X/%X' % (value >> 32, value & 0xFFFFFFFF)


def check_segment_size(seg_size):
    """wal_segment_size must be a power of two from 1 MiB to 1 GiB; returns it as int."""
    try:
        seg_size = int(seg_size)
    except (TypeError, ValueError):
        raise BadInput('wal_segment_size must be a number of bytes, got %r.' % (seg_size,))
    if not MIN_SEGMENT_SIZE <= seg_size <= MAX_SEGMENT_SIZE or seg_size & (seg_size - 1):
        raise BadInput('wal_segment_size must be a power of two from 1 MiB to 1 GiB, got %d.' % seg_size)
    return seg_size


def segments_per_id(seg_size):
    return XLOG_ID_SPACE // check_segment_size(seg_size)


def segment_file(tli, segno, seg_size):
    """Name of segment number segno on timeline tli."""
    per = segments_per_id(seg_size)
    return '%08X%08X%08X' % (tli, segno // per, segno % per)


def segment_name(tli, lsn, seg_size):
    """Name of the segment holding lsn (int or 'X/X' text) on timeline tli."""
    if not isinstance(lsn, int):
        lsn = parse_lsn(lsn)
    return segment_file(tli, lsn // check_segment_size(seg_size), seg_size)


def segment_of(name, seg_size):
    """'000000010000000200000003' -> (timeline, segment number); BadInput for other names."""
    m = SEGMENT_RE.match(str(name or ''))
    if not m:
        raise BadInput('%r is not a WAL segment name (24 upper-case hex digits).' % (name,))
    per = segments_per_id(seg_size)
    log_id, seg = int(m.group(2), 16), int(m.group(3), 16)
    if seg >= per:
        raise BadInput('%s is not a valid segment name for wal_segment_size %d (segment part %X >= %X).'
                       % (name, seg_size, seg, per))
    return int(m.group(1), 16), log_id * per + seg


def segment_start_lsn(segno, seg_size):
    return segno * check_segment_size(seg_size)


def wal_kind(name):
    """'segment', 'partial', 'backup' or 'history' for a valid archive name, else None."""
    for kind, regex in KINDS:
        m = regex.match(name) if isinstance(name, str) else None
        if m and int(m.group(1), 16) != 0:
            return kind
    return None


def check_wal_name(name):
    """The name when it is a WAL archive file name PostgreSQL uses; BadInput otherwise.

    Only these four shapes pass, so a name can never hold a path separator, '..',
    white space or anything a shell or a repository path would interpret.
    """
    if wal_kind(name) is None:
        raise BadInput('%r is not a WAL file name.' % (name,),
                       'Expected a segment (24 upper-case hex digits), <segment>.partial, '
                       '<segment>.<offset>.backup or <timeline>.history, as PostgreSQL passes in %f.')
    return name


def timeline_of(name):
    """The timeline (int) a WAL archive name belongs to (its first 8 hex digits)."""
    return int(check_wal_name(name)[:8], 16)


def timeline_dir(name):
    """The archive directory of a WAL file: its first 8 hex digits."""
    return check_wal_name(name)[:8]


def history_name(tli):
    return '%08X.history' % tli
