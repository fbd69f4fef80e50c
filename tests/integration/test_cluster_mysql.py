"""Cluster backups (kind=cluster) of MySQL/MariaDB: accounts and grants + every database under one id.

The session MariaDB server gets accounts (a user with a password, resource
limits, column grants, a role with a default role; a socket-authenticated user;
a user with a procedure grant and a global privilege), two roles (one granted
to the other) and three databases (one loaded from tests/fixtures/mysql/rich.sql).
The cluster is restored into fresh servers and compared: SHOW CREATE USER and
SHOW GRANTS of the accounts, SHOW CREATE and CHECKSUM TABLE of every object
and table (tests/support/mysql_compare.py). Without include_passwords accounts
that had a password come back locked; with it (encrypted only) they log in.
A database that cannot be dumped fails the whole backup naming it, and leaves
nothing.
"""
import json
import os

import pymysql
import pytest

from devtools.mysql_temp import MySqlServer
from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.mysql.logical.globals import grant_statement
from tests.support.mysql_compare import leftover_databases, schema_snapshot, table_checksums

HERE = os.path.dirname(os.path.abspath(__file__))
RICH = os.path.join(os.path.dirname(HERE), 'fixtures', 'mysql', 'rich.sql')
PASSWORD = 'cm-app-pw-123'
DATABASES = ['cm_app', 'cm_empty', 'cm_rich']
# (user, host or None for a role, SQL name)
ACCOUNTS = [('cm_app', '%', "`cm_app`@`%`"), ('cm_ro', 'localhost', "`cm_ro`@`localhost`"),
            ('cm_sock', 'localhost', "`cm_sock`@`localhost`"), ('cm_reader', None, '`cm_reader`'),
            ('cm_writer', None, '`cm_writer`')]


def _params(server, repo, **options):
    p = server.conn_params()
    p.pop('database')
    p.update(repository=repo, kind='cluster', server_name='my')
    p.update(options)
    return p


def _accounts(server, normalize=False):
    """{account: (SHOW CREATE USER, SHOW GRANTS)}; normalize: grants as they restore (no IDENTIFIED)."""
    out = {}
    for user, host, name in ACCOUNTS:
        create = server.execute('SHOW CREATE USER %s' % name)[0][0] if host else None
        grants = sorted(r[0] for r in server.execute('SHOW GRANTS FOR %s' % name))
        if normalize:
            grants = sorted(filter(None, (grant_statement(g, name) for g in grants)))
        out[name] = (create, grants)
    return out


def _login(server, user, password, db='cm_app'):
    return pymysql.connect(host=server.host, port=server.port, user=user, password=password, database=db)


def _same_databases(src, dst, databases):
    for db in databases:
        assert schema_snapshot(dst, db) == schema_snapshot(src, db), db
        assert table_checksums(dst, db) == table_checksums(src, db), db


@pytest.fixture(scope='module')
def src(mysql_server):
    s = mysql_server
    for db in DATABASES:
        s.create_database(db)
    for sql in (
            'CREATE TABLE cm_app.items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8,2))',
            'INSERT INTO cm_app.items SELECT seq, CONCAT(\'item \', seq), seq / 4 FROM seq_1_to_400',
            'CREATE VIEW cm_app.cheap AS SELECT id, name FROM cm_app.items WHERE price < 10',
            'CREATE PROCEDURE cm_app.touch() SELECT 1',
            "CREATE USER cm_app@'%%' IDENTIFIED BY '%s' WITH MAX_QUERIES_PER_HOUR 1000" % PASSWORD,
            "CREATE USER cm_ro@localhost IDENTIFIED BY 'ro-pw-1' PASSWORD EXPIRE INTERVAL 90 DAY",
            'CREATE USER cm_sock@localhost IDENTIFIED VIA unix_socket',
            'CREATE ROLE cm_reader', 'CREATE ROLE cm_writer',
            'GRANT SELECT ON cm_app.* TO cm_reader', 'GRANT cm_reader TO cm_writer',
            'GRANT INSERT, UPDATE ON cm_app.items TO cm_writer',
            "GRANT cm_writer TO cm_app@'%'", "SET DEFAULT ROLE cm_writer FOR cm_app@'%'",
            "GRANT SELECT (id), UPDATE (name) ON cm_app.items TO cm_app@'%' WITH GRANT OPTION",
            'GRANT EXECUTE ON PROCEDURE cm_app.touch TO cm_ro@localhost',
            'GRANT PROCESS ON *.* TO cm_ro@localhost', 'GRANT SELECT ON cm_rich.* TO cm_ro@localhost'):
        s.execute(sql, dbname='cm_app')
    s.sql(open(RICH).read(), 'cm_rich')
    return s


@pytest.fixture(scope='module')
def keyfile(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('keys') / 'cluster.key')
    with open(path, 'w') as f:
        f.write(os.urandom(32).hex())
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope='module')
def plain_backup(src, tmp_path_factory):
    repo = str(tmp_path_factory.mktemp('cluster_my'))
    return repo, api.run_backup(_params(src, repo, databases=DATABASES, verify='deep'))


def test_backup_layout_and_globals(src, plain_backup, tmp_path):
    repo, result = plain_backup
    assert result['changed'] and result['kind'] == 'cluster' and result['databases'] == DATABASES
    assert result['verification']['ok'] and result['verification']['mode'] == 'deep'
    g = result['globals']
    assert g['source'] == 'mysql.user' and g['passwords'] == 0 and g['roles'] >= 2 and g['accounts'] >= 3
    # accounts that had a password come back locked; the socket account keeps its plugin
    assert 'cm_app@%' in g['locked'] and 'cm_ro@localhost' in g['locked'] and 'cm_sock@localhost' not in g['locked']
    with open(os.path.join(result['location'], 'manifest.json')) as f:
        manifest = json.load(f)
    assert manifest['db_type'] == 'mysql' and manifest['database'] is None
    assert sorted(manifest['members']) == DATABASES and manifest['members']['cm_app']['totals']['rows'] == 400
    assert manifest['members']['cm_app']['consistent_position']['binlog_file']
    for db in DATABASES:
        assert os.path.exists(os.path.join(result['location'], db, 'manifest.json'))
    import zstandard
    with open(os.path.join(result['location'], 'globals.sql.zst'), 'rb') as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    assert "CREATE USER IF NOT EXISTS `cm_app`@`%` WITH MAX_QUERIES_PER_HOUR 1000 ACCOUNT LOCK;" in text
    assert 'IDENTIFIED BY PASSWORD' not in text and src.scalar(
        "SELECT authentication_string FROM mysql.user WHERE User = 'cm_app'") not in text
    assert 'CREATE ROLE IF NOT EXISTS `cm_reader`;' in text and 'IDENTIFIED VIA unix_socket' in text
    assert 'SET DEFAULT ROLE `cm_writer` FOR `cm_app`@`%`;' in text
    assert 'mariadb.sys' not in text

    # every database but the system ones and the restore engine's own, by default
    src.execute('CREATE DATABASE IF NOT EXISTS _dbbackup')
    check = api.run_backup(_params(src, str(tmp_path)), check_mode=True)
    assert set(DATABASES) <= set(check['databases']) and check['backup_id'] is None
    assert not set(check['databases']) & {'mysql', 'sys', 'information_schema', 'performance_schema',
                                          '_dbbackup'}
    assert os.listdir(str(tmp_path)) == []


def test_restore_whole_cluster_into_fresh_server(src, plain_backup):
    repo, result = plain_backup
    with MySqlServer() as dst:   # a second, fresh server (start failures fail the test)
        params = _params(dst, repo)
        check = api.run_restore(params, check_mode=True)
        assert check['changed'] and [d['action'] for d in check['databases']] == ['create'] * 3
        assert {'cm_app@%', 'cm_ro@localhost', 'cm_sock@localhost'} <= set(check['globals']['accounts_created'])
        assert sorted(check['globals']['roles_created']) == ['cm_reader', 'cm_writer']
        assert not dst.execute("SELECT 1 FROM mysql.user WHERE User = 'cm_app'"), 'check mode created an account'

        out = api.run_restore(params)
        assert out['changed'] and out['globals']['changed'] and \
            'root@127.0.0.1 (the login account of the restore)' in out['globals']['skipped']
        assert set(out['globals']['created_locked']) >= {'cm_app@%', 'cm_ro@localhost'}
        _same_databases(src, dst, DATABASES)
        assert leftover_databases(dst) == []
        # grants and default roles as on the source; passwords were not in the backup: locked
        assert {k: v[1] for k, v in _accounts(dst, True).items()} == \
            {k: v[1] for k, v in _accounts(src, True).items()}
        assert dst.scalar("SHOW CREATE USER `cm_app`@`%`") == \
            'CREATE USER `cm_app`@`%` WITH MAX_QUERIES_PER_HOUR 1000 ACCOUNT LOCK'
        assert dst.scalar("SHOW CREATE USER `cm_sock`@`localhost`") == src.scalar("SHOW CREATE USER `cm_sock`@`localhost`")
        for password in (PASSWORD, ''):
            with pytest.raises(pymysql.err.OperationalError):
                _login(dst, 'cm_app', password)

        again = api.run_restore(params)
        assert not again['changed'], again
        assert [d['action'] for d in again['databases']] == ['unchanged'] * 3 and again['globals']['grants'] == 0


def test_restore_one_database_renamed_and_bad_choices(src, plain_backup):
    repo, result = plain_backup
    params = _params(src, repo, databases=['cm_rich'], target_database='cm_rich_copy')
    out = api.run_restore(params)
    assert out['changed'] and out['globals'] == {'changed': False, 'skipped': ['globals not restored (globals: false)']}
    assert [(d['database'], d['target_database'], d['action']) for d in out['databases']] == \
        [('cm_rich', 'cm_rich_copy', 'create')]
    snap = schema_snapshot(src, 'cm_rich_copy')
    assert snap == schema_snapshot(src, 'cm_rich') and len([k for k in snap if k[0] == 'TABLE']) == 13
    assert table_checksums(src, 'cm_rich_copy') == table_checksums(src, 'cm_rich')
    assert not api.run_restore(params)['changed']

    bad = [(api.run_restore, {'databases': ['cm_rich', 'nope']}, errors.NotFound, 'cm_app, cm_empty, cm_rich'),
           (api.run_restore, {'databases': ['cm_rich', 'cm_app']}, errors.BadInput, 'target_database'),
           (api.run_restore, {'target_database': None}, errors.TargetExists, 'if_exists'),
           (api.run_restore, {'tablespace_locations': {'x': '/tmp'}}, errors.BadInput, 'db_type mysql'),
           (api.run_backup, {'database': 'cm_app'}, errors.BadInput, 'databases option')]
    for run, options, error, text in bad:
        with pytest.raises(error) as e:
            run(dict(params, **options))
        assert text in str(e.value), (options, str(e.value))


def test_failing_databases_fail_the_whole_backup(src, tmp_path):
    """A backup account that may read cm_app only: cm_empty and cm_rich fail, both named."""
    src.execute("CREATE USER IF NOT EXISTS cm_backup@'127.0.0.1' IDENTIFIED BY 'backup-pw-1'")
    src.execute("GRANT RELOAD, BINLOG MONITOR, SHOW DATABASES ON *.* TO cm_backup@'127.0.0.1'")
    src.execute("GRANT SELECT ON mysql.* TO cm_backup@'127.0.0.1'")
    src.execute("GRANT SELECT, SHOW VIEW, LOCK TABLES, TRIGGER, EVENT ON cm_app.* TO cm_backup@'127.0.0.1'")
    repo = str(tmp_path)
    params = _params(src, repo, databases=DATABASES, login_user='cm_backup', login_password='backup-pw-1')
    with pytest.raises(errors.BackupFailed) as e:
        api.run_backup(params)
    msg = str(e.value)
    assert 'Cluster backup failed for 2 of 3 database(s)' in msg, msg
    assert 'cm_empty: ' in msg and 'cm_rich: ' in msg and 'cm_app:' not in msg
    base = os.path.join(repo, 'my', 'cluster')
    assert not os.path.isdir(base) or os.listdir(base) == [], 'a failed cluster backup left files behind'
    with pytest.raises(errors.NotFound):
        api.run_restore(_params(src, repo))
    # the same account without SELECT on mysql: refused before anything is written
    src.execute("REVOKE SELECT ON mysql.* FROM cm_backup@'127.0.0.1'")
    with pytest.raises(errors.BadInput) as e:
        api.run_backup(dict(params, databases=['cm_app']))
    assert 'SELECT on the mysql' in str(e.value)
    assert not os.path.isdir(base) or os.listdir(base) == []


def test_passwords_only_encrypted_and_they_log_in(src, tmp_path, keyfile):
    repo = str(tmp_path)
    with pytest.raises(errors.BadInput) as e:
        api.run_backup(_params(src, repo, include_passwords=True))
    assert 'include_passwords needs an encrypted backup' in str(e.value)
    assert os.listdir(repo) == [], 'something was written before the error'

    result = api.run_backup(_params(src, repo, include_passwords=True, encryption_key_file=keyfile,
                                    databases=['cm_app', 'cm_empty']))
    assert result['encrypted'] and result['globals']['passwords'] >= 3 and result['globals']['locked'] == []
    assert os.path.exists(os.path.join(result['location'], 'globals.sql.zst.enc'))

    with MySqlServer() as dst:   # a second, fresh server (start failures fail the test)
        params = _params(dst, repo, encryption_key_file=keyfile)
        out = api.run_restore(params)
        assert out['changed'] and out['globals']['passwords'] >= 2 and out['globals']['created_locked'] == []
        # accounts exactly as on the source: plugin, hash, limits, expiry, grants, default role
        assert _accounts(dst) == _accounts(src)
        _same_databases(src, dst, ['cm_app', 'cm_empty'])
        conn = _login(dst, 'cm_app', PASSWORD)
        try:   # the default role cm_writer (and through it cm_reader) is active
            cur = conn.cursor()
            cur.execute('SELECT COUNT(*) FROM cm_app.items')
            assert cur.fetchone()[0] == 400
        finally:
            conn.close()
        # the login account of the restore kept its password (the test logs in with it)
        assert dst.scalar('SELECT 1') == 1
        again = api.run_restore(params)
        assert not again['changed'] and again['globals']['changed'] is False
