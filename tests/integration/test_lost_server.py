"""The server goes away during a backup or a restore: one clear message, nothing left looking done.

A private server (it is stopped on purpose). A backup held before its first data file
while the server stops at once (as a crash or a restart does) fails saying that the
connection was lost, not with libpq's internals; a restore whose server stops while it
loads data ends with one line on stderr (psycopg2 printed stray tracebacks there), and its
leftover restore database is dropped with state=absent leftovers once the server is back.
"""
import os
import subprocess
import sys
import time

import psycopg2
import pytest

from devtools.pg_temp import PgServer
from plugins.module_utils import api
from plugins.module_utils.common.errors import BackupFailed
from plugins.module_utils.postgres.connection import error_text
from tests.integration.test_backup_lease import HeldBackup
from tests.support.params import engine_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLOW = ("CREATE FUNCTION slow(x int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
        "IF current_setting('application_name') LIKE 'dbbackup%' THEN PERFORM pg_sleep(0.1); END IF; "
        "RETURN true; END $$; CREATE TABLE t (x int CHECK (slow(x))); INSERT INTO t SELECT generate_series(1, 100);")


@pytest.fixture(scope='module')
def server():
    s = PgServer()
    s.start()
    s.create_database('lost')
    s.psql('lost', SLOW)
    s.psql('lost', 'CHECKPOINT')       # an immediate stop must not take the table with it (async commits)
    yield s
    s.stop()


def _stop(server, mode):
    server.run_as_postgres([server.bin('pg_ctl'), '-D', server.datadir, '-m', mode, '-w', 'stop'],
                           stdout=subprocess.DEVNULL)


def _start(server):
    server.start()


def test_libpq_internals_become_a_lost_connection():
    text = error_text(psycopg2.OperationalError('error with status PGRES_COPY_OUT and no message from the libpq'))
    assert text.startswith('the connection to the server was lost') and 'restarted or crashed' in text


def test_backup_when_the_server_stops(server, tmp_path, monkeypatch):
    params = engine_params(server, 'lost', str(tmp_path / 'repo'), jobs=1, server_name='lostsrv')
    backup = HeldBackup(monkeypatch, params)
    backup.held()
    _stop(server, 'immediate')
    try:
        backup.go()
    finally:
        _start(server)
    assert isinstance(backup.error, BackupFailed), backup.error
    assert 'the connection to the server was lost' in str(backup.error), backup.error
    assert os.listdir(str(tmp_path / 'repo' / 'lostsrv' / 'logical' / 'lost')) == []


def test_restore_when_the_server_stops(server, tmp_path):
    repo = str(tmp_path / 'repo')
    params = engine_params(server, 'lost', repo)
    api.run_backup(params)
    env = dict(os.environ, DBBACKUP_PYTHON=sys.executable, PGPASSWORD=server.password)
    proc = subprocess.Popen([os.path.join(ROOT, 'scripts', 'dbbackup'), 'restore', '--database', 'lost',
                             '--repository', repo, '--target-database', 'lost_copy', '--login-host', server.host,
                             '--login-port', str(server.port), '--login-user', server.user],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.time() + 60
    while not server.scalar('postgres', "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %'"):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    _stop(server, 'fast')
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        _start(server)
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'the connection to the server was lost' in lines[0], err
    leftovers = api.run_info(dict(params, leftovers=True))['leftover_databases']
    assert [d['kind'] for d in leftovers] == ['restore'] and not leftovers[0]['in_use']
    assert api.run_restore(dict(params, state='absent', leftovers=True))['dropped'] == [leftovers[0]['database']]
