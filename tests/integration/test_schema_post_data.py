"""Post-data extraction against a real server: fixture -> extract -> restore -> compare.

The post-data fixture (tests/fixtures/rich/20_post_objects.sql) is loaded into
'src', extracted, and restored into 'dst' the way the restorer does it: PRE
items in order, table data, then POST phase by phase with the items of one
phase run in parallel sessions. pg_dump -s of both must be identical; what
pg_dump -s does not show (large objects, database settings, RLS at work,
validated keys, refreshed matviews) is checked directly.
"""
import io
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from plugins.module_utils.postgres.logical.schema.extract import extract_schema, ExtractContext
from plugins.module_utils.postgres.logical.schema.model import (
    DATABASE_TOKEN, PHASES, SERIAL_PHASES, POST, PHASE_FK, PHASE_INDEX_ATTACH, PHASE_REFRESH, PHASE_DECORATION)
from plugins.module_utils.postgres.logical.schema.acl import AclTarget, acl_statements, parse_acl
from plugins.module_utils.postgres.logical.schema.database import split_guc_list, set_clause

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'rich')
SCHEMA = 'post_fx'


def _extract(server, db):
    conn = server.connect(db, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SET search_path = ''")
        cur.execute("SHOW server_version_num")
        return extract_schema(cur, ExtractContext(int(cur.fetchone()[0]), db))
    finally:
        conn.rollback()
        conn.close()


def _copy_data(server, src, dst):
    """COPY every ordinary table of the fixture schema from src to dst."""
    sconn, dconn = server.connect(src), server.connect(dst)
    scur, dcur = sconn.cursor(), dconn.cursor()
    scur.execute("SET search_path = ''")
    scur.execute("SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind = 'r' "
                 "AND c.relnamespace = %s::regnamespace", (SCHEMA,))
    for (table,) in scur.fetchall():
        buf = io.BytesIO()
        scur.copy_expert('COPY %s TO STDOUT' % table, buf)
        buf.seek(0)
        dcur.copy_expert('COPY %s FROM STDIN' % table, buf)
    sconn.close()
    dconn.close()


def _restore(server, db, pre, post, data_from):
    server.create_database(db)
    local = threading.local()
    conns = []

    def run(item):
        if not hasattr(local, 'conn'):
            local.conn = server.connect(db)
            conns.append(local.conn)
            local.conn.cursor().execute("SET search_path = ''; SET check_function_bodies = false")
        try:
            local.conn.cursor().execute(item.sql.replace(DATABASE_TOKEN, '"%s"' % db))
        except Exception as e:
            raise AssertionError('%s %s failed: %s\n%s' % (item.kind, item.name, e, item.sql))

    for item in pre:
        run(item)
    _copy_data(server, data_from, db)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for phase in PHASES:
            items = [i for i in post if i.phase == phase]
            if phase in SERIAL_PHASES:
                for item in items:
                    run(item)
            else:
                for f in [pool.submit(run, i) for i in items]:
                    f.result()
    for c in conns:
        c.close()


def _dump(server, db):
    out = subprocess.run(['pg_dump', '-s', db], env=server.env(), check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    # \restrict / \unrestrict carry a random key per run
    return [l for l in out.splitlines() if not l.startswith(('\\restrict', '\\unrestrict'))]


@pytest.fixture(scope='module')
def env(pg_server):
    """(server, src, dst, pre, post): fixture loaded into src, restored into dst."""
    suffix = '%d' % os.getpid()
    src, dst = 'post_src_' + suffix, 'post_dst_' + suffix
    server = pg_server
    server.create_database(src)
    server.psql('postgres', file=os.path.join(FIXTURES, '00_roles.sql'))
    server.psql(src, file=os.path.join(FIXTURES, '20_post_objects.sql'))
    server.psql(src, "ALTER DATABASE %s SET dbbackup.restored_backup = 'earlier'" % src)
    pre, post = _extract(server, src)
    _restore(server, dst, pre, post, src)
    yield server, src, dst, pre, post
    for db in (src, dst):
        server.psql('postgres', 'DROP DATABASE IF EXISTS %s' % db)


def _query(server, db, sql, role=None):
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute("SET search_path = ''")   # the fixture sets a database search_path
        if role:
            cur.execute('SET ROLE %s' % role)
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


def test_schema_dump_is_identical(env):
    server, src, dst = env[:3]
    src, dst = _dump(server, src), _dump(server, dst)
    assert '\n'.join(dst) == '\n'.join(src)


def test_items_have_the_right_sections_and_phases(env):
    pre, post = env[3:]
    blobs = [i for i in pre if i.kind == 'BLOB']
    assert sorted(i.key for i in blobs) == [('pg_largeobject_metadata', 424242),
                                            ('pg_largeobject_metadata', 424243)]
    assert all(i.section == POST for i in post)
    fks = [i for i in post if i.kind == 'FK']
    assert fks and all(i.phase == PHASE_FK for i in fks)
    assert any(i.phase == PHASE_INDEX_ATTACH and 'ATTACH PARTITION' in i.sql for i in post)
    refresh = [i.name for i in post if i.phase == PHASE_REFRESH]
    assert refresh == ['post_fx.mv_base', 'post_fx.mv_top']   # mv_top reads mv_base via a view
    # a partition's copy of the parent's foreign key is added first, under its own name, in the
    # parent's item: the parent's key then takes it over instead of making one with another name
    sale_fk = [i for i in fks if 'ADD CONSTRAINT sale_dept_fk' in i.sql]
    assert len(sale_fk) == 1, [i.sql for i in fks]
    sql = sale_fk[0].sql
    assert sql.index('ALTER TABLE ONLY post_fx.sale_2023 ADD CONSTRAINT sale_dept_fk') < \
        sql.index('ALTER TABLE post_fx.sale ADD CONSTRAINT sale_dept_fk')
    assert not any('dbbackup.' in i.sql for i in pre + post)
    assert any(DATABASE_TOKEN in i.sql and i.phase == PHASE_DECORATION for i in post)


def test_large_object_metadata(env):
    server, src, dst = env[:3]
    sql = ("SELECT l.oid, pg_get_userbyid(l.lomowner), l.lomacl::text, "
           "obj_description(l.oid, 'pg_largeobject') FROM pg_largeobject_metadata l ORDER BY 1")
    assert _query(server, dst, sql) == _query(server, src, sql)
    assert len(_query(server, dst, sql)) == 2


def test_database_settings_and_comment(env):
    server, src, dst = env[:3]
    sql = ("SELECT CASE WHEN s.setrole = 0 THEN '-' ELSE pg_get_userbyid(s.setrole) END, s.setconfig "
           "FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
           "WHERE d.datname = current_database() ORDER BY 1")
    expected = [(r, [c for c in cfg if not c.startswith('dbbackup.')]) for r, cfg in _query(server, src, sql)]
    assert ('-', ['work_mem=8MB', 'search_path="$user", public, post_fx']) in expected
    assert ('app_reader', ['statement_timeout=5s']) in expected
    assert _query(server, dst, sql) == expected
    comment = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    assert _query(server, dst, comment) == [('rich fixture database',)]


def test_partitioned_indexes_are_valid_and_attached(env):
    server, src, dst = env[:3]
    sql = ("SELECT c.relname, i.indisvalid, (SELECT inhparent::regclass::text FROM pg_inherits "
           "WHERE inhrelid = c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
           "WHERE c.relnamespace = 'post_fx'::regnamespace ORDER BY 1")
    rows = _query(server, dst, sql)
    assert rows == _query(server, src, sql)
    assert all(row[1] for row in rows)


def test_trigger_and_rule_states(env):
    server, src, dst = env[:3]
    sql = ("SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
           "WHERE NOT tgisinternal ORDER BY 1, 2")
    rows = _query(server, dst, sql)
    assert rows == _query(server, src, sql)
    assert ('post_fx.sale_2023', 'sale_touch', 'D') in rows
    assert ('post_fx.sale_2024_h1', 'sale_touch', 'O') in rows


def test_matviews_refreshed_in_order(env):
    server, src, dst = env[:3]
    sql = ("SELECT relname, relispopulated FROM pg_class WHERE relkind = 'm' "
           "AND relnamespace = 'post_fx'::regnamespace ORDER BY 1")
    assert _query(server, dst, sql) == [('mv_base', True), ('mv_empty', False), ('mv_top', True)]
    assert _query(server, dst, 'SELECT n FROM post_fx.mv_top') == [(2,)]


def test_row_level_security_applies(env):
    server, src, dst = env[:3]
    sql = 'SELECT id FROM post_fx.secret ORDER BY id'
    assert _query(server, dst, sql, role='app_reader') == [(1,), (3,)]
    assert _query(server, dst, sql) == [(1,), (3,), (200,)]


def test_foreign_keys_are_enforced(env):
    server, src, dst = env[:3]
    conn = server.connect(dst)
    try:
        cur = conn.cursor()
        with pytest.raises(Exception) as err:
            cur.execute("INSERT INTO post_fx.emp (id, dept_id) VALUES (99, 12345)")
        assert 'emp_dept_fk' in str(err.value)
    finally:
        conn.close()


# ---- pure pieces --------------------------------------------------------

def _target(on='TABLE t', owner='o'):
    return AclTarget(on, owner, lambda n: '"%s"' % n if ' ' in n else n)


def test_acl_parse_quoted_names_and_grant_options():
    items = parse_acl(['"a ""b"""=r*w/o', '=X/"x y"'])
    assert (items[0].grantee, items[0].grantor, items[0].privs) == ('a "b"', 'o', {'r': True, 'w': False})
    assert (items[1].grantee, items[1].grantor) == ('', 'x y')


def test_acl_minimal_edit_keeps_order():
    lines = acl_statements(_target(), ['o=arw/o', 'r=r/o'], ['o=arwdDxt/o'])
    assert lines == ['REVOKE DELETE,TRUNCATE,REFERENCES,TRIGGER ON TABLE t FROM o;',
                     'GRANT SELECT ON TABLE t TO r;']


def test_acl_reordered_entries_are_rebuilt():
    lines = acl_statements(_target(), ['r=r/o', 'o=arwdDxt/o'], ['o=arwdDxt/o'])
    assert lines == ['REVOKE ALL ON TABLE t FROM o;', 'GRANT SELECT ON TABLE t TO r;',
                     'GRANT ALL ON TABLE t TO o;']   # the owner's full default: ALL of the target version


def test_acl_other_grantor_runs_as_that_role():
    lines = acl_statements(_target(), ['o=arwdDxt/o', 'w=r*/o', 'x=r/w'], ['o=arwdDxt/o'])
    assert lines == ['GRANT SELECT ON TABLE t TO w WITH GRANT OPTION;',
                     'SET ROLE w;', 'GRANT SELECT ON TABLE t TO x;', 'RESET ROLE;']


def test_acl_null_means_default_and_empty_means_none():
    assert acl_statements(_target(), None, ['o=arwdDxt/o']) == []
    assert acl_statements(_target('FUNCTION f()'), [], ['=X/o', 'o=X/o']) == [
        'REVOKE ALL ON FUNCTION f() FROM PUBLIC;', 'REVOKE ALL ON FUNCTION f() FROM o;']


def test_guc_list_values():
    assert split_guc_list('"$user", public, "A b"') == ['$user', 'public', 'A b']
    assert set_clause('search_path="$user", public') == "SET search_path TO '$user', 'public'"
    assert set_clause("work_mem=8MB") == "SET work_mem TO '8MB'"
    assert set_clause("search_path=") == "SET search_path TO ''"
