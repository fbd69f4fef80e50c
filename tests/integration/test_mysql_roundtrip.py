"""MySQL/MariaDB against a real MariaDB server started by the suite (binary log on).

Round trip of a fixture with every object kind the engine claims (tests/fixtures/mysql/rich.sql):
the copy must match the source by SHOW CREATE of every object, the metadata SHOW CREATE leaves
out, and CHECKSUM TABLE of every table. Then idempotence and if_exists, the INSERT fallback and
chunked files, the rollback of a failed replace, a consistent snapshot under concurrent writes
(proved by replaying the binary log from the backup's position onto the copy), point-in-time
recovery between two known writes, bad input, and the modules through ansible-playbook.
"""
import datetime
import glob
import json
import os
import threading
import time

import pytest

from devtools.drill import run_playbook
from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.mysql.logical import data as mysql_data, row_sql, row_stream
from plugins.module_utils.mysql.logical.restore import MysqlLogicalRestore
from tests.support.mysql_compare import (assert_same_database, leftover_databases, schema_snapshot,
                                         table_checksums)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(os.path.dirname(HERE), 'fixtures', 'mysql', 'rich.sql')
WRONG_PASSWORD = 'Wr0ng-mysql-pa55-k2'


@pytest.fixture(scope='module')
def rich_mysql(mysql_server):
    """Database `rich` loaded from the fixture (read-only for the tests)."""
    mysql_server.create_database('rich', collation='utf8mb4_unicode_ci')
    mysql_server.sql(open(FIXTURE).read(), 'rich')
    return 'rich'


@pytest.fixture
def params(mysql_server, tmp_path):
    """params(database, **options) for the session server and a fresh repository per test."""
    repo = str(tmp_path / 'repo')

    def build(database, **options):
        p = mysql_server.conn_params(database)
        p['repository'] = repo
        p.update(options)
        return p
    build.repository = repo
    return build


def _names():
    n = {'i': 0}

    def make(prefix):
        n['i'] += 1
        return '%s_%d_%d' % (prefix, os.getpid(), n['i'])
    return make


new_name = _names()


def _exists(server, db):
    return bool(server.execute('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s', (db,)))


def _manifest(location):
    with open(os.path.join(location, 'manifest.json')) as f:
        return json.load(f)


def test_rich_roundtrip_idempotence_and_if_exists(mysql_server, rich_mysql, params):
    backup = api.run_backup(params(rich_mysql, jobs=2))
    assert backup['changed'] is True and backup['tables'] == 13
    manifest = _manifest(backup['location'])
    assert manifest['db_type'] == 'mysql' and manifest['kind'] == 'logical'
    pos = manifest['consistent_position']
    assert pos['binlog_file'].startswith('binlog.') and pos['binlog_position'] > 4 and pos['gtid']
    types = [f for f in manifest['files'] if f['role'] == 'data' and f['name'] == 'types'][0]
    assert 'gv' not in types['columns'] and 'gs' not in types['columns'], 'generated columns were dumped'
    assert 'hidden_col' in types['columns'], 'the invisible column was not dumped'
    assert backup['rows'] == sum(n for n, _c in table_checksums(mysql_server, rich_mysql).values())

    copy = new_name('rich_copy')
    first = api.run_restore(params(rich_mysql, target_database=copy, jobs=2))
    assert first['changed'] is True and first['target_database'] == copy
    assert_same_database(mysql_server, rich_mysql, copy)
    assert leftover_databases(mysql_server) == []

    again = api.run_restore(params(rich_mysql, target_database=copy))
    assert again['changed'] is False and again['backup_id'] == backup['backup_id']

    # a newer backup into the existing copy: refused without replace, done with it
    mysql_server.execute("INSERT INTO rich.audit (what) VALUES ('second backup')")
    try:
        second = api.run_backup(params(rich_mysql))
        before = table_checksums(mysql_server, copy)
        with pytest.raises(errors.TargetExists) as e:
            api.run_restore(params(rich_mysql, target_database=copy))
        assert 'if_exists' in str(e.value)
        assert table_checksums(mysql_server, copy) == before
        checked = api.run_restore(params(rich_mysql, target_database=copy, if_exists='replace'), check_mode=True)
        assert checked['changed'] is True and table_checksums(mysql_server, copy) == before
        replaced = api.run_restore(params(rich_mysql, target_database=copy, if_exists='replace'))
        assert replaced['changed'] is True and replaced['backup_id'] == second['backup_id']
        assert_same_database(mysql_server, rich_mysql, copy)
        assert leftover_databases(mysql_server) == []
        assert api.run_restore(params(rich_mysql, target_database=copy))['changed'] is False
        # dropped and recreated by hand: the marker no longer matches
        mysql_server.execute('DROP DATABASE `%s`' % copy)
        mysql_server.create_database(copy)
        with pytest.raises(errors.TargetExists):
            api.run_restore(params(rich_mysql, target_database=copy))
    finally:
        mysql_server.execute("DELETE FROM rich.audit WHERE what = 'second backup'")


class _MemoryFile(object):
    def __init__(self):
        self.parts = []

    def write(self, data):
        self.parts.append(data)

    def abort(self):
        pass


def dumped_bytes(conn, database, table, bounds=None, chunk_bytes=None):
    """The stored format of a table as row_stream.dump_table writes it, and its files' row counts."""
    files, counts = [], []

    def open_file(_n):
        files.append(_MemoryFile())
        return files[-1]

    def done(_writer, rows, _n, _facts):
        counts.append(rows)
    row_stream.dump_table(conn, database, table, open_file, done, bounds=bounds, chunk_bytes=chunk_bytes)
    return b''.join(b''.join(f.parts) for f in files), counts


def table_bounds(conn, database, table):
    from plugins.module_utils.mysql.connection import quote_ident as q
    cur = conn.cursor()
    cur.execute('SELECT MIN(%s), MAX(%s) FROM %s.%s' % (q(table.split_key), q(table.split_key), q(database),
                                                        q(table.name)))
    lo, hi = cur.fetchone()
    cur.fetchall()
    return (int(lo), int(hi) + 1) if lo is not None else None


def test_server_built_lines_equal_client_encoded_values(mysql_server, rich_mysql):
    """The dump's fast paths (lines built by the server, by key-range batches and row by row) and
    the reference encoding of the decoded values agree byte for byte on every table of the fixture."""
    from plugins.module_utils.mysql.connection import connect
    from plugins.module_utils.mysql.logical.schema import find_split_keys, list_tables
    params = mysql_server.conn_params(rich_mysql)
    meta = connect(params, rich_mysql)
    raw = connect(params, rich_mysql, kind='raw')
    try:
        raw.cursor().execute('SET SESSION group_concat_max_len = 4194304')
        tables = list_tables(meta.cursor(), rich_mysql)[0]
        find_split_keys(meta.cursor(), rich_mysql, tables)
        assert len(tables) == 13 and sum(1 for t in tables if t.split_key) >= 8
        for table in tables:
            cur = raw.cursor()
            cur.execute(row_sql.values_sql(table.specs, rich_mysql, table.name))
            rows = cur.fetchall()
            slow = mysql_data.encode_rows(rows, len(table.columns)) if rows else b''
            fast = dumped_bytes(raw, rich_mysql, table)[0]
            assert fast == slow, 'table %s: server-built lines differ from encoded values' % table.name
            if table.split_key and rows:
                batched = dumped_bytes(raw, rich_mysql, table, table_bounds(raw, rich_mysql, table))[0]
                assert sorted(batched.split(b'\n')) == sorted(slow.split(b'\n')), table.name
        # results cut by group_concat_max_len: the ranges are read again, smaller (and row-wise at one key)
        raw.cursor().execute('SET SESSION group_concat_max_len = 3000')
        raw.group_concat_limit = 3000
        for table in tables:
            if table.split_key and table.rows:
                cur = raw.cursor()
                cur.execute(row_sql.values_sql(table.specs, rich_mysql, table.name))
                slow = mysql_data.encode_rows(cur.fetchall(), len(table.columns))
                batched = dumped_bytes(raw, rich_mysql, table, table_bounds(raw, rich_mysql, table))[0]
                assert sorted(batched.split(b'\n')) == sorted(slow.split(b'\n')), table.name
    finally:
        meta.close()
        raw.close()


def test_insert_fallback_and_chunked_files(mysql_server, rich_mysql, params, monkeypatch):
    monkeypatch.setattr(row_stream, 'CHUNK_BYTES', 64 * 1024)
    monkeypatch.setattr(row_stream, 'BATCH_BYTES', 16 * 1024)
    backup = api.run_backup(params(rich_mysql, jobs=2, compression='gzip'))
    big = [f for f in _manifest(backup['location'])['files'] if f.get('name') == 'big']
    assert len(big) > 3 and all(f['chunks'] == len(big) for f in big)
    assert sum(f['rows'] for f in big) == 20000
    # a server that refuses LOAD DATA LOCAL: the restore falls back to INSERT statements by itself
    calls = []
    real_insert = mysql_data.insert_file

    def counting_insert(*args):
        calls.append(args[1]['path'])
        return real_insert(*args)
    monkeypatch.setattr(mysql_data, 'insert_file', counting_insert)
    copy = new_name('rich_ins')
    mysql_server.execute('SET GLOBAL local_infile = 0')
    try:
        api.run_restore(params(rich_mysql, target_database=copy, jobs=3))
    finally:
        mysql_server.execute('SET GLOBAL local_infile = 1')
    assert len(calls) == len([f for f in _manifest(backup['location'])['files'] if f['role'] == 'data'])
    assert_same_database(mysql_server, rich_mysql, copy)


def test_large_tables_are_read_by_all_sessions_into_pieces(mysql_server, rich_mysql, params, monkeypatch):
    """Every table with an integer key counts as large: both sessions take key ranges of it from one
    KeyRanges, each file they write is a piece of its own, and the pieces restore in parallel."""
    from plugins.module_utils.mysql.logical import dump as mysql_dump
    monkeypatch.setattr(mysql_dump, 'SPLIT_MIN_BYTES', 0)
    monkeypatch.setattr(mysql_dump, 'PIECE_BYTES', 64 * 1024)
    monkeypatch.setattr(row_stream, 'BATCH_BYTES', 16 * 1024)
    sessions = {}
    real_take = row_stream.KeyRanges.take

    def take(self, step):
        taken = real_take(self, step)
        if taken is not None:
            sessions.setdefault(id(self), set()).add(threading.current_thread().name)
        return taken
    monkeypatch.setattr(row_stream.KeyRanges, 'take', take)
    backup = api.run_backup(params(rich_mysql, jobs=2))
    files = [f for f in _manifest(backup['location'])['files'] if f['role'] == 'data']
    big = [f for f in files if f['name'] == 'big']
    assert len(big) > 3 and sum(f['rows'] for f in big) == 20000
    assert sorted(f['piece'] for f in big) == list(range(1, len(big) + 1))
    assert all(f['pieces'] == len(big) and f['chunk'] == f['chunks'] == 1 for f in big)
    assert any(len(names) == 2 for names in sessions.values())      # the big table, at least
    copy = new_name('rich_pieces')
    api.run_restore(params(rich_mysql, target_database=copy, jobs=3))
    assert_same_database(mysql_server, rich_mysql, copy)


def test_failed_replace_puts_the_old_database_back(mysql_server, rich_mysql, params, monkeypatch):
    copy = new_name('rich_keep')
    api.run_backup(params(rich_mysql))
    api.run_restore(params(rich_mysql, target_database=copy))
    mysql_server.execute('INSERT INTO `%s`.audit (what) VALUES (%%s)' % copy, ('local change',))
    before = schema_snapshot(mysql_server, copy), table_checksums(mysql_server, copy)
    api.run_backup(params(rich_mysql))      # a newer backup: the copy does not hold it

    def broken(self):
        raise errors.RestoreFailed('injected failure while creating views and triggers')
    monkeypatch.setattr(MysqlLogicalRestore, '_create_objects', broken)
    with pytest.raises(errors.RestoreFailed) as e:
        api.run_restore(params(rich_mysql, target_database=copy, if_exists='replace'))
    assert 'injected failure' in str(e.value)
    assert (schema_snapshot(mysql_server, copy), table_checksums(mysql_server, copy)) == before
    assert leftover_databases(mysql_server) == []


def test_snapshot_is_consistent_under_writes_and_matches_its_binlog_position(mysql_server, params):
    """Two tables written in one transaction each must agree in the copy, and replaying the
    binary log from the recorded position must give exactly the source's final state."""
    db = new_name('busy')
    mysql_server.create_database(db)
    mysql_server.execute('CREATE TABLE `%s`.a (id INT PRIMARY KEY, pad VARCHAR(200))' % db)
    mysql_server.execute('CREATE TABLE `%s`.b (id INT PRIMARY KEY, a_id INT)' % db)
    mysql_server.execute("INSERT INTO `%s`.a SELECT seq, REPEAT('x', 200) FROM seq_1_to_30000" % db, dbname=db)
    mysql_server.execute('INSERT INTO `%s`.b SELECT seq, seq FROM seq_1_to_30000' % db, dbname=db)
    stop = threading.Event()
    written = {'n': 0}

    def writer():
        conn = mysql_server.connect(db, autocommit=False)
        try:
            cur = conn.cursor()
            i = 100000
            while not stop.is_set():
                i += 1
                cur.execute("INSERT INTO a VALUES (%s, 'w')", (i,))
                cur.execute('INSERT INTO b VALUES (%s, %s)', (i, i))
                cur.execute('UPDATE b SET a_id = a_id + 1 WHERE id = %s', (1 + i % 1000,))
                conn.commit()
                written['n'] += 1
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        backup = api.run_backup(params(db, jobs=2))
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
    assert written['n'] > 20, 'the writer hardly ran; the test proves nothing'
    copy = db + '_c'
    api.run_restore(params(db, target_database=copy))
    counts = mysql_server.execute('SELECT (SELECT COUNT(*) FROM `%s`.a), (SELECT COUNT(*) FROM `%s`.b)' % (copy, copy))
    assert counts[0][0] == counts[0][1] == backup['rows'] // 2

    pushed = api.run_binlog_push(params(None, rotate=True))
    assert pushed['current'] not in pushed['archived']
    rolled = db + '_r'
    result = api.run_pitr(params(db, target_database=rolled))
    assert result['changed'] is True and result['binlog_start'].startswith(
        _manifest(backup['location'])['consistent_position']['binlog_file'])
    assert table_checksums(mysql_server, rolled) == table_checksums(mysql_server, db)


def _utc(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S')


@pytest.fixture
def pitr_case(mysql_server, params):
    """A backup, then write 1 and, after a whole-second boundary T, write 2; both archived."""
    db = new_name('pitr')
    mysql_server.create_database(db)
    mysql_server.execute('CREATE TABLE `%s`.acct (id INT PRIMARY KEY, balance INT NOT NULL)' % db)
    mysql_server.execute('INSERT INTO `%s`.acct VALUES (1, 100), (2, 200)' % db)
    backup = api.run_backup(params(db))
    mysql_server.execute('UPDATE `%s`.acct SET balance = balance - 30 WHERE id = 1' % db)   # write 1
    mysql_server.execute('INSERT INTO `%s`.acct VALUES (3, 300)' % db)
    between = mysql_server.execute('SHOW BINLOG STATUS')[0][:2]                             # file, position
    boundary = int(time.time()) + 1
    time.sleep(boundary + 1.1 - time.time())
    mysql_server.execute('UPDATE `%s`.acct SET balance = 0' % db)                            # write 2
    mysql_server.execute('DELETE FROM `%s`.acct WHERE id = 2' % db)
    api.run_binlog_push(params(None, rotate=True))
    return db, backup, _utc(boundary), between


def test_pitr_to_a_time_between_two_writes(mysql_server, params, pitr_case, tmp_path):
    db, backup, stop, between = pitr_case
    target = db + '_t'
    result = api.run_pitr(params(db, target_database=target, stop_datetime=stop))
    assert result['changed'] is True and result['backup_id'] == backup['backup_id']
    assert result['stop_datetime'].startswith(stop.replace(' ', 'T'))
    assert mysql_server.execute('SELECT id, balance FROM `%s`.acct ORDER BY id' % target) == \
        ((1, 70), (2, 200), (3, 300))
    assert api.run_pitr(params(db, target_database=target, stop_datetime=stop))['changed'] is False
    # the same point by binlog position
    by_pos = api.run_pitr(params(db, target_database=db + '_p', stop_binlog_file=between[0],
                                 stop_position=between[1]))
    assert by_pos['stop_position'] == '%s:%d' % tuple(between)
    assert mysql_server.execute('SELECT id, balance FROM `%s`.acct ORDER BY id' % (db + '_p')) == \
        ((1, 70), (2, 200), (3, 300))
    # to the end of the archive: write 2 applied too, replacing the first recovery
    end = api.run_pitr(params(db, target_database=target, if_exists='replace'))
    assert end['changed'] is True
    assert mysql_server.execute('SELECT id, balance FROM `%s`.acct ORDER BY id' % target) == ((1, 0), (3, 0))
    assert leftover_databases(mysql_server) == []

    # the module, through ansible-playbook
    results = str(tmp_path / 'pitr.json')
    proc = run_playbook(os.path.join(HERE, 'playbooks', 'mysql_pitr.yml'),
                        dict(my_host=mysql_server.host, my_port=mysql_server.port, repository=params.repository,
                             database=db, target_database=db + '_m', stop_datetime=stop, results_file=results),
                        str(tmp_path), password=mysql_server.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with open(results) as f:
        res = json.load(f)
    assert mysql_server.password not in proc.stdout
    assert res['checked']['changed'] is True
    assert res['first']['changed'] is True and res['second']['changed'] is False
    assert res['first']['binlog_files'] and res['first']['backup_id'] == backup['backup_id']
    assert mysql_server.execute('SELECT id, balance FROM `%s`.acct ORDER BY id' % (db + '_m')) == \
        ((1, 70), (2, 200), (3, 300))
    # state=events: the newest two transactions on acct (write 2: the UPDATE, then the DELETE)
    events = res['events']
    assert events['changed'] is False and events['truncated'] is True and events['matched'] >= 4
    assert [[e['kind'] for e in t['events']] for t in events['transactions']] == [['update'], ['delete']]
    # PostgreSQL PITR is whole-server (postgres/physical/pitr.py): the MySQL stop options are refused there
    assert res['postgres']['failed'] is True and 'stop_datetime' in res['postgres']['msg'] \
        and 'target_time' in res['postgres']['msg']


def test_pitr_bad_input(mysql_server, params, pitr_case):
    db, backup, stop, _between = pitr_case
    later = _utc(time.time() + 3600)
    with pytest.raises(errors.NotFound) as e:
        api.run_pitr(params(db, target_database=db + '_x', stop_datetime=later))
    assert 'binlog-push' in str(e.value)
    with pytest.raises(errors.BadInput):
        api.run_pitr(params(db, target_database=db + '_x', stop_datetime='yesterday noon'))
    with pytest.raises(errors.BadInput) as e:
        api.run_pitr(params(db, target_database=db + '_x', backup_id=backup['backup_id'],
                            stop_datetime='2001-01-01 00:00:00'))
    assert 'not before stop_datetime' in str(e.value)
    with pytest.raises(errors.BadInput) as e:
        api.run_pitr(params(db, db_type='postgresql', login_port=5432))
    assert 'data_directory is required' in str(e.value)      # PostgreSQL PITR restores a whole server
    assert not _exists(mysql_server, db + '_x')
    # an archived binlog whose record no longer matches the server's file is never overwritten
    base = os.path.join(params.repository, '%s_%d' % (mysql_server.host, mysql_server.port), 'binlog')
    record = sorted(glob.glob(os.path.join(base, '*.json')))[0]
    with open(record) as f:
        meta = json.load(f)
    meta.update(sha256='0' * 64, local_mtime=0)
    with open(record, 'w') as f:
        json.dump(meta, f)
    with pytest.raises(errors.IntegrityError) as e:
        api.run_binlog_push(params(None))
    assert 'never overwritten' in str(e.value)


def test_bad_input(mysql_server, rich_mysql, params):
    with pytest.raises(errors.ConnectionFailed) as e:
        api.run_backup(params(rich_mysql, login_password=WRONG_PASSWORD))
    assert 'Authentication failed' in str(e.value) and WRONG_PASSWORD not in str(e.value)
    with pytest.raises(errors.NotFound) as e:
        api.run_backup(params('no_such_db_here'))
    assert 'no_such_db_here' in str(e.value)
    assert not glob.glob(os.path.join(params.repository, '**', 'manifest.json'), recursive=True)
    backup = api.run_backup(params(rich_mysql))
    with pytest.raises(errors.NotFound) as e:
        api.run_restore(params(rich_mysql, backup_id='20000101T000000Z', target_database='never_made'))
    assert backup['backup_id'] in str(e.value)
    with pytest.raises(errors.BadInput):
        api.run_restore(params(rich_mysql, db_type='postgresql', login_port=5432, target_database='never_made',
                               server_name='%s_%d' % (mysql_server.host, mysql_server.port)))
    # a corrupted data file: refused before the server is touched
    data_file = sorted(glob.glob(os.path.join(backup['location'], 'data', '*')))[0]
    with open(data_file, 'r+b') as f:
        f.seek(10)
        byte = f.read(1)
        f.seek(10)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(errors.IntegrityError):
        api.run_restore(params(rich_mysql, target_database='never_made'))
    assert not _exists(mysql_server, 'never_made') and leftover_databases(mysql_server) == []


def test_modules_backup_and_restore(mysql_server, rich_mysql, params, tmp_path):
    target = new_name('rich_mod')
    results = str(tmp_path / 'restore.json')
    proc = run_playbook(os.path.join(HERE, 'playbooks', 'mysql_restore.yml'),
                        dict(my_host=mysql_server.host, my_port=mysql_server.port, repository=params.repository,
                             database=rich_mysql, target_database=target, results_file=results),
                        str(tmp_path), password=mysql_server.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert mysql_server.password not in proc.stdout
    with open(results) as f:
        res = json.load(f)
    assert res['backup']['changed'] is True and res['backup']['tables'] == 13
    assert res['checked']['changed'] is True
    assert res['first']['changed'] is True and res['first']['target_database'] == target
    assert res['second']['changed'] is False
    assert_same_database(mysql_server, rich_mysql, target)


def test_encrypted_backup_round_trip(mysql_server, rich_mysql, params, tmp_path):
    key = tmp_path / 'kek'
    key.write_text(os.urandom(32).hex())
    os.chmod(str(key), 0o600)
    backup = api.run_backup(params(rich_mysql, encryption_key_file=str(key)))
    assert backup['encrypted'] is True
    data = sorted(glob.glob(os.path.join(backup['location'], 'data', '*')))
    assert data and all(f.endswith('.enc') for f in data)
    with pytest.raises(errors.BadInput):
        api.run_restore(params(rich_mysql, target_database='never_made_enc'))
    copy = new_name('rich_enc')
    api.run_restore(params(rich_mysql, target_database=copy, encryption_key_file=str(key)))
    assert table_checksums(mysql_server, copy) == table_checksums(mysql_server, rich_mysql)
    assert not _exists(mysql_server, 'never_made_enc')
