"""The fifteen object kinds of issue 12, each alone in an empty database, through a real backup and restore.

Every case was once lost, refused or changed by a restore; pg_dump/pg_restore handles each.
Each runs run_backup and run_restore (the restore proves the copy against the backup's
inventory before renaming it into place) and then compares the copy with the source by
`pg_dump -s`, table data, sequences, large objects and settings (tests/support/compare.py).
"""
import json
import os

import pytest

from plugins.module_utils import api
from tests.support import compare
from tests.support.params import engine_params

CASES = [
    ('base_and_shell_types',
     "CREATE TYPE mytext; "
     "CREATE FUNCTION mytext_in(cstring) RETURNS mytext AS 'textin' LANGUAGE internal STRICT IMMUTABLE; "
     "CREATE FUNCTION mytext_out(mytext) RETURNS cstring AS 'textout' LANGUAGE internal STRICT IMMUTABLE; "
     "CREATE TYPE mytext (INPUT=mytext_in, OUTPUT=mytext_out, LIKE=text); CREATE TABLE bt (v mytext); "
     "CREATE TYPE myshell; INSERT INTO bt VALUES ('one'), ('two'); COMMENT ON TYPE myshell IS 'only a shell'"),
    ('table_access_method',
     "CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler; "
     "CREATE TABLE tam (a int) USING heap2; INSERT INTO tam VALUES (1), (2)"),
    ('generated_column_on_inheritance_child',
     "CREATE TABLE gp (a int NOT NULL, b int GENERATED ALWAYS AS (a*2) STORED); "
     "CREATE TABLE gc (a int NOT NULL, b int GENERATED ALWAYS AS (a*2) STORED); ALTER TABLE gc INHERIT gp; "
     "INSERT INTO gc (a) VALUES (1), (2); INSERT INTO gp (a) VALUES (3)"),
    ('view_depending_on_primary_key',
     "CREATE TABLE kv (id int PRIMARY KEY, data text); CREATE VIEW kvv AS SELECT id, data FROM kv GROUP BY id; "
     "INSERT INTO kv VALUES (1, 'a'), (2, 'b')"),
    ('check_calling_function_over_row_type',
     "CREATE TABLE cc (f1 int); "
     "CREATE FUNCTION ccf(cc) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$BEGIN RETURN $1.f1 > 0; END$$; "
     "ALTER TABLE cc ADD CHECK (ccf(cc.*)); INSERT INTO cc VALUES (1), (5)"),
    ('zero_argument_aggregate',
     "CREATE AGGREGATE cnt0(*) (SFUNC=int8inc, STYPE=int8, INITCOND='0'); "
     "COMMENT ON AGGREGATE cnt0(*) IS 'counts'; ALTER AGGREGATE cnt0(*) OWNER TO case_owner; "
     "REVOKE ALL ON FUNCTION cnt0 FROM PUBLIC"),
    ('procedures_overloaded_by_out_arguments',
     "CREATE PROCEDURE pp(OUT a int, IN b int, IN c int) LANGUAGE plpgsql AS $$BEGIN a := b - c; END$$; "
     "CREATE PROCEDURE pp(a int, b int, c int) LANGUAGE plpgsql AS $$BEGIN NULL; END$$; "
     "COMMENT ON PROCEDURE pp(OUT int, int, int) IS 'with out'; ALTER PROCEDURE pp(OUT int, int, int) OWNER TO "
     "case_owner; REVOKE ALL ON PROCEDURE pp(OUT int, int, int) FROM PUBLIC"),
    ('operator_classes_and_families',
     "CREATE OPERATOR CLASS int4_alt_ops FOR TYPE int4 USING btree AS OPERATOR 1 <, OPERATOR 2 <=, "
     "OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 btint4cmp(int4,int4); "
     "CREATE TABLE oc (a int); CREATE INDEX oc_a ON oc (a int4_alt_ops); INSERT INTO oc VALUES (3), (1)"),
    ('text_search_configuration',
     "CREATE TEXT SEARCH CONFIGURATION mycfg (COPY = english); "
     "CREATE TABLE docs (body text, tsv tsvector GENERATED ALWAYS AS (to_tsvector('public.mycfg', body)) STORED); "
     "INSERT INTO docs (body) VALUES ('the quick brown foxes jumped')"),
    ('transform',
     "CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION prsd_lextype(internal), "
     "TO SQL WITH FUNCTION int4recv(internal))"),
    ('materialized_view_column_compression',
     "CREATE MATERIALIZED VIEW mvc AS SELECT 'x'::text AS x; "
     "ALTER MATERIALIZED VIEW mvc ALTER COLUMN x SET COMPRESSION lz4"),
    ('identity_sequence_persistence',
     "CREATE TABLE il (a int GENERATED ALWAYS AS IDENTITY); ALTER SEQUENCE il_a_seq SET UNLOGGED; "
     "INSERT INTO il DEFAULT VALUES; INSERT INTO il DEFAULT VALUES"),
    ('grants_on_pg_catalog_objects',
     "GRANT SELECT (rolname) ON pg_catalog.pg_authid TO case_member; "
     "GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_reset() TO case_member"),
    ('comment_on_large_object_below_16384',
     "SELECT lo_create(2121); COMMENT ON LARGE OBJECT 2121 IS 'x'; SELECT lo_put(2121, 0, 'content')"),
    ('default_calling_begin_atomic_function',
     "CREATE TABLE t17 (a int); "
     "CREATE FUNCTION next_a() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT coalesce(max(a),0)+1 FROM t17; END; "
     "ALTER TABLE t17 ALTER a SET DEFAULT next_a(); INSERT INTO t17 DEFAULT VALUES; INSERT INTO t17 DEFAULT VALUES"),
]


@pytest.fixture(scope='module')
def case_roles(pg_server):
    pg_server.psql('postgres', "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'case_owner') THEN "
                               "CREATE ROLE case_owner; CREATE ROLE case_member; END IF; END$$")


# Beyond pg_dump: names it does not keep.
MORE = [
    ('foreign_keys_of_partitions_keep_their_names',
     "CREATE TABLE pk (a int PRIMARY KEY); INSERT INTO pk VALUES (1), (15); "
     "CREATE TABLE fk (a int) PARTITION BY RANGE (a); "
     "CREATE TABLE fk1 (a int); ALTER TABLE fk1 ADD CONSTRAINT fk1_own_fkey FOREIGN KEY (a) REFERENCES pk; "
     "ALTER TABLE fk ATTACH PARTITION fk1 FOR VALUES FROM (0) TO (10); "
     "ALTER TABLE fk ADD CONSTRAINT fk_a_fkey FOREIGN KEY (a) REFERENCES pk; INSERT INTO fk VALUES (1); "
     "CREATE TABLE pkp (a int PRIMARY KEY) PARTITION BY RANGE (a); "
     "CREATE TABLE pkp2 PARTITION OF pkp FOR VALUES FROM (10) TO (20); "
     "CREATE TABLE pkp1 PARTITION OF pkp FOR VALUES FROM (0) TO (10); "
     "CREATE TABLE r (a int REFERENCES pkp); INSERT INTO pkp VALUES (1); INSERT INTO r VALUES (1)"),
]


@pytest.mark.parametrize('name, sql', CASES + MORE, ids=[c[0] for c in CASES + MORE])
def test_case_round_trips(pg_server, case_roles, tmp_path, name, sql):
    source = 'case_%s' % name
    pg_server.create_database(source)
    pg_server.psql(source, sql)
    before = compare.snapshot(pg_server, source)
    repo = str(tmp_path)
    backup = api.run_backup(engine_params(pg_server, source, repo))
    assert backup['changed'] and 'warnings' not in backup
    restored = api.run_restore(engine_params(pg_server, source, repo, target_database=source + '_copy'))
    assert restored['inventory']['compared'] == 'definitions' and restored['inventory']['objects'] > 0
    compare.assert_same_database(pg_server, source, source + '_copy', src_snapshot=before)


def test_hash_partitions_on_an_enum_are_loaded_through_their_root(pg_server, tmp_path):
    """An enum's hash depends on OIDs the restore assigns anew: rows may change partition (as with
    pg_dump, which loads such trees through the root); the table as a whole holds the same rows."""
    source = 'case_hash_enum'
    pg_server.create_database(source)
    pg_server.psql(source, "CREATE TYPE colors AS ENUM ('green', 'blue', 'black'); "
                           "CREATE TABLE parts (c colors, n int) PARTITION BY HASH (c); "
                           "CREATE TABLE parts0 PARTITION OF parts FOR VALUES WITH (MODULUS 2, REMAINDER 0); "
                           "CREATE TABLE parts1 PARTITION OF parts FOR VALUES WITH (MODULUS 2, REMAINDER 1); "
                           "INSERT INTO parts SELECT (ARRAY['green', 'blue', 'black'])[1 + g % 3]::colors, g "
                           "FROM generate_series(1, 30) g")
    repo = str(tmp_path)
    backup = api.run_backup(engine_params(pg_server, source, repo))
    with open(os.path.join(backup['location'], 'manifest.json')) as f:
        data = [e for e in json.load(f)['files'] if e['role'] == 'data']
    assert sorted(e['name'] for e in data) == ['parts0', 'parts1']
    assert all(e['load_via'] == ['public', 'parts'] for e in data), data
    api.run_restore(engine_params(pg_server, source, repo, target_database=source + '_copy'))
    assert compare.schema_dump(pg_server, source) == compare.schema_dump(pg_server, source + '_copy')
    rows = "SELECT string_agg(c::text || n, ',' ORDER BY n) FROM parts"
    assert pg_server.scalar(source, rows) == pg_server.scalar(source + '_copy', rows)
    proof = api.run_verify(engine_params(pg_server, source, repo, restored_database=source + '_copy'))
    assert proof['restored']['ok'] and proof['restored']['rows'] == 30 == backup['rows']
