"""Adversarial engine tests against the real server: the cases a happy-path round trip misses.

Concurrent writers during a split, parallel backup (one snapshot for every
worker), odd identifiers and values, restores and backups that fail halfway
(nothing half-done may remain), jobs must not change results, the restore
marker, a non-superuser backing up, and schema text that looks like the
dump file's own item headers. A failing test here documents an engine bug;
the engine is not changed to make it pass.
"""
import os
import random
import subprocess
import threading
import time

import pytest

from plugins.module_utils import api
from plugins.module_utils.format import backups
from plugins.module_utils.operations.params import default_server_name
from plugins.module_utils.common import errors
from plugins.module_utils.postgres.logical import data_tables
from plugins.module_utils.storage.factory import open_repository
from tests.support import compare
from tests.support.params import engine_params as _params

# --- helpers -------------------------------------------------------------


class KwServer(object):
    """The session server, connecting with keyword arguments.

    PgServer.connect builds a DSN string, which cannot carry database names with
    spaces; tests/support/compare.py only calls server.connect/bin/env, so this
    proxy lets it compare databases with any name.
    """

    def __init__(self, server):
        self._server = server

    def __getattr__(self, name):
        return getattr(self._server, name)

    def connect(self, dbname='postgres', autocommit=True):
        import psycopg2
        s = self._server
        conn = psycopg2.connect(host=s.host, port=s.port, user=s.user, password=s.password, dbname=dbname)
        conn.autocommit = autocommit
        return conn


@pytest.fixture
def server(pg_server):
    """The session server behind KwServer."""
    return KwServer(pg_server)


def _query(server, db, sql, args=None):
    conn = KwServer(server).connect(db)
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def _scalar(server, db, sql, args=None):
    return _query(server, db, sql, args)[0][0]


def _new_db(server, name, sql=None):
    conn = KwServer(server).connect('postgres')
    try:
        conn.cursor().execute('CREATE DATABASE "%s"' % name.replace('"', '""'))
    finally:
        conn.close()
    if sql:
        server.psql(name, sql)
    return name


def _base(params):
    """(repository, path of the database's backups) as the engine computes them."""
    name = params.get('server_name') or default_server_name(
        dict(params, login_port=int(params.get('login_port') or 5432)))
    return open_repository(params), backups.backups_path(name, 'logical', params['database'])


def _manifest(params, backup_id='latest'):
    repo, base = _base(params)
    return backups.find_backup(repo, base, backup_id)


def _rows_per_table(manifest):
    out = {}
    for f in manifest['files']:
        if f['role'] == 'data':
            key = (f['schema'], f['name'])
            out[key] = out.get(key, 0) + f['rows']
    return out


def _chunks(manifest, schema, name):
    return len([f for f in manifest['files']
                if f['role'] == 'data' and f['schema'] == schema and f['name'] == name])


def _leftover_databases(server):
    return [r[0] for r in _query(server, 'postgres',
                                 "SELECT datname FROM pg_catalog.pg_database "
                                 "WHERE datname LIKE '\\_dbbackup\\_%' ORDER BY 1")]


def _files_under(path):
    out = []
    for root, dummy, files in os.walk(path):
        out.extend(os.path.join(root, f) for f in files)
    return out


def _make_login_role(server, name, password='edge-pw-1'):
    server.psql('postgres', "DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s'"
                % (name, name, password))
    return password


def _drop_role_everywhere(server, role, databases):
    for db in databases:
        if _query(server, 'postgres', 'SELECT 1 FROM pg_database WHERE datname = %s', (db,)):
            server.psql(db, 'REASSIGN OWNED BY %s TO postgres; DROP OWNED BY %s' % (role, role),
                        check=False)
    server.psql('postgres', 'DROP ROLE IF EXISTS %s' % role, check=False)


@pytest.fixture
def small_chunks(monkeypatch):
    """Split tables above 256 KiB so block-range COPY runs on small test tables."""
    monkeypatch.setattr(data_tables, 'MIN_CHUNK_BYTES', 256 << 10)


# --- 1. one snapshot for every worker, under concurrent writes ----------

ACCOUNTS = 40000
START_BALANCE = 1000

BANK_SQL = """
CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, pad text NOT NULL)
  WITH (fillfactor = 100);
CREATE TABLE ledger (id bigserial PRIMARY KEY, src int, dst int NOT NULL,
                     amount bigint NOT NULL, pad text NOT NULL);
INSERT INTO accounts SELECT i, %(start)d, repeat(md5(i::text), 5) FROM generate_series(1, %(n)d) i;
INSERT INTO ledger (src, dst, amount, pad)
  SELECT NULL, i, %(start)d, repeat(md5(i::text), 5) FROM generate_series(1, %(n)d) i;
CREATE TABLE filler AS
  SELECT i, md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text) AS pad
    FROM generate_series(1, 400000) i;
ANALYZE;
""" % {'start': START_BALANCE, 'n': ACCOUNTS}

# Accounts whose balance does not follow from the ledger.
LEDGER_MISMATCH_SQL = """
SELECT a.id, a.balance, COALESCE(c.s, 0) - COALESCE(d.s, 0)
  FROM accounts a
  LEFT JOIN (SELECT dst, sum(amount) s FROM ledger GROUP BY dst) c ON c.dst = a.id
  LEFT JOIN (SELECT src, sum(amount) s FROM ledger WHERE src IS NOT NULL GROUP BY src) d ON d.src = a.id
 WHERE a.balance <> COALESCE(c.s, 0) - COALESCE(d.s, 0)
 ORDER BY a.id LIMIT 10
"""


class TransferWriter(threading.Thread):
    """Short transactions moving money between accounts, each with its ledger row.

    Bounded in count and time; records how many transactions committed.
    """

    def __init__(self, server, db, max_tx=200000, max_seconds=60):
        super(TransferWriter, self).__init__(name='edge-transfer-writer')
        self.server, self.db = server, db
        self.max_tx, self.max_seconds = max_tx, max_seconds
        self.stop = threading.Event()
        self.committed = 0
        self.error = None

    def run(self):
        rnd = random.Random(7)
        conn = self.server.connect(self.db, autocommit=False)
        end = time.time() + self.max_seconds
        try:
            cur = conn.cursor()
            while not self.stop.is_set() and self.committed < self.max_tx and time.time() < end:
                # Low ids live in the first block range, high ids in the last: moving
                # money between them crosses chunk boundaries, and the updated row
                # versions land in yet other blocks.
                a, b = rnd.randint(1, ACCOUNTS), rnd.randint(1, ACCOUNTS)
                if a == b:
                    continue
                amount = rnd.randint(1, 50)
                lo, hi = min(a, b), max(a, b)
                cur.execute('UPDATE accounts SET balance = balance + CASE WHEN id = %s THEN -%s '
                            'ELSE %s END WHERE id IN (%s, %s)', (a, amount, amount, lo, hi))
                cur.execute('INSERT INTO ledger (src, dst, amount, pad) VALUES (%s, %s, %s, %s)',
                            (a, b, amount, 'x' * 150))
                conn.commit()
                self.committed += 1
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            conn.close()


def test_parallel_backup_is_one_snapshot_under_concurrent_writes(server, repository,
                                                                 unique_db_name, monkeypatch):
    monkeypatch.setattr(data_tables, 'MIN_CHUNK_BYTES', 1 << 20)
    db = _new_db(server, unique_db_name('edge_bank'), BANK_SQL)
    writer = TransferWriter(server, db)
    writer.start()
    try:
        time.sleep(0.3)
        before = writer.committed
        t0 = time.time()
        # A higher zstd level keeps the workers busy for longer on the same data.
        result = api.run_backup(_params(server, db, repository, jobs=2, compression_level=9))
        elapsed = time.time() - t0
        during = writer.committed - before
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert elapsed > 1.0, 'backup took only %.2fs: the dataset is too small to prove anything' % elapsed
    assert during > 50, 'only %d transfers committed while the backup ran' % during
    print('backup %.2fs, %d transfers committed during it' % (elapsed, during))

    manifest = _manifest(_params(server, db, repository), result['backup_id'])
    assert _chunks(manifest, 'public', 'accounts') > 1, 'accounts was not split into block ranges'
    assert _chunks(manifest, 'public', 'ledger') > 1, 'ledger was not split into block ranges'

    target = unique_db_name('edge_bank_restored')
    api.run_restore(_params(server, db, repository, jobs=2, target_database=target))
    total = _scalar(server, target, 'SELECT sum(balance) FROM accounts')
    count = _scalar(server, target, 'SELECT count(*) FROM accounts')
    assert count == ACCOUNTS
    assert total == ACCOUNTS * START_BALANCE, 'money appeared or vanished: total %s' % total
    assert _query(server, target, LEDGER_MISMATCH_SQL) == [], \
        'balances do not match the ledger: workers saw different snapshots'
    transfers = _scalar(server, target, 'SELECT count(*) FROM ledger WHERE src IS NOT NULL')
    assert before <= transfers <= writer.committed
    assert _scalar(server, target, 'SELECT count(*) - count(DISTINCT id) FROM ledger') == 0
    # The sequence is at least where the data are: the next insert does not collide.
    server.psql(target, "INSERT INTO ledger (src, dst, amount, pad) VALUES (NULL, 1, 0, '')")


# --- 2. odd identifiers and values ------------------------------------------

ODD_SQL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       'fixtures', 'edge_odd.sql')


def _load_odd(server, db):
    p = subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'DBNAME=%s' % db, '-d', db,
                        '-f', ODD_SQL], env=server.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert p.returncode == 0, p.stderr


SOURCE_ROWS_SQL = r"""
SELECT n.nspname, c.relname, c.oid::regclass::text
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_%'
"""


def _exact_row_counts(server, db):
    """{(schema, table): rows}, keyed so that "x.a".b and x."a.b" stay apart."""
    out = {}
    for nsp, rel, qualified in _query(server, db, SOURCE_ROWS_SQL):
        out[(nsp, rel)] = _scalar(server, db, 'SELECT count(*) FROM ONLY %s' % qualified)
    return out


def test_odd_identifiers_and_values_round_trip(server, repository, unique_db_name, small_chunks):
    db = _new_db(server, unique_db_name('edge_odd'))
    _load_odd(server, db)
    source = compare.snapshot(server, db)
    counts = _exact_row_counts(server, db)
    result = api.run_backup(_params(server, db, repository, jobs=2))
    assert result['rows'] == sum(counts.values())
    manifest = _manifest(_params(server, db, repository), result['backup_id'])
    assert _rows_per_table(manifest) == counts
    # The odd names go through the block-range COPY (SELECT ... WHERE ctid) path too.
    assert _chunks(manifest, 'Odd Schema "q" ünï', 'Mixed Case "Tbl" 表') > 1
    assert _chunks(manifest, 'public', 'dropped') > 1

    target = unique_db_name('edge odd "Target" ü')
    restored = api.run_restore(_params(server, db, repository, jobs=2, target_database=target))
    assert restored['changed'] is True
    assert _exact_row_counts(server, target) == counts
    compare.assert_same_database(server, db, target, src_snapshot=source)
    # compare keys tables by 'schema.table', so x."a.b" and "x.a".b collide there.
    assert _query(server, target, 'SELECT v FROM x."a.b" ORDER BY v') == [(1,), (2,), (3,)]
    assert _query(server, target, 'SELECT min(v), max(v) FROM "x.a".b') == [(10, 15)]
    # Spot checks that do not depend on text output settings.
    assert bytes(_scalar(server, target, 'SELECT b FROM vals WHERE id = 1')) == bytes(range(256))
    assert _query(server, target, "SELECT t IS NULL, t = '' FROM vals WHERE id IN (2, 3) ORDER BY id") \
        == [(False, True), (True, None)]
    assert _scalar(server, target, "SELECT t = E'\\\\N' FROM vals WHERE id = 4")
    assert _scalar(server, target, "SELECT length(t) FROM vals WHERE id = 6") == 6 * 1500000
    assert _scalar(server, target, "SELECT f8::text = '-0' AND f4::text = '-0' FROM vals WHERE id = 13"), \
        '-0.0 lost its sign'
    assert _scalar(server, target, "SELECT f8 = 4.9e-324 FROM vals WHERE id = 14")
    assert _scalar(server, target, "SELECT count(*) FROM vals") == 27
    assert _scalar(server, target, "SELECT g FROM genonly LIMIT 1") == 42
    assert _scalar(server, target, "SELECT count(*) FROM dropped WHERE g = a * 2") == 30000
    # Restoring the same backup again is recognised despite the odd target name.
    again = api.run_restore(_params(server, db, repository, target_database=target))
    assert again['changed'] is False


def test_database_name_with_space_and_case(server, repository):
    """Names allowed as repository path components: space, case, dot, dash."""
    db = _new_db(server, 'Edge DB-1.x %d' % os.getpid(),
                 'CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 5)')
    result = api.run_backup(_params(server, db, repository))
    assert result['rows'] == 5
    target = db + ' copy'
    api.run_restore(_params(server, db, repository, target_database=target))
    compare.assert_same_database(server, db, target)


# --- schema text that looks like the dump file's item headers ---------------

def _db_with(server, db, statements):
    """Create db and run statements (sql, args) through psycopg2 (exact text, no psql)."""
    _new_db(server, db)
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        for sql, args in statements:
            cur.execute(sql, args)
    finally:
        conn.close()


def test_item_header_lookalike_in_comment_is_not_executed(server, repository, unique_db_name):
    """A table owner controls comment text; it must never become restore SQL.

    pre-data.sql / post-data.sql are split on lines starting with
    '-- dbbackup:item ' (schema.sql_file.read_items). A comment containing such a line
    must round-trip as text and must not inject statements that the restoring
    superuser runs.
    """
    pwned = 'edge_pwned_%d' % os.getpid()
    server.psql('postgres', 'DROP ROLE IF EXISTS %s' % pwned)
    db = unique_db_name('edge_hdr')
    comment = ('harmless\n'
               '-- dbbackup:item {"kind": "INDEX", "key": [], "name": "x", "phase": 10}\n'
               'CREATE ROLE %s SUPERUSER;\n'
               '-- dbbackup:item {"kind": "COMMENT", "key": [], "name": "y", "phase": 60}\n'
               'rest') % pwned
    _db_with(server, db, [('CREATE TABLE victim (v int)', None),
                          ('INSERT INTO victim VALUES (1)', None),
                          ('COMMENT ON TABLE victim IS %s', (comment,))])
    try:
        api.run_backup(_params(server, db, repository))
        target = unique_db_name('edge_hdr_restored')
        failure = None
        try:
            api.run_restore(_params(server, db, repository, target_database=target))
        except Exception as e:
            failure = e
        injected = bool(_query(server, 'postgres', 'SELECT 1 FROM pg_roles WHERE rolname = %s', (pwned,)))
        assert not injected, ('comment text was executed by the restoring superuser: role %s was '
                              'created (restore outcome: %r)' % (pwned, failure))
        assert failure is None, 'restore failed on a comment: %r' % (failure,)
        compare.assert_same_database(server, db, target)
    finally:
        server.psql('postgres', 'DROP ROLE IF EXISTS %s' % pwned, check=False)


def test_item_header_lookalike_in_function_body(server, repository, unique_db_name):
    """A plpgsql comment line that starts like an item header, with no JSON after it."""
    db = unique_db_name('edge_hdrfn')
    body = 'BEGIN\n-- dbbackup:item not json at all\nRETURN 1;\nEND;'
    _db_with(server, db, [('CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS %s', (body,))])
    api.run_backup(_params(server, db, repository))
    target = unique_db_name('edge_hdrfn_restored')
    api.run_restore(_params(server, db, repository, target_database=target))
    compare.assert_same_database(server, db, target)
    assert _scalar(server, target, 'SELECT f()') == 1


# --- database-level settings that affect restore sessions --------------------

@pytest.mark.parametrize('scope', ['database', 'role_in_database'])
def test_read_only_database_setting_does_not_break_restore(server, repository, unique_db_name, scope):
    """default_transaction_read_only = on is common for archive databases. It is restored
    (it is part of the database), but must not make the restore's own sessions read-only."""
    db = _new_db(server, unique_db_name('edge_ro'), 'CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2);'
                                                    'COMMENT ON TABLE t IS \'archived\'')
    who = 'DATABASE "%s"' % db if scope == 'database' else 'ROLE postgres IN DATABASE "%s"' % db
    server.psql(db, 'ALTER %s SET default_transaction_read_only = on' % who)
    api.run_backup(_params(server, db, repository, jobs=2))
    target = unique_db_name('edge_ro_restored')
    try:
        api.run_restore(_params(server, db, repository, jobs=2, target_database=target))
        compare.assert_same_database(server, db, target)
    finally:
        assert _leftover_databases(server) == []


def test_restore_replace_while_target_has_sessions(server, repository, unique_db_name):
    """if_exists=replace swaps the database even while clients are connected to it."""
    db = _new_db(server, unique_db_name('edge_busy'), 'CREATE TABLE t (v int); INSERT INTO t VALUES (7)')
    api.run_backup(_params(server, db, repository))
    target = _new_db(server, unique_db_name('edge_busy_target'), 'CREATE TABLE old (v int)')
    idle = server.connect(target)
    busy = server.connect(target, autocommit=False)
    busy.cursor().execute('LOCK TABLE old IN ACCESS EXCLUSIVE MODE')
    try:
        result = api.run_restore(_params(server, db, repository, target_database=target, if_exists='replace'))
        assert result['changed'] is True
        assert _query(server, target, 'SELECT v FROM t') == [(7,)]
        assert not _query(server, target, "SELECT 1 FROM pg_class WHERE relname = 'old'")
        assert _leftover_databases(server) == []
    finally:
        for c in (idle, busy):
            try:
                c.close()
            except Exception:
                pass


def test_overlong_target_name_is_refused_or_idempotent(server, repository, unique_db_name):
    """PostgreSQL truncates names to 63 bytes; the marker lookup must not be fooled."""
    db = _new_db(server, unique_db_name('edge_long'), 'CREATE TABLE t (v int)')
    api.run_backup(_params(server, db, repository))
    target = 'edge_long_target_' + 'x' * 60
    try:
        api.run_restore(_params(server, db, repository, target_database=target))
    except errors.BadInput as e:
        assert '63' in str(e) or 'long' in str(e), str(e)
        return
    again = api.run_restore(_params(server, db, repository, target_database=target))
    assert again['changed'] is False, 'restoring the same backup again was not recognised'


def test_not_valid_constraints_with_violating_rows(server, repository, unique_db_name):
    """NOT VALID check, domain and foreign-key constraints allow old rows that break them;
    they must be restored after the data (as pg_dump does), still NOT VALID."""
    db = _new_db(server, unique_db_name('edge_notvalid'), """
        CREATE DOMAIN positive AS int;
        CREATE TABLE parent (id int PRIMARY KEY);
        INSERT INTO parent VALUES (1);
        CREATE TABLE child (id int, parent_id int, amount positive, qty int);
        INSERT INTO child VALUES (1, 1, 5, 1), (2, 99, -5, -1);
        ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0) NOT VALID;
        ALTER TABLE child ADD CONSTRAINT qty_check CHECK (qty > 0) NOT VALID;
        ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent(id) NOT VALID;
    """)
    api.run_backup(_params(server, db, repository))
    target = unique_db_name('edge_notvalid_restored')
    api.run_restore(_params(server, db, repository, target_database=target))
    compare.assert_same_database(server, db, target)
    assert _query(server, target, 'SELECT conname, convalidated FROM pg_constraint '
                                  "WHERE conname IN ('positive_check', 'qty_check', 'child_parent_fk') "
                                  'ORDER BY 1') == [('child_parent_fk', False), ('positive_check', False),
                                                    ('qty_check', False)]


# --- 3. a restore that fails midway ------------------------------------------

@pytest.mark.parametrize('how', ['owner', 'grant'])
def test_restore_failing_in_post_data_leaves_nothing(server, repository, unique_db_name, how):
    role = 'edge_gone_%s_%d' % (how, os.getpid())
    db = unique_db_name('edge_gone')
    server.psql('postgres', 'DROP ROLE IF EXISTS %s; CREATE ROLE %s' % (role, role))
    _new_db(server, db, 'CREATE TABLE big AS SELECT i, md5(i::text) m FROM generate_series(1, 50000) i;'
                        'CREATE INDEX ON big (m);'
                        'CREATE TABLE owned (v int); INSERT INTO owned VALUES (1);')
    if how == 'owner':
        server.psql(db, 'ALTER TABLE owned OWNER TO %s' % role)
    else:
        server.psql(db, 'GRANT SELECT, UPDATE ON owned TO %s' % role)
    api.run_backup(_params(server, db, repository))
    server.psql(db, 'REASSIGN OWNED BY %s TO postgres; DROP OWNED BY %s' % (role, role))
    server.psql('postgres', 'DROP ROLE %s' % role)

    target = unique_db_name('edge_gone_restored')
    with pytest.raises(errors.RestoreFailed) as info:
        api.run_restore(_params(server, db, repository, jobs=2, target_database=target))
    msg = str(info.value)
    assert role in msg and 'does not exist' in msg, msg
    assert 'owned' in msg, 'the message should name the object being restored: %s' % msg
    assert not _query(server, 'postgres', 'SELECT 1 FROM pg_database WHERE datname = %s',
                              (target,))
    assert _leftover_databases(server) == []

    # With if_exists=replace, the existing target survives a failed restore untouched.
    _new_db(server, target, "CREATE TABLE keep (v text); INSERT INTO keep VALUES ('precious')")
    with pytest.raises(errors.RestoreFailed):
        api.run_restore(_params(server, db, repository, target_database=target, if_exists='replace'))
    assert _scalar(server, target, 'SELECT v FROM keep') == 'precious'
    assert _leftover_databases(server) == []


# --- 4. a backup that fails midway ------------------------------------------

def _assert_no_backup_left(server, db, repo):
    params = _params(server, db, repo)
    r, base = _base(params)
    assert backups.list_backups(r, base) == []
    assert _files_under(repo) == [], 'files left in the repository: %s' % _files_under(repo)


def test_non_utf8_database_round_trip(server, repository, unique_db_name):
    """Data travel in the database encoding; a WIN1252 database comes back WIN1252 with the same
    bytes (tests/integration/test_encodings.py covers bytes without a Unicode mapping)."""
    db = unique_db_name('edge_win_ok')
    server.psql('postgres', "CREATE DATABASE \"%s\" ENCODING 'WIN1252' LC_COLLATE 'C' LC_CTYPE 'C' "
                            "TEMPLATE template0" % db)
    server.psql(db, 'CREATE TABLE t (v text)')
    conn = server.connect(db)
    try:
        conn.set_client_encoding('WIN1252')
        conn.cursor().execute(b"INSERT INTO t VALUES ('caf\xe9'), ('\x80 euro'), ('\x9f\xff')")
    finally:
        conn.close()
    api.run_backup(_params(server, db, repository))
    target = unique_db_name('edge_win_ok_restored')
    api.run_restore(_params(server, db, repository, target_database=target))
    assert _scalar(server, 'postgres', 'SELECT pg_encoding_to_char(encoding) FROM pg_database '
                                       'WHERE datname = %s', (target,)) == 'WIN1252'
    sql = "SELECT string_agg(convert_to(v, 'WIN1252')::text, ',' ORDER BY v) FROM t"
    assert _scalar(server, target, sql) == _scalar(server, db, sql)
    compare.assert_same_database(server, db, target)


def test_backup_failing_in_a_worker_copy_leaves_nothing(server, repository, unique_db_name):
    """A worker's COPY fails while other tables are being dumped: a non-superuser backup role
    meets a row-level security policy on a small table (with row_security = off the server
    refuses the COPY instead of hiding rows). The main session's LOCK and catalog reads
    succeed, so the failure happens in a worker, after the big table's COPY has started."""
    role = 'edge_midway_%d' % os.getpid()
    password = _make_login_role(server, role)
    db = unique_db_name('edge_midway')
    try:
        _new_db(server, db, 'CREATE TABLE a_big AS SELECT i, md5(i::text) m FROM generate_series(1, 200000) i;'
                            'CREATE TABLE b_mid AS SELECT i FROM generate_series(1, 50000) i;'
                            "CREATE TABLE legacy_bad (t text); INSERT INTO legacy_bad VALUES ('ok'), ('no');"
                            'ALTER TABLE legacy_bad ENABLE ROW LEVEL SECURITY;'
                            "CREATE POLICY only_ok ON legacy_bad FOR SELECT USING (t = 'ok');"
                            'GRANT USAGE ON SCHEMA public TO %(r)s; GRANT SELECT ON a_big, b_mid, legacy_bad TO %(r)s;'
                            % {'r': role})
        t0 = time.time()
        with pytest.raises(errors.BackupFailed) as info:
            api.run_backup(_params(server, db, repository, jobs=2, login_user=role, login_password=password))
        msg = str(info.value)
        assert msg.startswith('Dumping table public.legacy_bad failed'), msg
        assert 'row-level security' in msg, msg
        assert time.time() - t0 < 30
        _assert_no_backup_left(server, db, repository)
    finally:
        _drop_role_everywhere(server, role, [db])


def test_backup_without_select_on_one_table_names_it(server, repository, unique_db_name):
    role = 'edge_nosel_%d' % os.getpid()
    password = _make_login_role(server, role)
    db = unique_db_name('edge_nosel')
    try:
        _new_db(server, db, 'CREATE TABLE open_one (v int); INSERT INTO open_one VALUES (1);'
                            'CREATE TABLE secret_one (v int); INSERT INTO secret_one VALUES (2);'
                            'GRANT CONNECT ON DATABASE "%s" TO %s; GRANT USAGE ON SCHEMA public TO %s;'
                            'GRANT SELECT ON open_one TO %s' % (db, role, role, role))
        params = _params(server, db, repository, login_user=role, login_password=password)
        with pytest.raises(errors.BackupFailed) as info:
            api.run_backup(params)
        msg = str(info.value)
        assert 'secret_one' in msg and 'permission denied' in msg, msg
        _assert_no_backup_left(server, db, repository)
    finally:
        _drop_role_everywhere(server, role, [db])


# --- 5. jobs do not change results -------------------------------------------

JOBS_SQL = """
CREATE TABLE big (id int PRIMARY KEY, v text);
INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 60000) i;
DELETE FROM big WHERE id % 3 = 0;
CREATE TABLE small (id serial PRIMARY KEY, ref int REFERENCES big(id));
INSERT INTO small (ref) SELECT id FROM big WHERE id < 1000;
CREATE TABLE parted (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (1000);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (1000) TO (100000);
INSERT INTO parted SELECT i, 'p' || i FROM generate_series(0, 30000) i;
CREATE TABLE nothing_here (a int);
CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS c FROM big;
SELECT lo_from_bytea(0, 'large object bytes'::bytea);
"""


def test_jobs_do_not_change_backup_or_restore(server, repository, unique_db_name, small_chunks):
    db = _new_db(server, unique_db_name('edge_jobs'), JOBS_SQL)
    source = compare.snapshot(server, db)
    expected = {tuple(k.split('.', 1)): v[0] for k, v in source['tables'].items()}

    one = api.run_backup(_params(server, db, repository, jobs=1))
    three = api.run_backup(_params(server, db, repository, jobs=3))
    assert one['backup_id'] != three['backup_id']
    m1 = _manifest(_params(server, db, repository), one['backup_id'])
    m3 = _manifest(_params(server, db, repository), three['backup_id'])
    assert _chunks(m1, 'public', 'big') > 1 and _chunks(m3, 'public', 'big') > 1
    assert _rows_per_table(m1) == _rows_per_table(m3) == expected
    assert one['rows'] == three['rows'] == sum(expected.values())
    assert one['tables'] == three['tables']

    t1 = unique_db_name('edge_jobs_r1')
    t4 = unique_db_name('edge_jobs_r4')
    api.run_restore(_params(server, db, repository, jobs=1, target_database=t1,
                            backup_id=three['backup_id']))
    api.run_restore(_params(server, db, repository, jobs=4, target_database=t4,
                            backup_id=three['backup_id']))
    assert compare.differences(compare.snapshot(server, t1), compare.snapshot(server, t4), t1, t4) == []
    compare.assert_same_database(server, db, t4, src_snapshot=source)
    t1b = unique_db_name('edge_jobs_r1b')
    api.run_restore(_params(server, db, repository, jobs=4, target_database=t1b,
                            backup_id=one['backup_id']))
    compare.assert_same_database(server, db, t1b, src_snapshot=source)


# --- 6. the restore marker ----------------------------------------------------

def test_restore_marker_tracks_which_backup_is_in_place(server, repository, unique_db_name):
    db = _new_db(server, unique_db_name('edge_mark'),
                 "CREATE TABLE t (v text); INSERT INTO t VALUES ('A')")
    a = api.run_backup(_params(server, db, repository))
    server.psql(db, "UPDATE t SET v = 'B'; INSERT INTO t VALUES ('B2')")
    b = api.run_backup(_params(server, db, repository))
    assert b['backup_id'] > a['backup_id']

    def values(target):
        return [r[0] for r in _query(server, target, 'SELECT v FROM t ORDER BY v')]

    x = unique_db_name('edge_mark_x')
    r = api.run_restore(_params(server, db, repository, target_database=x, backup_id=a['backup_id']))
    assert r['changed'] is True and values(x) == ['A']
    with pytest.raises(errors.TargetExists):
        api.run_restore(_params(server, db, repository, target_database=x))
    r = api.run_restore(_params(server, db, repository, target_database=x, if_exists='replace'))
    assert r['changed'] is True and r['backup_id'] == b['backup_id'] and values(x) == ['B', 'B2']
    r = api.run_restore(_params(server, db, repository, target_database=x, backup_id=a['backup_id'],
                                if_exists='replace'))
    assert r['changed'] is True and values(x) == ['A']
    r = api.run_restore(_params(server, db, repository, target_database=x, backup_id=a['backup_id'],
                                if_exists='replace'))
    assert r['changed'] is False and values(x) == ['A']
    # The marker is not part of what the restore compares or copies onward.
    assert compare.database_settings(server, x) == compare.database_settings(server, db)
    marker = _query(server, 'postgres',
                    "SELECT s FROM pg_db_role_setting rs JOIN pg_database d ON d.oid = rs.setdatabase, "
                    "unnest(rs.setconfig) s WHERE d.datname = %s AND s LIKE 'dbbackup.%%'", (x,))
    assert len(marker) == 1 and marker[0][0].endswith(a['backup_id']), marker
    # A backup of the restored database does not carry the marker into the next restore.
    c = api.run_backup(_params(server, x, repository))
    y = unique_db_name('edge_mark_y')
    api.run_restore(_params(server, x, repository, target_database=y, backup_id=c['backup_id']))
    marker_y = _query(server, 'postgres',
                      "SELECT s FROM pg_db_role_setting rs JOIN pg_database d ON d.oid = rs.setdatabase, "
                      "unnest(rs.setconfig) s WHERE d.datname = %s AND s LIKE 'dbbackup.%%'", (y,))
    assert len(marker_y) == 1 and marker_y[0][0].endswith(c['backup_id']), marker_y


# --- 7. a non-superuser with CONNECT + SELECT ---------------------------------

READER_SCHEMA_SQL = """
CREATE TABLE app.items (id serial PRIMARY KEY, name text NOT NULL UNIQUE, price numeric);
INSERT INTO app.items (name, price) SELECT 'item ' || i, i / 3.0 FROM generate_series(1, 5000) i;
CREATE TABLE app.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                         item int REFERENCES app.items(id), qty int CHECK (qty > 0));
INSERT INTO app.orders (item, qty) SELECT 1 + i % 5000, 1 + i % 9 FROM generate_series(1, 3000) i;
CREATE VIEW app.expensive AS SELECT * FROM app.items WHERE price > 100;
CREATE INDEX ON app.orders (item);
CREATE FUNCTION app.total() RETURNS bigint LANGUAGE sql AS 'SELECT sum(qty) FROM app.orders';
COMMENT ON TABLE app.items IS 'catalogue';
"""


@pytest.mark.parametrize('how', ['select_grants', 'owns_tables'])
def test_non_superuser_can_back_up(server, repository, unique_db_name, how):
    """A login role with CONNECT on the database and either SELECT on someone else's
    tables (select_grants) or owning every table itself (owns_tables)."""
    role = 'edge_reader_%s_%d' % (how, os.getpid())
    password = _make_login_role(server, role)
    db = _new_db(server, unique_db_name('edge_reader'))
    target = unique_db_name('edge_reader_restored')
    try:
        setup = 'REVOKE ALL ON DATABASE "%s" FROM PUBLIC; GRANT CONNECT ON DATABASE "%s" TO %s;' % (
            db, db, role)
        if how == 'select_grants':
            setup += ('CREATE SCHEMA app;' + READER_SCHEMA_SQL +
                      'GRANT USAGE ON SCHEMA app TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA app TO {r};'
                      'GRANT SELECT ON ALL SEQUENCES IN SCHEMA app TO {r};'.format(r=role))
        else:
            setup += 'CREATE SCHEMA app AUTHORIZATION %s; SET ROLE %s;' % (role, role) + READER_SCHEMA_SQL
        server.psql(db, setup)
        source = compare.snapshot(server, db)
        params = _params(server, db, repository, login_user=role, login_password=password, jobs=2)
        result = api.run_backup(params)
        assert result['changed'] is True
        assert result['rows'] == 8000
        # Restore as the superuser (restores need CREATEDB and the roles).
        api.run_restore(_params(server, db, repository, target_database=target))
        compare.assert_same_database(server, db, target, src_snapshot=source)
    finally:
        _drop_role_everywhere(server, role, [db, target])


def test_non_superuser_backup_with_a_large_object(server, repository, unique_db_name):
    """Large objects are readable only with SELECT on them (lo_compat_privileges off)."""
    role = 'edge_loreader_%d' % os.getpid()
    password = _make_login_role(server, role)
    db = unique_db_name('edge_loreader')
    target = unique_db_name('edge_loreader_restored')
    try:
        _new_db(server, db, """
            CREATE TABLE docs (id int PRIMARY KEY, blob oid);
            INSERT INTO docs VALUES (1, lo_from_bytea(424242, 'granted'::bytea));
            GRANT SELECT ON docs TO %(role)s;
            GRANT SELECT ON LARGE OBJECT 424242 TO %(role)s;
        """ % {'role': role})
        source = compare.snapshot(server, db)
        params = _params(server, db, repository, login_user=role, login_password=password)
        api.run_backup(params)
        api.run_restore(_params(server, db, repository, target_database=target))
        compare.assert_same_database(server, db, target, src_snapshot=source)
        # Without the grant the backup must fail loudly, naming large objects.
        server.psql(db, 'REVOKE SELECT ON LARGE OBJECT 424242 FROM %s' % role)
        other = os.path.join(repository, 'second')
        with pytest.raises(errors.BackupFailed) as info:
            api.run_backup(_params(server, db, other, login_user=role, login_password=password))
        assert 'large object' in str(info.value).lower(), str(info.value)
        assert _files_under(other) == []
    finally:
        _drop_role_everywhere(server, role, [db, target])


def test_non_superuser_backup_fails_on_rows_hidden_by_rls(server, repository, unique_db_name):
    """Row-level security would silently hide rows from a non-superuser: the backup must
    fail (row_security = off makes the server refuse), never be incomplete."""
    role = 'edge_rls_%d' % os.getpid()
    password = _make_login_role(server, role)
    db = unique_db_name('edge_rls')
    try:
        _new_db(server, db, """
            CREATE TABLE visible (v int); INSERT INTO visible VALUES (1);
            CREATE TABLE guarded (v int); INSERT INTO guarded SELECT generate_series(1, 10);
            ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
            CREATE POLICY only_small ON guarded FOR SELECT USING (v < 5);
            GRANT SELECT ON visible, guarded TO %(role)s;
        """ % {'role': role})
        with pytest.raises(errors.BackupFailed) as info:
            api.run_backup(_params(server, db, repository, login_user=role, login_password=password))
        msg = str(info.value)
        assert 'guarded' in msg and 'row-level security' in msg, msg
        _assert_no_backup_left(server, db, repository)
    finally:
        _drop_role_everywhere(server, role, [db])
