"""FLOAT and DOUBLE values are stored as their IEEE 754 bits (mysql/logical/data.py) and come back
bit for bit: extremes, subnormals, negative values, NULL, DOUBLE(M,D) and FLOAT(M,D), in a table read
by key-range batches and in one read row by row; through LOAD DATA and through the INSERT fallback.
The manifest says format version 3 (1.0.0 refuses it rather than loading the hex digits as numbers),
and a backup written the 1.0.0 way (decimal text, no float_form) still restores.
"""
import json
import os

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.format import manifest as manifest_mod
from plugins.module_utils.mysql.logical import data as mysql_data, dump as mysql_dump, row_sql
from tests.support.mysql_compare import assert_same_database, leftover_databases

DB = 'floats_%d' % os.getpid()
DOUBLES = ['0', '-1.5', '4.9406564584124654e-324', '-4.9406564584124654e-324', '2.2250738585072014e-308',
           '2.225073858507201e-308', '1.7976931348623157e308', '-1.7976931348623157e308', '0.1',
           '0.30000000000000004', '1e0/3', '123456789.123456789', '9007199254740993', 'NULL']
FLOATS = ['0', '-1.5', '3.4028234663852886e38', '1.401298464324817e-45', '1.1754943508222875e-38', '0.1',
          '16777217', '-2.5e-10', '1e0/3', '-3.4028234663852886e38', '7', '-0.000001', '1e30', 'NULL']
DOUBLES_MD = ['0', '-1.5', '0.001', '-0.001', '12345.678', '-999999999.999', '999999999.999', '0.1', '0.3',
              '1e0/3', '123456789.123', '1.5', '-2.25', 'NULL']
FLOATS_MD = ['0', '-1.5', '0.0001', '123456.7891', '-99999.9999', '0.1', '3.1416', '-0.5', '1e0/3', '2.5', '7',
             '-7.25', '100', 'NULL']
BITS_SQL = "HEX(SUBSTRING(ST_AsBinary(POINT(%s, 0)), 6, 8))"


@pytest.fixture(scope='module')
def floats_db(mysql_server):
    s = mysql_server
    s.create_database(DB)
    rows = ', '.join('(%d, %s, %s, %s, %s, ABS(%s))' % (i, d, r, dm, fm, d) for i, (d, r, dm, fm) in enumerate(
        zip(DOUBLES, FLOATS, DOUBLES_MD, FLOATS_MD), 1))
    s.sql("""
CREATE TABLE f (id INT PRIMARY KEY, d DOUBLE, r FLOAT, dm DOUBLE(12,3), fm FLOAT(10,4), du DOUBLE UNSIGNED);
CREATE TABLE f_rows (d DOUBLE, r FLOAT);
INSERT INTO f VALUES %s;
INSERT INTO f_rows SELECT d, r FROM f;
""" % rows, DB)
    yield DB
    s.execute('DROP DATABASE IF EXISTS `%s`' % DB)


def _bits(server, db):
    """The bits of every float value of both tables, in a stable order (CHECKSUM TABLE is checked too)."""
    keyed = server.execute('SELECT id, %s FROM `%s`.f ORDER BY id' % (
        ', '.join(BITS_SQL % c for c in ('d', 'r', 'dm', 'fm', 'du')), db))
    rows = server.execute('SELECT %s, %s FROM `%s`.f_rows ORDER BY 1, 2' % (BITS_SQL % 'd', BITS_SQL % 'r', db))
    return [tuple(r) for r in keyed], [tuple(r) for r in rows]


def _manifest(location):
    with open(os.path.join(location, 'manifest.json')) as f:
        return json.load(f)


def _params(server, repo, database, **options):
    p = server.conn_params(database)
    p.update(repository=repo)
    p.update(options)
    return p


def test_floats_round_trip_bit_for_bit(mysql_server, floats_db, tmp_path, monkeypatch):
    repo = str(tmp_path / 'repo')
    source = _bits(mysql_server, floats_db)
    assert len(set(v for row in source[0] for v in row[1:])) > 40 and len(source[1]) == len(DOUBLES)
    backup = api.run_backup(_params(mysql_server, repo, floats_db))
    manifest = _manifest(backup['location'])
    assert manifest['format_version'] == manifest_mod.FLOAT_BITS_VERSION == 3
    data = [f for f in manifest['files'] if f['role'] == 'data']
    assert sorted(f['name'] for f in data) == ['f', 'f_rows'] and all(f['float_form'] == 'ieee754-hex' for f in data)

    for method in ('load_data', 'insert'):
        copy = 'fl_copy_%s_%d' % (method, os.getpid())
        if method == 'insert':
            mysql_server.execute('SET GLOBAL local_infile = 0')
        try:
            api.run_restore(_params(mysql_server, repo, floats_db, target_database=copy))
        finally:
            mysql_server.execute('SET GLOBAL local_infile = 1')
        try:
            assert _bits(mysql_server, copy) == source, method
            assert_same_database(mysql_server, floats_db, copy)
        finally:
            mysql_server.execute('DROP DATABASE `%s`' % copy)
    assert leftover_databases(mysql_server) == []


def test_an_engine_that_reads_up_to_version_2_refuses_the_backup(mysql_server, floats_db, tmp_path, monkeypatch):
    """As 1.0.0 does: by id, a clear error; as `latest`, the backup is not taken for a complete one."""
    repo = str(tmp_path / 'repo')
    backup = api.run_backup(_params(mysql_server, repo, floats_db))
    monkeypatch.setattr(manifest_mod, 'READABLE_VERSION', 2)
    target = 'fl_never_%d' % os.getpid()
    with pytest.raises(errors.IntegrityError) as e:
        api.run_restore(_params(mysql_server, repo, floats_db, target_database=target, backup_id=backup['backup_id']))
    assert 'format version 3' in str(e.value) and 'Upgrade' in str(e.value)
    with pytest.raises(errors.NotFound):
        api.run_restore(_params(mysql_server, repo, floats_db, target_database=target))
    assert mysql_server.scalar('SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s',
                               (target,)) == 0


def test_a_backup_with_decimal_text_still_restores(mysql_server, floats_db, tmp_path, monkeypatch):
    """The 1.0.0 form: DOUBLE as decimal text (FLOAT read as DOUBLE), no float_form, format version 1."""
    repo = str(tmp_path / 'repo')
    monkeypatch.setattr(mysql_dump, 'FLOAT_BITS_TYPES', ())
    monkeypatch.setattr(row_sql, 'float_bits_sql', lambda q: '(%s + 0e0)' % q)     # 1.0.0's expression
    backup = api.run_backup(_params(mysql_server, repo, floats_db))
    monkeypatch.undo()
    manifest = _manifest(backup['location'])
    assert manifest['format_version'] == 1
    assert not any('float_form' in f for f in manifest['files'])
    copy = 'fl_text_%d' % os.getpid()
    api.run_restore(_params(mysql_server, repo, floats_db, target_database=copy))
    try:
        assert _bits(mysql_server, copy) == _bits(mysql_server, floats_db)
    finally:
        mysql_server.execute('DROP DATABASE `%s`' % copy)


def test_a_value_that_is_not_16_hex_digits_is_refused():
    bits = mysql_data.FLOAT_INPUT_SQL.encode('ascii')
    with pytest.raises(errors.IntegrityError):
        mysql_data._literal(b'1.5', bits)
    assert mysql_data._literal(b'9A9999999999B93F', bits) == (
        b"ST_X(ST_GeomFromWKB(CONCAT(X'0101000000', UNHEX('9A9999999999B93F'), X'0000000000000000')))")
