# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading a table's rows from the server into chunk files (the SELECTs are row_sql.py's).

batch     one query per key range returns COUNT(*) and the range's lines joined by the
          server (GROUP_CONCAT): the client copies ~2 MiB per query and does nothing per
          row, except escaping the values that come raw (marker, length, bytes; found by
          a memchr scan). The range adapts to the lines' size; a result that was cut
          (group_concat_max_len) or lost a line is fetched again in smaller ranges, and
          rows whose line holds a lone marker (a value too long for a line) are fetched
          again row-wise.
row-wise  one unbuffered query, rows read straight from the socket (PyMySQL's own row
          decoding costs several times more), written every FETCH_ROWS rows or BATCH_BYTES,
          whichever comes first. A row is the line plus one column per
          long-capable column; a marked value arrives raw and is escaped here, in
          pieces when its row spans several 16 MiB packets: any size round-trips
          with bounded memory.

Files roll over at CHUNK_BYTES, always between rows.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import queue
import threading

from ...common.deps import require
from ...common.errors import BackupFailed, IntegrityError
from .data import escape
from .row_sql import MARKER, RAW_DIGITS, batch_sql_head, line_bytes, rowwise_sql

CHUNK_BYTES = 256 * 1024 * 1024
FETCH_ROWS = 2000
BATCH_BYTES = 2 * 1024 * 1024
BATCH_LIMIT = 16 * 1024 * 1024          # group_concat_max_len of dump sessions (or max_allowed_packet)
MAX_PACKET = 0xFFFFFF
STREAM_PIECE = 1 << 20
PIPELINE = 2                            # batch queries in flight per session


class Cancelled(Exception):
    """The run was stopped (another task failed) between two queries of this one."""


class ChunkSink(object):
    """Writes lines into numbered chunk files: open_file(n) -> writer, and on_file_done(writer, rows,
    n, facts) with facts {'enum_zeros': {column: count}} when the file holds ENUM index 0 values."""

    def __init__(self, open_file, on_file_done, chunk_bytes=None):
        self.open_file = open_file
        self.on_file_done = on_file_done
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.chunk = 1
        self.rows = 0
        self.bytes = 0
        self.total = 0
        self.zeros = {}
        self.writer = open_file(1)

    def write(self, data, rows, zeros=None):
        """data: whole lines (rows > 0) or a piece of one line (rows == 0, never a roll-over point);
        zeros: {column: ENUM index 0 values in these lines}."""
        self.writer.write(data)
        self.bytes += len(data)
        self.rows += rows
        self.total += rows
        for column, n in (zeros or {}).items():
            if n:
                self.zeros[column] = self.zeros.get(column, 0) + n
        if rows and self.bytes >= self.chunk_bytes:
            self._done()
            self.chunk += 1
            self.rows = self.bytes = 0
            self.writer = self.open_file(self.chunk)

    def _done(self):
        writer, self.writer = self.writer, None
        self.on_file_done(writer, self.rows, self.chunk, {'enum_zeros': self.zeros} if self.zeros else {})
        self.zeros = {}

    def close(self):
        self._done()

    def abort(self):
        if self.writer is not None:
            self.writer.abort()
            self.writer = None


class KeyRanges(object):
    """The key range [lo, hi) of table.split_key, handed out in pieces to the readers of a table:
    several sessions can share one (each takes the next range when it sends a query), so they
    finish the table together, whatever the density of its keys."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi
        self.next = lo
        self.lock = threading.Lock()

    def take(self, step):
        """The next range of at most step keys, or None when all were taken."""
        with self.lock:
            if self.next >= self.hi:
                return None
            lo = self.next
            self.next = min(self.hi, lo + step)
            return lo, self.next


def dump_table(conn, database, table, open_file, on_file_done, bounds=None, where='', chunk_bytes=None):
    """Stream a table's rows into chunk files; returns the number of rows.

    bounds: (lo, hi) of table.split_key (hi exclusive), or a KeyRanges shared with other sessions,
    for the batch way; else row-wise with where.
    """
    if isinstance(bounds, tuple):
        bounds = KeyRanges(*bounds) if bounds[0] is not None else None
    sink = AsyncSink(ChunkSink(open_file, on_file_done, chunk_bytes))
    try:
        reader = TableReader(conn, database, table, sink)
        if bounds is not None:
            reader.batches(bounds)
        else:
            reader.rowwise(where)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return sink.total


class AsyncSink(object):
    """Hands lines to a ChunkSink in a second thread: the next query runs on the server while
    these lines are compressed, hashed and written (zstd and hashlib release the GIL).
    At most DEPTH writes wait, so memory stays bounded."""

    DEPTH = 4

    def __init__(self, sink):
        self.sink = sink
        self.total = 0
        self.error = None
        self.stopped = False
        self.queue = queue.Queue(self.DEPTH)
        self.thread = threading.Thread(target=self._run, name=threading.current_thread().name + '-write')
        self.thread.daemon = True
        self.thread.start()

    def _run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is None and not self.stopped:
                try:
                    self.sink.write(*item)
                except BaseException as e:      # handed to the reader at its next write or close
                    self.error = e

    def write(self, data, rows, zeros=None):
        if self.error is not None:
            raise self.error
        self.total += rows
        self.queue.put((data, rows, zeros))

    def close(self):
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        self.sink.close()

    def abort(self):
        self.stopped = True
        self.queue.put(None)
        self.thread.join()
        self.sink.abort()


class TableReader(object):
    def __init__(self, conn, database, table, sink):
        self.conn = conn
        self.database = database
        self.table = table
        self.sink = sink
        self.specs = table.specs
        self.long_fields = [i for i, c in enumerate(self.specs) if c.long_capable]
        self.zero_columns = [c.name for c in self.specs if c.counts_zero]
        self.sticky_rowwise = False
        self.limit = getattr(conn, 'group_concat_limit', BATCH_LIMIT)
        self.max_packet = getattr(conn, 'max_packet', None)
        bound = line_bytes(self.specs, self.max_packet)
        self.count_lines = self.max_packet is None or bound is None or bound > self.max_packet // 2
        self._batch_sql = None

    def _check_cancelled(self):
        if getattr(self.conn, 'cancelled', False):
            raise Cancelled('cancelled')

    # --- batches ------------------------------------------------------------------
    def batches(self, ranges, step=None, depth=PIPELINE):
        """Rows of the KeyRanges by batch queries, `depth` of them in flight: the next query is sent
        before the result of the last one is read, so the server computes it meanwhile."""
        key = self.table.split_key
        span = max(1, ranges.hi - ranges.lo)
        if step is None:
            rows_per_key = float(self.table.rows or 1) / span
            line_bytes = max(8.0, 0.5 * self.table.size / max(1, self.table.rows))
            step = max(1, int(BATCH_BYTES / line_bytes / max(rows_per_key, 1e-6)))
        sent = collections.deque()
        while True:
            self._check_cancelled()
            while len(sent) < depth and not self.sticky_rowwise:
                taken = ranges.take(step)
                if taken is None:
                    break
                if self._batch_sql is None:
                    self._batch_sql = batch_sql_head(self.specs, self.database, self.table.name, key,
                                                     self.max_packet)
                self._send(self._batch_sql % (taken[0], taken[1] - 1))
                sent.append(taken)
            if not sent:
                break
            rlo, rhi = sent.popleft()
            result = self._batch_result()
            count, data = result[0], result[1]
            if not count:
                step = min(step * 4, span)                  # sparse keys: larger ranges, quickly
                continue
            complete = self._complete(result)
            if complete:
                # the next range from the size of this one's lines (not from `step`: queries in flight,
                # or the last range of a table, were sent with another one)
                size = rhi - rlo
                step = max(1, size // 4, min(size * 4, int(size * BATCH_BYTES / max(1, len(data)))))
                if not result[4]:
                    self.sink.write(data + b'\n', count, result[2])
                    continue
            # cut, or holding marked lines: the connection is needed, so read what is in flight first
            held = [(r, self._batch_result()) for r in sent]
            sent.clear()
            if not complete:
                step = max(1, (rhi - rlo) // 4)
            for (r_lo, r_hi), res in [((rlo, rhi), result)] + held:
                self._handle(r_lo, r_hi, res)
        while self.sticky_rowwise:                          # row-wise from here on, still range by range
            self._check_cancelled()
            taken = ranges.take(step)
            if taken is None:
                break
            self._rowwise_range(*taken)

    def _complete(self, result):
        """Not cut by group_concat_max_len, and no line lost (counted unless no line can be NULL)."""
        count, data, _zeros, cut, _marked = result
        return not cut and (not self.count_lines or data.count(b'\n') + 1 == count)

    def _plain(self, result):
        return self._complete(result) and not result[4]

    def _handle(self, lo, hi, result):
        """A batch result read while nothing else is in flight."""
        count, data, zeros, _cut, _marked = result
        if not count:
            return
        if self._plain(result):
            self.sink.write(data + b'\n', count, zeros)
        elif self._complete(result):
            self._with_marked(data, count, zeros, lo, hi)
        elif hi - lo > 1:                                   # cut by group_concat_max_len: smaller ranges
            self.batches(KeyRanges(lo, hi), step=max(1, (hi - lo) // 4), depth=1)
        else:
            self._rowwise_range(lo, hi)

    def _send(self, sql):
        pymysql = require('pymysql')
        self.conn._execute_command(pymysql.constants.COMMAND.COM_QUERY, sql.encode('utf-8'))

    def _batch_result(self):
        """(COUNT, joined lines, {column: ENUM index-0 count}, cut, marked) of a batch query, read from
        the socket (PyMySQL's reader checks packet numbers, which pipelined queries do not follow).
        Unless group_concat_max_len cut the lines (cut), their raw values are escaped, and marked says
        whether a lone marker is left (_escape_raw)."""
        pymysql = require('pymysql')
        read = self.conn._rfile.read
        first = _read_payload(read)
        if first[0] == 0xFF:
            pymysql.err.raise_mysql_exception(first)
        for _n in range(_lenenc(first, 0)[0]):
            _read_payload(read)                             # column definitions
        _read_payload(read)                                 # EOF
        row = _read_payload(read)
        while True:
            end = _read_payload(read)
            if end[0] == 0xFF:
                pymysql.err.raise_mysql_exception(end)
            if end[0] == 0xFE and len(end) < 9:
                break
        values = _fields(row, 0, 2 + len(self.zero_columns))
        data = values[1] or b''
        cut = len(data) >= self.limit
        data, marked = (data, True) if cut else _escape_raw(data)
        return (int(values[0]), data, dict((c, int(n or 0)) for c, n in zip(self.zero_columns, values[2:])), cut,
                marked)

    def _rowwise_range(self, lo, hi):
        key = _q(self.table.split_key)
        self.rowwise(' WHERE %s >= %d AND %s < %d' % (key, lo, key, hi))

    def _with_marked(self, data, count, zeros, lo, hi):
        """A batch with marked lines: the rows of their key values again, row-wise (the whole
        range when many are marked; then the rest of the table goes row-wise too). The batch's
        ENUM index-0 counts, less those of the rows read again, belong to the lines kept.

        Lines are in key order (a range scan of the primary key), so the rows of one key value
        are one block around a marked line: only the marked lines and their neighbours are
        looked at; the kept data are written as slices of the batch."""
        blocks, keys = [], []
        index = self.table.columns.index(self.table.split_key)
        for pos in _markers(data):
            if blocks and pos < blocks[-1][1]:
                continue                                    # a second marker in the same block
            start, end = _line_at(data, pos)
            key = _field(data[start:end], index)
            while start > 0:                                # earlier lines of the same key
                s2, _e2 = _line_at(data, start - 1)
                if _field(data[s2:start - 1], index) != key:
                    break
                start = s2
            while end < len(data):                          # later lines of the same key
                _s2, e2 = _line_at(data, end + 1)
                if _field(data[end + 1:e2], index) != key:
                    break
                end = e2
            blocks.append((start, end))
            keys.append(key)
        dropped = sum(data.count(b'\n', s, e) + 1 for s, e in blocks)
        if dropped * 8 > count:
            self.sticky_rowwise = True
            self._rowwise_range(lo, hi)
            return
        before = self.sink.total
        again = {}
        for i in range(0, len(keys), 500):
            part = b', '.join(keys[i:i + 500]).decode('ascii')
            for column, n in self.rowwise(' WHERE %s IN (%s)' % (_q(self.table.split_key), part)).items():
                again[column] = again.get(column, 0) + n
        kept, last = [], 0
        for s, e in blocks:
            kept.append(data[last:s])
            last = e + 1
        kept.append(data[last:])
        body = b''.join(kept)
        if count > dropped:
            if not body.endswith(b'\n'):
                body += b'\n'
            self.sink.write(body, count - dropped, dict((c, n - again.get(c, 0)) for c, n in zeros.items()))
        if self.sink.total - before != count:
            raise IntegrityError('Table %s: the rows of key range [%d, %d) changed between two reads of one '
                                 'snapshot (%d, then %d).' % (self.table.name, lo, hi, count,
                                                              self.sink.total - before))

    # --- row-wise -----------------------------------------------------------------
    def rowwise(self, where=''):
        """Rows of one query, straight from the socket; returns the ENUM index-0 counts written."""
        self._check_cancelled()
        pymysql = require('pymysql')
        conn = self.conn
        sql = rowwise_sql(self.specs, self.database, self.table.name, where, self.max_packet)
        conn._execute_command(pymysql.constants.COMMAND.COM_QUERY, sql.encode('utf-8'))
        first = conn._read_packet()          # raises the server's error, if any
        for _n in range(first.read_length_encoded_integer()):
            conn._read_packet()              # column definitions
        if not conn._read_packet().is_eof_packet():
            raise pymysql.err.OperationalError(2014, 'unexpected packet after the column definitions')
        read = conn._rfile.read
        k = len(self.long_fields) + len(self.zero_columns)
        nulls = b'\xfb' * k
        lines, held = [], 0                 # held: protocol bytes of the lines not written yet
        self.pending_zeros = {}
        self.written_zeros = {}
        number = 0
        while True:
            head = read(4)
            if len(head) < 4:
                raise pymysql.err.OperationalError(2013, 'Lost connection to server during query')
            size = head[0] | (head[1] << 8) | (head[2] << 16)
            if size == MAX_PACKET:
                if lines:
                    self._flush(lines)
                    held = 0
                number += 1
                self._big_row(_Payload(read, size), number)
                continue
            payload = read(size)
            b0 = payload[0]
            if b0 == 0xFE and size < 9:
                break                        # EOF: the end of the rows
            if b0 == 0xFF:
                pymysql.err.raise_mysql_exception(payload)
            number += 1
            if b0 < 0xFB:
                n, off = b0, 1
            elif b0 == 0xFC:
                n, off = payload[1] | (payload[2] << 8), 3
            elif b0 == 0xFD:
                n, off = payload[1] | (payload[2] << 8) | (payload[3] << 16), 4
            elif b0 == 0xFB:
                raise self._null_line(number)
            else:
                n, off = int.from_bytes(payload[1:9], 'little'), 9
            if off + n + k == size and (not k or payload.endswith(nulls)):
                lines.append(payload[off:off + n])
            else:
                extras = _fields(payload, off + n, k)
                self._count_zeros(extras[len(self.long_fields):])
                lines.append(self._spliced(payload[off:off + n], extras))
            held += size
            if len(lines) >= FETCH_ROWS or held >= BATCH_BYTES:    # long values: by bytes, not rows
                self._flush(lines)
                held = 0
        if lines:
            self._flush(lines)
        return self.written_zeros

    def _flush(self, lines):
        n = len(lines)
        lines.append(b'')
        self._write_zeros()
        self.sink.write(b'\n'.join(lines), n, self.pending_zeros)
        self.pending_zeros = {}
        del lines[:]

    def _write_zeros(self):
        for column, n in self.pending_zeros.items():
            self.written_zeros[column] = self.written_zeros.get(column, 0) + n

    def _count_zeros(self, flags):
        for column, flag in zip(self.zero_columns, flags):
            if flag is not None:
                self.pending_zeros[column] = self.pending_zeros.get(column, 0) + 1

    def _spliced(self, line, raws):
        fields = line.split(b'\t')
        for index, raw in zip(self.long_fields, raws):
            if raw is not None:
                if fields[index] != MARKER:
                    raise IntegrityError('Table %s: a raw value without its marker.' % self.table.name)
                fields[index] = escape(raw)
        return b'\t'.join(fields)

    def _big_row(self, payload, number):
        """A row of 16 MiB or more: the line, then raw values escaped piece by piece."""
        n = payload.length()
        if n is None:
            raise self._null_line(number)
        fields = payload.read(n).split(b'\t')
        write = self.sink.write
        long_fields = set(self.long_fields)
        for index, field in enumerate(fields):
            sep = b'\t' if index else b''
            size = payload.length() if index in long_fields else None
            if size is None:
                write(sep + field, 0)
                continue
            if field != MARKER:
                raise IntegrityError('Table %s: a raw value without its marker.' % self.table.name)
            write(sep, 0)
            while size:
                piece = payload.read(min(size, STREAM_PIECE))
                write(escape(piece), 0)
                size -= len(piece)
        flags = []
        for _c in self.zero_columns:
            n = payload.length()
            flags.append(None if n is None else payload.read(n))
        payload.finish()
        self._count_zeros(flags)
        self._write_zeros()
        write(b'\n', 1, self.pending_zeros)
        self.pending_zeros = {}

    def _null_line(self, number):
        return BackupFailed(
            'Row %d of table %s (in the order it was read) is longer than the server\'s max_allowed_packet as a '
            'line of text, so the server returned NULL instead of it.' % (number, self.table.name),
            'Raise max_allowed_packet on the server (SET GLOBAL max_allowed_packet = 1073741824) and run the '
            'backup again; no backup was recorded.')


def _markers(data):
    """Positions of the marked fields (a field that is one NUL byte; bytes.find of one byte is a memchr).
    A NUL anywhere else would be a value the server did not escape: never written."""
    pos = data.find(MARKER)
    n = len(data)
    while pos >= 0:
        end = pos + len(MARKER)
        if not ((pos == 0 or data[pos - 1] in (9, 10)) and (end == n or data[end] in (9, 10))):
            raise IntegrityError('A NUL byte the server did not escape, at byte %d of a batch.' % pos)
        yield pos
        pos = data.find(MARKER, end)


def _escape_raw(data):
    """(lines, marked): a batch's lines with each raw value (the marker, its length in RAW_DIGITS
    digits, its bytes; row_sql.py) escaped, and whether a lone marker is left (_markers). Raw bytes
    are skipped by their length, so a NUL found by the scan is always a marker, which must start a
    field."""
    find = data.find
    pos = find(MARKER)
    if pos < 0:
        return data, False
    out, last, n, marked = [], 0, len(data), False
    while pos >= 0:
        if pos and data[pos - 1] not in (9, 10):
            raise IntegrityError('A NUL byte the server did not escape, at byte %d of a batch.' % pos)
        start = pos + 1 + RAW_DIGITS
        digits = data[pos + 1:start]
        if len(digits) == RAW_DIGITS and digits.isdigit():
            end = start + int(digits)
            if end > n or (end < n and data[end] not in (9, 10)):
                raise IntegrityError('A raw value of %d bytes at byte %d of a batch does not end a field.'
                                     % (int(digits), pos))
            out.append(data[last:pos])
            out.append(escape(data[start:end]))
            last = end
            pos = find(MARKER, end)
        else:
            marked = True
            pos = find(MARKER, pos + 1)
    if not out:
        return data, marked
    out.append(data[last:])
    return b''.join(out), marked


def _line_at(data, pos):
    """(start, end) of the line holding data[pos] (end: the index of its newline, or len(data))."""
    start = data.rfind(b'\n', 0, pos) + 1
    end = data.find(b'\n', pos)
    return start, len(data) if end < 0 else end


def _field(line, index):
    return line.split(b'\t', index + 1)[index]


def _read_payload(read):
    """One protocol payload (joined when it spans several 16 MiB packets)."""
    parts = []
    while True:
        head = read(4)
        if len(head) < 4:
            raise require('pymysql').err.OperationalError(2013, 'Lost connection to server during query')
        size = head[0] | (head[1] << 8) | (head[2] << 16)
        parts.append(read(size))
        if size < MAX_PACKET:
            return b''.join(parts)


def _lenenc(payload, off):
    """(value, offset after) of the length-encoded integer at payload[off]."""
    b0 = payload[off]
    if b0 < 0xFB:
        return b0, off + 1
    if b0 == 0xFC:
        return payload[off + 1] | (payload[off + 2] << 8), off + 3
    if b0 == 0xFD:
        return payload[off + 1] | (payload[off + 2] << 8) | (payload[off + 3] << 16), off + 4
    return int.from_bytes(payload[off + 1:off + 9], 'little'), off + 9


def _fields(payload, off, k):
    """k length-encoded values (None for NULL) of payload from off."""
    out = []
    for _i in range(k):
        if payload[off] == 0xFB:
            out.append(None)
            off += 1
            continue
        n, off = _lenenc(payload, off)
        out.append(payload[off:off + n])
        off += n
    return out


class _Payload(object):
    """The payload of one row that spans several packets, read in order (never whole)."""

    def __init__(self, read, first_size):
        self._read = read
        self.left = first_size       # bytes left in the current packet
        self.more = first_size == MAX_PACKET

    def read(self, n):
        out = []
        while n:
            if not self.left:
                if not self.more:
                    raise IntegrityError('A row ended before its last value.')
                head = self._read(4)
                self.left = head[0] | (head[1] << 8) | (head[2] << 16)
                self.more = self.left == MAX_PACKET
                continue
            chunk = self._read(min(n, self.left))
            if not chunk:
                raise require('pymysql').err.OperationalError(2013, 'Lost connection to server during query')
            out.append(chunk)
            self.left -= len(chunk)
            n -= len(chunk)
        return b''.join(out)

    def length(self):
        """The next length-encoded integer; None for NULL."""
        b0 = self.read(1)[0]
        if b0 == 0xFB:
            return None
        if b0 < 0xFB:
            return b0
        size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[b0]
        return int.from_bytes(self.read(size), 'little')

    def finish(self):
        """Check the row ends here (a payload of a multiple of 16 MiB - 1 ends with an empty packet)."""
        while self.more and not self.left:
            head = self._read(4)
            self.left = head[0] | (head[1] << 8) | (head[2] << 16)
            self.more = self.left == MAX_PACKET
        if self.left or self.more:
            raise IntegrityError('A row went on after its last value.')


def _q(name):
    return '`%s`' % name.replace('`', '``')
