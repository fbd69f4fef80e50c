"""Databases in legacy server encodings: table data travel in the database's own encoding.

A WIN1252 database may hold bytes without a Unicode mapping (0x81, 0x8D, 0x8F, 0x90,
0x9D), an SQL_ASCII database any bytes at all (invalid UTF-8 included): pg_dump copes
because it dumps in the database encoding, and so must we. Each round trip compares the
column bytes exactly (textsend: no conversion anywhere), deep-verifies the backup and
checks the restored database's encoding. Schema text is stored as UTF8: text that has
no UTF8 form must fail the backup with a message naming the object.
"""
import json
import os

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.postgres import connection
from plugins.module_utils.postgres.logical import data_tables
from tests.support import compare
from tests.support.params import engine_params as _params

# Bytes of the values, as stored in the database (never converted by the test either).
WIN1252_VALUES = [b'caf\xe9', b'\x80 euro', b'x\x81y', b'\x8d\x9d\x8f\x90', b'\x9f\xff tab\there',
                  b'new\nline \\ back\x81slash', b'plain']
LATIN1_VALUES = [bytes(range(0x80, 0xa0)), bytes(range(0xa0, 0x100)), b'na\xefve\ttab', b'plain']
SQL_ASCII_VALUES = [b'\xff\xfe not utf-8', b'\xc3\x28 broken pair', b'\xe2\x82 truncated',
                    'valid utf-8 \u00e9\u20ac'.encode('utf-8'), b'\x80\\N\tx', b'plain']

CASES = {
    'WIN1252': WIN1252_VALUES,
    'LATIN1': LATIN1_VALUES,
    'SQL_ASCII': SQL_ASCII_VALUES,
}

# md5 over (id, raw bytes) of every row: the server never converts textsend's output.
DIGEST_SQL = ("SELECT count(*), md5(string_agg(id::text || ':' || encode(pg_catalog.textsend(v), 'hex'), ',' "
              "ORDER BY id, pg_catalog.textsend(v))) FROM %s")


class Utf8Server(object):
    """The session server with UTF8 clients (pg_dump of compare.py, its psycopg2 sessions):
    the schema text of these databases has a UTF8 form, their data are compared as md5s."""

    def __init__(self, server):
        self._server = server

    def __getattr__(self, name):
        return getattr(self._server, name)

    def env(self):
        env = self._server.env()
        env['PGCLIENTENCODING'] = 'UTF8'
        return env

    def connect(self, *args, **kwargs):
        conn = self._server.connect(*args, **kwargs)
        conn.set_client_encoding('UTF8')
        return conn


def _create_db(server, name, encoding):
    server.psql('postgres', "CREATE DATABASE \"%s\" ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C' "
                            "TEMPLATE template0" % (name, encoding))


def _run_bytes(server, db, encoding, statements):
    """Execute byte-string statements in a session whose client encoding is the database's."""
    conn = server.connect(db)
    try:
        conn.set_client_encoding(encoding)
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
    finally:
        conn.close()


def _literal(value):
    return b"'" + value.replace(b"'", b"''") + b"'"


def _scalar_row(server, db, sql):
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()
    finally:
        conn.close()


def _fill(server, db, encoding, values):
    statements = [b'CREATE TABLE small (id int PRIMARY KEY, v text)',
                  # large enough to be split into block ranges with small_chunks
                  b'CREATE TABLE big (id int, v text)',
                  b'CREATE TABLE arr (id int, v text[])']
    for i, value in enumerate(values):
        statements.append(b'INSERT INTO small VALUES (%d, %s)' % (i, _literal(value)))
    statements.append(b'INSERT INTO big SELECT i, v FROM small, generate_series(1, 4000) i')
    statements.append(b'INSERT INTO arr SELECT id, ARRAY[v, v] FROM small')
    _run_bytes(server, db, encoding, statements)


def _manifest(repo, result):
    found = []
    for root, dummy, files in os.walk(repo):
        if 'manifest.json' in files and root.endswith(result['backup_id']):
            found.append(os.path.join(root, 'manifest.json'))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(data_tables, 'MIN_CHUNK_BYTES', 64 << 10)


@pytest.mark.parametrize('encoding', sorted(CASES))
def test_legacy_encoding_round_trip_is_byte_exact(pg_server, repository, unique_db_name, small_chunks,
                                                  encoding):
    db = unique_db_name('enc_%s' % encoding.lower())
    _create_db(pg_server, db, encoding)
    _fill(pg_server, db, encoding, CASES[encoding])
    if encoding != 'SQL_ASCII':
        # schema text with non-ASCII characters that do have a Unicode form travels as UTF8
        _run_bytes(pg_server, db, encoding, [b"COMMENT ON TABLE small IS 'caf\xe9 \xe0 la carte'",
                                             b"CREATE TABLE \"na\xefve\" (\"\xe9t\xe9\" text DEFAULT 'd\xe9faut')",
                                             b"INSERT INTO \"na\xefve\" VALUES ('\xe9t\xe9 \xff')"])
    result = api.run_backup(_params(pg_server, db, repository, jobs=2))
    assert result['changed'] is True
    with open(_manifest(repository, result)) as f:
        manifest = json.load(f)
    assert manifest['database_info']['encoding'] == encoding
    assert manifest['database_info']['data_encoding'] == encoding
    chunks = [f for f in manifest['files'] if f.get('name') == 'big']
    assert len(chunks) > 1, 'the big table should be split into block ranges: %s' % chunks

    deep = api.run_verify(_params(pg_server, db, repository, mode='deep'))
    assert deep['ok'] is True, deep
    assert deep['verified'][0]['rows'] == result['rows']

    target = unique_db_name('enc_%s_restored' % encoding.lower())
    restored = api.run_restore(_params(pg_server, db, repository, jobs=2, target_database=target))
    assert restored['rows'] == result['rows']
    assert pg_server.scalar('postgres', "SELECT pg_encoding_to_char(encoding) FROM pg_database "
                                        "WHERE datname = '%s'" % target) == encoding
    for table in ('small', 'big'):
        source = _scalar_row(pg_server, db, DIGEST_SQL % table)
        assert source[0] > 0
        assert _scalar_row(pg_server, target, DIGEST_SQL % table) == source, table
    arrays = ("SELECT md5(string_agg(encode(pg_catalog.textsend(array_to_string(v, '|')), 'hex'), ',' "
              "ORDER BY id)) FROM arr")
    assert _scalar_row(pg_server, target, arrays) == _scalar_row(pg_server, db, arrays)
    compare.assert_same_database(Utf8Server(pg_server), db, target)
    checked = api.run_verify(_params(pg_server, db, repository, restored_database=target))
    assert checked['ok'] is True, checked


def test_utf8_database_data_stay_utf8(pg_server, repository, unique_db_name):
    """The common path: a UTF8 database's COPY has no ENCODING option, and its manifest says UTF8."""
    db = unique_db_name('enc_utf8')
    pg_server.create_database(db)
    pg_server.psql(db, "CREATE TABLE t (v text); INSERT INTO t VALUES ('caf\u00e9 \u20ac \U0001f600')")
    assert data_tables.CopyTask(data_tables.DataTable(1, 's', 't', 0, ['v'])).copy_sql('UTF8') == \
        'COPY "s"."t" ("v") TO STDOUT'
    assert connection.copy_options('UTF8', 'FREEZE') == ' (FREEZE)'
    assert connection.copy_options(None) == ''
    assert connection.copy_options('WIN1252', 'FREEZE') == " (FREEZE, ENCODING 'WIN1252')"
    with pytest.raises(errors.IntegrityError):
        connection.copy_options("LATIN1') TO PROGRAM 'x")
    result = api.run_backup(_params(pg_server, db, repository))
    with open(_manifest(repository, result)) as f:
        assert json.load(f)['database_info']['data_encoding'] == 'UTF8'
    target = unique_db_name('enc_utf8_restored')
    api.run_restore(_params(pg_server, db, repository, target_database=target))
    compare.assert_same_database(pg_server, db, target)


def test_backup_without_data_encoding_restores_as_utf8(pg_server, repository, unique_db_name, monkeypatch):
    """Backups written before data_encoding existed hold UTF8 data files: still restorable."""
    db = unique_db_name('enc_old')
    _create_db(pg_server, db, 'WIN1252')
    _fill(pg_server, db, 'WIN1252', [v for v in WIN1252_VALUES if b'\x81' not in v and b'\x8d' not in v])
    original = connection.copy_options
    # what the old engine wrote: COPY in the (UTF8) client encoding, no data_encoding field
    monkeypatch.setattr(data_tables, 'copy_options', lambda encoding, *options: original(None, *options))
    result = api.run_backup(_params(pg_server, db, repository))
    monkeypatch.undo()
    path = _manifest(repository, result)
    with open(path) as f:
        manifest = json.load(f)
    del manifest['database_info']['data_encoding']
    with open(path, 'w') as f:
        json.dump(manifest, f)
    target = unique_db_name('enc_old_restored')
    api.run_restore(_params(pg_server, db, repository, target_database=target))
    for table in ('small', 'big'):
        assert _scalar_row(pg_server, target, DIGEST_SQL % table) == _scalar_row(pg_server, db, DIGEST_SQL % table)


def _assert_no_backup(repository):
    left = [os.path.join(r, f) for r, dummy, files in os.walk(repository) for f in files]
    assert left == [], left


def test_sql_ascii_schema_text_that_is_not_utf8_names_the_object(pg_server, repository, unique_db_name):
    db = unique_db_name('enc_sqlascii_schema')
    _create_db(pg_server, db, 'SQL_ASCII')
    _run_bytes(pg_server, db, 'SQL_ASCII', [b'CREATE TABLE fine (v text)',
                                            b'CREATE TABLE legacy (v text)',
                                            b"COMMENT ON TABLE legacy IS 'caf\xe9 in latin1'"])
    with pytest.raises(errors.BackupFailed) as info:
        api.run_backup(_params(pg_server, db, repository))
    msg = str(info.value)
    assert 'SQL_ASCII' in msg and 'UTF8' in msg, msg
    assert 'comment on table public.legacy' in msg, msg
    _assert_no_backup(repository)


def test_win1252_name_without_unicode_form_names_the_object(pg_server, repository, unique_db_name):
    db = unique_db_name('enc_win_schema')
    _create_db(pg_server, db, 'WIN1252')
    _run_bytes(pg_server, db, 'WIN1252', [b'CREATE TABLE fine (v text)',
                                          b'CREATE TABLE "odd\x81name" (v text)'])
    with pytest.raises(errors.BackupFailed) as info:
        api.run_backup(_params(pg_server, db, repository))
    msg = str(info.value)
    assert '0x81' in msg and 'WIN1252' in msg, msg
    assert 'relation public.odd\\x81name' in msg, msg
    _assert_no_backup(repository)
