"""node_exporter textfile metrics written by backups and restores, and the CLI's --config file.

The .prom file is parsed with prometheus_client's own parser (what node_exporter
does with it): series of several databases merge into one file, failures and
skips are counted, the last success survives a failure, the file is readable
by node_exporter whatever the umask, and concurrent writers lose nothing.
"""
import json
import os
import stat
import subprocess
import sys
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from plugins.module_utils import api
from plugins.module_utils.operations import metrics
from plugins.module_utils.common.errors import BadInput, ConnectionFailed, IntegrityError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_metrics(directory):
    """{(name, frozenset(labels)): value} of the .prom file."""
    with open(os.path.join(directory, metrics.PROM_NAME)) as f:
        text = f.read()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(values, name, **labels):
    for (n, lbls), v in values.items():
        if n == name and all((k, str(val)) in lbls for k, val in labels.items()):
            return v
    raise AssertionError('no sample %s%r in %r' % (name, labels, sorted(set(n for n, _l in values))))


@pytest.fixture
def small_db(pg_server, unique_db_name):
    def make(prefix='met'):
        name = unique_db_name(prefix)
        pg_server.create_database(name)
        pg_server.psql(name, "CREATE TABLE public.t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 300) g")
        return name
    return make


@pytest.fixture
def metrics_dir(tmp_path):
    d = tmp_path / 'textfile'
    d.mkdir()
    return str(d)


def test_backups_of_two_databases_merge_and_failures_count(pg_server, small_db, repository, metrics_dir,
                                                           engine_params):
    a, b = small_db(), small_db()
    ra = api.run_backup(engine_params(a, repository, metrics_dir=metrics_dir))
    rb = api.run_backup(engine_params(b, repository, metrics_dir=metrics_dir))
    assert ra['metrics_file'] == os.path.join(metrics_dir, 'dbbackup.prom')
    vals = read_metrics(metrics_dir)
    server = '127.0.0.1_%d' % pg_server.port
    for db, res in ((a, ra), (b, rb)):
        labels = dict(server=server, db_type='postgresql', kind='logical', database=db)
        assert value(vals, 'dbbackup_backups_total', status='success', **labels) == 1
        assert value(vals, 'dbbackup_backups_total', status='failed', **labels) == 0
        assert value(vals, 'dbbackup_last_size_bytes', **labels) == res['size_bytes']
        assert value(vals, 'dbbackup_last_raw_size_bytes', **labels) == res['raw_bytes']
        assert value(vals, 'dbbackup_last_rows', **labels) == 300
        assert value(vals, 'dbbackup_last_attempt_success', **labels) == 1
        assert value(vals, 'dbbackup_last_duration_seconds', **labels) == pytest.approx(res['duration_seconds'])
    first_success = value(vals, 'dbbackup_last_success_timestamp_seconds', database=a)

    # a failed attempt of a: counted, last success unchanged, last attempt marked failed
    params = engine_params(a, repository, metrics_dir=metrics_dir, login_password='Wr0ng-metrics-pw')
    with pytest.raises(ConnectionFailed):
        api.run_backup(params)
    vals = read_metrics(metrics_dir)
    assert value(vals, 'dbbackup_backups_total', status='failed', database=a) == 1
    assert value(vals, 'dbbackup_backups_total', status='success', database=a) == 1
    assert value(vals, 'dbbackup_last_attempt_success', database=a) == 0
    assert value(vals, 'dbbackup_last_success_timestamp_seconds', database=a) == first_success
    assert value(vals, 'dbbackup_last_attempt_success', database=b) == 1
    assert 'Wr0ng-metrics-pw' not in open(os.path.join(metrics_dir, 'dbbackup.prom')).read()

    # max_age finds the fresh backup: a skip, and the last success is that backup's end
    skipped = api.run_backup(engine_params(a, repository, metrics_dir=metrics_dir, max_age='1h'))
    assert skipped['changed'] is False
    vals = read_metrics(metrics_dir)
    assert value(vals, 'dbbackup_backups_total', status='skipped', database=a) == 1
    assert value(vals, 'dbbackup_last_attempt_success', database=a) == 1
    assert value(vals, 'dbbackup_last_success_timestamp_seconds', database=a) == pytest.approx(first_success, abs=2)

    state = json.load(open(os.path.join(metrics_dir, metrics.STATE_NAME)))
    assert len(state['series']) == 2


def test_files_are_readable_by_node_exporter_whatever_the_umask(small_db, repository, metrics_dir, engine_params):
    old = os.umask(0o077)
    try:
        api.run_backup(engine_params(small_db(), repository, metrics_dir=metrics_dir))
    finally:
        os.umask(old)
    for name in (metrics.PROM_NAME, metrics.STATE_NAME):
        mode = stat.S_IMODE(os.stat(os.path.join(metrics_dir, name)).st_mode)
        assert mode == 0o644, '%s has mode %o' % (name, mode)
    ours = (metrics.PROM_NAME, metrics.STATE_NAME, metrics.LOCK_NAME)
    leftovers = [n for n in os.listdir(metrics_dir) if n not in ours]
    assert leftovers == []


def test_missing_metrics_dir_fails_before_the_backup(small_db, repository, tmp_path, engine_params):
    with pytest.raises(BadInput) as e:
        api.run_backup(engine_params(small_db(), repository, metrics_dir=str(tmp_path / 'nope')))
    assert 'metrics_dir' in str(e.value)
    assert os.listdir(repository) == []


def test_concurrent_writers_lose_no_series(metrics_dir):
    def worker(i):
        for n in range(10):
            metrics.record_backup(metrics_dir, {'server': 's', 'db_type': 'postgresql', 'kind': 'logical',
                                                'database': 'db%d' % i}, 'success',
                                  {'size_bytes': n, 'raw_bytes': n, 'duration_seconds': 1, 'rows': n})
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    vals = read_metrics(metrics_dir)
    for i in range(4):
        assert value(vals, 'dbbackup_backups_total', status='success', database='db%d' % i) == 10


def test_restore_records_the_verification_state(pg_server, small_db, repository, metrics_dir, engine_params):
    db = small_db()
    backup = api.run_backup(engine_params(db, repository))
    api.run_restore(engine_params(db, repository, target_database=db + '_v', metrics_dir=metrics_dir))
    vals = read_metrics(metrics_dir)
    assert value(vals, 'dbbackup_verification_ok', database=db) == 1
    # damage one data file: the restore refuses it and the state flips to 0
    data = os.path.join(backup['location'], 'data')
    victim = os.path.join(data, sorted(os.listdir(data))[0])
    with open(victim, 'r+b') as f:
        f.seek(0)
        byte = f.read(1)
        f.seek(0)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(IntegrityError):
        api.run_restore(engine_params(db, repository, target_database=db + '_w', metrics_dir=metrics_dir))
    vals = read_metrics(metrics_dir)
    assert value(vals, 'dbbackup_verification_ok', database=db) == 0


# --- the host CLI: --config and --metrics-dir ------------------------------------

def run_cli(args, env_extra=None):
    env = dict(os.environ)
    for key in ('PGPASSWORD', 'DBBACKUP_LOGIN_PASSWORD', 'PGHOST', 'PGPORT', 'PGUSER'):
        env.pop(key, None)
    env.update(env_extra or {})
    env['DBBACKUP_PYTHON'] = sys.executable
    return subprocess.run([os.path.join(ROOT, 'scripts', 'dbbackup')] + args, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=300, check=False)


def write_config(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def test_cli_config_file_holds_connection_and_password(pg_server, small_db, repository, metrics_dir, tmp_path):
    db = small_db()
    conf = write_config(str(tmp_path / 'dbbackup.conf'), (
        '[dbbackup]\nlogin_host = %s\nlogin-port = %d\nlogin_user = %s\nlogin_password = %s\n'
        'repository = %s\nmetrics_dir = %s\n[backup]\njobs = 3\n'
        % (pg_server.host, pg_server.port, pg_server.user, pg_server.password, repository, metrics_dir)))
    proc = run_cli(['backup', '--config', conf, '--database', db])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result['changed'] is True and result['rows'] == 300
    assert value(read_metrics(metrics_dir), 'dbbackup_backups_total', status='success', database=db) == 1
    assert pg_server.password not in proc.stdout + proc.stderr

    listed = run_cli(['list', '--config', conf, '--database', db])
    assert listed.returncode == 0, listed.stderr
    assert [b['backup_id'] for b in json.loads(listed.stdout)['backups']] == [result['backup_id']]

    json_conf = write_config(str(tmp_path / 'dbbackup.json'), json.dumps({
        'login_host': pg_server.host, 'login_port': pg_server.port, 'login_user': pg_server.user,
        'login_password': pg_server.password, 'repository': repository,
        'restore': {'if_exists': 'replace'}}))
    restored = run_cli(['restore', '--config', json_conf, '--database', db, '--target-database', db + '_cli'])
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)['target_database'] == db + '_cli'


def test_cli_config_refuses_unsafe_or_unknown_content(pg_server, repository, tmp_path):
    open_conf = write_config(str(tmp_path / 'open.conf'),
                             '[dbbackup]\nlogin_password = %s\nrepository = %s\n' % (pg_server.password, repository),
                             mode=0o644)
    proc = run_cli(['backup', '--config', open_conf, '--database', 'x'])
    assert proc.returncode == 2
    assert 'readable by others' in proc.stderr and pg_server.password not in proc.stderr

    typo = write_config(str(tmp_path / 'typo.conf'), '[dbbackup]\nlogin_hots = x\nrepository = %s\n' % repository)
    proc = run_cli(['backup', '--config', typo, '--database', 'x'])
    assert proc.returncode == 2 and 'login_hots' in proc.stderr

    bad_section = write_config(str(tmp_path / 'section.conf'), '[backups]\njobs = 2\n')
    proc = run_cli(['backup', '--config', bad_section, '--database', 'x', '--repository', repository])
    assert proc.returncode == 2 and 'backups' in proc.stderr

    bad_value = write_config(str(tmp_path / 'value.conf'), '[dbbackup]\njobs = many\n')
    proc = run_cli(['backup', '--config', bad_value, '--database', 'x', '--repository', repository])
    assert proc.returncode == 2 and 'jobs' in proc.stderr

    missing = run_cli(['backup', '--config', str(tmp_path / 'none.conf'), '--database', 'x'])
    assert missing.returncode == 2 and 'none.conf' in missing.stderr
