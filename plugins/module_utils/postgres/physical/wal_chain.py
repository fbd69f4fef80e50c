# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is the WAL archive complete from a base backup on? Gaps, timelines, last segment.

The pure part (parse_history, expected_timelines, plan_chain) works on names
and history text only, so it is tested without a repository; list_archive
and check_chain add the repository listing (local or S3) and reading the
history files (which may be compressed and encrypted like every archived file).

Timelines follow PostgreSQL's rule (XLogFileReadAnyTLI): segment number s is
read from the newest timeline of the target's history whose begin point lies
in a segment <= s. So segments before a switch come from the parent timeline,
the segment holding the switch point and those after it from the child.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import BadInput, IntegrityError, NotFound
from ...format.backups import wal_path
from .wal_names import check_segment_size, format_lsn, history_name, parse_lsn, segment_file, segment_of, wal_kind

_TLI_DIR_LEN = 8


# --- pure functions ---------------------------------------------------------------------

def parse_history(text):
    """Timeline history file text -> [{'parent': tli, 'switch_lsn': int, 'switchpoint': 'X/X', 'reason': str}].

    Each line is `<parent tli> <switch point LSN> <reason>` (tab separated);
    '#' comments and blank lines are ignored. Entries come oldest first and
    their timelines must increase (PostgreSQL's own check).
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        fields = stripped.split(None, 2)
        if len(fields) < 2 or not fields[0].isdigit():
            raise IntegrityError('Timeline history line %d is not "<timeline> <LSN> <reason>": %r.'
                                 % (number, line[:200]))
        try:
            lsn = parse_lsn(fields[1])
        except BadInput:
            raise IntegrityError('Timeline history line %d has an invalid switch point %r.' % (number, fields[1]))
        tli = int(fields[0])
        if entries and tli <= entries[-1]['parent']:
            raise IntegrityError('Timeline history: timeline IDs must increase (line %d).' % number)
        entries.append({'parent': tli, 'switch_lsn': lsn, 'switchpoint': format_lsn(lsn),
                        'reason': fields[2].strip() if len(fields) > 2 else ''})
    return entries


def expected_timelines(timeline, history):
    """[(tli, begin_lsn, end_lsn or None)] for the target timeline, oldest first (begin 0 for the first)."""
    spans = []
    begin = 0
    for entry in history:
        spans.append((entry['parent'], begin, entry['switch_lsn']))
        begin = entry['switch_lsn']
    spans.append((timeline, begin, None))
    return spans


def timeline_for_segment(segno, spans, seg_size):
    """The timeline segment segno is read from (the newest span beginning in a segment <= segno)."""
    for tli, begin, dummy in reversed(spans):
        if begin // seg_size <= segno:
            return tli
    return spans[0][0]


def _choose_timeline(archive, histories, start_tli, start_lsn):
    """The newest archived timeline whose history passes through (start_tli, start_lsn)."""
    best = start_tli
    for tli in sorted(set(archive) | set(histories)):
        if tli <= best or tli not in histories:
            continue
        if _on_history(histories[tli], tli, start_tli, start_lsn):
            best = tli
    return best


def _on_history(history, timeline, start_tli, start_lsn):
    if start_tli == timeline:
        return True
    for entry in history:
        if entry['parent'] == start_tli:
            return start_lsn < entry['switch_lsn']
    return False


def plan_chain(archive, start_wal_file, seg_size, histories=None, timeline=None, end_wal_file=None):
    """Check the chain of segments from start_wal_file (pure: names and parsed histories only).

    archive: {tli: [archived names]} (list_archive); histories: {tli: parse_history(...)} for the
    timelines whose history file could be read. Returns the dict check_chain documents.
    """
    seg_size = check_segment_size(seg_size)
    histories = histories or {}
    start_tli, start_segno = segment_of(start_wal_file, seg_size)
    start_lsn = start_segno * seg_size
    problems = []
    if timeline is None:
        timeline = _choose_timeline(archive, histories, start_tli, start_lsn)
    timeline = int(timeline)
    history = histories.get(timeline, [])
    if timeline != start_tli and timeline not in histories:
        problems.append('the history file %s of timeline %d is not in the archive' % (history_name(timeline), timeline))
        history = []
    spans = expected_timelines(timeline, history)
    if timeline != start_tli and history and not _on_history(history, timeline, start_tli, start_lsn):
        problems.append('timeline %d does not descend from timeline %d at %s (where the backup starts)'
                        % (timeline, start_tli, start_wal_file))
    present = dict((tli, set(n for n in names if wal_kind(n) == 'segment')) for tli, names in archive.items())

    def expected_name(segno):
        return segment_file(timeline_for_segment(segno, spans, seg_size), segno, seg_size)

    def archived(segno):
        name = expected_name(segno)
        return name in present.get(int(name[:_TLI_DIR_LEN], 16), ())

    # the last segment that belongs to this chain: the end asked for, else the newest on the path
    if end_wal_file:
        end_segno = segment_of(end_wal_file, seg_size)[1]
        if expected_name(end_segno) != end_wal_file:
            problems.append('%s is not on the path of timeline %d (expected %s there)'
                            % (end_wal_file, timeline, expected_name(end_segno)))
        if end_segno < start_segno:
            raise BadInput('end_wal_file %s lies before start_wal_file %s.' % (end_wal_file, start_wal_file))
    else:
        end_segno = start_segno
        for names in present.values():
            for name in names:
                segno = segment_of(name, seg_size)[1]
                if segno > end_segno and expected_name(segno) == name:
                    end_segno = segno
    gaps = []
    last = None
    contiguous = 0
    gap_open = None
    for segno in range(start_segno, end_segno + 1):
        if archived(segno):
            if gap_open is not None:
                gaps.append({'after': gap_open[0], 'missing_from': expected_name(gap_open[1]),
                             'missing_to': expected_name(segno - 1)})
                gap_open = None
            if not gaps:
                last = expected_name(segno)
                contiguous += 1
        elif gap_open is None:
            prev = expected_name(segno - 1) if segno > start_segno else None
            gap_open = (prev, segno)
    if gap_open is not None:
        gaps.append({'after': gap_open[0], 'missing_from': expected_name(gap_open[1]),
                     'missing_to': expected_name(end_segno)})
    last_archived = None
    for segno in range(end_segno, start_segno - 1, -1):
        if archived(segno):
            last_archived = expected_name(segno)
            break
    return {'ok': not gaps and not problems and last is not None, 'timeline': timeline,
            'first': start_wal_file if archived(start_segno) else None, 'last': last,
            'last_archived': last_archived, 'gaps': gaps, 'history': history, 'segments': contiguous,
            'problems': problems, 'wal_segment_size': seg_size,
            'timelines': [{'timeline': t, 'begin_lsn': format_lsn(b), 'end_lsn': format_lsn(e) if e is not None
                           else None} for t, b, e in spans]}


# --- the repository part ----------------------------------------------------------------

def list_archive(repo, server_name):
    """{timeline (int): [WAL names, sorted]} of everything archived for the server."""
    from .wal_archive import parse_stored_name
    base = wal_path(server_name)
    out = {}
    for entry in repo.list_dir(base):
        if len(entry) != _TLI_DIR_LEN or entry.startswith('.'):
            continue
        try:
            tli = int(entry, 16)
        except ValueError:
            continue
        if '%08X' % tli != entry or tli == 0:
            continue
        names = set()
        for stored in repo.list_dir('%s/%s' % (base, entry)):
            if stored.startswith('.'):
                continue           # a temporary file of a push in progress
            parsed = parse_stored_name(stored)
            if parsed and parsed[0].startswith(entry):
                names.add(parsed[0])
        if names:
            out[tli] = sorted(names)
    return out


def read_histories(repo, server_name, archive, encryption=None):
    """{tli: parse_history(...)} for every history file in the archive listing."""
    from .wal_archive import read_wal_bytes
    histories = {}
    for tli, names in archive.items():
        name = history_name(tli)
        if name in names:
            histories[tli] = parse_history(read_wal_bytes(repo, server_name, name, encryption))
    return histories


def check_chain(repo, server_name, start_wal_file, seg_size, timeline=None, end_wal_file=None, encryption=None,
                archive=None):
    """Check the archive of server_name from start_wal_file (a base backup's start) on.

    Returns {'ok', 'timeline', 'first', 'last' (end of the contiguous chain), 'last_archived',
    'gaps': [{'after', 'missing_from', 'missing_to'}], 'history', 'segments', 'problems',
    'timelines', 'wal_segment_size'}. encryption: a keys.KeySource, needed only when history
    files are archived encrypted. archive: list_archive()'s result when the caller has it
    already (one listing of a large archive is enough).
    """
    if archive is None:
        archive = list_archive(repo, server_name)
    if not archive:
        raise NotFound('The WAL archive %s is empty.' % repo.location(wal_path(server_name)),
                       'Set archive_command (docs/wal.md) and check pg_stat_archiver.')
    histories = read_histories(repo, server_name, archive, encryption)
    return plan_chain(archive, start_wal_file, seg_size, histories, timeline, end_wal_file)
