# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SELECTs that dump a table's rows in the stored format (data.py), and why they look so.

The server builds each row's line (CONCAT_WS of the escaped values): decoding
values in Python costs several times what the server needs. Two limits of
server-side string functions shape the expressions:

  * a result longer than max_allowed_packet becomes NULL (with a warning), so an
    escaped 16 MiB value came back as NULL - silently, through IFNULL as \\N;
  * REPLACE moves the rest of the string for every match: escaping a value with
    many tabs, newlines, backslashes or NULs is quadratic (512 KiB of NULs: 96 s,
    and KILL does not interrupt a function call).

So a value goes through the server's REPLACE only when it is at most
SHORT_BYTES long (bounded cost). A longer value goes into the line as it is
when it holds none of the four bytes to escape (one linear REGEXP scan) and
is at most LINE_VALUE_BYTES long. Any other value is left for the client to
escape (linear, in C: bytes.replace):
  * in a batch, a value of at most LINE_VALUE_BYTES comes raw inside the line, as
    the marker, its length in RAW_DIGITS decimal digits, and its bytes
    (row_stream.py escapes it while it copies the batch);
  * a longer value is replaced in the line by the marker alone, one NUL byte, and
    its row is read again row-wise, where the value comes as it is in an extra
    column (streamed whatever its size).
A NUL cannot come from data (an escaped value writes it as \\0), so the client
finds both with one memchr scan of a batch (skipping the bytes of a raw value),
and the marker never reaches a stored file.

Two shapes of SELECT:
  batch     COUNT(*), GROUP_CONCAT(line SEPARATOR '\\n') over a range of the primary
            key's leading integer column: one result value per ~2 MiB of lines, so the
            client does no work per row (row_stream.py checks the count, escapes the
            raw values, and fetches the rows of marked lines again row-wise)
  row-wise  line, then one column per long-capable column (NULL unless marked)

FLOAT and DOUBLE values are written as the hex digits of their IEEE 754 bits (data.py:
exact, and cheaper for the server than its decimal text).

ENUM and SET values whose text loses information are dumped as numbers that
LOAD DATA reads back as the same index or bits (MariaDB Field_enum/Field_set
read digits "for LOAD DATA INFILE"): the invalid ENUM value (index 0, shown as
'') as a string of zeros that is not a member, and SETs that have an '' member
as their bit value ('' and ',a' would otherwise load as the empty set and 'a').
Storing ENUM index 0 always raises warning 1265, so the dump counts these values
per file (COUNT in the batch query, a flag column row-wise) and the restore
accepts exactly that many such warnings on those columns.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii

from ..connection import quote_ident
from .data import FLOAT_BITS_TYPES, escape, float_bits_sql

SHORT_BYTES = 256                       # REPLACE at most 256 x 256 bytes moved per value (~10 us)
LINE_VALUE_BYTES = 65536
DEFAULT_PACKET = 16 * 1024 * 1024
PLAIN_FIELD_BYTES = 128                 # longest text of a number or time value (DECIMAL(65,30): 67 bytes)
MARKER = b'\x00'
MARKER_SQL = "'\\0'"
RAW_DIGITS = 5                          # the length of a raw value in a batch line: 00257 .. 65536
SPECIALS_SQL = "'[\\t\\n\\\\\\\\\\0]'"          # a class of tab, newline, backslash, NUL
NULL_SQL = "'\\\\N'"
# Types whose text never holds a tab, newline, backslash or NUL: no escaping needed.
PLAIN_TYPES = ('tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric',
               'float', 'double', 'real', 'date', 'datetime', 'timestamp', 'time', 'year')
INTEGER_TYPES = ('tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint')
# Types whose binary form is not their text (MariaDB UUID/INET4/INET6) or that have no
# byte string of their own (MySQL JSON): dumped as their utf8mb4 text.
TEXT_FORM_TYPES = ('uuid', 'inet4', 'inet6', 'json')
# Types whose values are binary strings already: no CAST needed.
BINARY_TYPES = ('binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob')
# BIT(n) up to this width is escaped by a lookup of its 2^n escaped values (ELT), not four REPLACEs.
BIT_LOOKUP_BITS = 8
# Types whose values can be longer than SHORT_BYTES whatever their declared length says.
UNBOUNDED_TYPES = ('blob', 'mediumblob', 'longblob', 'text', 'mediumtext', 'longtext', 'json', 'geometry',
                   'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon',
                   'geometrycollection')


def escaped(expr):
    """SQL that writes backslash, tab, newline and NUL of expr as \\\\ \\t \\n \\0 (binary-safe)."""
    for raw, esc in (("'\\\\'", "'\\\\\\\\'"), ("'\\t'", "'\\\\t'"), ("'\\n'", "'\\\\n'"),
                     ("'\\0'", "'\\\\0'")):
        expr = 'REPLACE(%s, %s, %s)' % (expr, raw, esc)
    return expr


def bit_width(column_type):
    """n of a column type text bit(n)."""
    return int(column_type[column_type.index('(') + 1:column_type.index(')')]) if '(' in column_type else 1


def enum_members(column_type):
    """Members of an ENUM/SET column type text such as enum('a','b''c','d\\\\e')."""
    body = column_type[column_type.index('(') + 1:column_type.rindex(')')]
    members, i, n = [], 0, len(body)
    while i < n:
        if body[i] != "'":
            i += 1
            continue
        i += 1
        out = []
        while i < n:
            ch = body[i]
            if ch == '\\' and i + 1 < n:
                out.append(body[i + 1])
                i += 2
            elif ch == "'" and i + 1 < n and body[i + 1] == "'":
                out.append("'")
                i += 2
            elif ch == "'":
                i += 1
                break
            else:
                out.append(ch)
                i += 1
        members.append(''.join(out))
    return members


def enum_zero(column_type):
    """The text that loads as ENUM index 0 (the invalid value): zeros that are not a member, or None."""
    members = set(m.rstrip(' ') for m in enum_members(column_type))
    for n in range(1, 6):
        if '0' * n not in members:
            return '0' * n
    return None


def set_as_number(column_type):
    """Whether a SET's values are dumped as numbers: it has an '' member and no member made of digits."""
    members = enum_members(column_type)
    return '' in members and not any(m.isdigit() for m in members)


class Column(object):
    """How one column is dumped: its line expression, and whether it has a raw extra."""

    __slots__ = ('name', 'type', 'nullable', 'octets', 'column_type')

    def __init__(self, name, typ, nullable, octets=None, column_type=''):
        self.name = name
        self.type = typ
        self.nullable = nullable
        self.octets = octets
        self.column_type = column_type or ''

    @property
    def long_capable(self):
        if self.type in PLAIN_TYPES or self.type in ('enum', 'set', 'bit', 'uuid', 'inet4', 'inet6'):
            return False
        return self.type in UNBOUNDED_TYPES or self.octets is None or self.octets > SHORT_BYTES

    def value(self):
        q = quote_ident(self.name)
        if self.type in FLOAT_BITS_TYPES:
            return float_bits_sql(q)
        if self.type == 'set' and set_as_number(self.column_type):
            return '(%s + 0)' % q
        return q

    def binary(self):
        """The value as a binary string (no character set conversion by CONCAT_WS)."""
        q = quote_ident(self.name)
        if self.type in TEXT_FORM_TYPES:
            return 'CAST(CONVERT(%s USING utf8mb4) AS BINARY)' % q
        if self.type in BINARY_TYPES:
            return q
        return 'CAST(%s AS BINARY)' % q

    def marked(self, value_bytes):
        """SQL condition: the value is sent raw (long, and holding bytes to escape or too long).

        One REGEXP over the binary value (a byte class) costs less than four INSTR scans.
        """
        q = quote_ident(self.name)
        return "(LENGTH(%s) > %d AND (LENGTH(%s) > %d OR %s REGEXP %s))" % (
            q, SHORT_BYTES, q, value_bytes, self.binary(), SPECIALS_SQL)

    def line_expr(self, value_bytes, raw=False):
        """This column's field of the line: never longer than its escaped self or LINE_VALUE_BYTES
        (plus the marker and RAW_DIGITS with raw: values with bytes to escape come raw, see above)."""
        if self.type in PLAIN_TYPES or (self.type == 'set' and set_as_number(self.column_type)):
            expr = self.value()
        elif self.type == 'enum':
            zero = enum_zero(self.column_type)
            expr = self.binary() if self.members_plain() else escaped(self.binary())
            if zero is not None:
                expr = "IF(%s, '%s', %s)" % (self.zero_test(), zero, expr)
        elif self.type == 'set' and self.members_plain():
            expr = self.binary()
        elif self.type == 'bit' and bit_width(self.column_type) <= BIT_LOOKUP_BITS:
            expr = 'ELT(%s + 1, %s)' % (quote_ident(self.name), ', '.join(
                "X'%s'" % binascii.hexlify(escape(bytes(bytearray([n])))).decode('ascii')
                for n in range(1 << bit_width(self.column_type))))
        elif not self.long_capable:
            expr = escaped(self.binary())
        else:
            # after WHEN LENGTH <= SHORT_BYTES, marked() is its second half (and LENGTH > value_bytes
            # cannot hold for a column declared shorter)
            q, b = quote_ident(self.name), self.binary()
            special = '%s REGEXP %s' % (b, SPECIALS_SQL)
            longer = self.type in UNBOUNDED_TYPES or self.octets is None or self.octets > value_bytes
            if raw:
                # longer than value_bytes: the marker alone; else with bytes to escape: marker, length, bytes
                when = 'WHEN LENGTH(%s) > %d THEN %s ' % (q, value_bytes, MARKER_SQL) if longer else ''
                when += "WHEN %s THEN CONCAT(%s, LPAD(LENGTH(%s), %d, '0'), %s)" % (
                    special, MARKER_SQL, q, RAW_DIGITS, b)
            else:
                if longer:
                    special = 'LENGTH(%s) > %d OR %s' % (q, value_bytes, special)
                when = 'WHEN %s THEN %s' % (special, MARKER_SQL)
            expr = 'CASE WHEN LENGTH(%s) <= %d THEN %s %s ELSE %s END' % (q, SHORT_BYTES, escaped(b), when, b)
        if self.nullable:
            expr = 'IFNULL(%s, %s)' % (expr, NULL_SQL)
        return expr

    def field_bytes(self, value_bytes):
        """The longest field line_expr can give (escaped), or None when the column's length is unknown."""
        if self.type in PLAIN_TYPES or self.type in ('uuid', 'inet4', 'inet6') or (
                self.type == 'set' and set_as_number(self.column_type)):
            return PLAIN_FIELD_BYTES
        if self.type == 'bit':
            return 16                   # BIT(64): 8 bytes, each escaped to at most 2
        if self.long_capable:
            return max(2 * SHORT_BYTES, value_bytes + len(MARKER) + RAW_DIGITS)
        if self.octets is None:
            return None
        return max(PLAIN_FIELD_BYTES, 2 * self.octets)

    def members_plain(self):
        """Whether no ENUM/SET member holds a byte to escape (then no value does: no REPLACE)."""
        return not any(ch in m for m in enum_members(self.column_type) for ch in ('\\', '\t', '\n', '\0'))

    def extra_expr(self, value_bytes):
        return 'IF(%s, %s, NULL)' % (self.marked(value_bytes), quote_ident(self.name))

    @property
    def counts_zero(self):
        """ENUM index 0 is dumped as zeros, which load with a warning: such values are counted."""
        return self.type == 'enum' and enum_zero(self.column_type) is not None

    def zero_test(self):
        """ENUM index 0 (enum + 0 is the index; enum = 0 would compare as DECIMAL, slower)."""
        return '%s + 0 = 0' % quote_ident(self.name)


def value_bytes(columns, max_packet=None):
    """The longest value kept in a line: LINE_VALUE_BYTES, less when max_allowed_packet is small,
    so that a line of long values stays well below it (CONCAT_WS returns NULL above it)."""
    share = (max_packet or DEFAULT_PACKET) // 2 // (1 + sum(1 for c in columns if c.long_capable))
    return max(SHORT_BYTES, min(LINE_VALUE_BYTES, share))


def line_bytes(columns, max_packet=None):
    """The longest line line_sql can build, or None when unknown. A line longer than
    max_allowed_packet would be NULL (and left out of a GROUP_CONCAT): when the bound is well
    below it, no line can be lost and the client need not count a batch's lines."""
    limit = value_bytes(columns, max_packet)
    total = len(columns)
    for c in columns:
        n = c.field_bytes(limit)
        if n is None:
            return None
        total += n
    return total


def line_sql(columns, max_packet=None, raw=False):
    limit = value_bytes(columns, max_packet)
    return "CONCAT_WS('\\t', %s)" % ', '.join(c.line_expr(limit, raw) for c in columns)


def rowwise_sql(columns, database, table, where='', max_packet=None):
    """SELECT line, extra1, ...: one row per table row (extras: columns that can be marked)."""
    limit = value_bytes(columns, max_packet)
    extras = [c.extra_expr(limit) for c in columns if c.long_capable]
    extras += ['IF(%s, 1, NULL)' % c.zero_test() for c in columns if c.counts_zero]
    return 'SELECT %s FROM %s.%s%s' % (', '.join([line_sql(columns, max_packet)] + extras), quote_ident(database),
                                       quote_ident(table), where)


def batch_sql_head(columns, database, table, key, max_packet=None):
    """SELECT COUNT(*), GROUP_CONCAT(line), and per ENUM column COUNT(index 0), of the rows whose key is
    in [lo, hi) (lines with raw values: see the module docstring), with %d for the bounds lo, hi - 1:
    built once per table, the line SQL is long. BETWEEN: the server checks the key of every row of the
    range scan again, and one BETWEEN costs it less than >= AND < (the key compares were 6 % of its CPU
    on a narrow table, 2.6 % with BETWEEN)."""
    k = quote_ident(key)
    sums = ''.join(', COUNT(IF(%s, 1, NULL))' % c.zero_test() for c in columns if c.counts_zero)
    sql = "SELECT COUNT(*), GROUP_CONCAT(%s SEPARATOR '\\n')%s FROM %s.%s WHERE %s BETWEEN " % (
        line_sql(columns, max_packet, raw=True), sums, quote_ident(database), quote_ident(table), k)
    return sql.replace('%', '%%') + '%d AND %d'


def values_sql(columns, database, table):
    """The dumped values column by column (what data.encode_rows turns into the stored format)."""
    exprs = []
    for c in columns:
        if c.type == 'enum' and enum_zero(c.column_type) is not None:
            exprs.append("IF(%s, '%s', %s)" % (c.zero_test(), enum_zero(c.column_type), c.value()))
        else:
            exprs.append(c.value())
    return 'SELECT %s FROM %s.%s' % (', '.join(exprs), quote_ident(database), quote_ident(table))
