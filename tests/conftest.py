"""Shared pytest set-up: import paths, one throwaway PostgreSQL server per session,
the rich fixture database, and small helpers for engine parameters.

Missing PostgreSQL binaries are a set-up failure, never a skip: a suite that
silently skips its database tests proves nothing (run scripts/bootstrap.sh).
A hung test fails alone after pytest-timeout's limit (pytest.ini); a SIGTERM ends the
run like Ctrl-C, with the failures so far named and the servers stopped.
"""
import glob
import itertools
import os
import signal
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from devtools.pg_temp import PgServer, find_pg_bin  # noqa: E402
from devtools.mysql_temp import MySqlServer, find_mysql_binaries  # noqa: E402

RICH_DIR = os.path.join(ROOT, 'tests', 'fixtures', 'rich')


def _terminated(signum, frame):
    """SIGTERM (a time limit, systemctl stop) ends the run like Ctrl-C: pytest then prints the
    failures so far and runs the finalizers that stop every server the session started."""
    raise KeyboardInterrupt('SIGTERM')


signal.signal(signal.SIGTERM, _terminated)
_names = itertools.count(1)


@pytest.fixture(scope='session')
def pg_server():
    """A PostgreSQL server (devtools.pg_temp.PgServer) shared by the whole session."""
    try:
        find_pg_bin()
    except RuntimeError as e:
        pytest.fail('PostgreSQL server binaries are required for these tests: %s. '
                    'Run scripts/bootstrap.sh (it installs postgresql-15).' % e, pytrace=False)
    server = PgServer()
    try:
        server.start()
    except Exception as e:
        log = ''
        if os.path.exists(server.logfile):
            with open(server.logfile) as f:
                log = f.read()[-3000:]
        server.stop()
        pytest.fail('could not start the throwaway PostgreSQL server: %s\n%s' % (e, log),
                    pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope='session')
def rich_db(pg_server):
    """Name of a database loaded from tests/fixtures/rich/*.sql (read-only for tests).

    00_roles.sql creates cluster-wide roles in 'postgres'; every other file is
    loaded into 'rich' in name order.
    """
    files = sorted(glob.glob(os.path.join(RICH_DIR, '*.sql')))
    roles = [f for f in files if os.path.basename(f) == '00_roles.sql']
    for f in roles:
        pg_server.psql('postgres', file=f)
    pg_server.create_database('rich')
    for f in files:
        if f not in roles:
            pg_server.psql('rich', file=f)
    return 'rich'


def make_repository(base):
    """Create and return an empty repository directory under base (a path)."""
    path = os.path.join(str(base), 'repo')
    os.makedirs(path)
    return path


@pytest.fixture
def repository(tmp_path):
    """An empty local repository directory, unique to the test."""
    return make_repository(tmp_path)


@pytest.fixture
def engine_params(pg_server):
    """Build engine params for the session server: engine_params(db, repo, **options)."""
    def build(database, repository, **options):
        params = pg_server.conn_params(database)
        params['repository'] = repository
        params.update(options)
        return params
    return build


@pytest.fixture
def unique_db_name():
    """unique_db_name('prefix') -> a database name not used before in this session."""
    def make(prefix='db'):
        return '%s_%d_%d' % (prefix, os.getpid(), next(_names))
    return make


def database_exists(server, name):
    conn = server.connect('postgres')
    try:
        cur = conn.cursor()
        cur.execute('SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s', (name,))
        return cur.fetchone() is not None
    finally:
        conn.close()


@pytest.fixture
def db_exists(pg_server):
    """db_exists(name) -> True if the database exists on the session server."""
    return lambda name: database_exists(pg_server, name)


@pytest.fixture(scope='session')
def mysql_server():
    """A MariaDB server (devtools.mysql_temp.MySqlServer, binary log on) shared by the session.

    Missing binaries are a set-up failure, not a skip (scripts/bootstrap.sh installs them).
    """
    try:
        find_mysql_binaries()
    except RuntimeError as e:
        pytest.fail('MariaDB server binaries are required for these tests: %s.' % e, pytrace=False)
    server = MySqlServer()
    try:
        server.start()
    except Exception as e:
        log = server.log_tail()
        server.stop()
        pytest.fail('could not start the throwaway MariaDB server: %s\n%s' % (e, log), pytrace=False)
    yield server
    server.stop()


# --- S3-compatible endpoint (moto server on loopback; tests/support/s3.py) -------------

@pytest.fixture(scope='session')
def s3_server(tmp_path_factory):
    """A moto S3 server subprocess with IAM authentication on (tests.support.s3.MotoS3)."""
    from tests.support.s3 import MotoS3
    try:
        import moto.server  # noqa: F401
        import flask  # noqa: F401
    except ImportError as e:
        pytest.fail('moto[server] is required for the S3 tests (%s). Run scripts/bootstrap.sh '
                    '(requirements-test.txt installs moto[server]).' % e, pytrace=False)
    server = MotoS3(str(tmp_path_factory.mktemp('moto') / 'moto.log'))
    try:
        server.start()
    except Exception as e:
        server.stop()
        pytest.fail('could not start the moto S3 server: %s\n%s' % (e, server.log_tail()), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def s3_repo(s3_server):
    """A fresh bucket for the test: S3Location with .url (s3://<bucket>/backups), .options(), .client."""
    return s3_server.new_bucket('dbb-%d-%d' % (os.getpid(), next(_names)))
