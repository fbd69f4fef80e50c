"""Cluster backups (kind=cluster): globals + every database under one id, and restoring them.

A fresh source server (not the session one: the test needs to know every role
and database) gets roles with attributes, memberships, settings, comments and
a password, a tablespace with options, ACL and comment, and three databases
(one loaded from tests/fixtures/rich). The whole cluster is restored into a
second fresh server and compared catalog by catalog and database by database
(pg_dump -s, table md5s, sequences, large objects, settings); single
databases are restored renamed and replaced on the source; a database that
cannot be dumped fails the whole backup naming it and leaves nothing;
passwords are stored only encrypted and log in after a restore; S3 works
like a local repository; keys of cluster backups rotate with rekey.
"""
import glob
import json
import os
import pwd
import subprocess
import sys

import psycopg2
import pytest

from devtools.pg_temp import PgServer
from plugins.module_utils import api
from plugins.module_utils.common import errors
from tests.support import compare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RICH_DIR = os.path.join(ROOT, 'tests', 'fixtures', 'rich')
PASSWORD = 'cluster-pw-123'
DATABASES = ['c_app', 'c_small', 'postgres', 'rich']

ROLES_SQL = """
SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
       rolbypassrls, rolconnlimit, rolvaliduntil::text, shobj_description(oid, 'pg_authid')
  FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1
"""
MEMBERS_SQL = """
SELECT r.rolname, m.rolname, am.admin_option FROM pg_auth_members am
  JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member ORDER BY 1, 2
"""
ROLE_SETTINGS_SQL = """
SELECT r.rolname, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
 WHERE s.setdatabase = 0 ORDER BY 1
"""
TABLESPACES_SQL = """
SELECT spcname, pg_get_userbyid(spcowner), spcacl::text, spcoptions, shobj_description(oid, 'pg_tablespace'),
       pg_tablespace_location(oid)
  FROM pg_tablespace WHERE spcname !~ '^pg_' ORDER BY 1
"""


def _rows(server, sql, db='postgres'):
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _tablespace_dir(server, name):
    path = os.path.join(server.base, name)
    os.makedirs(path)
    pw = pwd.getpwnam('postgres')
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o700)
    return path


def _fresh_server():
    server = PgServer()
    try:
        server.start()
    except Exception as e:
        server.stop()
        pytest.fail('could not start a throwaway PostgreSQL server: %s' % e, pytrace=False)
    return server


def _params(server, repo, **options):
    p = server.conn_params()
    p.pop('database')
    p['repository'] = repo
    p.update(options)
    return p


@pytest.fixture(scope='module')
def src():
    server = _fresh_server()
    ts_dir = _tablespace_dir(server, 'ts1')
    for sql in (
            "CREATE ROLE c_admin LOGIN CREATEDB CREATEROLE CONNECTION LIMIT 7 VALID UNTIL '2040-01-01 00:00:00+00'",
            "CREATE ROLE c_repl LOGIN REPLICATION BYPASSRLS NOINHERIT",
            "CREATE ROLE c_group NOLOGIN",
            "CREATE ROLE \"odd \"\"role\"\"\" NOLOGIN",
            "CREATE ROLE c_pw LOGIN PASSWORD '%s'" % PASSWORD,
            "GRANT c_group TO c_admin WITH ADMIN OPTION",
            "GRANT c_group TO c_repl",
            "GRANT pg_read_all_data TO c_repl",
            "GRANT \"odd \"\"role\"\"\" TO c_group",
            "ALTER ROLE c_admin SET work_mem = '12MB'",
            "ALTER ROLE c_repl SET search_path = public, \"$user\"",
            "COMMENT ON ROLE c_group IS 'the group'",
            "CREATE TABLESPACE ts1 OWNER c_admin LOCATION '%s'" % ts_dir,
            "ALTER TABLESPACE ts1 SET (random_page_cost = 1.5)",
            "GRANT CREATE ON TABLESPACE ts1 TO c_group",
            "COMMENT ON TABLESPACE ts1 IS 'fast disk'",
            "CREATE DATABASE c_app OWNER c_admin",
            "CREATE DATABASE c_small",
            "CREATE DATABASE rich",
            "CREATE DATABASE c_template IS_TEMPLATE true",
            "CREATE DATABASE c_noconn ALLOW_CONNECTIONS false"):
        server.psql('postgres', sql)
    server.psql('c_app', "CREATE TABLE items (id int PRIMARY KEY, name text) TABLESPACE ts1; "
                         "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g; "
                         "ALTER TABLE items OWNER TO c_admin; GRANT SELECT ON items TO c_group; "
                         "ALTER ROLE c_admin IN DATABASE c_app SET statement_timeout = '5min'")
    server.psql('c_small', "CREATE SEQUENCE s; SELECT nextval('s'); "
                           "CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'one'), (2, NULL)")
    server.psql('postgres', "CREATE TABLE in_postgres (x int); INSERT INTO in_postgres VALUES (42)")
    files = sorted(glob.glob(os.path.join(RICH_DIR, '*.sql')))
    for f in files:
        server.psql('postgres' if os.path.basename(f) == '00_roles.sql' else 'rich', file=f)
    yield server
    server.stop()


@pytest.fixture(scope='module')
def keyfiles(tmp_path_factory):
    out = []
    for name in ('a.key', 'b.key'):
        path = str(tmp_path_factory.mktemp('keys') / name)
        with open(path, 'w') as f:
            f.write(os.urandom(32).hex())
        os.chmod(path, 0o600)
        out.append(path)
    return out


@pytest.fixture(scope='module')
def cluster_backup(src, tmp_path_factory):
    repo = str(tmp_path_factory.mktemp('cluster_repo'))
    result = api.run_backup(_params(src, repo, kind='cluster', server_name='src', verify='quick'))
    return repo, result


def _globals_state(server):
    return {'roles': _rows(server, ROLES_SQL), 'members': _rows(server, MEMBERS_SQL),
            'settings': _rows(server, ROLE_SETTINGS_SQL)}


def test_cluster_backup_layout_and_manifest(src, cluster_backup):
    repo, result = cluster_backup
    assert result['changed'] and result['kind'] == 'cluster' and result['database'] is None
    # templates and databases that do not allow connections are left out
    assert result['databases'] == DATABASES
    assert result['verification']['ok']
    assert result['globals']['source'] == 'pg_authid' and result['globals']['passwords'] == 0
    assert result['globals']['tablespaces'] == 1
    path = result['location']
    assert path == os.path.join(repo, 'src', 'cluster', result['backup_id'])
    with open(os.path.join(path, 'manifest.json')) as f:
        manifest = json.load(f)
    assert manifest['kind'] == 'cluster' and manifest['database'] is None
    assert manifest['databases'] == DATABASES and sorted(manifest['members']) == DATABASES
    assert manifest['files'][0]['path'] == 'globals.sql.zst'
    for db in DATABASES:
        assert os.path.exists(os.path.join(path, db, 'manifest.json'))
        assert any(f['path'].startswith(db + '/') for f in manifest['files'])
    assert manifest['members']['c_app']['totals']['rows'] == 500
    assert manifest['totals']['rows'] == sum(m['totals']['rows'] for m in manifest['members'].values())
    assert manifest['totals']['files'] == len(manifest['files'])
    # no password verifier is stored unless asked for
    import zstandard
    with open(os.path.join(path, 'globals.sql.zst'), 'rb') as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    assert 'CREATE ROLE "c_pw"' in text and 'SCRAM' not in text and 'PASSWORD' not in text
    assert 'CREATE TABLESPACE "ts1"' in text


def test_restore_whole_cluster_into_fresh_server(src, cluster_backup):
    repo, result = cluster_backup
    dst = _fresh_server()
    try:
        ts_dir = _tablespace_dir(dst, 'ts1_restored')
        params = _params(dst, repo, kind='cluster', server_name='src', tablespace_locations={'ts1': ts_dir})
        check = api.run_restore(params, check_mode=True)
        assert check['changed']
        assert sorted(check['globals']['roles_created']) == sorted(
            ['c_admin', 'c_repl', 'c_group', 'odd "role"', 'c_pw', 'app_owner', 'app_reader', 'app_writer'])
        assert [d['action'] for d in check['databases']] == ['create', 'create', 'replace', 'create']
        assert _rows(dst, "SELECT 1 FROM pg_roles WHERE rolname = 'c_admin'") == [], 'check mode created a role'

        out = api.run_restore(params)
        assert out['changed'] and out['globals']['changed']
        assert out['globals']['tablespaces_created'] == [{'name': 'ts1', 'location': ts_dir}]
        assert _globals_state(dst) == _globals_state(src)
        ts_src, ts_dst = _rows(src, TABLESPACES_SQL), _rows(dst, TABLESPACES_SQL)
        assert [r[:5] for r in ts_dst] == [r[:5] for r in ts_src] and ts_dst[0][5] == ts_dir
        for db in DATABASES:
            problems = compare.differences(compare.snapshot(src, db), compare.snapshot(dst, db), db, db)
            assert not problems, '\n'.join(problems)
        assert compare.database_properties(dst, 'c_app')['owner'] == 'c_admin'
        assert _rows(dst, "SELECT x FROM in_postgres") == [(42,)]
        # the role had no password in the backup: it cannot log in with one
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(host=dst.host, port=dst.port, user='c_pw', password=PASSWORD, dbname='c_small')

        again = api.run_restore(params)
        assert not again['changed'], again
        assert [d['action'] for d in again['databases']] == ['unchanged'] * 4
    finally:
        dst.stop()


def test_restore_one_database_renamed_and_bad_choices(src, cluster_backup):
    repo, result = cluster_backup
    params = _params(src, repo, kind='cluster', server_name='src', databases=['c_small'],
                     target_database='c_small_copy')
    out = api.run_restore(params)
    assert out['changed'] and out['globals']['changed'] is False
    assert [(d['database'], d['target_database'], d['action']) for d in out['databases']] == \
        [('c_small', 'c_small_copy', 'create')]
    assert out['databases'][0]['inventory']['compared'] == 'definitions'   # proven before the rename
    problems = compare.differences(compare.snapshot(src, 'c_small'), compare.snapshot(src, 'c_small_copy'))
    assert not problems, '\n'.join(problems)
    assert not api.run_restore(params)['changed']

    with pytest.raises(errors.NotFound) as e:
        api.run_restore(dict(params, databases=['c_small', 'nope']))
    assert 'nope' in str(e.value) and 'c_app, c_small, postgres, rich' in str(e.value)
    with pytest.raises(errors.BadInput) as e:
        api.run_restore(dict(params, databases=['c_small', 'c_app']))
    assert 'target_database' in str(e.value)
    with pytest.raises(errors.TargetExists):
        api.run_restore(dict(params, target_database=None))


def test_restore_two_databases_replacing_them(src, cluster_backup):
    repo, result = cluster_backup
    before = dict((db, compare.snapshot(src, db)) for db in ('c_app', 'c_small'))
    src.psql('c_small', 'INSERT INTO t VALUES (99, \'changed after the backup\')')
    params = _params(src, repo, kind='cluster', server_name='src', databases=['c_small', 'c_app'],
                     if_exists='replace')
    out = api.run_restore(params)
    assert [(d['database'], d['action']) for d in out['databases']] == [('c_small', 'replace'), ('c_app', 'replace')]
    assert out['globals'] == {'changed': False, 'skipped': ['globals not restored (globals: false)']}
    for db, snap in before.items():
        problems = compare.differences(snap, compare.snapshot(src, db))
        assert not problems, '\n'.join(problems)
    assert not api.run_restore(params)['changed']


def test_failing_databases_fail_the_whole_backup(src, tmp_path):
    repo = str(tmp_path)
    holders = []
    try:
        for db in ('c_small', 'c_app'):   # a conflicting lock held longer than lock_wait_timeout
            conn = src.connect(db, autocommit=False)
            conn.cursor().execute('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE' % ('t' if db == 'c_small' else 'items'))
            holders.append(conn)
        with pytest.raises(errors.BackupFailed) as e:
            api.run_backup(_params(src, repo, kind='cluster', server_name='src', lock_wait_timeout=1))
    finally:
        for conn in holders:
            conn.rollback()
            conn.close()
    msg = str(e.value)
    assert 'Cluster backup failed for 2 of ' in msg
    assert 'c_small: ' in msg and 'c_app: ' in msg and 'lock_wait_timeout' in msg
    assert 'rich:' not in msg
    base = os.path.join(repo, 'src', 'cluster')
    assert not os.path.isdir(base) or os.listdir(base) == [], 'a failed cluster backup left files behind'
    with pytest.raises(errors.NotFound):
        api.run_restore(_params(src, repo, kind='cluster', server_name='src'))


def test_passwords_only_encrypted_and_they_log_in(src, tmp_path, keyfiles):
    repo = str(tmp_path)
    with pytest.raises(errors.BadInput) as e:
        api.run_backup(_params(src, repo, kind='cluster', server_name='src', include_passwords=True))
    assert 'include_passwords needs an encrypted backup' in str(e.value)
    assert os.listdir(repo) == [], 'something was written before the error'

    opts = dict(kind='cluster', server_name='src', include_passwords=True, encryption_key_file=keyfiles[0],
                databases=['c_small'])
    result = api.run_backup(_params(src, repo, **opts))
    assert result['encrypted'] and result['globals']['passwords'] >= 2    # postgres and c_pw
    assert os.path.exists(os.path.join(result['location'], 'globals.sql.zst.enc'))

    # the new key after a rekey opens the cluster manifest and the database's manifest
    rekeyed = api.run_rekey(_params(src, repo, server_name='src', encryption_key_file=keyfiles[0],
                                    new_encryption_key_file=keyfiles[1]))
    assert rekeyed['rekeyed'] == 2, rekeyed
    assert sorted(str(b['database']) for b in rekeyed['backups']) == ['None', 'c_small']

    dst = _fresh_server()
    try:
        params = _params(dst, repo, kind='cluster', server_name='src', encryption_key_file=keyfiles[1],
                         tablespace_locations={'ts1': _tablespace_dir(dst, 'ts1')})
        with pytest.raises(errors.WrongKey):
            api.run_restore(dict(params, encryption_key_file=keyfiles[0]))
        out = api.run_restore(params)
        assert out['globals']['passwords'] >= 2 and 'c_pw' in out['globals']['roles_created']
        verifier = "SELECT rolpassword FROM pg_authid WHERE rolname = 'c_pw'"
        assert _rows(dst, verifier) == _rows(src, verifier)
        assert _rows(dst, verifier)[0][0].startswith('SCRAM-SHA-256$')
        conn = psycopg2.connect(host=dst.host, port=dst.port, user='c_pw', password=PASSWORD, dbname='c_small')
        conn.close()
        # the login role of the restore keeps its own password (the test connects with it)
        assert dst.scalar('postgres', 'SELECT 1') == 1
        assert not api.run_restore(params)['changed']
    finally:
        dst.stop()


def test_non_superuser_backup_has_no_passwords(src, tmp_path, keyfiles):
    src.psql('postgres', "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'c_backup') THEN "
                         "CREATE ROLE c_backup LOGIN PASSWORD 'backup-pw-1'; END IF; END $$")
    # not pg_read_all_data: that role may read pg_authid, passwords included
    src.psql('c_small', 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO c_backup; '
                        'GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO c_backup')
    params = _params(src, str(tmp_path), kind='cluster', server_name='src', login_user='c_backup',
                     login_password='backup-pw-1', databases=['c_small'])
    with pytest.raises(errors.BadInput) as e:
        api.run_backup(dict(params, include_passwords=True, encryption_key_file=keyfiles[0]))
    assert 'pg_authid' in str(e.value)
    result = api.run_backup(params)
    assert result['globals']['source'] == 'pg_roles' and result['globals']['passwords'] == 0
    assert result['databases'] == ['c_small']


def test_s3_repository_and_cli(src, s3_repo, tmp_path):
    params = _params(src, s3_repo.url, kind='cluster', server_name='src', databases=['c_small', 'c_app'],
                     **s3_repo.options())
    result = api.run_backup(params)
    assert result['location'].startswith('s3://') and result['databases'] == ['c_app', 'c_small']
    reused = api.run_backup(dict(params, max_age='1h'))
    assert not reused['changed'] and reused['backup_id'] == result['backup_id']
    keys = s3_repo.keys('src/cluster/' + result['backup_id'])
    assert any(k.endswith('/manifest.json') and '/c_app/' in k for k in keys)
    out = api.run_restore(dict(params, databases=['c_app'], target_database='c_app_from_s3'))
    assert out['changed']
    problems = compare.differences(compare.snapshot(src, 'c_app'), compare.snapshot(src, 'c_app_from_s3'))
    assert not problems, '\n'.join(problems)

    # the host CLI: backup --kind cluster, restore --kind cluster --databases (local repository)
    repo = str(tmp_path / 'cli')
    env = dict(os.environ, DBBACKUP_PYTHON=sys.executable, PGPASSWORD=src.password)
    conn = ['--login-host', src.host, '--login-port', str(src.port), '--login-user', src.user,
            '--repository', repo, '--server-name', 'cli']
    cli = os.path.join(ROOT, 'scripts', 'dbbackup')
    p = subprocess.run([cli, 'backup', '--kind', 'cluster', '--databases', 'c_small'] + conn, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)['databases'] == ['c_small']
    p = subprocess.run([cli, 'restore', '--kind', 'cluster', '--databases', 'c_small', '--target-database',
                        'c_small_cli', '--check'] + conn, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, check=False)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)['databases'][0]['action'] == 'create'
    p = subprocess.run([cli, 'restore', '--kind', 'cluster', '--databases', 'nope'] + conn, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert p.returncode == 1 and 'has no database nope' in p.stderr and 'c_small' in p.stderr


def test_bad_cluster_options(src, tmp_path):
    params = _params(src, str(tmp_path), kind='cluster', server_name='src')
    with pytest.raises(errors.BadInput) as e:
        api.run_backup(dict(params, databases=['c_small', 'missing_db']))
    assert 'missing_db' in str(e.value) and 'c_app' in str(e.value)
    with pytest.raises(errors.BadInput) as e:
        api.run_backup(dict(params, database='c_small'))
    assert 'databases' in str(e.value)
    check = api.run_backup(dict(params, exclude_databases=['rich', 'postgres']), check_mode=True)
    expected = [r[0] for r in _rows(src, 'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate '
                                         "AND datname NOT IN ('rich', 'postgres') ORDER BY 1")]
    assert 'c_app' in expected and 'c_small' in expected
    assert check['changed'] and check['databases'] == expected and check['backup_id'] is None
    assert os.listdir(str(tmp_path)) == []


def test_modules_through_ansible_playbook(src, tmp_path):
    from devtools.drill import run_playbook
    results = str(tmp_path / 'results.json')
    proc = run_playbook(os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'cluster.yml'),
                        {'pg_host': src.host, 'pg_port': src.port, 'pg_user': src.user,
                         'repository': str(tmp_path / 'repo'), 'databases': ['c_small', 'c_app'],
                         'target': 'c_small_module', 'results_file': results},
                        str(tmp_path), password=src.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with open(results) as f:
        out = json.load(f)
    assert out['backup']['changed'] and out['backup']['databases'] == ['c_app', 'c_small']
    assert out['checked']['changed'] and out['checked']['databases'][0]['action'] == 'create'
    assert out['restored']['changed'] and out['restored']['databases'][0]['target_database'] == 'c_small_module'
    assert not out['again']['changed']
    assert src.scalar('c_small_module', 'SELECT count(*) FROM t') == src.scalar('c_small', 'SELECT count(*) FROM t')


def test_skipped_cluster_backup_records_the_found_backups_end_as_last_success(src, tmp_path):
    """max_age skip with metrics_dir: last success is the found cluster backup's finished_at, not the run's time."""
    import time
    from plugins.module_utils.common.times import parse_iso
    from tests.integration.test_metrics import read_metrics, value
    repo, metrics_dir = str(tmp_path / 'repo'), str(tmp_path / 'textfile')
    os.makedirs(metrics_dir)
    first = api.run_backup(_params(src, repo, kind='cluster', server_name='met', metrics_dir=metrics_dir))
    with open(os.path.join(repo, 'met', 'cluster', first['backup_id'], 'manifest.json')) as f:
        finished = parse_iso(json.load(f)['finished_at']).timestamp()
    # the backup that was written records the same meaning: its manifest's end
    assert value(read_metrics(metrics_dir), 'dbbackup_last_success_timestamp_seconds', kind='cluster',
                 server='met') == pytest.approx(finished, abs=0.001)
    time.sleep(2.5)
    skipped = api.run_backup(_params(src, repo, kind='cluster', server_name='met', metrics_dir=metrics_dir,
                                     max_age='1h'))
    assert skipped['changed'] is False and skipped['backup_id'] == first['backup_id']
    vals = read_metrics(metrics_dir)
    assert value(vals, 'dbbackup_last_success_timestamp_seconds', kind='cluster', server='met') == \
        pytest.approx(finished, abs=0.01)
