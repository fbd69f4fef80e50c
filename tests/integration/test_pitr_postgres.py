"""PostgreSQL point-in-time recovery end to end (dbbackup_pitr states enabled, status, restored).

A source server archives its WAL through the checkout's CLI (archive_command set by
state=enabled, run by PostgreSQL as the postgres user), a base backup is taken
(kind=base), then a status table changes step by step. After each step a target of
every kind is recorded: the commit time, the transaction id (txid_current()), the
WAL position (pg_current_wal_lsn()) and a named restore point. Each recovery goes
into a scratch data directory (one server start) and must show EXACTLY the table as
it was at its target. Then: a second timeline (recover, promote with archiving kept,
write, recover to a point on timeline 2), a missing WAL segment (reported as a gap,
recovery past it fails clearly), an encrypted archive in S3 (moto), and a module
run through ansible-playbook.
"""
import json
import os
import shutil
import subprocess
import time

import psycopg2
import pytest

from devtools.drill import run_playbook
from devtools.pg_temp import PgServer, free_port
from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.postgres.physical.wal_names import segment_name
from tests.support.pitr_cli import PostgresCli, postgres_dir, scratch_parent

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = 'pitrsrc'
BASE_ROWS = [(1, 'a')]
STEPS = [   # (SQL of the step, the whole status table after it)
    ("INSERT INTO status VALUES (2, 'b')", [(1, 'a'), (2, 'b')]),
    ("UPDATE status SET note = 'b2' WHERE id = 2", [(1, 'a'), (2, 'b2')]),
    ("DELETE FROM status WHERE id = 1", [(2, 'b2')]),
    ("INSERT INTO status VALUES (3, 'c')", [(2, 'b2'), (3, 'c')]),
]


def switch_and_wait(server, timeout=60):
    """pg_switch_wal() and wait until the archiver has archived the segment it closed."""
    name = server.scalar('postgres', 'SELECT pg_walfile_name(pg_switch_wal())')
    deadline = time.time() + timeout
    while time.time() < deadline:
        conn = server.connect()
        try:
            cur = conn.cursor()
            cur.execute('SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver')
            last, failed = cur.fetchone()
        finally:
            conn.close()
        if last and len(last) == 24 and last[8:] >= name[8:] and last[:8] == name[:8]:
            return name
        time.sleep(0.2)
    raise AssertionError('%s was not archived within %d s (last failed: %s); log:\n%s'
                         % (name, timeout, failed, _tail(server.logfile)))


def _tail(path, n=30):
    try:
        with open(path) as f:
            return '\n'.join(f.read().splitlines()[-n:])
    except IOError:
        return ''


def stop_background(spool):
    """End the spooler/prefetcher processes of a spool (they would exit after 30 idle seconds)."""
    for root, dummy, files in os.walk(spool):
        for lock in ('push.lock', 'fetch.lock'):
            if lock in files:
                out = subprocess.run(['fuser', os.path.join(root, lock)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
                for pid in out.split():
                    os.kill(int(pid), 15)


def status_rows(host, port, password, dbname='postgres'):
    conn = psycopg2.connect(host=host, port=port, user='postgres', password=password, dbname=dbname)
    try:
        cur = conn.cursor()
        cur.execute('SELECT id, note FROM status ORDER BY id')
        return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def pg_ctl_stop(data_dir, pg_bin):
    argv = [os.path.join(pg_bin, 'pg_ctl'), '-D', data_dir, '-m', 'immediate', '-w', 'stop']
    if os.geteuid() == 0:
        argv = ['runuser', '-u', 'postgres', '--'] + argv
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd='/')


def server_dir(repo, name):
    """<repo>/<name>/wal owned by postgres: the archiver (postgres) and the backups (root here) share it."""
    for d in (os.path.join(repo, name), os.path.join(repo, name, 'wal')):
        os.makedirs(d, exist_ok=True)
    subprocess.run(['chown', '-R', 'postgres:postgres', os.path.join(repo, name)], check=True)


def record_steps(server, prefix='step'):
    """Run STEPS; after each: {'xid', 'lsn', 'time', 'name'} of the step (switch + archive after 2 and 4)."""
    targets = []
    for i, (sql, dummy) in enumerate(STEPS, 1):
        conn = server.connect(autocommit=False)
        try:
            cur = conn.cursor()
            cur.execute('SET synchronous_commit = on')   # the server's default is off: flush at commit
            cur.execute(sql)
            cur.execute('SELECT txid_current()')
            xid = cur.fetchone()[0]
            conn.commit()
            conn.autocommit = True
            cur.execute('SELECT pg_current_wal_lsn()::text, clock_timestamp()')
            lsn, ts = cur.fetchone()
            cur.execute('SELECT pg_create_restore_point(%s)', ('%s_%d' % (prefix, i),))
        finally:
            conn.close()
        targets.append({'xid': str(xid), 'lsn': lsn, 'time': ts.isoformat(), 'name': '%s_%d' % (prefix, i)})
        time.sleep(0.05)
        if i in (2, 4):
            targets[-1]['switched'] = switch_and_wait(server)
    return targets


class History(object):
    """The source server, its repository, the base backup and the recorded targets."""

    def __init__(self, cli):
        self.cli = cli
        self.repo = postgres_dir('dbbackup-pitr-repo-')
        server_dir(self.repo, SERVER)
        self.config = cli.write_config('local.conf', {'repository': self.repo, 'server_name': SERVER})
        self.spool = postgres_dir('dbbackup-pitr-spool-')
        self.async_config = cli.write_config('async.conf', {'repository': self.repo, 'server_name': SERVER,
                                                            'archive_async': 'true', 'spool_path': self.spool})
        self.launcher = cli.launcher('dbbackup')
        self.scratch = scratch_parent()
        self.server = PgServer()
        self.started = []       # data directories of recovered servers still to stop

    def params(self, **extra):
        p = dict(self.server.conn_params('postgres'), repository=self.repo, server_name=SERVER,
                 cli_path=self.launcher, cli_config=self.config)
        p.update(extra)
        return p

    def recover(self, name, **options):
        """state=restored into a new scratch data directory on a free port; returns (result, data_dir)."""
        holder = os.path.join(self.scratch, name)
        os.makedirs(holder)
        os.chmod(holder, 0o755)
        data_dir = os.path.join(holder, 'data')
        options.setdefault('port', free_port())
        options.setdefault('wait_timeout', 90)
        params = self.params(state='restored', data_directory=data_dir, **options)
        self.started.append(data_dir)
        return api.run_pitr(params), data_dir

    def rows(self, result):
        return status_rows('127.0.0.1', result['port'], self.server.password)

    def stop(self, data_dir):
        pg_ctl_stop(data_dir, self.server.pg_bin)

    def cleanup(self):
        for d in self.started:
            self.stop(d)
        self.server.stop()
        stop_background(self.spool)
        shutil.rmtree(self.repo, ignore_errors=True)
        shutil.rmtree(self.spool, ignore_errors=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


@pytest.fixture(scope='module')
def cli():
    c = PostgresCli().make()
    yield c
    c.cleanup()


@pytest.fixture(scope='module')
def history(cli):
    h = History(cli)
    try:
        h.server.start()
        h.server.psql('postgres', 'CREATE TABLE status (id int PRIMARY KEY, note text);'
                                  "INSERT INTO status VALUES (1, 'a')")
        h.checked = api.run_pitr(h.params(state='enabled', archive_timeout=60), check_mode=True)
        h.enabled = api.run_pitr(h.params(state='enabled', archive_timeout=60))
        h.server.stop(remove=False)     # archive_mode needs a restart
        h.server.start()
        h.again = api.run_pitr(h.params(state='enabled', archive_timeout=60))
        h.backup = api.run_backup(h.params(kind='base', checkpoint='fast', archive_wait_timeout=60, database=None))
        h.targets = record_steps(h.server)
        yield h
    finally:
        h.cleanup()


def test_enabled_sets_archiving_once_and_says_a_restart_is_needed(history):
    h = history
    assert h.checked['changed'] is True
    assert {c['name'] for c in h.checked['changes']} == {'archive_mode', 'archive_command', 'archive_timeout'}
    assert h.checked['restart_required'] is True
    assert h.checked['archive_mode'] == 'off', 'check mode changed the server'
    assert h.enabled['changed'] is True and h.enabled['restart_required'] is True
    assert 'archive_mode' in h.enabled['pending_restart']
    assert h.enabled['archive_command'] == "%s wal-push --config %s %%p %%f" % (h.launcher, h.config)
    assert h.server.scalar('postgres', "SELECT current_setting('archive_command')") == h.enabled['archive_command']
    assert h.again['changed'] is False and h.again['restart_required'] is False
    assert h.again['archive_mode'] == 'on' and h.again['archive_timeout'] == 60
    # a role without ALTER SYSTEM rights gets one clear error, and nothing changes
    h.server.psql('postgres', "CREATE ROLE pitr_weak LOGIN PASSWORD 'weak-pw-123'")
    weak = h.params(state='enabled', archive_timeout=30, login_user='pitr_weak', login_password='weak-pw-123')
    with pytest.raises(errors.BadInput, match='may not change the archiving settings.*ALTER SYSTEM'):
        api.run_pitr(weak)
    assert h.server.scalar('postgres', "SELECT current_setting('archive_timeout')") == '1min'


def test_status_is_healthy_with_backup_chain_and_window(history):
    h = history
    st = api.run_pitr(h.params(state='status'))
    assert st['changed'] is False
    assert st['healthy'] is True, st['problems']
    assert [b['backup_id'] for b in st['base_backups']] == [h.backup['backup_id']]
    assert st['chain']['ok'] is True and st['chain']['gaps'] == []
    assert st['chain']['first'] == h.backup['start_wal_file']
    assert st['chain']['last'] == h.targets[-1]['switched']
    arch = st['archiving']
    assert arch['last_archived_wal'] == h.targets[-1]['switched']
    assert arch['failed_count'] == 0
    assert arch['lag_segments'] == 0 and 0 <= arch['lag_bytes'] < 16 << 20
    assert arch['current_wal_file'] >= h.targets[-1]['switched']
    window = st['recovery_window']
    assert window['earliest_backup_id'] == h.backup['backup_id']
    assert window['earliest_lsn'] == h.backup['stop_lsn']
    assert window['latest_wal_file'] == h.targets[-1]['switched']
    assert window['latest_time'] == arch['last_archived_time']
    assert st['verification'] is None
    deep = api.run_pitr(h.params(state='status', verify='deep'))
    v = deep['verification']
    assert deep['healthy'] is True and v['ok'] is True and v['damaged'] == [] and v['legacy'] == 0
    assert v['checked'] == v['objects'] >= deep['wal_archive']['segments'] >= 4
    with pytest.raises(errors.BadInput, match='verify is used with state=status only'):
        api.run_pitr(h.params(state='restored', verify='quick', data_directory='/nonexistent/x'))


def read_prom(directory):
    """{(name, frozenset(labels)): value} of dbbackup.prom, parsed as node_exporter does."""
    from prometheus_client.parser import text_string_to_metric_families
    with open(os.path.join(directory, 'dbbackup.prom')) as f:
        return dict(((s.name, frozenset(s.labels.items())), s.value)
                    for family in text_string_to_metric_families(f.read()) for s in family.samples)


def test_status_metrics_and_repository_only_status(history, tmp_path):
    from plugins.module_utils.common.times import parse_iso
    h = history
    textfile = str(tmp_path)
    # a logical backup of another server records its series into the same file first
    api.run_backup(dict(h.server.conn_params('postgres'), repository=h.repo, server_name='pitrmetrics-other',
                        metrics_dir=textfile))
    logical = frozenset({'server': 'pitrmetrics-other', 'db_type': 'postgresql', 'kind': 'logical',
                         'database': 'postgres'}.items())
    wal = frozenset({'server': SERVER, 'db_type': 'postgresql'}.items())
    before = time.time()
    st = api.run_pitr(h.params(state='status', metrics_dir=textfile))
    assert st['healthy'] is True, st['problems']
    assert st['metrics_file'] == os.path.join(textfile, 'dbbackup.prom')
    v = read_prom(textfile)
    assert v[('dbbackup_wal_archive_healthy', wal)] == 1 and v[('dbbackup_wal_server_reachable', wal)] == 1
    assert v[('dbbackup_wal_chain_ok', wal)] == 1 and v[('dbbackup_wal_chain_gaps', wal)] == 0
    assert v[('dbbackup_wal_archive_lag_segments', wal)] == st['archiving']['lag_segments'] == 0
    assert v[('dbbackup_wal_archive_lag_bytes', wal)] == st['archiving']['lag_bytes'] < 16 << 20
    archived_at = parse_iso(st['archiving']['last_archived_time']).timestamp()
    assert v[('dbbackup_wal_last_archived_timestamp_seconds', wal)] == pytest.approx(archived_at, abs=1e-3)
    assert before - 600 < archived_at <= time.time()
    assert v[('dbbackup_wal_archive_failed_total', wal)] == 0
    assert v[('dbbackup_wal_archived_total', wal)] == st['archiving']['archived_count'] >= 2
    assert v[('dbbackup_base_backups', wal)] == 1
    assert v[('dbbackup_wal_archive_segments', wal)] == st['wal_archive']['segments'] >= 2
    window = st['recovery_window']
    assert v[('dbbackup_pitr_recovery_window_start_timestamp_seconds', wal)] == pytest.approx(
        parse_iso(window['earliest_time']).timestamp(), abs=1e-3)
    assert v[('dbbackup_pitr_recovery_window_end_timestamp_seconds', wal)] == pytest.approx(archived_at, abs=1e-3)
    assert before <= v[('dbbackup_wal_status_timestamp_seconds', wal)] <= time.time()
    assert v[('dbbackup_last_attempt_success', logical)] == 1
    # server unreachable: repository-only status, healthy 0, the server's values left out, other series kept
    down = api.run_pitr(h.params(state='status', metrics_dir=textfile, login_port=free_port()))
    assert down['healthy'] is False and down['server_reachable'] is False
    v = read_prom(textfile)
    assert v[('dbbackup_wal_archive_healthy', wal)] == 0 and v[('dbbackup_wal_server_reachable', wal)] == 0
    assert v[('dbbackup_wal_chain_ok', wal)] == 1 and v[('dbbackup_wal_chain_gaps', wal)] == 0
    assert v[('dbbackup_base_backups', wal)] == 1
    for name in ('dbbackup_wal_archive_lag_segments', 'dbbackup_wal_archive_lag_bytes',
                 'dbbackup_wal_last_archived_timestamp_seconds', 'dbbackup_wal_archive_failed_total',
                 'dbbackup_pitr_recovery_window_end_timestamp_seconds'):
        assert (name, wal) not in v, name
    assert len([k for k in v if k[0] == 'dbbackup_wal_archive_healthy']) == 1
    assert v[('dbbackup_last_attempt_success', logical)] == 1
    assert v[('dbbackup_backups_total', logical | {('status', 'success')})] == 1
    with pytest.raises(errors.BadInput, match='metrics_dir is used with state=status only'):
        api.run_pitr(h.params(state='enabled', metrics_dir=textfile))


def test_cli_pitr_status_exit_code(history, tmp_path):
    h = history
    env = dict(os.environ, DBBACKUP_LOGIN_PASSWORD=h.server.password)
    argv = [h.launcher, 'pitr-status', '--config', h.config, '--login-host', h.server.host,
            '--metrics-dir', str(tmp_path), '--login-port']
    ok = subprocess.run(argv + [str(h.server.port), '--verify', 'quick'], env=env, cwd='/', stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    report = json.loads(ok.stdout)
    assert report['healthy'] is True and report['verification']['ok'] is True
    assert report['verification']['checked'] == report['verification']['objects'] > 0
    assert read_prom(str(tmp_path))[('dbbackup_wal_archive_healthy', frozenset(
        {'server': SERVER, 'db_type': 'postgresql'}.items()))] == 1
    bad = subprocess.run(argv + [str(free_port())], env=env, cwd='/', stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert bad.returncode == 1, bad.stderr + bad.stdout
    report = json.loads(bad.stdout)
    assert report['healthy'] is False and report['server_reachable'] is False


def test_recover_to_time_then_again_is_unchanged(history):
    h = history
    params = dict(target_time=h.targets[1]['time'])
    res, data_dir = h.recover('time', **params)
    assert res['changed'] is True and res['reached'] is True
    assert res['backup_id'] == h.backup['backup_id']
    assert res['in_recovery'] is False and res['running'] is True
    assert res['timeline'] == 2
    assert res['recovery_stop'].startswith('recovery stopping before commit of transaction %s'
                                           % h.targets[2]['xid'])
    assert res['consistent'].startswith('consistent recovery state reached')
    assert 'postgres' in res['databases']
    assert h.rows(res) == STEPS[1][1]
    with open(os.path.join(data_dir, 'postgresql.auto.conf')) as f:
        auto = f.read()
    # the source's ALTER SYSTEM settings are still there, the recovery block follows them
    assert auto.index("archive_command = '%s" % h.launcher) < auto.index('# BEGIN dbbackup recovery')
    assert 'archive_mode = off' in auto.split('# BEGIN dbbackup recovery')[1]
    again = api.run_pitr(h.params(state='restored', data_directory=data_dir, **params))
    assert again['changed'] is False and again['backup_id'] == res['backup_id'] and again['running'] is True
    other = dict(target_time=h.targets[2]['time'])
    with pytest.raises(errors.TargetExists, match='already holds a recovery'):
        api.run_pitr(h.params(state='restored', data_directory=data_dir, **other))
    # state=absent: refuses a directory it did not make, stops and deletes the one it made, once
    with pytest.raises(errors.BadInput, match='was not made by dbbackup_pitr'):
        api.run_pitr(h.params(state='absent', data_directory=h.server.datadir))
    assert h.server.scalar('postgres', 'SELECT 1') == 1
    planned = api.run_pitr(h.params(state='absent', data_directory=data_dir), check_mode=True)
    assert planned['changed'] is True and planned['stopped'] is True and os.path.isdir(data_dir)
    removed = api.run_pitr(h.params(state='absent', data_directory=data_dir))
    assert removed['changed'] is True and removed['stopped'] is True and not os.path.exists(data_dir)
    with pytest.raises(Exception):
        status_rows('127.0.0.1', res['port'], h.server.password)
    assert api.run_pitr(h.params(state='absent', data_directory=data_dir))['changed'] is False
    # check mode: says what it would do, creates nothing
    fresh = os.path.join(h.scratch, 'checked', 'data')
    checked = api.run_pitr(h.params(state='restored', data_directory=fresh, **params), check_mode=True)
    assert checked['changed'] is True and 'would be extracted' in checked['msg']
    assert not os.path.exists(fresh)


def test_recover_to_xid_inclusive_and_exclusive(history):
    h = history
    res, data_dir = h.recover('xid', target_xid=h.targets[2]['xid'])
    assert res['recovery_stop'].startswith('recovery stopping after commit of transaction %s' % h.targets[2]['xid'])
    assert h.rows(res) == STEPS[2][1]
    h.stop(data_dir)
    res, data_dir = h.recover('xid_excl', target_xid=h.targets[2]['xid'], target_inclusive=False)
    assert res['recovery_stop'].startswith('recovery stopping before commit of transaction %s'
                                           % h.targets[2]['xid'])
    assert h.rows(res) == STEPS[1][1]
    h.stop(data_dir)


def test_recover_to_lsn_and_pause(history):
    h = history
    res, data_dir = h.recover('lsn', target_lsn=h.targets[0]['lsn'], target_action='pause')
    assert res['reached'] is True and res['running'] is True
    assert res['in_recovery'] is True and res['pause_state'] == 'paused'
    assert res['recovery_stop'].startswith('recovery stopping after WAL location (LSN)')
    assert h.rows(res) == STEPS[0][1]    # hot standby: readable while paused
    h.stop(data_dir)


def test_recover_to_restore_point(history):
    """Through the prefetcher (archive_async in the CLI config): restore_command answers from the spool."""
    h = history
    res, data_dir = h.recover('name', target_name='step_4', cli_config=h.async_config)
    with open(os.path.join(data_dir, 'postgresql.auto.conf')) as f:
        assert 'wal-fetch --config %s' % h.async_config in f.read()
    logs = [os.path.join(r, 'daemon.log') for r, d, files in os.walk(h.spool) if 'daemon.log' in files]
    assert logs and 'prefetcher started' in open(logs[0]).read()
    assert res['recovery_stop'].startswith('recovery stopping at restore point "step_4"')
    assert res['in_recovery'] is False
    assert h.rows(res) == STEPS[3][1]
    h.stop(data_dir)


def test_recover_immediate_gives_the_backup_end_state(history):
    h = history
    res, data_dir = h.recover('immediate', target='immediate')
    assert res['recovery_stop'] == 'recovery stopping after reaching consistency'
    assert h.rows(res) == BASE_ROWS
    h.stop(data_dir)
    # shutdown at the target: reached, and the server is down (not a failure)
    res, data_dir = h.recover('shutdown', target_name='step_3', target_action='shutdown')
    assert res['reached'] is True and res['running'] is False
    assert res['recovery_stop'].startswith('recovery stopping at restore point "step_3"')
    assert not os.path.exists(os.path.join(data_dir, 'postmaster.pid'))


def test_missing_segment_is_a_gap_and_recovery_past_it_fails(history, cli):
    h = history
    repo = postgres_dir('dbbackup-pitr-gap-')
    try:
        shutil.rmtree(repo)
        shutil.copytree(h.repo, repo)
        subprocess.run(['chown', '-R', 'postgres:postgres', repo], check=True)
        seg = segment_name(1, h.targets[0]['lsn'], 16 << 20)
        tli_dir = os.path.join(repo, SERVER, 'wal', '00000001')
        removed = [n for n in os.listdir(tli_dir) if n.startswith(seg)]
        assert removed, 'segment %s not archived' % seg
        for n in removed:
            os.unlink(os.path.join(tli_dir, n))
        config = cli.write_config('gap.conf', {'repository': repo, 'server_name': SERVER})
        # repository-only status (no server reachable): the gap is reported, not raised
        st = api.run_pitr(dict(h.params(state='status', repository=repo), login_port=free_port()))
        assert st['changed'] is False and st['healthy'] is False and st['server_reachable'] is False
        assert st['chain']['ok'] is False
        assert st['chain']['gaps'][0]['missing_from'] == seg
        assert any('WAL gap' in p and seg in p for p in st['problems'])
        # to the end of the archive: refused before anything is written (it would silently stop at the gap)
        end_dir = os.path.join(h.scratch, 'gap_end', 'data')
        with pytest.raises(errors.NotFound, match='gap after'):
            api.run_pitr(h.params(state='restored', repository=repo, cli_config=config, data_directory=end_dir))
        assert not os.path.exists(end_dir)
        # to a time past the gap: the server tries, ends recovery early, and that is a clear failure
        with pytest.raises(errors.RestoreFailed) as failed:
            h.recover('gap_time', repository=repo, cli_config=config, target_time=h.targets[2]['time'])
        msg = str(failed.value)
        assert 'target_time' in msg and 'recovery ended before the configured recovery target was reached' in msg
        assert 'missing' in msg and seg in msg
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def copy_repo(h, cli, name):
    """A copy of the history's repository (owned by postgres) and a CLI config file pointing at it."""
    repo = postgres_dir('dbbackup-pitr-%s-' % name)
    shutil.rmtree(repo)
    shutil.copytree(h.repo, repo)
    subprocess.run(['chown', '-R', 'postgres:postgres', repo], check=True)
    return repo, cli.write_config('%s.conf' % name, {'repository': repo, 'server_name': SERVER})


def stored_object(repo, seg):
    tli_dir = os.path.join(repo, SERVER, 'wal', seg[:8])
    found = [n for n in os.listdir(tli_dir) if n.split('.')[0] == seg and 'backup' not in n]
    assert len(found) == 1, found
    return os.path.join(tli_dir, found[0])


def assert_stopped_and_failed(data_dir):
    with open(os.path.join(data_dir, 'dbbackup_pitr.json')) as f:
        assert json.load(f)['status'] == 'failed'
    pid_file = os.path.join(data_dir, 'postmaster.pid')
    assert not os.path.exists(pid_file), 'the server of a failed recovery is still running'


def test_damaged_segment_stops_recovery_and_verify_finds_it(history, cli):
    """A middle segment with a flipped byte: never a short replay reported as success (issue items 1-3)."""
    h = history
    repo, config = copy_repo(h, cli, 'damaged')
    spool = postgres_dir('dbbackup-pitr-dspool-')
    try:
        seg = segment_name(1, h.targets[0]['lsn'], 16 << 20)
        assert seg < h.targets[-1]['switched']
        path = stored_object(repo, seg)
        with open(path, 'r+b') as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x40]))
        # status, repository only: quick (no key) finds it; the chain and the window end before it
        st = api.run_pitr(dict(h.params(state='status', repository=repo, verify='quick'), login_port=free_port()))
        v = st['verification']
        assert v['mode'] == 'quick' and v['checked'] == v['objects'] - 1 and v['legacy'] == 0
        assert [d['wal_name'] for d in v['damaged']] == [seg] and 'SHA-256 does not match' in v['damaged'][0]['error']
        assert any(p.startswith('damaged WAL file %s' % seg) for p in st['problems'])
        assert st['chain']['gaps'][0]['missing_from'] == seg and st['healthy'] is False
        assert st['recovery_window']['latest_wal_file'] < seg
        # to the end of the archive: PostgreSQL stops on the file (wal-fetch exits > 125), no promotion
        with pytest.raises(errors.RestoreFailed) as failed:
            h.recover('damaged_end', repository=repo, cli_config=config)
        msg = str(failed.value)
        assert 'WAL file %s is archived but could not be restored (wal-fetch: Archived WAL file' % seg in msg, msg
        assert 'is damaged' in msg and 'the end of the archived WAL' in msg
        assert_stopped_and_failed(h.started[-1])
        # a target past the damage: the damaged file is named, not a false "the archive ends at"
        async_config = cli.write_config('damaged-async.conf', {'repository': repo, 'server_name': SERVER,
                                                               'archive_async': 'true', 'spool_path': spool})
        with pytest.raises(errors.RestoreFailed) as failed:       # through the prefetcher: the same verdict
            h.recover('damaged_time', repository=repo, cli_config=async_config, target_time=h.targets[2]['time'])
        stop_background(spool)
        msg = str(failed.value)
        assert seg in msg and 'could not be restored' in msg and 'The archive ends at' not in msg, msg
        assert 'is damaged' in msg
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(spool, ignore_errors=True)


def test_short_replay_of_an_older_object_fails_and_stops_the_server(history, cli):
    """An object without checksum record (older layout) whose WAL record is damaged: wal-fetch cannot tell,
    PostgreSQL takes the bad record for the end of the WAL and promotes; the verdict compares with the chain."""
    h = history
    repo, config = copy_repo(h, cli, 'legacy')
    try:
        seg = segment_name(1, h.targets[0]['lsn'], 16 << 20)
        path = stored_object(repo, seg)
        raw = os.path.join(os.path.dirname(repo), 'raw-' + seg)
        api.run_wal_fetch(dict(repository=repo, server_name=SERVER, wal_name=seg, dest_path=raw))
        with open(raw, 'rb') as f:
            data = bytearray(f.read())
        data[100] ^= 0xFF                   # inside the first record; page headers stay valid
        os.unlink(path)
        os.unlink(raw)
        with open(os.path.join(os.path.dirname(path), seg), 'wb') as f:      # plain, uncompressed, no frame
            f.write(bytes(data))
        subprocess.run(['chown', '-R', 'postgres:postgres', repo], check=True)
        with pytest.raises(errors.RestoreFailed) as failed:
            h.recover('legacy_end', repository=repo, cli_config=config)
        msg = str(failed.value)
        assert 'the archive holds WAL up to %s' % h.targets[-1]['switched'][:8] in msg or \
            'the archive holds WAL up to' in msg, msg
        assert 'The server was stopped' in msg and seg[:16] in msg, msg
        assert_stopped_and_failed(h.started[-1])
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def test_target_time_between_backup_stop_and_finish(history):
    """The backup's stop_time, not finished_at, bounds the targets it can reach (issue item 5)."""
    from plugins.module_utils.common.times import isoformat, parse_iso
    from plugins.module_utils.format.backups import find_backup, kind_path
    from plugins.module_utils.storage.factory import open_repository
    h = history
    m = find_backup(open_repository({'repository': h.repo}), kind_path(SERVER, 'base'), h.backup['backup_id'])
    stop, finish = parse_iso(m['stop_time']), parse_iso(m['finished_at'])
    assert parse_iso(m['started_at']) < stop < finish
    between = isoformat(stop + (finish - stop) / 2).replace('T', ' ').replace('Z', '+00')
    res, data_dir = h.recover('between', target_time=between)
    assert res['reached'] is True and res['backup_id'] == h.backup['backup_id']
    assert h.rows(res) == BASE_ROWS
    h.stop(data_dir)


def test_module_status_through_ansible_playbook(history, tmp_path):
    h = history
    results = str(tmp_path / 'pitr_status.json')
    proc = run_playbook(os.path.join(HERE, 'playbooks', 'pitr_status.yml'),
                        dict(pg_host=h.server.host, pg_port=h.server.port, pg_user=h.server.user,
                             repository=h.repo, server_name=SERVER, cli_path=h.launcher, cli_config=h.config,
                             results_file=results),
                        str(tmp_path), password=h.server.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert h.server.password not in proc.stdout
    with open(results) as f:
        res = json.load(f)
    st = res['status']
    assert st['changed'] is False and st['healthy'] is True, st.get('problems') or st.get('msg')
    assert st['base_backups'][0]['backup_id'] == h.backup['backup_id']
    assert res['enabled']['changed'] is False and res['enabled']['restart_required'] is False


def test_dr_drill_playbook_pitr_mode(history, tmp_path):
    """playbooks/dr_drill.yml with dr_drill_mode=pitr: recover to the end of the archive, prove, clean up."""
    h = history
    report_file = str(tmp_path / 'report.json')
    scratch = os.path.join(h.scratch, 'drill')
    os.makedirs(scratch)
    os.chmod(scratch, 0o755)
    proc = run_playbook(os.path.join(os.path.dirname(os.path.dirname(HERE)), 'playbooks', 'dr_drill.yml'),
                        dict(dr_drill_hosts='localhost', dr_drill_mode='pitr', dbbackup_login_host=h.server.host,
                             dbbackup_login_port=h.server.port, dbbackup_login_user=h.server.user,
                             dbbackup_server_name=SERVER, dr_drill_repository=h.repo, dr_drill_scratch_dir=scratch,
                             dr_drill_port=free_port(), dr_drill_cli_path=h.launcher, dr_drill_cli_config=h.config,
                             dr_drill_report_file=report_file),
                        str(tmp_path), password=h.server.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert h.server.password not in proc.stdout
    with open(report_file) as f:
        report = json.load(f)
    assert report['failed_hosts'] == []
    r = report['hosts'][0]
    assert r['mode'] == 'pitr' and r['proven'] is True and r['cleaned_up'] is True
    assert r['backup_id'] == h.backup['backup_id'] and 'postgres' in r['databases']
    assert r['last_wal_restored'] >= h.targets[-1]['switched']
    assert float(r['rto_seconds']) > 0 and 0 <= int(r['rpo_seconds']) < 600
    assert int(r['base_files_verified']) >= 2
    assert os.listdir(os.path.join(scratch, 'localhost')) == []      # the data directory is gone


def test_second_timeline(history):
    """Recover to step 2 keeping archiving, promote (timeline 2), write, archive; recover to a point on it."""
    h = history
    res, tl2_dir = h.recover('tl2_source', target_name='step_2', archive='keep')
    assert res['timeline'] == 2
    port = res['port']
    tl2 = PgServer(port=port)
    tl2.datadir = tl2_dir
    conn = psycopg2.connect(host='127.0.0.1', port=port, user='postgres', password=h.server.password,
                            dbname='postgres')
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute("INSERT INTO status VALUES (20, 'tl2')")
        cur.execute("SELECT pg_create_restore_point('tl2_point')")
        cur.execute("INSERT INTO status VALUES (21, 'after')")
    finally:
        conn.close()
    switch_and_wait(tl2)
    h.stop(tl2_dir)
    # what the promoted copy archived: the history file and timeline 2's segments, no .partial (its last
    # timeline-1 segment came from the archive, which holds it whole; PostgreSQL archives a .partial only
    # for a segment it did not restore from there)
    wal_dir = os.path.join(h.repo, SERVER, 'wal')
    assert os.path.exists(os.path.join(wal_dir, '00000002', '00000002.history.zst'))
    assert any(len(n.split('.')[0]) == 24 for n in os.listdir(os.path.join(wal_dir, '00000002')))
    assert not [n for d in os.listdir(wal_dir) if os.path.isdir(os.path.join(wal_dir, d))
                for n in os.listdir(os.path.join(wal_dir, d)) if '.partial' in n]
    st = api.run_pitr(h.params(state='status'))
    assert 2 in st['wal_archive']['timelines']
    res, data_dir = h.recover('tl2_target', target_name='tl2_point')
    assert res['recovery_stop'].startswith('recovery stopping at restore point "tl2_point"')
    assert res['timeline'] == 3
    assert h.rows(res) == STEPS[1][1] + [(20, 'tl2')]
    h.stop(data_dir)
    # timeline 1 stays recoverable when asked for explicitly
    res, data_dir = h.recover('tl1_again', target_name='step_4', target_timeline='1')
    assert h.rows(res) == STEPS[3][1]
    h.stop(data_dir)


def test_encrypted_archive_in_s3(cli, s3_repo, tmp_path):
    """Archive, base backup and recovery with an S3 repository (moto) and encryption."""
    key_file = os.path.join(cli.dir, 's3.key')
    with open(key_file, 'w') as f:
        f.write('ab' * 32 + '\n')
    os.chmod(key_file, 0o600)
    subprocess.run(['chown', 'postgres:postgres', key_file], check=True)
    opts = s3_repo.options()
    server_name = 's3src'
    config = cli.write_config('s3.conf', {
        'repository': s3_repo.url, 'server_name': server_name, 's3_endpoint_url': opts['s3_endpoint_url'],
        's3_region': opts['s3_region'], 'encryption_key_file': key_file})
    launcher = cli.launcher('dbbackup-s3', env={'AWS_ACCESS_KEY_ID': opts['aws_access_key'],
                                                'AWS_SECRET_ACCESS_KEY': opts['aws_secret_key']})
    server = PgServer()
    scratch = scratch_parent()
    data_dir = os.path.join(scratch, 'data')
    try:
        server.start()
        params = dict(server.conn_params('postgres'), server_name=server_name, cli_path=launcher, cli_config=config,
                      encryption_key_file=key_file, **s3_repo.params())
        assert api.run_pitr(dict(params, state='enabled'))['restart_required'] is True
        server.stop(remove=False)
        server.start()
        server.psql('postgres', "CREATE TABLE status (id int PRIMARY KEY, note text); INSERT INTO status VALUES (1, 'a')")
        backup = api.run_backup(dict(params, kind='base', checkpoint='fast', archive_wait_timeout=60, database=None))
        assert backup['encrypted'] is True
        targets = record_steps(server, prefix='s3')
        keys = s3_repo.keys()
        assert any('/wal/00000001/' in k and k.endswith('.enc') for k in keys), keys
        res = api.run_pitr(dict(params, state='restored', data_directory=data_dir, port=free_port(),
                                target_xid=targets[2]['xid'], wait_timeout=90))
        try:
            assert res['reached'] is True and res['in_recovery'] is False
            assert status_rows('127.0.0.1', res['port'], server.password) == STEPS[2][1]
        finally:
            pg_ctl_stop(data_dir, server.pg_bin)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize('cloud', ['azure', 'gcs'])
def test_archive_base_backup_and_recovery_in_azure_and_gcs(request, cli, cloud):
    """The S3 case above on Azure Blob Storage (Azurite) and Google Cloud Storage (fake-gcs-server):
    archive_command as postgres (Azure: the key in its --config file; GCS: GOOGLE_APPLICATION_CREDENTIALS),
    base backup, WAL, recovery."""
    emulator = request.getfixturevalue('azurite' if cloud == 'azure' else 'fake_gcs')
    loc = emulator.new_location('pitr-%s-%d' % (cloud, os.getpid()))
    server_name = '%ssrc' % cloud
    env = {}
    conf = {'repository': loc.url, 'server_name': server_name}
    params = loc.params()
    if cloud == 'azure':
        # the account key in the 0600 config file (the usual place for archive_command), not the environment
        conf.update(azure_account_url=emulator.url, azure_account_name=params['azure_account_name'],
                    azure_account_key=emulator.key)
    else:
        key_file = os.path.join(cli.dir, 'gcs-key.json')
        shutil.copy(emulator.key_file, key_file)
        subprocess.run(['chown', 'postgres:postgres', key_file], check=True)
        os.chmod(key_file, 0o600)
        conf.update(gcs_endpoint_url=emulator.url)
        env['GOOGLE_APPLICATION_CREDENTIALS'] = key_file
    config = cli.write_config('%s.conf' % cloud, conf)
    launcher = cli.launcher('dbbackup-%s' % cloud, env=env)
    server = PgServer()
    scratch = scratch_parent()
    data_dir = os.path.join(scratch, 'data')
    try:
        server.start()
        params = dict(server.conn_params('postgres'), server_name=server_name, cli_path=launcher, cli_config=config,
                      **params)
        assert api.run_pitr(dict(params, state='enabled'))['restart_required'] is True
        server.stop(remove=False)
        server.start()
        server.psql('postgres', "CREATE TABLE status (id int PRIMARY KEY, note text); INSERT INTO status VALUES (1, 'a')")
        backup = api.run_backup(dict(params, kind='base', checkpoint='fast', archive_wait_timeout=60, database=None))
        assert backup['location'].startswith(loc.url + '/%s/base/' % server_name)
        targets = record_steps(server, prefix=cloud)
        keys = loc.keys(server_name)
        assert any('/wal/00000001/' in k for k in keys) and any('/base/' in k for k in keys), keys
        assert loc.uncommitted() == []
        status = api.run_pitr(dict(params, state='status'))
        assert status['healthy'] is True, status
        res = api.run_pitr(dict(params, state='restored', data_directory=data_dir, port=free_port(),
                                target_xid=targets[2]['xid'], wait_timeout=90))
        try:
            assert res['reached'] is True and res['in_recovery'] is False
            assert status_rows('127.0.0.1', res['port'], server.password) == STEPS[2][1]
        finally:
            pg_ctl_stop(data_dir, server.pg_bin)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
