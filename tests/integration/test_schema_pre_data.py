"""Pre-data extraction against a real server: the items rebuild the same schema.

Loads tests/fixtures/rich/10_pre_objects.sql into a fresh database, applies
only the PRE items (in order_pre_items order) to another one and compares
`pg_dump -s --section=pre-data` of both (owners are postgres everywhere in
this fixture, so decorations from post_data are not needed), plus sequence
positions, which pg_dump -s does not show.
"""
import os
import subprocess

import pytest

from plugins.module_utils.postgres.logical.schema.extract import ExtractContext
from plugins.module_utils.postgres.logical.schema.order import order_pre_items
from plugins.module_utils.postgres.logical.schema.pre_data import extract_pre

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RICH = os.path.join(ROOT, 'tests', 'fixtures', 'rich')

SEQUENCES_SQL = """
SELECT c.oid::regclass::text FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname !~ '^pg_' ORDER BY 1
"""


def extract(server, db):
    conn = server.connect(db, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SET search_path = ''")
        cur.execute("SHOW server_version_num")
        ctx = ExtractContext(int(cur.fetchone()[0]), db)
        return order_pre_items(extract_pre(cur, ctx))
    finally:
        conn.rollback()
        conn.close()


def apply(server, db, items):
    server.create_database(db)
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute("SET search_path = ''; SET check_function_bodies = false")
        for item in items:
            try:
                cur.execute(item.sql)
            except Exception as e:  # pragma: no cover - the message is the point
                pytest.fail('applying %s %s failed: %s\n%s' % (item.kind, item.name, e, item.sql))
    finally:
        conn.close()


def pre_data_dump(server, db):
    return subprocess.run(['pg_dump', '-s', '--section=pre-data', '--restrict-key=test', db],
                          env=server.env(), check=True, stdout=subprocess.PIPE, text=True).stdout


def sequence_positions(server, db):
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute(SEQUENCES_SQL)
        out = {}
        for (name,) in cur.fetchall():
            cur.execute('SELECT last_value, is_called FROM %s' % name)
            out[name] = cur.fetchone()
        return out
    finally:
        conn.close()


@pytest.fixture(scope='module')
def pre_src(pg_server):
    pg_server.psql('postgres', file=os.path.join(RICH, '00_roles.sql'))
    pg_server.create_database('pre_src')
    pg_server.psql('pre_src', file=os.path.join(RICH, '10_pre_objects.sql'))
    return 'pre_src'


@pytest.fixture(scope='module')
def pre_items(pg_server, pre_src):
    return extract(pg_server, pre_src)


@pytest.fixture(scope='module')
def pre_dst(pg_server, pre_items):
    apply(pg_server, 'pre_dst', pre_items)
    return 'pre_dst'


def test_pre_data_round_trip_is_identical(pg_server, pre_src, pre_dst):
    src, dst = pre_data_dump(pg_server, pre_src), pre_data_dump(pg_server, pre_dst)
    assert 'CREATE TABLE app.measurement_2024_north' in src
    assert src.splitlines() == dst.splitlines()


def test_sequence_positions_are_restored(pg_server, pre_src, pre_dst):
    src = sequence_positions(pg_server, pre_src)
    assert src['app.plain_seq'] == (77, False)
    assert src['app.invoice_id_seq'][1] is True
    assert sequence_positions(pg_server, pre_dst) == src


def test_extension_members_and_internal_objects_are_not_items(pre_items):
    names = [i.name for i in pre_items]
    assert not [n for n in names if n.startswith('ext.')], names
    assert not [n for n in names if 'floatmultirange' in n or n.startswith('app.floatrange(')]
    kinds = dict((i.name, i.kind) for i in pre_items if i.kind == 'EXTENSION')
    assert sorted(kinds) == ['citext', 'hstore', 'pgcrypto', 'postgres_fdw']
    assert 'public' not in [i.name for i in pre_items if i.kind == 'SCHEMA']


def test_no_post_data_objects_in_pre(pre_items):
    sql = '\n'.join(i.sql for i in pre_items)
    assert 'customer_nv' not in sql            # NOT VALID check: post-data
    assert 'OWNER TO' not in sql and 'COMMENT ON' not in sql and 'GRANT' not in sql
    assert 'CREATE INDEX' not in sql and 'PRIMARY KEY' not in sql


def test_order_respects_dependencies(pre_items):
    position = dict((i.key, n) for n, i in enumerate(pre_items))
    for n, item in enumerate(pre_items):
        for dep in item.deps:
            if dep in position:
                assert position[dep] < n, (item, dep)
    names = [i.name for i in pre_items]
    assert names.index('app.customer') < names.index('app.customer_count()')
    assert names.index('app.customer_count()') < names.index('app.v_customer_rich')
    assert names.index('app.v_checked') < names.index('app.v_cascaded')


def test_extraction_is_deterministic(pg_server, pre_src, pre_items):
    again = extract(pg_server, pre_src)
    assert [(i.key, i.sql) for i in again] == [(i.key, i.sql) for i in pre_items]


def test_dropped_public_schema_is_dropped_on_restore(pg_server):
    pg_server.create_database('pre_nopublic')
    pg_server.psql('pre_nopublic', 'DROP SCHEMA public; CREATE SCHEMA s; CREATE TABLE s.t (a int)')
    items = extract(pg_server, 'pre_nopublic')
    apply(pg_server, 'pre_nopublic_dst', items)
    assert (pre_data_dump(pg_server, 'pre_nopublic').splitlines()
            == pre_data_dump(pg_server, 'pre_nopublic_dst').splitlines())


def test_tablespaces_are_kept(pg_server):
    location = os.path.join(pg_server.base, 'pre_tbs')
    os.makedirs(location)
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam('postgres')
        os.chown(location, pw.pw_uid, pw.pw_gid)
    pg_server.psql('postgres', "CREATE TABLESPACE pre_tbs LOCATION '%s'" % location)
    try:
        pg_server.create_database('pre_tbs_src')
        pg_server.psql('pre_tbs_src', 'CREATE TABLE t_in (a int) TABLESPACE pre_tbs; '
                                      'CREATE TABLE t_out (a int); '
                                      'CREATE MATERIALIZED VIEW mv TABLESPACE pre_tbs AS SELECT * FROM t_in')
        items = extract(pg_server, 'pre_tbs_src')
        apply(pg_server, 'pre_tbs_dst', items)
        src = pre_data_dump(pg_server, 'pre_tbs_src')
        assert "SET default_tablespace = pre_tbs;" in src
        assert src.splitlines() == pre_data_dump(pg_server, 'pre_tbs_dst').splitlines()
    finally:
        for db in ('pre_tbs_src', 'pre_tbs_dst'):
            pg_server.psql('postgres', 'DROP DATABASE IF EXISTS %s' % db)
        pg_server.psql('postgres', 'DROP TABLESPACE pre_tbs')


def test_foreign_objects_are_items(pre_items):
    by_kind = {}
    for i in pre_items:
        by_kind.setdefault(i.kind, []).append(i.name)
    assert by_kind['FOREIGN DATA WRAPPER'] == ['dummy_fdw']          # postgres_fdw comes with its extension
    assert sorted(by_kind['SERVER']) == ['"Dummy Server"', 'loopback']
    assert len(by_kind['USER MAPPING']) == 2
    sql = dict((i.name, i.sql) for i in pre_items)
    assert 'CREATE FOREIGN TABLE app.remote_customer' in sql['app.remote_customer']
    assert "'it''s secret'" in sql['app_reader SERVER loopback']
