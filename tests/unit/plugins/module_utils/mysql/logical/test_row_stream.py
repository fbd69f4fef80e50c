"""row_stream's row-wise reader on hand-made protocol packets (no server): a row that spans
several 16 MiB packets is escaped piece by piece into one line; a NULL line (a row longer than
max_allowed_packet as text) fails with the cause and the fix. And data.LinePieces cuts a file
into LOAD DATA pieces at line ends only."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import io
import os

import pytest

from plugins.module_utils.common.errors import BackupFailed, IntegrityError
from plugins.module_utils.mysql.logical import data, row_stream
from plugins.module_utils.mysql.logical.row_sql import Column
from plugins.module_utils.mysql.logical.schema import Table


class _Packet(object):
    def __init__(self, n=0, eof=False):
        self.n = n
        self.eof = eof

    def read_length_encoded_integer(self):
        return self.n

    def is_eof_packet(self):
        return self.eof


class FakeConnection(object):
    """Just what TableReader.rowwise uses: a query, column packets, then row packets to read."""

    def __init__(self, ncols, rows):
        self.packets = [_Packet(ncols)] + [_Packet() for _i in range(ncols)] + [_Packet(eof=True)]
        stream = b''.join(_packets(payload) for payload in rows) + _packets(b'\xfe\x00\x00\x02\x00')
        self._rfile = io.BytesIO(stream)

    def _execute_command(self, _command, _sql):
        pass

    def _read_packet(self):
        return self.packets.pop(0)


def _lenenc(data):
    n = len(data)
    if n < 251:
        return bytes([n]) + data
    if n < 1 << 16:
        return b'\xfc' + n.to_bytes(2, 'little') + data
    if n < 1 << 24:
        return b'\xfd' + n.to_bytes(3, 'little') + data
    return b'\xfe' + n.to_bytes(8, 'little') + data


def _packets(payload):
    """One logical payload as protocol packets (split at 16 MiB - 1, empty packet after an exact fit)."""
    out, seq = [], 0
    while True:
        part, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
        out.append(len(part).to_bytes(3, 'little') + bytes([seq & 0xFF]) + part)
        seq += 1
        if len(part) < 0xFFFFFF:
            return b''.join(out)


class _Writer(object):
    def __init__(self):
        self.parts = []

    def write(self, chunk):
        self.parts.append(chunk)

    def abort(self):
        pass


def _table():
    t = Table('t', 'BASE TABLE', 'InnoDB', 0, 0)
    t.specs = [Column('id', 'int', False), Column('b', 'longblob', True)]
    return t


def _read_parts(rows):
    """(the sink's writes, the row count of each file) of reading rows row-wise."""
    writer, done = _Writer(), []
    sink = row_stream.ChunkSink(lambda _n: writer, lambda _w, rows, _n, _facts: done.append(rows))
    row_stream.TableReader(FakeConnection(2, rows), 'db', _table(), sink).rowwise()
    sink.close()
    return writer.parts, done


def _read(rows):
    parts, done = _read_parts(rows)
    return b''.join(parts), done


def test_a_row_over_16_mib_is_escaped_piece_by_piece():
    raw = (b'\x00\t\n\\' + os.urandom(60)) * (17 * 1024 * 1024 // 64)
    rows = [_lenenc(b'1\t' + row_stream.MARKER) + _lenenc(raw), _lenenc(b'2\tsmall') + b'\xfb']
    out, counts = _read(rows)
    assert out == b'1\t' + data.escape(raw) + b'\n2\tsmall\n'
    assert counts == [2]


def test_a_null_line_names_the_cause_and_the_fix():
    with pytest.raises(BackupFailed) as e:
        _read([_lenenc(b'1\tx') + b'\xfb', b'\xfb\xfb'])
    assert 'Row 2 of table t' in str(e.value) and 'max_allowed_packet' in str(e.value)
    assert 'SET GLOBAL max_allowed_packet' in e.value.hint


def test_line_pieces_end_at_line_ends():
    lines = b''.join(b'%d\t%s\n' % (i, b'x' * (i % 50)) for i in range(5000))
    pieces = data.LinePieces(io.BytesIO(lines), 1000)
    got = []
    while pieces.next_piece():
        piece = b''
        while True:
            chunk = pieces.read(300)
            if not chunk:
                break
            piece += chunk
        assert piece.endswith(b'\n') and len(piece) < 1000 + 60
        got.append(piece)
    assert b''.join(got) == lines and len(got) > 100


def test_row_wise_lines_are_written_by_bytes_not_only_by_rows():
    """Rows of long values: written every ~BATCH_BYTES, not after FETCH_ROWS rows (memory stays bounded)."""
    raw = os.urandom(300 * 1024)
    rows = [_lenenc(b'%d\t' % i + row_stream.MARKER) + _lenenc(raw) for i in range(20)]
    parts, done = _read_parts(rows)
    assert b''.join(parts) == b''.join(b'%d\t%s\n' % (i, data.escape(raw)) for i in range(20))
    assert len(parts) >= 3 and max(len(p) for p in parts) < row_stream.BATCH_BYTES + 2 * len(raw)
    assert done == [20]


def _raw(value):
    return row_stream.MARKER + b'%05d' % len(value) + value


def test_raw_values_of_a_batch_are_escaped_and_lone_markers_stay():
    """Batch lines as row_sql builds them: raw values (marker, 5-digit length, bytes) are escaped,
    their NULs, tabs, newlines and digits never read as markers or separators; a lone marker stays."""
    every = bytes(range(256)) * 2
    batch = b'\n'.join([b'1\t' + _raw(every) + b'\tx', b'2\t' + _raw(b'\x00' * 300) + b'\t' + _raw(b'00012\t\n'),
                        b'3\t' + row_stream.MARKER + b'\t' + _raw(b'\\' * 257), b'4\t\\N\t'])
    assert row_stream._escape_raw(batch) == (b'\n'.join([
        b'1\t' + data.escape(every) + b'\tx', b'2\t' + b'\\0' * 300 + b'\t00012\\t\\n',
        b'3\t' + row_stream.MARKER + b'\t' + b'\\\\' * 257, b'4\t\\N\t']), True)
    assert row_stream._escape_raw(b'1\t' + _raw(b'\x00' * 300)) == (b'1\t' + b'\\0' * 300, False)
    assert row_stream._escape_raw(b'1\tplain\n2\tlines') == (b'1\tplain\n2\tlines', False)


def test_a_raw_value_that_does_not_end_a_field_or_a_stray_nul_fails():
    for bad in (b'1\t' + _raw(b'abc')[:-1], b'1\t' + _raw(b'abc') + b'x\t2', b'1\tab\x00c'):
        with pytest.raises(IntegrityError):
            row_stream._escape_raw(bad)
