"""dbbackup_verify_locks against real servers.

The central test starts a server with a deliberately small lock table, shows
that the check predicts what really happens (the verdict is insufficient and a
real backup fails with "out of shared memory"), applies the remediation,
restarts, and shows that the check then says ok and the backup succeeds.
Another test samples pg_locks while a backup and a restore run and checks
that the estimate is never below what the engine really held.
"""
import os
import threading

import pytest

from devtools.pg_temp import PgServer
from plugins.module_utils import api
from plugins.module_utils.common.errors import BackupFailed, NotFound
from plugins.module_utils.postgres import locks


def _make_tables(server, db, count, tmp_path, fk_chain=False, partitions=0):
    """count tables (id, text, serial) in one file, each statement its own transaction."""
    path = str(tmp_path / ('%s.sql' % db))
    with open(path, 'w') as f:
        for i in range(count):
            f.write('CREATE TABLE public.t%d (id int PRIMARY KEY, v text, s serial, ref int);\n' % i)
        if fk_chain:
            for i in range(1, count):
                f.write('ALTER TABLE public.t%d ADD FOREIGN KEY (ref) REFERENCES public.t%d;\n' % (i, i - 1))
        if partitions:
            f.write('CREATE TABLE public.p (id int, k int) PARTITION BY RANGE (id);\n')
            for i in range(partitions):
                f.write('CREATE TABLE public.p%d PARTITION OF public.p FOR VALUES FROM (%d) TO (%d);\n'
                        % (i, i * 10, i * 10 + 10))
            f.write('CREATE INDEX ON public.p (k);\n')
        f.write("INSERT INTO public.t1 SELECT g, md5(g::text) FROM generate_series(1, 100) g;\n")
    server.psql(db, file=path)


def test_live_check_of_the_session_server(pg_server, rich_db):
    res = api.run_verify_locks(pg_server.conn_params(rich_db))
    assert res['changed'] is False and not res.get('failed')
    s = res['settings']
    assert s['max_connections'] == 50    # PgServer's setting
    expected = s['max_locks_per_transaction'] * (
        s['max_connections'] + s['autovacuum_max_workers'] + 1 + s['max_worker_processes']
        + s['max_wal_senders'] + s['max_prepared_transactions'])
    assert res['capacity'] == expected, res['capacity_formula']
    assert res['server_version_num'] == int(pg_server.scalar('postgres', 'SHOW server_version_num'))
    entry = res['databases'][rich_db]
    tables = pg_server.scalar(rich_db, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                       "WHERE c.relkind = 'r' AND NOT c.relispartition "
                                       "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                                       "AND n.nspname !~ '^pg_toast'")
    assert entry['relations']['tables'] == tables
    assert entry['relations']['partitions'] > 0 and entry['relations']['large_objects'] > 0
    assert entry['backup_need'] > locks.CATALOG_LOCKS + tables
    assert res['need'] == max(entry['backup_need'], entry['restore_need'])
    assert res['verdict'] == 'ok' and res['remediation'] is None
    assert res['required_max_locks_per_transaction'] == s['max_locks_per_transaction']


def test_all_databases_by_default_and_simultaneous_adds_up(pg_server, unique_db_name, tmp_path):
    a, b = unique_db_name('lka'), unique_db_name('lkb')
    for name, n in ((a, 30), (b, 60)):
        pg_server.create_database(name)
        _make_tables(pg_server, name, n, tmp_path)
    params = pg_server.conn_params('postgres')
    params.pop('database')
    res = api.run_verify_locks(params)
    assert a in res['databases'] and b in res['databases'] and 'postgres' in res['databases']
    assert 'template0' not in res['databases'] and 'template1' not in res['databases']
    both = api.run_verify_locks(dict(params, databases=[a, b], operation='backup'))
    assert set(both['databases']) == {a, b}
    assert both['need'] == both['databases'][b]['backup_need']
    together = api.run_verify_locks(dict(params, databases=[a, b], operation='backup', simultaneous=True))
    assert together['need'] == (both['databases'][a]['backup_need'] + both['databases'][b]['backup_need']
                                - locks.CATALOG_LOCKS)


def _sample_locks(server, stop, peak, phase):
    conn = server.connect('postgres')
    try:
        cur = conn.cursor()
        while not stop.is_set():
            cur.execute("SELECT count(DISTINCT (l.locktype, l.database, l.relation, l.classid, l.objid, "
                        "l.objsubid, l.virtualxid, l.transactionid::text)) "
                        "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                        "WHERE a.application_name LIKE 'dbbackup%'")  # restores: 'dbbackup restore <hex>'
            n = cur.fetchone()[0]
            peak[phase[0]] = max(peak.get(phase[0], 0), n)
    finally:
        conn.close()


def test_estimate_covers_what_backup_and_restore_really_lock(pg_server, unique_db_name, tmp_path, repository):
    db = unique_db_name('lkm')
    pg_server.create_database(db)
    _make_tables(pg_server, db, 150, tmp_path, fk_chain=True, partitions=60)
    params = pg_server.conn_params(db)
    check = api.run_verify_locks(params)['databases'][db]
    peak, phase, stop = {}, ['backup'], threading.Event()
    sampler = threading.Thread(target=_sample_locks, args=(pg_server, stop, peak, phase))
    sampler.start()
    try:
        backup = api.run_backup(dict(params, repository=repository))
        phase[0] = 'restore'
        api.run_restore(dict(params, repository=repository, target_database=db + '_copy'))
    finally:
        stop.set()
        sampler.join()
    assert peak.get('backup', 0) > 150 and peak.get('restore', 0) > 60, peak
    assert check['backup_need'] >= peak['backup'], (check, peak)
    assert check['restore_need'] >= peak['restore'], (check, peak)
    # from the manifest: an upper bound of the live estimate
    from_manifest = api.run_verify_locks(dict(params, repository=repository, server_name=None,
                                              operation='restore'))
    entry = from_manifest['databases'][db]
    assert entry['source'] == 'manifest' and entry['backup_id'] == backup['backup_id']
    assert entry['relations']['tables'] == backup['tables']
    assert entry['restore_need'] >= check['restore_need']


def test_manifest_mode_needs_a_database_and_a_backup(pg_server, repository):
    params = pg_server.conn_params('postgres')
    params.pop('database')
    # repository without database(s): the live check (a repository set for the whole module group)
    live = api.run_verify_locks(dict(params, repository=repository))
    assert all(entry['source'] == 'database' for entry in live['databases'].values()) and live['databases']
    with pytest.raises(NotFound):
        api.run_verify_locks(dict(params, repository=repository, database='nothing_here'))


@pytest.fixture
def small_server(tmp_path):
    """A server whose lock table holds 10 * (10 + 3 + 1 + 8 + 10) = 320 objects."""
    server = PgServer(extra_conf={'max_locks_per_transaction': '10', 'max_connections': '10',
                                  'shared_buffers': "'32MB'"})
    server.start()
    yield server
    server.stop()


def test_small_lock_table_predicts_failure_and_the_remediation_fixes_it(small_server, tmp_path, repository):
    server = small_server
    server.create_database('many')
    _make_tables(server, 'many', 400, tmp_path)
    params = server.conn_params('many')
    res = api.run_verify_locks(dict(params, jobs=2))
    assert res['capacity'] == 320, res['capacity_formula']
    assert res['verdict'] == 'insufficient' and res['need'] > 320
    rem = res['remediation']
    assert rem['setting'] == 'max_locks_per_transaction' and rem['restart_required'] is True
    assert rem['value'] * res['lock_slots'] * 0.75 >= res['need']
    assert rem['sql'] == 'ALTER SYSTEM SET max_locks_per_transaction = %d;' % rem['value']
    assert 'restart' in res['msg'] and str(rem['value']) in res['msg']

    # the prediction is right: the engine really runs out of lock space
    with pytest.raises(BackupFailed) as e:
        api.run_backup(dict(params, repository=repository))
    assert 'out of shared memory' in str(e.value)

    failing = api.run_verify_locks(dict(params, fail_on_insufficient=True))
    assert failing['failed'] is True and failing['verdict'] == 'insufficient'

    checked = api.run_verify_locks(dict(params, apply_remediation=True), check_mode=True)
    assert checked['changed'] is True
    assert server.scalar('postgres', "SELECT count(*) FROM pg_file_settings "
                                     "WHERE name = 'max_locks_per_transaction' AND sourcefile LIKE '%auto.conf'") == 0

    applied = api.run_verify_locks(dict(params, apply_remediation=True))
    assert applied['changed'] is True and applied['restart_required'] is True
    assert applied['pending_max_locks_per_transaction'] == rem['value']
    again = api.run_verify_locks(dict(params, apply_remediation=True))
    assert again['changed'] is False, 'the value is configured already; nothing to do until the restart'
    assert again['pending_restart'] is True and again['remediation']['already_pending'] is True

    server.stop(remove=False)
    server.start()
    after = api.run_verify_locks(params)
    assert after['settings']['max_locks_per_transaction'] == rem['value']
    assert after['verdict'] == 'ok' and after['restart_required'] is False
    backup = api.run_backup(dict(params, repository=repository))
    assert backup['tables'] == 400
    assert os.path.isfile(os.path.join(backup['location'], 'manifest.json'))
