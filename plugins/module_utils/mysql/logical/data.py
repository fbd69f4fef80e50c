"""Table data of a MySQL/MariaDB backup: the stored format, dumping and loading.

Format: the text format of LOAD DATA / SELECT ... INTO OUTFILE with its
defaults, one row per line:

    FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n', CHARACTER SET binary

Values are the bytes the server stores (dump sessions run SET NAMES binary with
no client-side conversion), so nothing is re-encoded: latin1, utf8mb4, binary,
BLOB, BIT, spatial (internal WKB), ENUM/SET (their text), JSON and temporal
values (time_zone +00:00) come back byte for byte. Escapes: backslash, tab,
newline and NUL are written as \\\\ \\t \\n \\0; NULL is \\N. FLOAT columns are read
as DOUBLE (FLOAT text keeps 6 digits only). Generated columns are left out.

The server builds each line (CONCAT_WS of escaped values, schema.Table.select_sql)
and the client copies lines from the socket (_result_lines): decoding every
value in Python would cost four times the server's own time. encode_rows is the
same format built from decoded values (tests prove both agree byte for byte).

Why this and not INSERT statements: the server parses LOAD DATA rows several
times faster than INSERT values, the text is about half the size of hex
literals for binary data, and the files stay readable. It is restored with
LOAD DATA LOCAL INFILE fed from the stream (load_local.py); servers that
refuse LOCAL INFILE get the same rows as batched multi-row INSERT statements
with hex literals (about 1 MiB each).

A table's rows are split into files of CHUNK_BYTES raw bytes so that one
LOAD DATA (one transaction) stays bounded and chunks load in parallel.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import uuid

from ...common.deps import require
from ...common.errors import IntegrityError, RestoreFailed
from ..capabilities import TEXT_INPUT_TYPES
from ..connection import error_code, error_text, quote_ident

CHUNK_BYTES = 256 * 1024 * 1024
FETCH_ROWS = 2000
INSERT_BATCH_BYTES = 1 << 20
NULL = b'\\N'
ESCAPES = ((b'\\', b'\\\\'), (b'\t', b'\\t'), (b'\n', b'\\n'), (b'\x00', b'\\0'))
UNESCAPES = {b'\\': b'\\', b't': b'\t', b'n': b'\n', b'0': b'\x00', b'r': b'\r', b'b': b'\b', b'Z': b'\x1a'}
ER_LOCAL_INFILE_DISABLED = (1148, 3948, 4166)   # "command not allowed", "loading local data is disabled"


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


def _result_lines(conn, sql):
    """Yield (bytes of lines, row count) of a one-column result, in batches of FETCH_ROWS rows.

    Reads the row packets straight from the connection's socket: a row is one
    length-coded string, so the client only strips a length prefix per row
    (PyMySQL's general row decoding costs several times more). Uses PyMySQL
    internals (_execute_command, _read_packet, _rfile); falls back to an
    unbuffered cursor when they are missing.
    """
    pymysql = require('pymysql')
    if not all(hasattr(conn, a) for a in ('_execute_command', '_read_packet', '_rfile')):
        cur = pymysql.cursors.SSCursor(conn)
        try:
            cur.execute(sql)
            while True:
                rows = cur.fetchmany(FETCH_ROWS)
                if not rows:
                    return
                lines = [r[0] for r in rows]
                lines.append(b'')
                yield b'\n'.join(lines), len(rows)
        finally:
            cur.close()
    conn._execute_command(pymysql.constants.COMMAND.COM_QUERY, sql.encode('utf-8'))
    first = conn._read_packet()          # raises the server's error, if any
    for _n in range(first.read_length_encoded_integer()):
        conn._read_packet()              # column definition
    if not conn._read_packet().is_eof_packet():
        raise pymysql.err.OperationalError(2014, 'unexpected packet after the column definitions')
    read = conn._rfile.read
    lines = []
    while True:
        head = read(4)
        if len(head) < 4:
            raise pymysql.err.OperationalError(2013, 'Lost connection to server during query')
        size = head[0] | (head[1] << 8) | (head[2] << 16)
        payload = read(size)
        while size == 0xFFFFFF:          # a row of 16 MiB or more comes in several packets
            head = read(4)
            size = head[0] | (head[1] << 8) | (head[2] << 16)
            payload += read(size)
        first_byte = payload[0]
        if first_byte < 0xFB:
            line = payload[1:]
        elif first_byte == 0xFC:
            line = payload[3:]
        elif first_byte == 0xFD:
            line = payload[4:]
        elif first_byte == 0xFE and len(payload) >= 9:
            line = payload[9:]
        elif first_byte == 0xFE:         # EOF: end of the rows
            break
        elif first_byte == 0xFF:
            pymysql.err.raise_mysql_exception(payload)
        else:                            # 0xFB: NULL, which CONCAT_WS never returns
            raise pymysql.err.OperationalError(2014, 'unexpected NULL row in a dump stream')
        lines.append(line)
        if len(lines) >= FETCH_ROWS:
            n = len(lines)
            lines.append(b'')
            yield b'\n'.join(lines), n
            lines = []
    if lines:
        n = len(lines)
        lines.append(b'')
        yield b'\n'.join(lines), n


def dump_table(conn, database, table, open_file, on_file_done, where=''):
    """Stream a table's rows into chunk files.

    open_file(n) -> a StoredFileWriter for chunk n (1-based); on_file_done(writer,
    rows, n) commits it. Returns the number of rows.
    """
    total = 0
    chunk, rows_in_file, bytes_in_file = 1, 0, 0
    writer = open_file(chunk)
    try:
        for data, nrows in _result_lines(conn, table.select_sql(database, where)):
            writer.write(data)
            rows_in_file += nrows
            bytes_in_file += len(data)
            total += nrows
            if bytes_in_file >= CHUNK_BYTES:
                on_file_done(writer, rows_in_file, chunk)
                chunk += 1
                rows_in_file, bytes_in_file = 0, 0
                writer = open_file(chunk)
        on_file_done(writer, rows_in_file, chunk)
        writer = None
    finally:
        if writer is not None:
            writer.abort()
    return total


# --- loading -----------------------------------------------------------------------
def _column_list(entry, flavor):
    """(column list, SET clause) of LOAD DATA for a data file entry."""
    cols, sets = [], []
    for i, (name, typ) in enumerate(zip(entry['columns'], entry.get('types') or [''] * len(entry['columns']))):
        if needs_text_input(typ, flavor):
            var = '@dbbackup_v%d' % i
            cols.append(var)
            sets.append('%s = CONVERT(%s USING utf8mb4)' % (quote_ident(name), var))
        else:
            cols.append(quote_ident(name))
    return ', '.join(cols), (' SET ' + ', '.join(sets)) if sets else ''


def load_sql(entry, name, flavor):
    cols, sets = _column_list(entry, flavor)
    return ("LOAD DATA LOCAL INFILE '%s' INTO TABLE %s CHARACTER SET binary "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (%s)%s"
            % (name, quote_ident(entry['name']), cols, sets))


class LocalInfileRefused(Exception):
    """The server (or the client library) does not allow LOAD DATA LOCAL."""


def load_file(conn, entry, reader, flavor, method):
    """Load one data file into the current database; returns rows loaded."""
    if method == 'load_data' and getattr(conn, 'streaming', False):
        name = 'dbbackup-stream-%s' % uuid.uuid4().hex
        conn.load_source, conn.load_name = reader, name
        cur = conn.cursor()
        try:
            try:
                rows = cur.execute(load_sql(entry, name, flavor))
            except Exception as e:
                if error_code(e) in ER_LOCAL_INFILE_DISABLED:
                    raise LocalInfileRefused(error_text(e))
                raise
        finally:
            conn.load_source = conn.load_name = None
        _check_warnings(cur, entry)
        return rows
    return insert_file(conn, entry, reader, flavor)


def _check_warnings(cur, entry):
    cur.execute('SHOW WARNINGS LIMIT 3')
    warnings = cur.fetchall()
    if warnings:
        text = '; '.join('%s %s: %s' % tuple(_t(x) for x in w[:3]) for w in warnings)
        raise RestoreFailed('Loading %s into table %s changed values: %s'
                            % (entry['path'], entry['name'], text),
                            'The target server differs from the source in a way that alters data '
                            '(sql_mode, character sets, column types); the target was left unchanged.')


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


def _literal(value, typ, flavor):
    if value is None:
        return b'NULL'
    lit = b"X'" + binascii.hexlify(value) + b"'"
    if needs_text_input(typ, flavor):
        return b'CONVERT(' + lit + b' USING utf8mb4)'
    return lit


def insert_file(conn, entry, reader, flavor):
    """The fallback loader: multi-row INSERTs with hex literals, about 1 MiB each."""
    types = entry.get('types') or [''] * len(entry['columns'])
    head = ('INSERT INTO %s (%s) VALUES ' % (quote_ident(entry['name']), ', '.join(
        quote_ident(c) for c in entry['columns']))).encode('utf-8')
    cur = conn.cursor()
    batch, size, total, rest = [], 0, 0, b''
    ncols = len(entry['columns'])

    def flush():
        if batch:
            cur.execute(head + b','.join(batch))
            del batch[:]
            _check_warnings(cur, entry)
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
            row = b'(' + b','.join(_literal(_unescape(f), t, flavor) for f, t in zip(fields, types)) + b')'
            batch.append(row)
            size += len(row)
            total += 1
            if size >= INSERT_BATCH_BYTES:
                size = flush()
    if rest:
        raise IntegrityError('%s ends in the middle of a row.' % entry['path'])
    flush()
    return total
