# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and re-writing binary-log events (MariaDB and MySQL, binlog format v4).

Only what replay decisions and the event listing need is decoded: the common
header, the format description (post-header lengths, checksum), query events
(default database, status variables, statement text, also compressed), table
maps (database and table of a table id), the table id and flags of row events,
and GTIDs. Row images are never decoded: rows go to the server as they are.

An event is re-written (new database name, new statement, new flags) by
building its bytes again with a fresh size, end position and CRC32, so the
synthetic binlog handed to mariadb-binlog is as valid as a server-written one.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct
import zlib

from ...common.errors import IntegrityError

MAGIC = b'\xfebin'
HEADER = struct.Struct('<IBIIIH')          # timestamp, type, server_id, size, end position, flags
HEADER_BYTES = 19

# event types (MariaDB sql/log_event.h, MySQL libbinlogevents)
QUERY = 2
STOP = 3
ROTATE = 4
INTVAR = 5
LOAD = 6
CREATE_FILE = 8
APPEND_BLOCK = 9
EXEC_LOAD = 10
DELETE_FILE = 11
NEW_LOAD = 12
RAND = 13
USER_VAR = 14
FORMAT_DESCRIPTION = 15
XID = 16
BEGIN_LOAD_QUERY = 17
EXECUTE_LOAD_QUERY = 18
TABLE_MAP = 19
WRITE_ROWS_V1, UPDATE_ROWS_V1, DELETE_ROWS_V1 = 23, 24, 25
INCIDENT = 26
HEARTBEAT = 27
IGNORABLE = 28
ROWS_QUERY = 29
WRITE_ROWS, UPDATE_ROWS, DELETE_ROWS = 30, 31, 32
MYSQL_GTID, MYSQL_ANONYMOUS_GTID, MYSQL_PREVIOUS_GTIDS = 33, 34, 35
XA_PREPARE = 38
PARTIAL_UPDATE_ROWS = 39
TRANSACTION_PAYLOAD = 40
ANNOTATE_ROWS = 160
BINLOG_CHECKPOINT = 161
GTID = 162
GTID_LIST = 163
START_ENCRYPTION = 164
QUERY_COMPRESSED = 165
COMPRESSED_ROWS = (166, 167, 168, 169, 170, 171)

ROWS_EVENTS = {WRITE_ROWS_V1: 'insert', UPDATE_ROWS_V1: 'update', DELETE_ROWS_V1: 'delete',
               WRITE_ROWS: 'insert', UPDATE_ROWS: 'update', DELETE_ROWS: 'delete',
               PARTIAL_UPDATE_ROWS: 'update', 166: 'insert', 167: 'update', 168: 'delete',
               169: 'insert', 170: 'update', 171: 'delete'}
STATEMENT_CONTEXT = (INTVAR, RAND, USER_VAR)      # belong to the query event that follows
NO_CONTENT = (STOP, ROTATE, HEARTBEAT, IGNORABLE, ROWS_QUERY, MYSQL_PREVIOUS_GTIDS, ANNOTATE_ROWS,
              BINLOG_CHECKPOINT, GTID_LIST)

LOG_EVENT_BINLOG_IN_USE_F = 0x1
LOG_EVENT_SUPPRESS_USE_F = 0x8
LOG_EVENT_IGNORABLE_F = 0x80
STMT_END_F = 0x1
CHECKSUM_CRC32 = 1
GTID_STANDALONE = 0x1
GTID_GROUP_COMMIT_ID = 0x2
GTID_PREPARED_XA = 0x40
GTID_COMPLETED_XA = 0x80

# query event status variables: code -> fixed length (None: variable, handled in _status_vars)
Q_FLAGS2, Q_SQL_MODE, Q_CATALOG, Q_AUTO_INCREMENT, Q_CHARSET, Q_TIME_ZONE, Q_CATALOG_NZ = 0, 1, 2, 3, 4, 5, 6
_FIXED_STATUS = {Q_FLAGS2: 4, Q_SQL_MODE: 8, Q_AUTO_INCREMENT: 4, Q_CHARSET: 6, 7: 2, 8: 2, 9: 8, 10: 4,
                 13: 3, 16: 1, 17: 8, 18: 2, 19: 1, 20: 1, 128: 3, 129: 8}
MODE_ANSI_QUOTES = 0x4
MODE_NO_BACKSLASH_ESCAPES = 0x100000


class Event(object):
    """One event: header fields, its bytes, and where it came from (file, start position)."""

    __slots__ = ('file', 'pos', 'ts', 'type', 'server_id', 'size', 'end', 'flags', 'raw', 'body_end')

    def __init__(self, file_name, pos, raw, checksum):
        self.file = file_name
        self.pos = pos
        self.raw = raw
        self.ts, self.type, self.server_id, self.size, self.end, self.flags = HEADER.unpack_from(raw, 0)
        self.body_end = len(raw) - (4 if checksum and self.type != FORMAT_DESCRIPTION else 0)

    @property
    def body(self):
        return self.raw[HEADER_BYTES:self.body_end]

    def where(self):
        return '%s:%d' % (self.file, self.pos)


class FormatDescription(object):
    """What the format description event of a file says about the events after it."""

    def __init__(self, event):
        raw = event.raw
        body = raw[HEADER_BYTES:]
        self.server_version = body[2:52].split(b'\0', 1)[0].decode('ascii', 'replace')
        self.header_length = body[56]
        if self.header_length != HEADER_BYTES:
            raise IntegrityError('%s: event headers of %d bytes are not supported (binlog v4 has 19).'
                                 % (event.where(), self.header_length))
        self.checksum = 0
        tail = len(body)
        if _checksum_capable(self.server_version):
            self.checksum = body[-5]        # checksum algorithm byte, then the FDE's own 4-byte CRC slot
            tail = len(body) - 5
        self.post_header = bytearray(body[57:tail])    # length per event type, type 1 first

    def post_header_len(self, event_type):
        if 1 <= event_type <= len(self.post_header):
            return self.post_header[event_type - 1]
        return 0

    def table_id_bytes(self, event_type):
        return 4 if self.post_header_len(event_type) == 6 else 6


def _checksum_capable(version):
    """Servers that write the checksum algorithm into the FDE: MySQL 5.6.1+, MariaDB 5.3+."""
    nums = []
    for part in version.split('-')[0].split('.')[:3]:
        digits = ''.join(ch for ch in part if ch.isdigit())
        nums.append(int(digits or 0))
    nums += [0] * (3 - len(nums))
    if 'mariadb' in version.lower():
        return tuple(nums) >= (5, 3, 0)
    return tuple(nums) >= (5, 6, 1)


def read_events(reader, file_name):
    """Yield (event, fde) for every event of a binlog byte stream, fde = the file's FormatDescription.

    reader: a readable of the whole file (from position 0). Raises IntegrityError on a
    stream that is not a binlog or ends inside an event.
    """
    buf = _Buffered(reader)
    if buf.take(4) != MAGIC:
        raise IntegrityError('%s is not a binary log file (no binlog magic number).' % file_name)
    pos = 4
    fde = None
    while True:
        head = buf.take(HEADER_BYTES)
        if not head:
            return
        if len(head) < HEADER_BYTES:
            raise IntegrityError('%s ends inside an event header at position %d.' % (file_name, pos))
        size = struct.unpack_from('<I', head, 9)[0]
        if size < HEADER_BYTES:
            raise IntegrityError('%s has a malformed event at position %d.' % (file_name, pos))
        rest = buf.take(size - HEADER_BYTES)
        if len(rest) < size - HEADER_BYTES:
            raise IntegrityError('%s ends inside the event at position %d.' % (file_name, pos))
        raw = head + rest
        if head[4] == FORMAT_DESCRIPTION:
            event = Event(file_name, pos, raw, False)
            fde = FormatDescription(event)
        else:
            if fde is None:
                raise IntegrityError('%s: event at position %d comes before the format description.'
                                     % (file_name, pos))
            event = Event(file_name, pos, raw, fde.checksum == CHECKSUM_CRC32)
        yield event, fde
        pos += size


class _Buffered(object):
    """take(n) from a readable in 1 MiB reads."""

    def __init__(self, reader):
        self.reader = reader
        self.data = b''
        self.offset = 0

    def take(self, n):
        if len(self.data) - self.offset < n:
            parts = [self.data[self.offset:]]
            have = len(parts[0])
            while have < n:
                chunk = self.reader.read(max(1 << 20, n - have))
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            self.data, self.offset = b''.join(parts), 0
        out = self.data[self.offset:self.offset + n]
        self.offset += len(out)
        return out


# --- decoding ----------------------------------------------------------------------
class Query(object):
    """A query event: default database, session facts of its status variables, statement bytes."""

    __slots__ = ('db', 'statement', 'charset_id', 'sql_mode', 'error_code', 'post_header', 'status')

    def __init__(self, event, fde):
        body = event.body
        plen = fde.post_header_len(event.type) or 13
        db_len = body[8]
        self.error_code = struct.unpack_from('<H', body, 9)[0]
        status_len = struct.unpack_from('<H', body, 11)[0] if plen >= 13 else 0
        self.post_header = body[:plen]
        self.status = body[plen:plen + status_len]
        start = plen + status_len
        self.db = body[start:start + db_len].decode('utf-8', 'replace')
        statement = body[start + db_len + 1:]
        if event.type == QUERY_COMPRESSED:
            statement = uncompress(statement, event)
        self.statement = statement      # of EXECUTE_LOAD_QUERY: the LOAD DATA text (its data came before)
        self.charset_id, self.sql_mode = _status_vars(self.status)

    def rebuild(self, event, db, statement):
        """Bytes of a plain QUERY event like event with another default database and statement."""
        head = bytearray(self.post_header)
        db_bytes = db.encode('utf-8')
        head[8] = len(db_bytes)
        body = bytes(head) + self.status + db_bytes + b'\0' + statement
        flags = event.flags & ~LOG_EVENT_SUPPRESS_USE_F
        return header_for(event, QUERY, flags), body


def _status_vars(status):
    """(client charset collation id, sql_mode) from a query event's status variables."""
    charset_id, sql_mode = None, 0
    i, n = 0, len(status)
    while i < n:
        code = status[i]
        i += 1
        if code == Q_SQL_MODE and i + 8 <= n:
            sql_mode = struct.unpack_from('<Q', status, i)[0]
        elif code == Q_CHARSET and i + 6 <= n:
            charset_id = struct.unpack_from('<H', status, i)[0]
        if code in _FIXED_STATUS:
            i += _FIXED_STATUS[code]
        elif code == Q_CATALOG:
            i += status[i] + 2 if i < n else 1
        elif code in (Q_TIME_ZONE, Q_CATALOG_NZ):
            i += status[i] + 1 if i < n else 1
        elif code == 11:                          # Q_INVOKER: user, host
            i += status[i] + 1 if i < n else 1
            i += status[i] + 1 if i < n else 1
        elif code == 12:                          # Q_UPDATED_DB_NAMES: count, then NUL-terminated names
            count = status[i] if i < n else 0
            i += 1
            if count != 254:
                for _k in range(count):
                    end = status.find(b'\0', i)
                    i = n if end < 0 else end + 1
        elif code == 130:                         # Q_GTID_FLAGS3 (+ 8 bytes for two-phase ALTER)
            extra = status[i] if i < n else 0
            i += 1 + (8 if extra & 0x6 else 0)
        else:
            break                                 # unknown: the rest cannot be parsed (as the server does)
    return charset_id, sql_mode


def uncompress(data, event):
    """MariaDB compressed event payload: 0x80|lenlen, big-endian length, zlib stream."""
    if not data or data[0] & 0xe0 != 0x80:
        raise IntegrityError('%s: compressed event with an unknown header.' % event.where())
    lenlen = data[0] & 0x07
    if (data[0] & 0x70) >> 4 != 0:
        raise IntegrityError('%s: compressed event with an unknown algorithm.' % event.where())
    try:
        return zlib.decompress(data[1 + lenlen:])
    except zlib.error as e:
        raise IntegrityError('%s: compressed event does not decompress: %s' % (event.where(), e))


class TableMap(object):
    __slots__ = ('table_id', 'db', 'table', 'id_bytes', 'rest')

    def __init__(self, event, fde):
        body = event.body
        self.id_bytes = fde.table_id_bytes(TABLE_MAP)
        self.table_id = int.from_bytes(body[:self.id_bytes], 'little')
        i = fde.post_header_len(TABLE_MAP) or 8
        db_len = body[i]
        self.db = body[i + 1:i + 1 + db_len].decode('utf-8', 'replace')
        j = i + 1 + db_len + 1
        t_len = body[j]
        self.table = body[j + 1:j + 1 + t_len].decode('utf-8', 'replace')
        self.rest = (body[:i], body[j:])       # post-header; table name and everything after it

    def rebuild(self, event, db):
        db_bytes = db.encode('utf-8')
        body = self.rest[0] + bytes([len(db_bytes)]) + db_bytes + b'\0' + self.rest[1]
        return header_for(event, TABLE_MAP, event.flags), body


def rows_table(event, fde):
    """(table id, flags) of a row event."""
    n = fde.table_id_bytes(event.type)
    body = event.raw[HEADER_BYTES:HEADER_BYTES + n + 2]
    return int.from_bytes(body[:n], 'little'), struct.unpack_from('<H', body, n)[0]


def with_rows_flags(event, fde, flags):
    """Body of a row event with its flags replaced."""
    n = fde.table_id_bytes(event.type)
    body = event.body
    return header_for(event, event.type, event.flags), body[:n] + struct.pack('<H', flags) + body[n + 2:]


def gtid_of(event):
    """(text 'domain-server-seq', flags) of a MariaDB GTID event."""
    body = event.body
    seq, domain, flags = struct.unpack_from('<QIB', body, 0)
    return '%d-%d-%d' % (domain, event.server_id, seq), flags


def mysql_gtid_of(event):
    body = event.body
    sid = body[1:17].hex()
    gno = struct.unpack_from('<q', body, 17)[0]
    if event.type == MYSQL_ANONYMOUS_GTID:
        return None
    return '%s-%s-%s-%s-%s:%d' % (sid[:8], sid[8:12], sid[12:16], sid[16:20], sid[20:], gno)


# --- writing -------------------------------------------------------------------------
def header_for(event, event_type, flags):
    """(timestamp, type, server id, flags) to build an event like event."""
    return (event.ts, event_type, event.server_id, flags)


def encode_event(header, body, position, checksum):
    """Bytes of an event starting at position: header fields, body, optional CRC32."""
    ts, event_type, server_id, flags = header
    size = HEADER_BYTES + len(body) + (4 if checksum else 0)
    raw = HEADER.pack(ts, event_type, server_id, size, position + size, flags) + body
    if checksum:
        raw += struct.pack('<I', zlib.crc32(raw) & 0xffffffff)
    return raw


def copy_event(event, position, checksum, flags=None):
    """The event's bytes moved to position (end position and CRC32 recomputed)."""
    return encode_event(header_for(event, event.type, event.flags if flags is None else flags),
                        event.body, position, checksum)


def format_description_bytes(event, fde, position):
    """The FDE moved to position, 'in use' flag cleared, its CRC slot recomputed."""
    body = event.raw[HEADER_BYTES:]
    flags = event.flags & ~LOG_EVENT_BINLOG_IN_USE_F
    if _checksum_capable(fde.server_version):
        body = body[:-4]
        raw = HEADER.pack(event.ts, FORMAT_DESCRIPTION, event.server_id, HEADER_BYTES + len(body) + 4,
                          position + HEADER_BYTES + len(body) + 4, flags) + body
        crc = zlib.crc32(raw) & 0xffffffff if fde.checksum == CHECKSUM_CRC32 else 0
        return raw + struct.pack('<I', crc)
    return HEADER.pack(event.ts, FORMAT_DESCRIPTION, event.server_id, HEADER_BYTES + len(body),
                       position + HEADER_BYTES + len(body), flags) + body
