"""PostgreSQL 13, 15 and 17: logical, cluster, base backup + PITR on each version.

Each version's rich fixture (tests/fixtures/rich, blocks a version lacks left out) must
round-trip identically, judged by that version's own pg_dump -s plus data hashes
(tests/support/compare.py). The PITR test runs archive_command and the recovery with the
engine on the database host: inside the chroot for 13 and 17, with that release's python3.
"""
import os
import shutil
import time

import psycopg2
import pytest

from devtools.pg_temp import free_port
from plugins.module_utils import api
from tests.support import compare
from tests.versions.conftest import new_pg_server
from tests.versions.db_host import engine_for, shared_tmp

SERVER = 'versrc'


def _params(server, database, repo, **extra):
    p = dict(server.conn_params(database), repository=repo)
    p.update(extra)
    return p


def test_logical_round_trip(pg_version):
    version, server = pg_version
    repo = shared_tmp('pgv-repo-')
    try:
        source = compare.snapshot(server, 'rich')
        backup = api.run_backup(_params(server, 'rich', repo, jobs=2))
        assert backup['changed'] and backup['server_version'].split('.')[0] == version
        restored = api.run_restore(_params(server, 'rich', repo, jobs=2, target_database='rich_copy'))
        assert restored['changed'] and restored['target_database'] == 'rich_copy'
        problems = compare.differences(source, compare.snapshot(server, 'rich_copy'), 'rich', 'rich_copy')
        assert not problems, 'PostgreSQL %s: rich and rich_copy differ:\n%s' % (version, '\n\n'.join(problems))
        again = api.run_restore(_params(server, 'rich', repo, target_database='rich_copy'))
        assert again['changed'] is False
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def _roles(server):
    conn = server.connect('postgres')
    try:
        cur = conn.cursor()
        cur.execute("SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, "
                    "rolconnlimit, rolbypassrls FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1")
        return cur.fetchall()
    finally:
        conn.close()


def test_cluster_round_trip_into_a_fresh_server(pg_version):
    version, server = pg_version
    repo = shared_tmp('pgv-cluster-')
    fresh = new_pg_server(version)
    try:
        backup = api.run_backup(_params(server, None, repo, kind='cluster', databases=['rich'], server_name='cl'))
        assert backup['changed'] and backup['databases'] == ['rich']
        restored = api.run_restore(_params(fresh, None, repo, kind='cluster', server_name='cl'))
        assert restored['changed']
        assert _roles(fresh) == _roles(server)
        problems = compare.differences(compare.snapshot(server, 'rich'), compare.snapshot(fresh, 'rich'))
        assert not problems, 'PostgreSQL %s cluster restore differs:\n%s' % (version, '\n\n'.join(problems))
    finally:
        fresh.stop()
        shutil.rmtree(repo, ignore_errors=True)


def _wait_archived(server, timeout=60):
    name = server.scalar('postgres', 'SELECT pg_walfile_name(pg_switch_wal())')
    deadline = time.time() + timeout
    while time.time() < deadline:
        last = server.scalar('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver')
        if last and last[:8] == name[:8] and last[8:] >= name[8:]:
            return name
        time.sleep(0.2)
    raise AssertionError('%s was not archived in %d s; server log:\n%s' % (name, timeout, _tail(server.logfile)))


def _tail(path, lines=40):
    try:
        with open(path) as f:
            return '\n'.join(f.read().splitlines()[-lines:])
    except OSError:
        return ''


def _rows(port, password):
    conn = psycopg2.connect(host='127.0.0.1', port=port, user='postgres', password=password, dbname='postgres')
    try:
        cur = conn.cursor()
        cur.execute('SELECT id, note FROM marks ORDER BY id')
        return cur.fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize('version', ['13', '15', '17'], ids=lambda v: 'pg%s' % v)
def test_base_backup_and_pitr(version):
    """Archiving enabled by dbbackup_pitr, a base backup, then recovery to a time and to the end."""
    host = engine_for('postgresql', version)
    repo = host.own(shared_tmp('pgv-pitr-repo-'))
    os.makedirs(os.path.join(repo, SERVER, 'wal'))
    host.own(repo)
    config_dir = host.own(shared_tmp('pgv-pitr-conf-'))
    config = os.path.join(config_dir, 'dbbackup.conf')
    with open(config, 'w') as f:
        f.write('[dbbackup]\nrepository = %s\nserver_name = %s\n' % (repo, SERVER))
    os.chmod(config, 0o600)
    host.own(config)
    scratch = host.scratch('pgv-pitr-data-')
    server = new_pg_server(version)
    recovered = []
    try:
        common = dict(server.conn_params('postgres'), repository=repo, server_name=SERVER,
                      cli_path=host.launcher, cli_config=config)
        enabled = api.run_pitr(dict(common, state='enabled'))
        assert enabled['changed'] and enabled['restart_required'] is True
        server.stop(remove=False)
        server.start()
        server.psql('postgres', 'CREATE TABLE marks (id int PRIMARY KEY, note text)')
        server.psql('postgres', "INSERT INTO marks VALUES (1, 'before the base backup')")
        base = api.run_backup(dict(common, kind='base', checkpoint='fast', verify='deep'))
        assert base['changed'] and base['verification']['ok'], base
        server.psql('postgres', "INSERT INTO marks VALUES (2, 'wanted')")
        time.sleep(1.1)
        target = server.scalar('postgres', 'SELECT clock_timestamp()').isoformat()
        time.sleep(1.1)
        server.psql('postgres', "INSERT INTO marks VALUES (3, 'mistake')")
        _wait_archived(server)
        status = api.run_pitr(dict(common, state='status'))
        assert status['healthy'] is True, status

        for name, options, expected in (
                ('to_time', {'target_time': target}, [(1, 'before the base backup'), (2, 'wanted')]),
                ('to_end', {}, [(1, 'before the base backup'), (2, 'wanted'), (3, 'mistake')])):
            data_dir = os.path.join(scratch, name)
            port = free_port()
            result = host.api('run_pitr', dict(common, state='restored', data_directory=data_dir, port=port,
                                               wait_timeout=120, **options))
            recovered.append(data_dir)
            assert result['changed'] and result['reached'] is True, result
            assert _rows(port, server.password) == expected, (version, name)
        for data_dir in recovered:
            gone = host.api('run_pitr', dict(common, state='absent', data_directory=data_dir))
            assert gone['changed'] is True and not os.path.exists(data_dir)
        recovered = []
    finally:
        for data_dir in recovered:
            try:
                host.api('run_pitr', dict(server.conn_params('postgres'), repository=repo, server_name=SERVER,
                                          state='absent', data_directory=data_dir))
            except RuntimeError:
                pass
        server.stop()
        host.cleanup()
        for path in (repo, config_dir, scratch):
            shutil.rmtree(path, ignore_errors=True)
