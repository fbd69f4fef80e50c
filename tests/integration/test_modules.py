"""The modules as users run them: ansible-playbook on localhost against a real server.

Each test runs a playbook from tests/integration/playbooks/ (collection made
importable through a symlinked ANSIBLE_COLLECTIONS_PATH, password through the
environment) and asserts on the registered results the playbook saves: what
AWX job output would show. Covers idempotence (max_age, restore marker), check
mode, failures (wrong password, missing library) and module_defaults through
the action group. No secret may appear anywhere in ansible's output.
"""
import json
import os
import subprocess
import sys

import pytest

from devtools.drill import run_playbook

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOKS = os.path.join(HERE, 'playbooks')
WRONG_PASSWORD = 'Wr0ng-m0dule-pa55-qx7'
RESULT_KEYS = ('backup_id', 'location', 'database', 'size_bytes', 'raw_bytes', 'duration_seconds',
               'tables', 'rows', 'server_version')


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    """One directory for the collection symlink and the extra-vars files of this module."""
    return str(tmp_path_factory.mktemp('ansible'))


@pytest.fixture
def sample_db(pg_server, unique_db_name):
    """A small database with a table, a sequence and rows."""
    name = unique_db_name('mod')
    pg_server.create_database(name)
    pg_server.psql(name, 'CREATE TABLE public.t (id serial PRIMARY KEY, v text);'
                         "INSERT INTO public.t (v) SELECT 'row ' || g FROM generate_series(1, 500) g;")
    return name


class Run(object):
    """Run a test playbook: run(name, **vars) -> results; run.with_output() -> (results, output)."""

    def __init__(self, server, workdir, tmp_path):
        self.server, self.workdir, self.tmp_path = server, workdir, tmp_path

    def __call__(self, name, **kw):
        return self.with_output(name, **kw)[0]

    def with_output(self, name, password=None, python=None, verbosity=2, expect_rc=0, **extra):
        results = str(self.tmp_path / ('%s.json' % name))
        extra_vars = dict(pg_host=self.server.host, pg_port=self.server.port, pg_user=self.server.user,
                          results_file=results, **extra)
        proc = run_playbook(os.path.join(PLAYBOOKS, name + '.yml'), extra_vars, self.workdir,
                            password=self.server.password if password is None else password,
                            verbosity=verbosity, capture=True, timeout=600, python=python)
        assert proc.returncode == expect_rc, 'ansible-playbook %s exited %d:\n%s' % (
            name, proc.returncode, proc.stdout[-6000:])
        with open(results) as f:
            text = f.read()
        for secret in (self.server.password, WRONG_PASSWORD):
            assert secret not in proc.stdout, 'a password appears in the ansible output of %s' % name
            assert secret not in text, 'a password appears in the registered results of %s' % name
        return json.loads(text), proc.stdout


@pytest.fixture
def run(pg_server, workdir, tmp_path):
    return Run(pg_server, workdir, tmp_path)


def _files(path):
    out = []
    for root, _dirs, files in os.walk(path):
        out.extend(os.path.join(root, f) for f in files)
    return out


def test_backup_then_max_age_reuses_it(run, sample_db, tmp_path):
    repo = str(tmp_path / 'repo')
    res = run('backup_twice', database=sample_db, repository=repo)
    first, second = res['first'], res['second']
    assert first['changed'] is True and not first.get('failed')
    for key in RESULT_KEYS:
        assert key in first, 'backup result lacks %s: %r' % (key, first)
    assert first['database'] == sample_db
    assert first['tables'] == 1 and first['rows'] == 500
    assert first['size_bytes'] > 0 and first['raw_bytes'] > 0
    assert os.path.isfile(os.path.join(first['location'], 'manifest.json'))
    assert second['changed'] is False
    assert second['backup_id'] == first['backup_id']
    assert second['location'] == first['location']


def test_check_mode_backup_writes_nothing(run, sample_db, tmp_path):
    repo = str(tmp_path / 'repo')
    res = run('backup_check', database=sample_db, repository=repo)
    checked = res['checked']
    assert checked['changed'] is True and not checked.get('failed')
    assert _files(repo) == [], 'check mode wrote %r' % _files(repo)


def test_restore_then_restore_again_is_unchanged(run, sample_db, tmp_path, db_exists, pg_server):
    repo = str(tmp_path / 'repo')
    target = sample_db + '_copy'
    res = run('restore_twice', database=sample_db, target_database=target, repository=repo)
    backup, checked, first, second = res['backup'], res['checked'], res['first'], res['second']
    assert checked['changed'] is True
    assert first['changed'] is True and not first.get('failed')
    for key in RESULT_KEYS + ('target_database',):
        assert key in first, 'restore result lacks %s: %r' % (key, first)
    assert first['target_database'] == target
    assert first['backup_id'] == backup['backup_id']
    assert (first['tables'], first['rows']) == (backup['tables'], backup['rows'])
    assert second['changed'] is False
    assert second['backup_id'] == backup['backup_id']
    assert db_exists(target)
    conn = pg_server.connect(target)
    try:
        cur = conn.cursor()
        cur.execute('SELECT count(*) FROM public.t')
        assert cur.fetchone()[0] == 500
    finally:
        conn.close()


def test_wrong_password_fails_clearly_without_leaking_it(run, sample_db, tmp_path, pg_server):
    repo = str(tmp_path / 'repo')
    res, output = run.with_output('wrong_password', password=WRONG_PASSWORD, verbosity=3,
                                  database=sample_db, repository=repo)
    failed = res['failed_backup']
    assert failed['failed'] is True and failed['changed'] is False
    msg = failed['msg']
    assert pg_server.user in msg, msg
    assert 'password' in msg.lower() or 'authentication' in msg.lower(), msg
    assert 'Traceback' not in msg
    assert WRONG_PASSWORD not in output
    assert not [f for f in _files(repo) if f.endswith('manifest.json')]


def test_module_defaults_through_action_group(run, sample_db, tmp_path, db_exists):
    repo = str(tmp_path / 'repo')
    target = sample_db + '_grouped'
    res = run('action_group', database=sample_db, target_database=target, repository=repo)
    backup, restore = res['backup'], res['restore']
    assert backup['changed'] is True and restore['changed'] is True
    grouped = os.path.join(repo, 'grouped', 'logical', sample_db)
    assert backup['location'].startswith(grouped), backup['location']
    assert restore['location'] == backup['location']
    assert db_exists(target)
    for name in ('locks', 'verify', 'info', 'prune', 'pitr'):
        assert not res[name].get('failed'), (name, res[name].get('msg'))
    assert res['locks']['operation'] == 'backup' and res['locks']['verdict'] in ('ok', 'low', 'insufficient')
    assert res['verify']['ok'] is True and res['info']['backups']
    assert res['prune']['changed'] is False and res['pitr']['healthy'] is False   # no WAL archive here


def test_missing_library_gives_install_message(run, sample_db, tmp_path):
    bare = str(tmp_path / 'bare')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', bare], check=True)
    python = os.path.join(bare, 'bin', 'python')
    probe = subprocess.run([python, '-c', 'import psycopg2'], stderr=subprocess.DEVNULL, check=False)
    if probe.returncode == 0:
        pytest.fail('the bare venv can import psycopg2; cannot test the missing-library path')
    res = run('missing_library', python=python, database=sample_db, repository=str(tmp_path / 'repo'))
    failed = res['failed_backup']
    assert failed['failed'] is True
    assert 'Failed to import the required Python library' in failed['msg'], failed['msg']
    assert 'psycopg2' in failed['msg']
    assert 'dbbackup.dbbackup.agent' in failed['msg'] and 'ansible_python_interpreter' in failed['msg']
