"""dbbackup_restore state=absent: drops only scratch copies dbbackup restored, never anything else."""
import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from tests.support.params import engine_params


def _exists_pg(server, name):
    return server.scalar('postgres', 'SELECT count(*) FROM pg_database WHERE datname = %s', (name,)) == 1


def test_postgres_drops_only_restored_copies(pg_server, repository, unique_db_name):
    src, copy, other = unique_db_name('drop_src'), unique_db_name('drop_copy'), unique_db_name('drop_other')
    for name in (src, other):
        pg_server.create_database(name)
    pg_server.psql(src, 'CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g')
    api.run_backup(engine_params(pg_server, src, repository))
    api.run_restore(engine_params(pg_server, src, repository, target_database=copy))

    def absent(target, check_mode=False):
        return api.run_restore(engine_params(pg_server, src, repository, target_database=target, state='absent'),
                               check_mode=check_mode)
    # the source itself, an unrelated database, and no target at all are refused, nothing dropped
    with pytest.raises(errors.BadInput, match='never drops the source'):
        absent(src)
    with pytest.raises(errors.BadInput, match='was not restored by dbbackup'):
        absent(other)
    with pytest.raises(errors.BadInput, match='needs target_database'):
        absent(None)
    assert _exists_pg(pg_server, src) and _exists_pg(pg_server, other)
    # a copy restored from another database's backup is not this database's copy
    with pytest.raises(errors.BadInput, match='was not restored by dbbackup from a backup of %s' % other):
        api.run_restore(engine_params(pg_server, other, repository, target_database=copy, state='absent'))
    # check mode says so and keeps it; a session connected to it does not block the drop
    assert absent(copy, check_mode=True)['changed'] and _exists_pg(pg_server, copy)
    conn = pg_server.connect(copy)
    try:
        result = absent(copy)
    finally:
        conn.close()
    assert result['changed'] and result['restored_from'].startswith('%s_%d/%s/' % (pg_server.host, pg_server.port, src))
    assert not _exists_pg(pg_server, copy) and _exists_pg(pg_server, src)
    assert absent(copy)['changed'] is False


def test_mysql_drops_only_restored_copies(mysql_server, tmp_path):
    repo = str(tmp_path / 'repo')

    def p(database, **options):
        params = mysql_server.conn_params(database)
        params.update(repository=repo, **options)
        return params
    mysql_server.create_database('drop_src_my')
    mysql_server.sql('CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1), (2);', 'drop_src_my')
    api.run_backup(p('drop_src_my'))
    api.run_restore(p('drop_src_my', target_database='drop_copy_my'))
    mysql_server.create_database('drop_other_my')
    with pytest.raises(errors.BadInput, match='was not restored by dbbackup'):
        api.run_restore(p('drop_src_my', target_database='drop_other_my', state='absent'))
    result = api.run_restore(p('drop_src_my', target_database='drop_copy_my', state='absent'))
    assert result['changed']
    assert api.run_restore(p('drop_src_my', target_database='drop_copy_my', state='absent'))['changed'] is False
    with pytest.raises(errors.BadInput, match='never drops the source'):
        api.run_restore(p('drop_src_my', target_database='drop_src_my', state='absent'))
