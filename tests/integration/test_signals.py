"""SIGTERM (systemctl stop, timeouts) stops the CLI as SIGINT does: nothing is left behind.

A restore stopped while it loads data drops its temporary database; a backup stopped
while it waits for a table lock removes its directory once the lock wait returns. Each
ends with one line on stderr and exit status 143, no traceback.
"""
import os
import signal
import subprocess
import sys
import time

import psycopg2

from plugins.module_utils import api
from tests.support.params import engine_params
from tests.support.sessions import query as _query


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# a CHECK that takes 0.1 s per row in a restore's sessions only (the source loads at full speed)
SLOW_IN_RESTORES = ("CREATE FUNCTION slow(x int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
                    "IF current_setting('application_name') LIKE 'dbbackup%' THEN PERFORM pg_sleep(0.1); END IF; "
                    "RETURN true; END $$; ")


def _start_cli(pg_server, args):
    env = dict(os.environ, DBBACKUP_PYTHON=sys.executable, PGPASSWORD=pg_server.password)
    return subprocess.Popen([os.path.join(ROOT, 'scripts', 'dbbackup')] + args + [
        '--login-host', pg_server.host, '--login-port', str(pg_server.port), '--login-user', pg_server.user],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def _wait_for(check, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        assert proc.poll() is None, '%s: the CLI ended first: %s' % (what, proc.communicate())
        time.sleep(0.02)
    raise AssertionError('%s did not happen' % what)


def test_sigterm_during_a_restore_drops_the_restore_database(pg_server, repository, unique_db_name):
    db = unique_db_name('sig_src')
    pg_server.create_database(db)
    pg_server.psql(db, SLOW_IN_RESTORES + "CREATE TABLE t (x int CHECK (slow(x))); INSERT INTO t SELECT generate_series(1, 100);")
    api.run_backup(engine_params(pg_server, db, repository))
    target = unique_db_name('sig_target')
    proc = _start_cli(pg_server, ['restore', '--database', db, '--repository', repository,
                                  '--target-database', target])

    def loading():
        return bool(_query(pg_server, 'postgres', "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY %'"))
    _wait_for(loading, proc, 'the restore loading data')
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    assert err.strip().splitlines() == ['dbbackup: stopped (SIGTERM); nothing incomplete was recorded.'], err
    assert not _query(pg_server, 'postgres', "SELECT datname FROM pg_database WHERE datname LIKE '\\_dbbackup\\_%%' "
                                             "OR datname = '%s'" % target)


def test_sigterm_during_a_backup_removes_its_directory(pg_server, tmp_path, unique_db_name):
    db = unique_db_name('sig_bk')
    pg_server.create_database(db)
    pg_server.psql(db, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1);')
    repo = str(tmp_path / 'repo')
    base = os.path.join(repo, 'sigsrv', 'logical', db)
    locker = psycopg2.connect(host=pg_server.host, port=pg_server.port, user=pg_server.user,
                              password=pg_server.password, dbname=db)
    locker.cursor().execute('LOCK TABLE t IN ACCESS EXCLUSIVE MODE')
    try:
        proc = _start_cli(pg_server, ['backup', '--database', db, '--repository', repo, '--server-name', 'sigsrv'])

        def waiting():
            return bool(_query(pg_server, 'postgres', "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                                      "AND datname = '%s'" % db)) and os.path.isdir(base)
        _wait_for(waiting, proc, 'the backup waiting for its lock')
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        locker.rollback()         # the lock wait returns, and the signal is acted on
        locker.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    assert err.strip().splitlines() == ['dbbackup: stopped (SIGTERM); nothing incomplete was recorded.'], err
    assert os.listdir(base) == []


def test_leftovers_of_killed_restores_are_listed_and_dropped_unless_in_use(pg_server, repository, unique_db_name):
    """A restore killed outright (SIGKILL) leaves its database; info lists it, state=absent with
    leftovers drops it, but never the database of a restore that is running."""
    db = unique_db_name('sig_left')
    pg_server.create_database(db)
    pg_server.psql(db, SLOW_IN_RESTORES + "CREATE TABLE t (x int CHECK (slow(x))); INSERT INTO t SELECT generate_series(1, 100);")
    api.run_backup(engine_params(pg_server, db, repository))
    pg_server.psql('postgres', 'CREATE DATABASE _dbbackup_old_0123456789ab')

    def temp_databases():
        return set(r[0] for r in _query(pg_server, 'postgres', "SELECT datname FROM pg_database "
                                                               "WHERE datname LIKE '\\_dbbackup\\_restore\\_%%'"))

    def restore():
        before = temp_databases()
        proc = _start_cli(pg_server, ['restore', '--database', db, '--repository', repository,
                                      '--target-database', unique_db_name('sig_left_t')])
        _wait_for(lambda: temp_databases() - before and _query(
            pg_server, 'postgres', "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY %%'"), proc, 'loading')
        return proc, (temp_databases() - before).pop()

    killed, dead = restore()
    killed.kill()
    killed.communicate()
    # its sessions run on until the server notices the client is gone: end them as a DBA would
    _query(pg_server, 'postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = 'dbbackup restore %s'" % dead[-12:])
    running, live = restore()
    try:
        params = engine_params(pg_server, None, repository)
        found = dict((d['database'], d) for d in api.run_info(dict(params, leftovers=True))['leftover_databases'])
        assert found[dead]['in_use'] is False and found[dead]['kind'] == 'restore'
        assert found[live]['in_use'] is True
        assert found['_dbbackup_old_0123456789ab']['kind'] == 'old'
        dropped = api.run_restore(dict(params, state='absent', leftovers=True))
        assert sorted(dropped['dropped']) == sorted([dead, '_dbbackup_old_0123456789ab']) and dropped['changed']
        assert dropped['in_use'] == [live]
        assert live in temp_databases() and dead not in temp_databases()
    finally:
        running.send_signal(signal.SIGTERM)
        running.communicate(timeout=60)
    assert running.returncode == 143 and live not in temp_databases()
