# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Table data of a MySQL/MariaDB backup: the stored format, dumping and loading.

Format: the text format of LOAD DATA / SELECT ... INTO OUTFILE with its
defaults, one row per line:

    FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n', CHARACTER SET binary

Values are the bytes the server stores (dump sessions run SET NAMES binary with
no client-side conversion), so nothing is re-encoded: latin1, utf8mb4, binary,
BLOB, BIT, spatial (internal WKB), ENUM/SET (their text), JSON and temporal
values (time_zone +00:00) come back byte for byte. Escapes: backslash, tab,
newline and NUL are written as \\\\ \\t \\n \\0; NULL is \\N. Generated columns are left out.

FLOAT and DOUBLE values are written as the 16 hex digits of their IEEE 754 double, little-endian
(the 8 bytes of the x of POINT(value, 0) in WKB), in files whose manifest entry says
float_form: ieee754-hex, and loaded back through the same WKB (float_from_bits_sql): exact to
the bit by construction, and the server's DOUBLE-to-text conversion (shortest round-trip digits,
about 0.45 us a value) was a quarter of its CPU on a table with one DOUBLE column among nine.
Files without float_form (written by 1.0.0) hold decimal text and are still read. A backup with
float_form files has manifest format version 3, which 1.0.0 refuses instead of loading hex digits
as numbers.

The server builds each line (CONCAT_WS of escaped values, row_sql.py) and the
client copies lines (row_stream.py): decoding every value in Python would cost
several times the server's own time. Long values with bytes to escape come raw
and are escaped here (escape). encode_rows is the same format built from
decoded values (tests prove both agree byte for byte).

Why this and not INSERT statements: the server parses LOAD DATA rows several
times faster than INSERT values, the text is about half the size of hex
literals for binary data, and the files stay readable. It is restored with
LOAD DATA LOCAL INFILE fed from the stream (load_local.py); servers that
refuse LOCAL INFILE get the same rows as batched multi-row INSERT statements
with hex literals (about 1 MiB each).

A table's rows are split into files of row_stream.CHUNK_BYTES raw bytes; the
restore loads a file in LOAD DATA statements of about LOAD_BYTES each.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import re
import uuid

from ...common.errors import IntegrityError, RestoreFailed
from ..capabilities import TEXT_INPUT_TYPES
from ..connection import error_code, error_text, quote_ident

INSERT_BATCH_BYTES = 1 << 20
LOAD_BYTES = 16 << 20
ER_TRUNCATED = 1265
CHANGED_HINT = ('The target server differs from the source in a way that alters data (sql_mode, character sets, '
                'column types); the target was left unchanged.')
NULL = b'\\N'
ESCAPES = ((b'\\', b'\\\\'), (b'\t', b'\\t'), (b'\n', b'\\n'), (b'\x00', b'\\0'))
UNESCAPES = {b'\\': b'\\', b't': b'\t', b'n': b'\n', b'0': b'\x00', b'r': b'\r', b'b': b'\b', b'Z': b'\x1a'}
ER_LOCAL_INFILE_DISABLED = (1148, 3948, 4166)   # "command not allowed", "loading local data is disabled"
FLOAT_FORM = 'ieee754-hex'
FLOAT_BITS_TYPES = ('float', 'double')      # DATA_TYPE of FLOAT, DOUBLE, DOUBLE PRECISION and REAL
_POINT_HEAD, _POINT_Y = '0101000000', '0000000000000000'     # WKB of a POINT: byte order, type; y = 0


def float_bits_sql(expr):
    """SQL: the IEEE 754 bits of a FLOAT/DOUBLE expr as 16 hex digits (NULL stays NULL)."""
    return 'HEX(SUBSTRING(ST_AsBinary(POINT(%s, 0)), 6, 8))' % expr


def float_from_bits_sql(hex_expr):
    """SQL: the DOUBLE whose bits float_bits_sql wrote (NULL stays NULL)."""
    return "ST_X(ST_GeomFromWKB(CONCAT(X'%s', UNHEX(%s), X'%s')))" % (_POINT_HEAD, hex_expr, _POINT_Y)


FLOAT_INPUT_SQL = float_from_bits_sql('%s')
TEXT_INPUT_SQL = 'CONVERT(%s USING utf8mb4)'     # capabilities.TEXT_INPUT_TYPES: dumped as utf8mb4 text


def float_columns(entry):
    """Indexes of the columns of a data file entry stored as IEEE 754 bits."""
    if entry.get('float_form') != FLOAT_FORM:
        return ()
    return tuple(i for i, t in enumerate(entry.get('types') or ()) if t in FLOAT_BITS_TYPES)


def needs_text_input(typ, flavor):
    return typ in TEXT_INPUT_TYPES.get(flavor or 'mariadb', ())


def escape(value):
    if value is None:
        return NULL
    if b'\\' in value or b'\t' in value or b'\n' in value or b'\x00' in value:
        for raw, esc in ESCAPES:
            value = value.replace(raw, esc)
    return value


def encode_rows(rows, ncols):
    """Lines of rows of bytes/None values (the stored format), as one bytes object."""
    lines = []
    append = lines.append
    tab = b'\t'
    want_tabs = ncols - 1
    for row in rows:
        if None not in row:
            line = tab.join(row)
            if (line.count(tab) == want_tabs and b'\\' not in line and b'\n' not in line
                    and b'\x00' not in line):
                append(line)
                continue
        append(tab.join([escape(v) for v in row]))
    lines.append(b'')
    return b'\n'.join(lines)


# --- loading -----------------------------------------------------------------------
def _conversions(entry, flavor):
    """Per column of a data file entry: the SQL (one %s: the stored field) that gives the column its
    value, or None when the field loads as it is. Both loaders use it: LOAD DATA in its SET clause,
    the INSERT fallback around each literal."""
    floats = float_columns(entry)
    types = entry.get('types') or [''] * len(entry['columns'])
    return [FLOAT_INPUT_SQL if i in floats else TEXT_INPUT_SQL if needs_text_input(typ, flavor) else None
            for i, typ in enumerate(types)]


def _column_list(entry, flavor):
    """(column list, SET clause) of LOAD DATA for a data file entry."""
    cols, sets = [], []
    for i, (name, convert) in enumerate(zip(entry['columns'], _conversions(entry, flavor))):
        if convert is None:
            cols.append(quote_ident(name))
            continue
        var = '@dbbackup_v%d' % i
        cols.append(var)
        sets.append('%s = %s' % (quote_ident(name), convert % var))
    return ', '.join(cols), (' SET ' + ', '.join(sets)) if sets else ''


def load_sql(entry, name, flavor):
    cols, sets = _column_list(entry, flavor)
    return ("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s CHARACTER SET binary "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (%s)%s"
            % (name, quote_ident(entry['name']), cols, sets))


class LocalInfileRefused(Exception):
    """The server (or the client library) does not allow LOAD DATA LOCAL."""


def load_file(conn, entry, reader, flavor, method):
    """Load one data file into the current database; returns rows loaded.

    LOAD DATA LOCAL streams the file in statements of about LOAD_BYTES each (one
    transaction each: measured here, one LOAD of a whole 100 MiB file into an empty
    table cost the server nearly twice the CPU of the same rows in 8-16 MiB pieces).
    """
    if not (method == 'load_data' and getattr(conn, 'streaming', False)):
        return insert_file(conn, entry, reader, flavor)
    warnings = Warnings(entry)
    pieces = LinePieces(reader, LOAD_BYTES)
    name = 'dbbackup-stream-%s' % uuid.uuid4().hex
    cur = conn.cursor()
    rows = 0
    while pieces.next_piece():
        conn.load_source, conn.load_name = pieces, name
        try:
            rows += cur.execute(load_sql(entry, name, flavor))
        except Exception as e:
            if error_code(e) in ER_LOCAL_INFILE_DISABLED:
                raise LocalInfileRefused(error_text(e))
            raise
        finally:
            conn.load_source = conn.load_name = None
        warnings.check(cur)
    warnings.finish()
    return rows


class LinePieces(object):
    """A readable of one piece of reader: about `limit` bytes, ending at a line end.
    next_piece() starts the next one and says whether there is one."""

    def __init__(self, reader, limit):
        self.reader = reader
        self.limit = limit
        self.buf = b''
        self.eof = False
        self.left = 0
        self.done = True

    def _fill(self):
        if not self.buf and not self.eof:
            self.buf = self.reader.read(1 << 20)
            self.eof = not self.buf

    def next_piece(self):
        self._fill()
        self.left, self.done = self.limit, not self.buf
        return not self.done

    def read(self, n):
        if self.done:
            return b''
        self._fill()
        if not self.buf:
            self.done = True
            return b''
        if self.left > 0:
            out = self.buf[:min(n, self.left)]
            self.buf = self.buf[len(out):]
            self.left -= len(out)
            self.done = self.left <= 0 and out.endswith(b'\n')
            return out
        end = self.buf.find(b'\n')                  # past the limit: to the end of the line
        if end < 0:
            out, self.buf = self.buf, b''
            return out
        out, self.buf = self.buf[:end + 1], self.buf[end + 1:]
        self.done = True
        return out


class Warnings(object):
    """Warnings of the loads of one data file: any warning fails the restore, except the
    1265 that storing ENUM index 0 always raises, as many as the dump counted
    (entry['enum_zeros'], row_sql.py)."""

    def __init__(self, entry):
        self.entry = entry
        self.expected = entry.get('enum_zeros') or {}
        self.seen = 0

    def check(self, cur):
        cur.execute('SHOW COUNT(*) WARNINGS')
        total = int(cur.fetchone()[0])
        if not total:
            return
        cur.execute('SHOW WARNINGS')
        listed = cur.fetchall()
        other = [w for w in listed if not (int(w[1]) == ER_TRUNCATED and _column(w[2]) in self.expected)]
        if other:
            self._fail(other)
        self.seen += total

    def finish(self):
        want = sum(self.expected.values())
        if self.seen != want:
            raise RestoreFailed('Loading %s into table %s raised %d warning(s) about ENUM values, the backup '
                                'holds %d invalid ENUM value(s) (index 0).'
                                % (self.entry['path'], self.entry['name'], self.seen, want), CHANGED_HINT)

    def _fail(self, warnings):
        text = '; '.join('%s %s: %s' % tuple(_t(x) for x in w[:3]) for w in warnings[:3])
        raise RestoreFailed('Loading %s into table %s changed values: %s'
                            % (self.entry['path'], self.entry['name'], text), CHANGED_HINT)


def _column(message):
    m = re.search(r"column '(.*)' at row", _t(message))
    return m.group(1) if m else None


def _t(v):
    return v.decode('utf-8', 'replace') if isinstance(v, bytes) else str(v)


def _unescape(field):
    if field == NULL:
        return None
    if b'\\' not in field:
        return field
    out, i, n = [], 0, len(field)
    while i < n:
        j = field.find(b'\\', i)
        if j < 0 or j + 1 >= n:
            out.append(field[i:])
            break
        out.append(field[i:j])
        nxt = field[j + 1:j + 2]
        out.append(UNESCAPES.get(nxt, nxt))
        i = j + 2
    return b''.join(out)


def _literal(value, convert):
    """The SQL of one stored value for the INSERT fallback; convert: its _conversions entry, as bytes."""
    if value is None:
        return b'NULL'
    if convert == _FLOAT_INPUT:
        if not _HEX16.match(value):
            raise IntegrityError('A FLOAT/DOUBLE value %r is not 16 hex digits.' % value[:40])
        return convert % (b"'" + value + b"'")
    lit = b"X'" + binascii.hexlify(value) + b"'"
    return lit if convert is None else convert % lit


_HEX16 = re.compile(b'[0-9A-Fa-f]{16}\\Z')
_FLOAT_INPUT = FLOAT_INPUT_SQL.encode('ascii')


def insert_file(conn, entry, reader, flavor):
    """The fallback loader: multi-row INSERTs with hex literals, about 1 MiB each."""
    converts = [None if c is None else c.encode('ascii') for c in _conversions(entry, flavor)]
    head = ('INSERT INTO %s (%s) VALUES ' % (quote_ident(entry['name']), ', '.join(
        quote_ident(c) for c in entry['columns']))).encode('utf-8')
    cur = conn.cursor()
    cur.execute('SELECT @@SESSION.max_allowed_packet')
    max_packet = int(cur.fetchone()[0])
    batch, size, total, rest = [], 0, 0, b''
    ncols = len(entry['columns'])

    warnings = Warnings(entry)

    def flush():
        if batch:
            cur.execute(head + b','.join(batch))
            del batch[:]
            warnings.check(cur)
        return 0

    while True:
        block = reader.read(1 << 20)
        if not block:
            break
        lines = (rest + block).split(b'\n')
        rest = lines.pop()
        for line in lines:
            fields = line.split(b'\t')
            if len(fields) != ncols:
                raise IntegrityError('%s has a row with %d fields, table %s has %d columns.'
                                     % (entry['path'], len(fields), entry['name'], ncols))
            row = b'(' + b','.join(_literal(_unescape(f), c) for f, c in zip(fields, converts)) + b')'
            if len(head) + len(row) + 1024 > max_packet:
                raise RestoreFailed(
                    'Row %d of %s (table %s) makes an INSERT statement of %d bytes, more than the target server\'s '
                    'max_allowed_packet (%d): the server refuses LOAD DATA LOCAL, so rows are sent as INSERT '
                    'statements, with binary values written in hex (twice their size).'
                    % (total + 1, entry['path'], entry['name'], len(head) + len(row), max_packet),
                    'Allow LOAD DATA LOCAL on the target (SET GLOBAL local_infile = ON), which takes rows of any '
                    'size, or raise max_allowed_packet; the target was left unchanged.')
            batch.append(row)
            size += len(row)
            total += 1
            if size >= INSERT_BATCH_BYTES:
                size = flush()
    if rest:
        raise IntegrityError('%s ends in the middle of a row.' % entry['path'])
    flush()
    warnings.finish()
    return total
