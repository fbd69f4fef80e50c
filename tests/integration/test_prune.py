"""dbbackup_info and dbbackup_prune against real repositories (local and S3 on moto's server).

90 simulated days of backups of two databases (tests/support/retention_tables.py, expected
kept sets derived by hand there) are written through the engine's writers with faked start
times, pruned with a different policy per database, and listed again. Also: check mode
deletes nothing and lists the same; real PostgreSQL backups pruned with keep_last;
leftovers of interrupted backups, S3 multipart uploads and hidden temporary files of killed
writers in the WAL/binlog archives against the grace period; WAL
pruning on an archive with three timelines; MySQL binlog pruning; info (latest, filters,
verification state, PITR coverage); the CLI; and both modules through ansible-playbook.
"""
import concurrent.futures
import datetime
import json
import os
import subprocess
import sys
import time

import pytest

from devtools.drill import run_playbook
from plugins.module_utils import api
from plugins.module_utils.format.backups import backups_path, kind_path, list_backups
from plugins.module_utils.common.times import utcnow
from plugins.module_utils.common.errors import BadInput
from plugins.module_utils.storage.factory import open_repository
from plugins.module_utils.operations.verify import record, verify_backup
from tests.support import retention_tables as T
from tests.support.fake_backups import write_backup, write_binlog, write_wal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(ROOT, 'tests', 'integration', 'playbooks')
SERVER = 'db1'


def _populate(repo):
    jobs = [('app', t, True) for t in T.app_times()] + [('crm', t, True) for t in T.crm_times()]
    jobs += [('crm', t, False) for t in T.crm_incomplete_times()]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:     # S3: a few requests per backup
        list(pool.map(lambda job: write_backup(repo, SERVER, 'logical', job[0], job[1], complete=job[2]), jobs))


def _ids(repo, db):
    return [b for b, m in list_backups(repo, backups_path(SERVER, 'logical', db))]


def _prune(params, check_mode=False, **options):
    p = dict(params, server_name=SERVER, now=T.NOW)
    p.update(options)
    return api.run_prune(p, check_mode=check_mode)


def _ninety_days(params):
    repo = open_repository(params)
    _populate(repo)
    app_before, crm_before = _ids(repo, 'app'), _ids(repo, 'crm')
    assert len(app_before) == 100 and len(crm_before) == 40
    plans = {}
    for db, policy in (('app', T.APP_POLICY), ('crm', T.CRM_POLICY)):
        plans[db] = _prune(params, True, database=db, **policy)
        assert plans[db]['changed'] is True and plans[db]['check_mode'] is True
    # check mode deleted nothing
    assert _ids(repo, 'app') == app_before and _ids(repo, 'crm') == crm_before
    assert repo.exists(backups_path(SERVER, 'logical', 'crm') + '/' + T.CRM_INCOMPLETE_OLD)
    for db, policy in (('app', T.APP_POLICY), ('crm', T.CRM_POLICY)):
        done = _prune(params, False, database=db, **policy)
        assert done['deleted'] == plans[db]['deleted'] and done['kept'] == plans[db]['kept']
    assert _ids(repo, 'app') == T.APP_KEPT
    assert _ids(repo, 'crm') == T.CRM_KEPT_COMPLETE
    crm = backups_path(SERVER, 'logical', 'crm')
    assert not repo.exists(crm + '/' + T.CRM_INCOMPLETE_OLD)          # leftover older than the grace period
    assert repo.exists(crm + '/' + T.CRM_INCOMPLETE_YOUNG)            # may still be running
    deleted_crm = plans['crm']['deleted']
    assert len(deleted_crm) == 40 - 6 + 1
    assert [d['backup_id'] for d in deleted_crm] == sorted(d['backup_id'] for d in deleted_crm)   # oldest first
    assert [d for d in deleted_crm if not d['complete']][0]['backup_id'] == T.CRM_INCOMPLETE_OLD
    kept = dict((d['backup_id'], d['reason']) for d in plans['app']['kept'])
    assert kept['20260315T140000Z'] == 'weekly 2026-W11'
    again = _prune(params, False, database='app', **T.APP_POLICY)      # idempotent
    assert again['changed'] is False and again['deleted'] == []
    return repo


def test_ninety_days_two_databases_local(repository):
    repo = _ninety_days({'repository': repository})
    for dirpath, dirs, files in os.walk(os.path.join(repository, SERVER, 'logical')):
        for d in dirs:      # every remaining backup directory is a listed backup or the young leftover
            if d[:1].isdigit() and len(d) >= 16:
                assert d in T.APP_KEPT + T.CRM_KEPT_COMPLETE + [T.CRM_INCOMPLETE_YOUNG], d
    assert repo.exists('%s/logical/app' % SERVER)


def test_ninety_days_two_databases_s3(s3_repo):
    _ninety_days(s3_repo.params())
    keys = s3_repo.keys(SERVER)
    ids = set(k.split('/')[4] for k in keys)
    assert ids == set(T.APP_KEPT + T.CRM_KEPT_COMPLETE + [T.CRM_INCOMPLETE_YOUNG])


def test_all_databases_each_separately(repository):
    """Without database every database is pruned, each by itself: keep_last 2 keeps 2 of each."""
    repo = open_repository({'repository': repository})
    now = utcnow()
    for db in ('a', 'b', 'c'):
        for n in range(4 if db != 'c' else 1):
            write_backup(repo, SERVER, 'logical', db, now - datetime.timedelta(days=n, hours=1))
    res = api.run_prune({'repository': repository, 'server_name': SERVER, 'keep_last': 2})
    assert sorted((d['database'], len(_ids(repo, d['database']))) for d in res['kept']) == \
        [('a', 2), ('a', 2), ('b', 2), ('b', 2), ('c', 1)]
    assert len(res['deleted']) == 4 and res['summary']['deleted'] == 4


def test_interrupted_deletion_never_lists_a_damaged_backup(repository, monkeypatch):
    """The manifest goes first: a prune that dies after it leaves an incomplete dir, not a listed backup."""
    repo = open_repository({'repository': repository})
    now = utcnow()
    ids = [write_backup(repo, SERVER, 'logical', 'app', now - datetime.timedelta(days=n)) for n in (3, 2, 1)]
    from plugins.module_utils.storage.local import LocalRepository

    def boom(self, relpath):
        raise RuntimeError('killed')
    monkeypatch.setattr(LocalRepository, 'delete_tree', boom)
    with pytest.raises(RuntimeError):
        api.run_prune({'repository': repository, 'server_name': SERVER, 'keep_last': 1})
    monkeypatch.undo()
    assert _ids(repo, 'app') == ids[1:]                 # the oldest is no longer listed
    assert repo.exists(backups_path(SERVER, 'logical', 'app') + '/' + ids[0] + '/data/0001.copy.zst')
    res = api.run_prune({'repository': repository, 'server_name': SERVER, 'keep_last': 1, 'grace_period': '1h'})
    assert [(d['backup_id'], d['complete']) for d in res['deleted']] == [(ids[0], False), (ids[1], True)]
    assert os.listdir(os.path.join(repository, SERVER, 'logical', 'app')) == [ids[2]]


def test_real_postgres_backups_keep_last(pg_server, engine_params, repository, unique_db_name):
    db = unique_db_name('prune')
    pg_server.create_database(db)
    pg_server.psql(db, 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);')
    made = [api.run_backup(engine_params(db, repository, jobs=1))['backup_id'] for n in range(3)]
    params = engine_params(db, repository, keep_last=2)
    plan = api.run_prune(params, check_mode=True)
    assert [d['backup_id'] for d in plan['deleted']] == made[:1]
    res = api.run_prune(params)
    assert res['deleted'] == plan['deleted']
    info = api.run_info(engine_params(db, repository))
    assert [b['backup_id'] for b in info['backups']] == made[1:]
    assert info['backups'][0]['rows'] == 100 and info['backups'][0]['verification'] == 'never'
    restored = unique_db_name('prune_restored')
    api.run_restore(engine_params(db, repository, target_database=restored))
    assert pg_server.scalar(restored, 'SELECT count(*) FROM t') == 100


def test_incomplete_s3_uploads_against_grace(s3_repo):
    params = s3_repo.params()
    repo = open_repository(params)
    write_backup(repo, SERVER, 'logical', 'app', utcnow() - datetime.timedelta(hours=1))
    key = '%s/%s/logical/app/20990101T000000Z/data/0001.copy.zst' % (s3_repo.prefix, SERVER)
    other = '%s/other/logical/app/20990101T000000Z/data/0001.copy.zst' % s3_repo.prefix
    upload = s3_repo.client.create_multipart_upload(Bucket=s3_repo.bucket, Key=key)['UploadId']
    s3_repo.client.create_multipart_upload(Bucket=s3_repo.bucket, Key=other)    # another server: untouched
    # moto reports a fixed Initiated time: measure the age from it
    initiated = [u['Initiated'] for u in s3_repo.client.list_multipart_uploads(Bucket=s3_repo.bucket)['Uploads']
                 if u['UploadId'] == upload][0]
    options = dict(params, server_name=SERVER, keep_last=1, grace_period='2h',
                   now=initiated + datetime.timedelta(hours=1))
    plan = api.run_prune(options, check_mode=True)
    assert plan['uploads_aborted'] == [] and plan['changed'] is False        # younger than the grace period
    options['now'] = initiated + datetime.timedelta(hours=3)
    plan = api.run_prune(options, check_mode=True)
    assert [u['upload_id'] for u in plan['uploads_aborted']] == [upload] and plan['changed'] is True
    assert plan['uploads_aborted'][0]['location'] == 's3://%s/%s' % (s3_repo.bucket, key)
    assert len(s3_repo.multipart_uploads()) == 2
    res = api.run_prune(options)
    assert res['uploads_aborted'] == plan['uploads_aborted']
    assert s3_repo.multipart_uploads() == [other]


# --- base backups and the WAL archive ---------------------------------------------------

def _wal(tli, seg):
    return '%08X%08X%08X' % (tli, 0, seg)


def _base_archive(repo):
    """Base backups on timelines 1, 2, 3 and WAL segments 1..0x12, history files 2 and 3.

    Timeline 2 begins in segment 8 (parent 1), timeline 3 in segment 0x0C (parent 2).
    """
    now = utcnow()
    starts = [(1, 2), (1, 5), (2, 9), (3, 0x0E)]
    ids = []
    for n, (tli, seg) in enumerate(starts):
        ids.append(write_backup(repo, SERVER, 'base', None, now - datetime.timedelta(days=10 - n), timeline=tli,
                                start_lsn='0/%X' % (seg << 24 | 0x28), stop_lsn='0/%X' % (seg << 24 | 0x100),
                                start_wal_file=_wal(tli, seg), stop_wal_file=_wal(tli, seg),
                                wal_segment_size=16 << 20, system_identifier='7000000000000000001'))
    for seg in range(1, 0x0A):
        write_wal(repo, SERVER, _wal(1, seg))          # timeline 1 goes on past the switch (archived late)
    for seg in range(8, 0x0D):
        write_wal(repo, SERVER, _wal(2, seg))
    for seg in range(0x0C, 0x13):
        write_wal(repo, SERVER, _wal(3, seg))
    write_wal(repo, SERVER, _wal(4, 0x03))              # a newer timeline (from an old PITR): never pruned
    write_wal(repo, SERVER, '00000002.history', b'1\t0/8000000\tno recovery target specified\n')
    write_wal(repo, SERVER, '00000003.history', b'1\t0/8000000\tno recovery target specified\n'
                                                b'2\t0/C000000\tno recovery target specified\n')
    write_wal(repo, SERVER, '00000004.history', b'1\t0/3000000\tno recovery target specified\n')
    repo.write_bytes('%s/wal/%s/%s.00000028.backup' % (SERVER, '00000001', _wal(1, 2)), b'backup history')
    return ids


def _listing(repository):
    root = os.path.join(repository, SERVER, 'wal')
    return sorted(os.path.join(t, f) for t in os.listdir(root) if os.path.isdir(os.path.join(root, t))
                  for f in os.listdir(os.path.join(root, t)))


def test_wal_pruning_follows_the_oldest_kept_base_backup(repository):
    repo = open_repository({'repository': repository})
    ids = _base_archive(repo)
    before = _listing(repository)
    params = {'repository': repository, 'server_name': SERVER, 'kind': 'base', 'keep_last': 2}
    plan = api.run_prune(params, check_mode=True)
    assert _listing(repository) == before
    # kept: (2, seg 9) and (3, seg 0x0E); cut at position 9 on timelines <= 3
    expected = sorted([_wal(1, s) + '.zst' for s in range(1, 9)] + [_wal(2, 8) + '.zst'] +
                      [_wal(1, 2) + '.00000028.backup'])
    assert sorted(plan['wal_deleted']) == expected
    assert [d['backup_id'] for d in plan['deleted']] == ids[:2]
    res = api.run_prune(params)
    assert res['wal_deleted'] == plan['wal_deleted'] and res['deleted'] == plan['deleted']
    after = _listing(repository)
    assert sorted(set(before) - set(after)) == sorted(os.path.join(n[:8], n) for n in expected)
    for keep in ('00000002/00000002.history', '00000003/00000003.history', '00000004/00000004.history',
                 '00000004/%s.zst' % _wal(4, 3), '00000001/%s.zst' % _wal(1, 9)):
        assert keep in after
    assert [b for b, m in list_backups(repo, kind_path(SERVER, 'base'))] == ids[2:]


def test_wal_kept_when_there_is_no_base_backup(repository):
    repo = open_repository({'repository': repository})
    for seg in range(1, 4):
        write_wal(repo, SERVER, _wal(1, seg))
    res = api.run_prune({'repository': repository, 'server_name': SERVER, 'kind': 'base', 'keep_last': 1})
    assert res['wal_deleted'] == [] and 'all WAL kept' in res['wal_note'] and res['changed'] is False
    assert len(_listing(repository)) == 3


def test_temporary_files_of_killed_writers_against_grace(repository):
    """A wal-push killed between writing and publishing leaves a hidden temporary file: pruned after the grace."""
    repo = open_repository({'repository': repository})
    for seg in range(1, 4):
        write_wal(repo, SERVER, _wal(1, seg))
    write_binlog(repo, SERVER, 'mysql-bin.000001')
    wal = os.path.join(repository, SERVER, 'wal')
    old = time.time() - 3 * 3600
    leftovers = {
        os.path.join(wal, '00000001', '.%s.zst.push-0123456789ab' % _wal(1, 4)): old,    # older versions' name
        os.path.join(wal, '00000001', '.%s.zst.tmp-a1b2c3d4e5f6' % _wal(1, 5)): old,
        os.path.join(wal, '.wal-key.json.tmp-00112233aabb'): old,
        os.path.join(repository, SERVER, 'binlog', '.mysql-bin.000002.zst.tmp-ffeeddccbbaa'): old,
        os.path.join(wal, '00000001', '.%s.zst.tmp-0f0f0f0f0f0f' % _wal(1, 6)): time.time(),   # running now
    }
    for path, mtime in leftovers.items():
        with open(path, 'wb') as f:
            f.write(b'partial')
        os.utime(path, (mtime, mtime))
    keep = os.path.join(wal, '00000001', '.not-ours')         # hidden, but not our temporary name
    with open(keep, 'wb') as f:
        f.write(b'x')
    os.utime(keep, (old, old))
    before = _listing(repository)
    params = {'repository': repository, 'server_name': SERVER, 'kind': 'base', 'keep_last': 1, 'grace_period': '2h'}
    plan = api.run_prune(params, check_mode=True)
    expected = sorted(p for p, m in leftovers.items() if m == old and '/wal/' in p)
    assert sorted(t['location'] for t in plan['temp_files_deleted']) == expected
    assert plan['changed'] is True and plan['summary']['temp_files_deleted'] == 3
    assert 'temporary file(s) of interrupted writes would be deleted' in plan['msg']
    assert all(os.path.exists(p) for p in leftovers) and _listing(repository) == before
    assert api.run_prune(dict(params, prune_incomplete=False), check_mode=True)['temp_files_deleted'] == []
    res = api.run_prune(params)
    assert res['temp_files_deleted'] == plan['temp_files_deleted'] and res['wal_deleted'] == []
    assert [p for p in leftovers if os.path.exists(p)] == sorted(
        p for p, m in leftovers.items() if m != old or '/binlog/' in p)
    assert os.path.exists(keep)
    assert sorted(os.listdir(os.path.join(wal, '00000001'))) == sorted(
        ['.not-ours', '.%s.zst.tmp-0f0f0f0f0f0f' % _wal(1, 6)] + [_wal(1, s) + '.zst' for s in range(1, 4)])
    # kind=logical: the binlog archive's leftovers
    res = api.run_prune(dict(params, kind='logical'))
    assert [t['location'] for t in res['temp_files_deleted']] == [
        p for p in leftovers if '/binlog/' in p]
    binlog_dir = sorted(os.listdir(os.path.join(repository, SERVER, 'binlog')))
    assert binlog_dir == ['mysql-bin.000001.json', 'mysql-bin.000001.zst']


def test_info_reports_pitr_coverage(repository):
    repo = open_repository({'repository': repository})
    ids = _base_archive(repo)
    info = api.run_info({'repository': repository, 'kind': 'base'})
    by_id = dict((b['backup_id'], b) for b in info['backups'])
    assert set(by_id) == set(ids)
    newest = by_id[ids[3]]
    assert newest['timeline'] == 3 and newest['start_wal_file'] == _wal(3, 0x0E)
    assert newest['wal_continuous'] is True and newest['pitr_ready'] is True, newest
    assert newest['wal_last'] == _wal(3, 0x12)
    # a hole in timeline 3 after segment 0x0F: the backup still reaches its stop, the chain has a gap
    os.unlink(os.path.join(repository, SERVER, 'wal', '00000003', _wal(3, 0x10) + '.zst'))
    newest = api.run_info({'repository': repository, 'kind': 'base', 'backup_id': 'latest'})['backups']
    assert len(newest) == 1
    assert newest[0]['wal_continuous'] is False and newest[0]['wal_gaps'] == 1 and newest[0]['pitr_ready'] is False
    assert _wal(3, 0x10) in newest[0]['wal_first_gap']


# --- MySQL binlogs ------------------------------------------------------------------------

def test_binlogs_before_the_oldest_kept_mysql_backup(repository):
    repo = open_repository({'repository': repository})
    now = utcnow()
    for n in range(1, 8):
        write_binlog(repo, SERVER, 'mysql-bin.%06d' % n)
    for db, files in (('shop', (2, 4, 6)), ('blog', (3, 5))):
        for k, f in enumerate(files):
            write_backup(repo, SERVER, 'logical', db, now - datetime.timedelta(days=len(files) - k), db_type='mysql',
                         consistent_position={'binlog_file': 'mysql-bin.%06d' % f, 'binlog_position': 4})
    params = {'repository': repository, 'server_name': SERVER, 'db_type': 'mysql', 'keep_last': 1}
    # only shop pruned: blog still keeps backups from binlog 3 on
    res = api.run_prune(dict(params, database='shop'))
    assert res['binlog_deleted'] == ['mysql-bin.000001.zst', 'mysql-bin.000002.zst']
    res = api.run_prune(params)          # every database: oldest kept is blog's (binlog 5), shop's is 6
    assert res['binlog_deleted'] == ['mysql-bin.000003.zst', 'mysql-bin.000004.zst']
    assert sorted(os.listdir(os.path.join(repository, SERVER, 'binlog'))) == sorted(
        'mysql-bin.%06d.%s' % (n, ext) for n in (5, 6, 7) for ext in ('json', 'zst'))
    res = api.run_prune(dict(params, prune_wal=False))
    assert res['binlog_deleted'] == [] and res['changed'] is False


# --- info ----------------------------------------------------------------------------------

def test_info_filters_latest_and_verification(repository):
    repo = open_repository({'repository': repository})
    now = utcnow()
    for n in range(3):
        write_backup(repo, SERVER, 'logical', 'app', now - datetime.timedelta(days=3 - n))
        write_backup(repo, 'db2', 'logical', 'crm', now - datetime.timedelta(days=3 - n, hours=1))
    cluster = write_backup(repo, SERVER, 'cluster', None, now - datetime.timedelta(hours=5),
                           databases=['app', 'other'])
    write_backup(repo, SERVER, 'logical', 'app', now - datetime.timedelta(minutes=1), complete=False)
    latest_app = _ids(repo, 'app')[-1]
    path = backups_path(SERVER, 'logical', 'app') + '/' + latest_app
    from plugins.module_utils.format.manifest import read_manifest
    record(repo, path, verify_backup(repo, path, read_manifest(repo, path), 'quick'))
    everything = api.run_info({'repository': repository})
    assert everything['summary']['backups'] == 7 and everything['summary']['servers'] == 2
    assert everything['summary']['incomplete'] == 1 and everything['summary']['never_verified'] == 6
    assert everything['changed'] is False
    latest = api.run_info({'repository': repository, 'backup_id': 'latest'})['backups']
    assert sorted((b['server'], b['kind'], b['database']) for b in latest) == [
        ('db1', 'cluster', None), ('db1', 'logical', 'app'), ('db2', 'logical', 'crm')]
    app = [b for b in latest if b['database'] == 'app'][0]
    assert app['backup_id'] == latest_app and app['verification'] == 'ok' and app['verify_mode'] == 'quick'
    assert all(not isinstance(v, (dict, list)) for k, v in app.items())          # flat for job views
    one = api.run_info({'repository': repository, 'server_name': SERVER, 'database': 'app'})
    assert [(b['kind'], b['database']) for b in one['backups']] == [('logical', 'app')] * 3 + [('cluster', None)]
    assert one['backups'][-1]['backup_id'] == cluster and one['backups'][-1]['databases'] == ['app', 'other']
    assert api.run_info({'repository': repository, 'server_name': SERVER, 'database': 'nope'})['backups'] == []
    with pytest.raises(Exception) as e:
        api.run_info({'repository': repository, 'backup_id': '20000101T000000Z'})
    assert 'not found' in str(e.value)
    with pytest.raises(BadInput):
        api.run_info({'repository': repository, 'kind': 'physical'})


def test_bad_prune_options(repository):
    base = {'repository': repository, 'server_name': SERVER}
    for options, words in (({}, 'keeps nothing'), ({'keep_last': 1, 'kind': 'base', 'database': 'x'},
                                                   'database applies to kind=logical'),
                           ({'keep_last': 1, 'kind': 'wal'}, 'kind must be'),
                           ({'keep_last': 1, 'database': '../x'}, 'cannot be used')):
        with pytest.raises(BadInput) as e:
            api.run_prune(dict(base, **options))
        assert words in str(e.value)


# --- CLI and modules ----------------------------------------------------------------------

def _cli(args):
    env = dict(os.environ, DBBACKUP_PYTHON=sys.executable)
    return subprocess.run([os.path.join(ROOT, 'scripts', 'dbbackup')] + args, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False)


def _recent(repo, count=4):
    now = utcnow()
    return [write_backup(repo, SERVER, 'logical', 'app', now - datetime.timedelta(days=count - n))
            for n in range(count)]


def test_cli_info_and_prune(repository):
    ids = _recent(open_repository({'repository': repository}))
    proc = _cli(['info', '--repository', repository, '--backup-id', 'latest'])
    assert proc.returncode == 0, proc.stderr
    assert [b['backup_id'] for b in json.loads(proc.stdout)['backups']] == ids[-1:]
    proc = _cli(['prune', '--repository', repository, '--server-name', SERVER, '--keep-last', '2', '--check'])
    assert proc.returncode == 0, proc.stderr
    assert [d['backup_id'] for d in json.loads(proc.stdout)['deleted']] == ids[:2]
    proc = _cli(['prune', '--repository', repository, '--server-name', SERVER])
    assert proc.returncode == 1 and 'keeps nothing' in proc.stderr
    assert len(os.listdir(os.path.join(repository, SERVER, 'logical', 'app'))) == 4


def test_modules_info_latest_and_prune_check_mode(repository, tmp_path):
    ids = _recent(open_repository({'repository': repository}))
    results = str(tmp_path / 'results.json')
    proc = run_playbook(os.path.join(PLAYBOOKS, 'info.yml'),
                        dict(repository=repository, server_name=SERVER, results_file=results), str(tmp_path),
                        capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:]
    with open(results) as f:
        res = json.load(f)
    info, plan, refused = res['info'], res['plan'], res['refused']
    assert info['changed'] is False and [b['backup_id'] for b in info['backups']] == ids[-1:]
    assert info['summary']['backups'] == 1
    assert plan['changed'] is True and [d['backup_id'] for d in plan['deleted']] == ids[:3]
    assert [d['backup_id'] for d in plan['kept']] == ids[3:]
    assert len(os.listdir(os.path.join(repository, SERVER, 'logical', 'app'))) == 4     # check mode
    assert refused['failed'] is True and 'one of the following is required' in refused['msg']


# --- real base backups, WAL archived by wal-push, and cluster backups -----------------------

@pytest.fixture(scope='module')
def wal_server():
    """PostgreSQL archiving its WAL into a local repository through the CLI's wal-push."""
    from devtools.pg_temp import PgServer
    from plugins.module_utils.postgres.physical import wal_archive
    from tests.support.pitr_cli import PostgresCli
    import pwd
    import shutil
    import tempfile
    holder = tempfile.mkdtemp(prefix='dbbackup-prune-')
    os.chmod(holder, 0o755)
    pw = pwd.getpwnam('postgres')
    repo = os.path.join(holder, 'repo')
    os.mkdir(repo, 0o700)
    os.chown(repo, pw.pw_uid, pw.pw_gid)
    conf = os.path.join(holder, 'wal.json')
    with open(conf, 'w') as f:
        json.dump({'repository': repo, 'server_name': 'walsrv'}, f)
    os.chown(conf, pw.pw_uid, pw.pw_gid)
    os.chmod(conf, 0o600)
    cli = PostgresCli().make()
    server = PgServer(extra_conf={'archive_mode': 'on', 'wal_level': 'replica', 'archive_command':
                                  wal_archive.conf_quote(wal_archive.archive_command(cli.launcher('dbb'), conf))})
    server.start()
    yield server, repo
    server.stop()
    cli.cleanup()
    shutil.rmtree(holder, ignore_errors=True)


def _switch_and_wait(server, timeout=60):
    name = server.scalar('postgres', 'SELECT pg_walfile_name(pg_switch_wal())')
    deadline = time.time() + timeout
    while (server.scalar('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver') or '') < name:
        assert time.time() < deadline, '%s was not archived' % name
        time.sleep(0.2)
    return name


def test_real_base_backups_and_wal(wal_server):
    server, repository = wal_server
    params = dict(server.conn_params('postgres'), repository=repository, server_name='walsrv', kind='base',
                  checkpoint='fast')
    server.psql('postgres', 'CREATE TABLE w (i int); INSERT INTO w SELECT generate_series(1, 1000);')
    _switch_and_wait(server)
    first = api.run_backup(params)
    _switch_and_wait(server)
    second = api.run_backup(params)
    server.psql('postgres', 'INSERT INTO w SELECT generate_series(1, 1000);')
    _switch_and_wait(server)
    info = api.run_info({'repository': repository, 'server_name': 'walsrv', 'kind': 'base'})
    assert [b['backup_id'] for b in info['backups']] == [first['backup_id'], second['backup_id']]
    for b in info['backups']:
        assert b['pitr_ready'] is True and b['wal_continuous'] is True, b
    repo = open_repository({'repository': repository})
    archived = sorted(n for n in repo.list_dir('walsrv/wal/00000001') if not n.startswith('.'))
    older = [n for n in archived if n[:24] < second['start_wal_file']]
    assert older, archived
    prune = {'repository': repository, 'server_name': 'walsrv', 'kind': 'base', 'keep_last': 1}
    plan = api.run_prune(prune, check_mode=True)
    assert [d['backup_id'] for d in plan['deleted']] == [first['backup_id']]
    assert sorted(plan['wal_deleted']) == older
    res = api.run_prune(prune)
    assert res['wal_deleted'] == plan['wal_deleted']
    left = sorted(n for n in repo.list_dir('walsrv/wal/00000001') if not n.startswith('.'))
    assert left == [n for n in archived if n not in older] and left[0][:24] == second['start_wal_file']
    after = api.run_info({'repository': repository, 'server_name': 'walsrv', 'kind': 'base'})['backups']
    assert [b['backup_id'] for b in after] == [second['backup_id']] and after[0]['pitr_ready'] is True


def test_real_cluster_backups(pg_server, engine_params, repository, unique_db_name):
    db = unique_db_name('prune_cluster')
    pg_server.create_database(db)
    params = engine_params(db, repository, kind='cluster', databases=db, server_name='clu')
    params['database'] = None          # kind=cluster chooses with databases
    made = [api.run_backup(params)['backup_id'] for n in range(2)]
    info = api.run_info({'repository': repository, 'server_name': 'clu', 'database': db})
    assert [(b['kind'], b['backup_id'], b['databases']) for b in info['backups']] == \
        [('cluster', made[0], [db]), ('cluster', made[1], [db])]
    res = api.run_prune({'repository': repository, 'server_name': 'clu', 'kind': 'cluster', 'keep_last': 1})
    assert [d['backup_id'] for d in res['deleted']] == made[:1]
    assert [b for b, m in list_backups(open_repository({'repository': repository}),
                                       kind_path('clu', 'cluster'))] == made[1:]
