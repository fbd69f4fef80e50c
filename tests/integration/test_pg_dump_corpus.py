"""PostgreSQL's own pg_dump test objects (tests/fixtures/pg_dump_corpus/) through a backup and a restore.

The corpus is the create_sql of src/bin/pg_dump/t/002_pg_dump.pl (devtools/pg_dump_corpus.py
regenerates it; SOURCE.md says where it comes from). Its three databases are loaded once on
the session server and each is backed up and restored with the engine; the copy must be
proven by the restore's inventory check and equal the source by `pg_dump -s` and data.
"""
import os

import pytest

from plugins.module_utils import api
from tests.support import compare
from tests.support.params import engine_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, 'tests', 'fixtures', 'pg_dump_corpus')
DATABASES = (('pgdump_corpus', '10_postgres.sql'), ('pgdump_public_owner', '20_regress_public_owner.sql'),
             ('pgdump_no_public', '30_regress_pg_dump_test.sql'))


@pytest.fixture(scope='module')
def corpus(pg_server):
    pg_server.psql('postgres', file=os.path.join(CORPUS, '00_roles.sql'))
    for name, sql in DATABASES:
        pg_server.create_database(name)
        pg_server.psql(name, file=os.path.join(CORPUS, sql))
    return dict(DATABASES)


@pytest.mark.parametrize('database', [d[0] for d in DATABASES])
def test_corpus_round_trips(pg_server, corpus, tmp_path, database):
    before = compare.snapshot(pg_server, database)
    backup = api.run_backup(engine_params(pg_server, database, str(tmp_path), jobs=2))
    assert backup['changed'] and 'warnings' not in backup
    target = database + '_copy'
    restored = api.run_restore(engine_params(pg_server, database, str(tmp_path), target_database=target, jobs=2))
    assert restored['inventory']['compared'] == 'definitions'
    compare.assert_same_database(pg_server, database, target, src_snapshot=before)


def test_corpus_holds_what_it_should(pg_server, corpus):
    """The corpus really has the kinds it is there for (a broken load would prove nothing)."""
    counts = {}
    conn = pg_server.connect('pgdump_corpus')
    try:
        cur = conn.cursor()
        for sql in ("SELECT count(*) FROM pg_catalog.pg_opclass WHERE oid >= 16384",
                    "SELECT count(*) FROM pg_catalog.pg_ts_config WHERE oid >= 16384",
                    "SELECT count(*) FROM pg_catalog.pg_subscription",
                    "SELECT count(*) FROM pg_catalog.pg_transform",
                    "SELECT count(*) FROM pg_catalog.pg_language WHERE oid >= 16384",
                    "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata",
                    "SELECT count(*) FROM dump_test.test_table"):
            cur.execute(sql)
            counts[sql] = cur.fetchone()[0]
    finally:
        conn.close()
    assert all(counts.values()), counts
