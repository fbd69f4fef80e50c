"""A logical backup as the major-upgrade path: PostgreSQL 13 and 15 into 17.

The reference is what PostgreSQL's own tools do: pg_dump 17 of the source piped through
pg_restore 17 into the same 17 server. Our restore of our backup must give the same
database (pg_dump -s of both, table data, sequences, large objects, settings): the
differences an upgrade brings (view deparsing, defaults of the new version) are then the
same on both sides and cancel out (database-level settings, which pg_restore into an existing
database does not carry, are compared with the source's). Restoring into an older major fails before anything
on the target changes.
"""
import os
import shutil
import subprocess

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from tests.support import compare
from tests.versions.conftest import RICH_PG, load_pg_fixture, new_pg_server
from tests.versions.db_host import shared_tmp

TARGET = '17'


@pytest.fixture(scope='module')
def target():
    server = new_pg_server(TARGET)
    roles = [p for p in RICH_PG if os.path.basename(p) == '00_roles.sql']
    for path in roles:
        server.psql('postgres', file=path)
    yield server
    server.stop()


def _pg_restore_reference(source, target, database):
    """pg_dump -Fc (the target's version) of source's rich | pg_restore into target as a new database."""
    dump = subprocess.run([target.bin('pg_dump'), '-Fc', '-d', 'rich'], env=source.env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert dump.returncode == 0, dump.stderr.decode()
    target.create_database(database)
    p = subprocess.run([target.bin('pg_restore'), '--exit-on-error', '-d', database], input=dump.stdout,
                       env=target.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert p.returncode == 0, p.stderr.decode()


@pytest.mark.parametrize('source_version', ['13', '15'], ids=lambda v: 'pg%s-to-pg17' % v)
def test_upgrade_matches_pg_dump_pg_restore(source_version, target):
    source = new_pg_server(source_version)
    work = shared_tmp('pgup-')
    ours, reference = 'ours_%s' % source_version, 'reference_%s' % source_version
    try:
        load_pg_fixture(source, source_version)
        backup = api.run_backup(dict(source.conn_params('rich'), repository=work, server_name='up', jobs=2))
        assert backup['server_version'].split('.')[0] == source_version
        restored = api.run_restore(dict(target.conn_params('rich'), repository=work, server_name='up', jobs=2,
                                        target_database=ours))
        assert restored['changed'] and restored['server_version'].split('.')[0] == TARGET
        _pg_restore_reference(source, target, reference)
        expected = compare.snapshot(target, reference)
        # pg_restore into an existing database carries no database-level settings: ours must
        # carry the source's
        expected['settings'] = compare.snapshot(source, 'rich')['settings']
        problems = compare.differences(expected, compare.snapshot(target, ours), 'pg_restore', 'dbbackup')
        assert not problems, 'PostgreSQL %s -> %s: our restore differs from pg_dump | pg_restore:\n%s' % (
            source_version, TARGET, '\n\n'.join(problems))
    finally:
        source.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_restore_into_an_older_major_is_refused_before_anything_changes(target):
    older = new_pg_server('13')
    work = shared_tmp('pgdown-')
    try:
        target.create_database('newer')
        target.psql('newer', 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)')
        api.run_backup(dict(target.conn_params('newer'), repository=work, server_name='down'))
        before = older.scalar('postgres', 'SELECT count(*) FROM pg_database')
        with pytest.raises(errors.BadInput) as info:
            api.run_restore(dict(older.conn_params('newer'), repository=work, server_name='down'))
        msg = str(info.value)
        assert 'PostgreSQL 17' in msg and 'older major version' in msg and 'Nothing was changed' in msg, msg
        assert older.scalar('postgres', 'SELECT count(*) FROM pg_database') == before
        assert older.scalar('postgres', "SELECT count(*) FROM pg_database WHERE datname ~ '^(newer|_dbbackup_)'") == 0
    finally:
        older.stop()
        shutil.rmtree(work, ignore_errors=True)
