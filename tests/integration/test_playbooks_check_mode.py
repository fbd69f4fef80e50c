"""The shipped playbooks under --check: they pass, say what they would do, and write nothing.

playbooks/backup.yml, restore.yml, drill.yml, site.yml and dr_drill.yml run with ansible-playbook --check against the
session server (localhost, the collection through a symlinked collections path, the password
through the environment). Nothing may appear in the repository, no database may be created, and
the output must say what a real run would do instead of printing zeros.
"""
import os

import pytest

from devtools.drill import run_playbook
from plugins.module_utils import api

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('check-mode'))


@pytest.fixture
def small_db(pg_server, unique_db_name):
    name = unique_db_name('chk')
    pg_server.create_database(name)
    pg_server.psql(name, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);")
    return name


def _check(pg_server, workdir, playbook, **extra):
    extra = dict(dbbackup_login_host=pg_server.host, dbbackup_login_port=pg_server.port,
                 dbbackup_login_user=pg_server.user, dbbackup_hosts='localhost', drill_hosts='localhost',
                 dr_drill_hosts='localhost', **extra)
    proc = run_playbook(os.path.join(ROOT, 'playbooks', playbook), extra, workdir, password=pg_server.password,
                        check=True, capture=True, timeout=600)
    assert proc.returncode == 0, 'ansible-playbook --check %s exited %d:\n%s' % (
        playbook, proc.returncode, proc.stdout[-5000:])
    assert pg_server.password not in proc.stdout
    return proc.stdout


def _files(path):
    return [os.path.join(d, f) for d, _dirs, files in os.walk(path) for f in files]


def test_backup_playbook_in_check_mode(pg_server, workdir, small_db, tmp_path, db_exists):
    repo = str(tmp_path / 'repo')
    out = _check(pg_server, workdir, 'backup.yml', dbbackup_databases=[small_db], dbbackup_repository=repo)
    assert 'check mode, nothing written' in out and 'would be created' in out, out[-3000:]
    assert 'server 15.' in out                 # it connected and says to what
    assert _files(repo) == []


def test_restore_playbook_in_check_mode(pg_server, workdir, small_db, tmp_path, db_exists):
    repo = str(tmp_path / 'repo')
    api.run_backup(dict(pg_server.conn_params(small_db), repository=repo))
    before = sorted(_files(repo))
    target = small_db + '_chk'
    out = _check(pg_server, workdir, 'restore.yml', dbbackup_database=small_db, dbbackup_target_database=target,
                 dbbackup_repository=repo)
    assert 'Check mode, nothing changed' in out and 'would be restored from' in out, out[-3000:]
    assert not db_exists(target) and sorted(_files(repo)) == before


def test_drill_playbook_in_check_mode(pg_server, workdir, small_db, tmp_path, db_exists):
    repo = str(tmp_path / 'repo')
    out = _check(pg_server, workdir, 'drill.yml', drill_database=small_db, drill_repository=repo)
    assert 'The drill would restore that backup' in out, out[-3000:]
    assert not db_exists(small_db + '_drill') and _files(repo) == []


def test_site_playbook_in_check_mode(pg_server, workdir, small_db, tmp_path):
    repo = str(tmp_path / 'repo')
    # the session server also holds other tests' databases (some with names no repository path takes)
    others = [d for d in pg_server.scalar('postgres', "SELECT string_agg(datname, E'\\n') FROM pg_database "
                                                      "WHERE datallowconn").split('\n') if d != small_db]
    out = _check(pg_server, workdir, 'site.yml', dbbackup_repository=repo, dbbackup_exclude_databases=others)
    assert 'localhost: check mode, nothing written: ' in out and ' would be created,' in out, out[-3000:]
    assert small_db in out and '(postgresql 15.' in out and 'lock table ok' in out, out[-3000:]
    assert _files(repo) == []


def test_dr_drill_playbook_in_check_mode(pg_server, workdir, small_db, tmp_path, db_exists):
    repo = str(tmp_path / 'repo')
    backup = api.run_backup(dict(pg_server.conn_params(small_db), repository=repo, server_name='localhost'))
    before = sorted(_files(repo))
    out = _check(pg_server, workdir, 'dr_drill.yml', dr_drill_repository=repo)
    assert ('Check mode, nothing changed: localhost would restore %s (backup %s)' % (small_db, backup['backup_id'])
            in out), out[-3000:]
    assert not db_exists(small_db + '_drill') and sorted(_files(repo)) == before
