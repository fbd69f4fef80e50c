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
import uuid

from ...common.errors import IntegrityError, RestoreFailed
from ..connection import error_code, error_text, quote_ident

INSERT_BATCH_BYTES = 1 << 20
NULL = b'\\N'
ESCAPES = ((b'\\', b'\\\\'), (b'\t', b'\\t'), (b'\n', b'\\n'), (b'\x00', b'\\0'))
UNESCAPES = {b'\\': b'\\', b't': b'\t', b'n': b'\n', b'0': b'\x00', b'r': b'\r', b'b': b'\b', b'Z': b'\x1a'}
ER_LOCAL_INFILE_DISABLED = (1148, 3948, 4166)   # "command not allowed", "loading local data is disabled"
# Types whose text form must be converted to a character set on input: given binary-charset
# bytes, MariaDB's UUID/INET4/INET6 read their binary form, MySQL's JSON refuses them.
TEXT_INPUT_TYPES = {'mariadb': ('uuid', 'inet4', 'inet6'), 'mysql': ('json',)}


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
