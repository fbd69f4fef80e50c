"""The server-version matrix: PostgreSQL 13, 15, 17 and MariaDB 10.5, 10.11, 11.8.

This machine's own servers (PostgreSQL 15, MariaDB 10.11) run as in the core suite; the
others run in Debian chroots of the releases that ship them (devtools/server_versions.py,
devtools/debian_chroot.py: built once and cached, rebuilt when missing). A chroot that
cannot be built is a set-up failure, never a skip. Run it with
`bash scripts/test.sh --versions` (CI runs it as its own step) or
`python -m pytest tests/versions`.
"""
import glob
import os
import tempfile

import pytest

from devtools import server_versions
from tests.support.versioned_sql import read_for_version

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), 'fixtures')
RICH_PG = sorted(glob.glob(os.path.join(FIXTURES, 'rich', '*.sql')))
RICH_MYSQL = os.path.join(FIXTURES, 'mysql', 'rich.sql')


def _started(make, what):
    try:
        server = make()
    except Exception as e:      # the chroot could not be built or mounted
        pytest.fail('could not provide %s: %s' % (what, e), pytrace=False)
    try:
        server.start()
    except Exception as e:
        tail = server.log_tail() if hasattr(server, 'log_tail') else ''
        server.stop()
        pytest.fail('could not start %s: %s\n%s' % (what, e, tail), pytrace=False)
    return server


def load_pg_fixture(server, version, database='rich'):
    """The rich PostgreSQL fixture as `version` can load it (tests/support/versioned_sql.py)."""
    server.create_database(database)
    for path in RICH_PG:
        with tempfile.NamedTemporaryFile('w', suffix='.sql', delete=False) as f:
            f.write(read_for_version(path, version))
        try:
            server.psql('postgres' if os.path.basename(path) == '00_roles.sql' else database, file=f.name)
        finally:
            os.unlink(f.name)
    return database


def load_mysql_fixture(server, version, database='rich'):
    server.create_database(database, collation='utf8mb4_unicode_ci')
    server.sql(read_for_version(RICH_MYSQL, version), database)
    return database


def new_pg_server(version, **kw):
    return _started(lambda: server_versions.pg_server(version, **kw), 'PostgreSQL %s' % version)


def new_mysql_server(version, **kw):
    return _started(lambda: server_versions.mysql_server(version, **kw), 'MariaDB %s' % version)


@pytest.fixture(scope='session', params=server_versions.PG_VERSIONS, ids=lambda v: 'pg%s' % v)
def pg_version(request):
    """(version, server with the rich fixture in database rich) for each PostgreSQL version."""
    server = new_pg_server(request.param)
    request.addfinalizer(server.stop)
    load_pg_fixture(server, request.param)
    return request.param, server


@pytest.fixture(scope='session', params=server_versions.MARIADB_VERSIONS, ids=lambda v: 'mariadb%s' % v)
def mysql_version(request):
    """(version, server with the rich fixture in database rich) for each MariaDB version."""
    server = new_mysql_server(request.param)
    request.addfinalizer(server.stop)
    load_mysql_fixture(server, request.param)
    return request.param, server
