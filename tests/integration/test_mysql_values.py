"""MySQL/MariaDB values that used to change or break on the way through a backup.

One database holds them all and is backed up once, with the server's default 16 MiB
max_allowed_packet (the large rows were inserted under a larger one):
  big     an escaped value just over max_allowed_packet (it came back as NULL, reported as
          success), and a 20 MiB value (several protocol packets: escaped piece by piece)
  blobs   512 KiB of NULs, 4 MiB of random bytes, 200 x 100 KiB (quadratic before)
  enums   ENUM index 0 (the invalid value '') next to an '' member or a '0' member, SETs with
          an '' member (',a' came back as 'a'), values stored under a permissive sql_mode (the
          restore failed on warning 1265); with a key (batches) and without (row by row)
The copy must match by CHECKSUM TABLE and by the numeric values of ENUM and SET. Long values
with bytes to escape come raw inside batch lines and are escaped by the client: every byte value,
NUL-only, empty and NULL values round-trip, and only a value too long for a line is read again
row by row. Then: the
INSERT fallback (LOAD DATA LOCAL refused) names the row that no INSERT can carry; a stopped
backup stops its running queries (KILL works); views on a table named like its database, and
column defaults drawing from a sequence, restore under another name.
"""
import hashlib
import os
import threading

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.mysql.logical import row_stream
from plugins.module_utils.mysql.logical.dump import MysqlLogicalDump
from tests.support.mysql_compare import assert_same_database, leftover_databases, table_checksums

SUFFIX = '%d' % os.getpid()
DB = 'vals_' + SUFFIX
ALL_BYTES = bytes(range(256))


def _params(server, repo, database, **options):
    p = server.conn_params(database)
    p.update(repository=repo)
    p.update(options)
    return p


def _unlogged(server, database, sql, args=None):
    """Run sql without writing the binary log (the session server's log stays small)."""
    conn = server.connect(database)
    try:
        cur = conn.cursor()
        cur.execute('SET SESSION sql_log_bin = 0, sql_mode = \'\'')
        cur.execute(sql, args)
    finally:
        conn.close()


@pytest.fixture(scope='module')
def values_db(mysql_server, tmp_path_factory):
    s = mysql_server
    repo = str(tmp_path_factory.mktemp('values') / 'repo')
    s.create_database(DB)
    s.sql("""
CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB);
CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB);
CREATE TABLE enums (id INT PRIMARY KEY, e ENUM('x','y'), e2 ENUM('','a'), s SET('','a'), s2 SET('a','b'), t TEXT);
CREATE TABLE enums_rows (e ENUM('x','0'), n INT);
CREATE TABLE multi (g INT, n INT, t TEXT, PRIMARY KEY (g, n));
CREATE TABLE bits (id INT PRIMARY KEY, b8 BIT(8), b3 BIT(3), vb VARBINARY(4), c CHAR(2) CHARACTER SET latin1);
""", DB)
    before = s.scalar('SELECT @@GLOBAL.max_allowed_packet')
    s.execute('SET GLOBAL max_allowed_packet = 67108864')
    try:
        _unlogged(s, DB, "INSERT INTO big VALUES (1, CONCAT(REPEAT('a', 16700000), REPEAT(CHAR(0), 77000)))")
        _unlogged(s, DB, 'INSERT INTO big VALUES (2, REPEAT(%s, 81920)), (3, %s)', (ALL_BYTES, b'small\t\n\\'))
    finally:
        s.execute('SET GLOBAL max_allowed_packet = %d' % before)
    _unlogged(s, DB, 'INSERT INTO blobs VALUES (1, REPEAT(CHAR(0), 524288)), (2, %s)', (os.urandom(4 << 20),))
    for i in range(10):
        _unlogged(s, DB, 'INSERT INTO blobs VALUES ' + ', '.join(['(%s, %s)'] * 20),
                  [v for n in range(20) for v in (100 + i * 20 + n, os.urandom(100 * 1024))])
    _unlogged(s, DB, "INSERT INTO enums VALUES (1, 'bogus', 'bogus', ',a', 'a,b', REPEAT('a\tb', 100)), "
                     "(2, 'x', '', '', '', NULL), (3, 'y', 'a', 1, 'b', NULL), (4, NULL, NULL, NULL, NULL, NULL), "
                     "(5, 0, 0, 3, 0, 'short')")     # row 1 is read twice: its text has tabs and is long
    _unlogged(s, DB, "INSERT INTO enums SELECT seq, 'x', 'a', '', 'a', NULL FROM seq_6_to_40")
    # a marked row inside a key value of several rows (all of them are read again, once)
    _unlogged(s, DB, "INSERT INTO multi SELECT seq DIV 3, seq % 3, IF(seq IN (16, 89), REPEAT('t\tu\n', 80), "
                     "CONCAT('row ', seq)) FROM seq_0_to_89")
    # every value of a BIT(8) and a BIT(3) (escaped by a lookup), every byte in a binary and a latin1 column
    _unlogged(s, DB, "INSERT INTO bits SELECT seq, seq, seq % 8, CHAR(seq), CHAR(seq) FROM seq_0_to_255")
    _unlogged(s, DB, "INSERT INTO bits VALUES (256, NULL, NULL, NULL, NULL)")
    _unlogged(s, DB, "INSERT INTO enums_rows VALUES ('bogus', 1), ('x', 2), ('0', 3), (0, 4)")   # no key: row by row
    backup = api.run_backup(_params(s, repo, DB, jobs=2))
    return {'repo': repo, 'backup': backup}


def _enum_numbers(server, db):
    return server.execute('SELECT id, e + 0, e2 + 0, s + 0, s2 + 0, e, e2, s FROM `%s`.enums WHERE id <= 5 '
                          'ORDER BY id' % db)


def test_values_round_trip_exactly(mysql_server, values_db):
    s = mysql_server
    assert s.scalar('SELECT @@GLOBAL.max_allowed_packet') == 16 * 1024 * 1024
    numbers = _enum_numbers(s, DB)
    assert [r[1:5] for r in numbers] == [(0, 0, 3, 3), (1, 1, 0, 0), (2, 2, 1, 2), (None, None, None, None),
                                         (0, 0, 3, 0)]
    copy = DB + '_copy'
    api.run_restore(_params(s, values_db['repo'], DB, target_database=copy, jobs=2))
    assert_same_database(s, DB, copy)
    assert _enum_numbers(s, copy) == numbers
    rows = 'SELECT n, e + 0 FROM `%s`.enums_rows ORDER BY n'
    assert s.execute(rows % copy) == s.execute(rows % DB) == ((1, 0), (2, 1), (3, 2), (4, 0))
    digests = s.execute('SELECT id, LENGTH(b), SHA2(b, 256) FROM `%s`.big ORDER BY id' % copy)
    assert digests[0][1] == 16777000 and digests[1][1] == 20 * 1024 * 1024
    assert digests[1][2] == hashlib.sha256(ALL_BYTES * 81920).hexdigest()
    assert table_checksums(s, copy)['blobs'][0] == 202
    bits = 'SELECT id, b8 + 0, b3 + 0, HEX(vb), HEX(c) FROM `%s`.bits ORDER BY id'
    assert s.execute(bits % copy) == s.execute(bits % DB)
    assert [r[1] for r in s.execute(bits % copy)] == list(range(256)) + [None]


def test_insert_fallback_names_the_row_no_insert_can_carry(mysql_server, values_db):
    s = mysql_server
    s.execute('SET GLOBAL local_infile = 0')
    try:
        with pytest.raises(errors.RestoreFailed) as e:
            api.run_restore(_params(s, values_db['repo'], DB, target_database=DB + '_ins'))
    finally:
        s.execute('SET GLOBAL local_infile = 1')
    message = str(e.value)
    assert 'table big' in message and 'max_allowed_packet' in message and 'Row 1 of data/' in message
    assert 'local_infile = ON' in e.value.hint
    assert not s.execute('SHOW DATABASES LIKE %s', (DB + '_ins',)) and leftover_databases(s) == []


def test_a_stopped_backup_kills_its_running_query(mysql_server, tmp_path, monkeypatch):
    """One table fails while another streams row by row: the other's query is killed, not finished."""
    s = mysql_server
    db = 'kill_' + SUFFIX
    s.create_database(db)
    s.sql("CREATE TABLE many (a INT, v VARCHAR(40)); CREATE TABLE tiny (id INT PRIMARY KEY);", db)
    _unlogged(s, db, "INSERT INTO many SELECT seq, CONCAT('row ', seq, REPEAT('x', 24)) FROM seq_1_to_400000")
    started, killed, written = threading.Event(), threading.Event(), {'many': 0}
    real_dump_one, real_cancel, real_write = MysqlLogicalDump._dump_one, MysqlLogicalDump._cancel, row_stream.ChunkSink.write

    def dump_one(self, conn, task):
        if task[1].name == 'tiny':
            assert started.wait(60)
            raise RuntimeError('injected failure of table tiny')
        return real_dump_one(self, conn, task)

    def cancel(self, conn):
        real_cancel(self, conn)
        killed.set()

    def write(self, data, rows, zeros=None):
        written['many'] += rows
        started.set()
        assert killed.wait(60)
        return real_write(self, data, rows, zeros)

    monkeypatch.setattr(MysqlLogicalDump, '_dump_one', dump_one)
    monkeypatch.setattr(MysqlLogicalDump, '_cancel', cancel)
    monkeypatch.setattr(row_stream.ChunkSink, 'write', write)
    with pytest.raises(errors.BackupFailed) as e:
        api.run_backup(_params(s, str(tmp_path / 'repo'), db, jobs=2))
    assert 'injected failure of table tiny' in str(e.value)
    assert killed.is_set() and 0 < written['many'] < 400000
    assert not s.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%%FROM `kill_%%' "
                         "AND ID <> CONNECTION_ID()")


def test_views_and_sequences_under_another_name(mysql_server, tmp_path):
    """A view on a table named like its database (its qualifier stripping broke the view), and a
    column default drawing from a sequence (the copy must draw from its own)."""
    s = mysql_server
    db = 'r4_' + SUFFIX
    repo = str(tmp_path / 'repo')
    s.create_database(db)
    s.sql("CREATE TABLE `{0}` (id INT PRIMARY KEY); CREATE TABLE u (id INT PRIMARY KEY, w INT); "
          "CREATE VIEW v AS SELECT `{0}`.id, u.w FROM `{0}` JOIN u ON `{0}`.id = u.id; "
          "CREATE VIEW v2 AS SELECT x.id FROM u AS `{0}` JOIN u AS x ON `{0}`.id = x.id; "
          "CREATE SEQUENCE s START WITH 100; "
          "CREATE TABLE t (id INT DEFAULT NEXT VALUE FOR s PRIMARY KEY, v INT); "
          "INSERT INTO `{0}` VALUES (1), (2); INSERT INTO u VALUES (1, 10), (2, 20); "
          "INSERT INTO t (v) VALUES (1), (2);".format(db), db)
    api.run_backup(_params(s, repo, db))
    # restored under another name with the source gone (a fresh server: nothing of it left)
    s.execute('DROP DATABASE `%s`' % db)
    copy = db + '_copy'
    api.run_restore(_params(s, repo, db, target_database=copy))
    assert s.execute('SELECT id, w FROM `%s`.v ORDER BY id' % copy) == ((1, 10), (2, 20))
    assert s.execute('SELECT id FROM `%s`.v2 ORDER BY id' % copy) == ((1,), (2,))
    following = s.scalar('SELECT next_not_cached_value FROM `%s`.s' % copy)
    s.execute('INSERT INTO `%s`.t (v) VALUES (3)' % copy)
    assert s.scalar('SELECT id FROM `%s`.t WHERE v = 3' % copy) == following > 101
    # and next to the source, on the same server: each draws from its own sequence
    api.run_restore(_params(s, repo, db, target_database=db))
    second = copy + '2'
    api.run_restore(_params(s, repo, db, target_database=second))
    assert_same_database(s, db, second)
    source_next = s.scalar('SELECT next_not_cached_value FROM `%s`.s' % db)
    s.execute('INSERT INTO `%s`.t (v) VALUES (4), (5)' % second)
    assert s.scalar('SELECT next_not_cached_value FROM `%s`.s' % db) == source_next
    assert s.execute('SELECT id FROM `%s`.t WHERE v >= 4 ORDER BY id' % second) == ((source_next,), (source_next + 1,))


def test_raw_values_in_batch_lines_round_trip(mysql_server, tmp_path, monkeypatch):
    """Values over row_sql.SHORT_BYTES holding tab, newline, backslash or NUL come raw inside a batch
    line (marker, length, bytes; row_sql.py) and are escaped by the client: every byte value, NUL-only
    values, values that start like a length, just over SHORT_BYTES and at LINE_VALUE_BYTES, next to
    empty values and NULLs, round-trip exactly; only the rows of values longer than a line holds are
    read again row by row."""
    s = mysql_server
    db = 'raw_' + SUFFIX
    s.create_database(db)
    s.sql("CREATE TABLE r (id INT PRIMARY KEY, b BLOB, t TEXT CHARACTER SET latin1, v VARBINARY(2000), "
          "m MEDIUMBLOB)", db)
    values = [ALL_BYTES * 2, ALL_BYTES[::-1] + ALL_BYTES + b'\\', b'\x00' * 1000, b'\x00' * 257, b'', None,
              b'\x0000600' + ALL_BYTES * 2, b'00300' + b'\t' * 300, b'\\' * 257, b'\n' + b'a' * 256,
              b'plain text, long enough ' * 20, ALL_BYTES + b'\x00', b'\x00', ALL_BYTES]
    long_rows = {57: os.urandom(70000), 140: b'z' * 70000}       # over LINE_VALUE_BYTES: row by row
    rows = []
    for i in range(200):
        m = long_rows.get(i, ALL_BYTES * 256 if i % 50 == 7 else values[(i + 3) % len(values)])
        rows.append((i, values[i % len(values)], values[(i + 1) % len(values)], values[(i + 2) % len(values)], m))
    _unlogged(s, db, 'INSERT INTO r VALUES ' + ', '.join(['(%s, %s, %s, %s, %s)'] * len(rows)),
              [v for row in rows for v in row])
    read_again, real_rowwise = [], row_stream.TableReader.rowwise

    def rowwise(self, where=''):
        before = self.sink.total
        out = real_rowwise(self, where)
        read_again.append((self.table.name, self.sink.total - before))
        return out

    monkeypatch.setattr(row_stream.TableReader, 'rowwise', rowwise)
    repo = str(tmp_path / 'repo')
    api.run_backup(_params(s, repo, db, jobs=2))
    assert read_again and set(n for n, _r in read_again) == {'r'} and sum(r for _n, r in read_again) == 2
    copy = db + '_copy'
    api.run_restore(_params(s, repo, db, target_database=copy))
    assert_same_database(s, db, copy)
    got = s.execute('SELECT id, b, CAST(t AS BINARY), v, m FROM `%s`.r ORDER BY id' % copy)
    assert [tuple(None if v is None else bytes(v) for v in r[1:]) for r in got] == [r[1:] for r in rows]
