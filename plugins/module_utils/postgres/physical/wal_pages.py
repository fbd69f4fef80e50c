# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Does a WAL segment's content belong to its name? Page-header checks (pure, streaming).

Every WAL page (XLOG_BLCKSZ bytes, 8 KiB by default) starts with a header:
xlp_magic (2 bytes, one value per PostgreSQL major version), xlp_info (2),
xlp_tli (4: the timeline the page was written on), xlp_pageaddr (8: the WAL
position of the page) and xlp_rem_len (4), little-endian on the platforms
PostgreSQL archives from. The first page of a segment has the long header,
which adds xlp_sysid (8), xlp_seg_size (4) and xlp_xlog_blcksz (4).

PostgreSQL stops replaying at the first page whose address is not the one it
expects and takes that for the end of the WAL, so a segment stored under the
wrong name (a swapped or copied object) would end a recovery silently. These
checks refuse it first: every page's address must be the segment's start plus
its offset, its timeline at most the name's, and its magic the first page's.
After an XLOG_SWITCH (pg_switch_wal, archive_timeout) PostgreSQL fills the rest
of the segment with zeroed pages: once a page header is all zeros, every later
one must be too. A `.partial` file is checked on its first page only (its tail
may hold whatever the recycled file held before).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct

from .wal_names import SEGMENT_RE, segment_of

_SHORT = struct.Struct('<HHIQI')          # magic, info, tli, pageaddr, rem_len
_LONG = struct.Struct('<HHIQI4xQII')      # ... then sysid, seg_size, xlog_blcksz
XLP_LONG_HEADER = 0x0002
MIN_BLCKSZ = 1 << 10
MAX_BLCKSZ = 1 << 16
_ZERO_HEADER = b'\0' * _SHORT.size


class WalPageError(Exception):
    """What is wrong, in words (the caller names the file and raises its own error)."""


class PageChecker(object):
    """feed() the raw bytes of the WAL file `name` in order; finish() at the end.

    Raises WalPageError. Afterwards .sysid holds the system identifier of the long
    header (int) and .timelines the set of page timelines seen.
    """

    def __init__(self, name, seg_size=None):
        m = SEGMENT_RE.match(name[:24])
        self.name = name
        self.partial = name.endswith('.partial')
        self.tli = int(m.group(1), 16)
        self._seg_size = seg_size
        self._segno = None
        self._buf = bytearray()
        self._offset = 0            # file offset of _buf[0]
        self._next = 0              # file offset of the next page header to check
        self._blcksz = None
        self._magic = None
        self._zeroed_from = None
        self._done = False
        self.sysid = None
        self.timelines = set()

    def feed(self, data):
        if self._done:
            return
        if self._blcksz is None:
            self._buf += data
            if len(self._buf) < _LONG.size:
                return
            self._first_page()
            data, self._buf = bytes(self._buf), bytearray()
        elif self._buf:                 # a page header cut by the previous chunk
            data = bytes(self._buf) + data
            self._buf = bytearray()
        base = self._offset             # file offset of data[0]
        self._offset = base + len(data)
        blck = self._blcksz
        start = self._next - base
        full = (len(data) - start) // blck if start >= 0 else 0
        if full > 0 and self._zeroed_from is None and self._pages_fast(data, start, full):
            self._next += full * blck
        while not self._done and self._next + _SHORT.size <= self._offset:
            self._page(self._next, data, self._next - base)
            self._next += blck
        if not self._done and self._next < self._offset:
            self._buf = bytearray(data[self._next - base:])
            self._offset = self._next

    def _pages_fast(self, data, start, count):
        """Check `count` whole pages from data[start] at once (C-speed slices); False: look page by page."""
        blck = self._blcksz
        view = memoryview(data)[start:start + count * blck]
        try:
            magics = set(view.cast('H')[0::blck // 2].tolist())
            tlis = set(view.cast('I')[1::blck // 4].tolist())
            addrs = view.cast('Q')[1::blck // 8].tolist()
        finally:
            view.release()
        first = self._segno * self._seg_size + self._next
        if magics != {self._magic} or addrs != list(range(first, first + count * blck, blck)) \
                or min(tlis) < 1 or max(tlis) > self.tli:
            return False
        self.timelines.update(tlis)
        if self.partial:
            self._done = True
        return True

    def _first_page(self):
        magic, info, tli, addr, rem, sysid, seg_size, blcksz = _LONG.unpack_from(self._buf, 0)
        if magic == 0 and addr == 0:
            raise WalPageError('its first page is empty (zeros): it is not a WAL segment')
        if not info & XLP_LONG_HEADER:
            raise WalPageError('its first page has no long header: it is not the start of a WAL segment')
        if not MIN_BLCKSZ <= blcksz <= MAX_BLCKSZ or blcksz & (blcksz - 1):
            raise WalPageError('its first page gives a WAL block size of %d bytes' % blcksz)
        if seg_size & (seg_size - 1) or seg_size < blcksz or (self._seg_size and seg_size != self._seg_size):
            raise WalPageError('its first page gives a segment size of %d bytes (expected %s)'
                               % (seg_size, self._seg_size or 'a power of two'))
        self._seg_size = seg_size
        self._segno = segment_of(self.name[:24], seg_size)[1]
        self._blcksz = blcksz
        self._magic = magic
        self.sysid = sysid

    def _page(self, offset, buf, at):
        magic, info, tli, addr, rem = _SHORT.unpack_from(buf, at)
        if self._zeroed_from is not None or (magic == 0 and addr == 0):
            if self._zeroed_from is None:
                if offset == 0:
                    raise WalPageError('its first page is empty')
                self._zeroed_from = offset
            elif bytes(buf[at:at + _SHORT.size]) != _ZERO_HEADER:
                raise WalPageError('the page at offset %d follows empty pages but is not empty (from %d on)'
                                   % (offset, self._zeroed_from))
            return
        expected = self._segno * self._seg_size + offset
        if magic != self._magic:
            raise WalPageError('the page at offset %d has magic %04X, the first page %04X'
                               % (offset, magic, self._magic))
        if addr != expected:
            seg = addr // self._seg_size if self._seg_size else 0
            raise WalPageError('the page at offset %d belongs to WAL position %X/%X (segment number %d), not %X/%X of '
                               'this segment (%d): it is another segment\'s content'
                               % (offset, addr >> 32, addr & 0xFFFFFFFF, seg, expected >> 32,
                                  expected & 0xFFFFFFFF, self._segno))
        if not 1 <= tli <= self.tli:
            raise WalPageError('the page at offset %d was written on timeline %d, after the file\'s timeline %d'
                               % (offset, tli, self.tli))
        self.timelines.add(tli)
        if self.partial:
            self._done = True

    def finish(self, size):
        """size: the file's length; it must be the segment size the first page gives."""
        if self._blcksz is None:
            raise WalPageError('it has %d bytes, less than one WAL page header' % size)
        if size != self._seg_size:
            raise WalPageError('it has %d bytes, its first page says segments have %d' % (size, self._seg_size))
