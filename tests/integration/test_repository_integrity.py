"""A repository that cannot lie: a bad, moved or linked manifest never passes for a backup.

Two real backups of a small database; the newer one's manifest is then damaged in one
way per case (wrong types, a null sha256, Infinity, nesting 100,000 deep, a backup_id
that is a path). info reports it as invalid, verify of all backups fails naming it while
checking the other, prune leaves it alone, and restore latest restores the good one.
A manifest copied into another backup's directory is refused for that directory; a
backup directory that is a symbolic link out of the repository is never read or pruned.
"""
import json
import os
import shutil

import pytest

from plugins.module_utils import api
from plugins.module_utils.common.errors import BadInput, IntegrityError
from plugins.module_utils.format.backups import backups_path, safe_name
from tests.support import compare
from tests.support.params import engine_params

SERVER = 'integ'


@pytest.fixture(scope='module')
def small(pg_server):
    name = 'integ_src'
    pg_server.create_database(name)
    pg_server.psql(name, 'CREATE TABLE t (v int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50);')
    return name


@pytest.fixture(scope='module')
def two_made(pg_server, small, tmp_path_factory):
    """A repository with two backups of small, made once for the module."""
    repository = str(tmp_path_factory.mktemp('integ') / 'repo')
    params = engine_params(pg_server, small, repository, server_name=SERVER)
    return repository, api.run_backup(params)['backup_id'], api.run_backup(params)['backup_id']


@pytest.fixture
def two(pg_server, small, two_made, tmp_path):
    """(params, older id, newer id, series directory) of a private copy of two_made's repository."""
    repository = str(tmp_path / 'repo')
    shutil.copytree(two_made[0], repository)
    params = engine_params(pg_server, small, repository, server_name=SERVER)
    return params, two_made[1], two_made[2], os.path.join(repository, backups_path(SERVER, 'logical', small))


def _edit(path, change):
    with open(path) as f:
        m = json.load(f)
    text = change(m)
    with open(path, 'w') as f:
        f.write(text if isinstance(text, str) else json.dumps(m))


def _deep(m):
    return json.dumps(m)[:-1] + ', "deep": ' + '[' * 100000 + ']' * 100000 + '}'


def _first(key, value):
    def change(m):
        m['files'][0][key] = value
    return change


BAD = {
    'files_not_a_list': lambda m: m.update(files=5),
    'empty_totals': lambda m: m.update(totals={}),
    'numeric_path': _first('path', 7),
    'null_sha256': _first('sha256', None),
    'infinity': lambda m: json.dumps(m).replace('"raw_bytes": ', '"raw_bytes": Infinity, "x": ', 1),
    'deep_nesting': _deep,
    'path_as_id': lambda m: m.update(backup_id='../../x'),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_a_bad_manifest_is_reported_and_the_others_keep_working(pg_server, small, two, case, unique_db_name):
    params, old, new, series = two
    _edit(os.path.join(series, new, 'manifest.json'), BAD[case])
    info = api.run_info(dict(params, kind='logical'))
    assert [b['backup_id'] for b in info['backups']] == [old]
    assert [(i['backup_id'], 'invalid' in i['problem'] or 'not valid JSON' in i['problem'])
            for i in info['incomplete']] == [(new, True)], info['incomplete']
    with pytest.raises(IntegrityError) as err:
        api.run_verify(dict(params, backup_id='all'))
    assert '1 of 2 backup(s) failed verification' in str(err.value) and new in str(err.value)
    pruned = api.run_prune(dict(params, keep_last=1, grace_period='1s'))
    assert not pruned['deleted'] and os.path.exists(os.path.join(series, new, 'manifest.json'))
    target = unique_db_name('integ_latest')
    restored = api.run_restore(dict(params, target_database=target))
    assert restored['backup_id'] == old
    compare.assert_same_database(pg_server, small, target)
    with pytest.raises(IntegrityError, match='invalid|not valid JSON'):
        api.run_restore(dict(params, target_database=target + '_x', backup_id=new))


def test_a_manifest_copied_into_another_backup_is_refused(two, unique_db_name, db_exists):
    params, old, new, series = two
    shutil.copy(os.path.join(series, old, 'manifest.json'), os.path.join(series, new, 'manifest.json'))
    target = unique_db_name('integ_copied')
    with pytest.raises(IntegrityError, match='describes another backup .*backup_id'):
        api.run_restore(dict(params, target_database=target, backup_id=new))
    assert not db_exists(target)
    info = api.run_info(dict(params, kind='logical'))
    assert [b['backup_id'] for b in info['backups']] == [old]
    assert [i['backup_id'] for i in info['incomplete']] == [new]


def test_prune_never_follows_a_linked_backup_directory(two, tmp_path):
    params, old, new, series = two
    outside = str(tmp_path / 'outside')
    shutil.copytree(os.path.join(series, old), outside)
    linked = '20200101T000000Z'
    os.symlink(outside, os.path.join(series, linked))
    with open(os.path.join(outside, 'manifest.json')) as f:
        m = json.load(f)
    m['backup_id'] = linked
    with open(os.path.join(outside, 'manifest.json'), 'w') as f:
        json.dump(m, f)
    pruned = api.run_prune(dict(params, keep_last=1, grace_period='1s'))
    assert [d['backup_id'] for d in pruned['deleted']] == [old]
    assert sorted(os.listdir(outside)) == sorted(os.listdir(os.path.join(series, new)))
    assert os.path.islink(os.path.join(series, linked))
    problem = [i['problem'] for i in api.run_info(dict(params, kind='logical'))['incomplete']]
    assert len(problem) == 1 and 'symbolic link' in problem[0]


@pytest.mark.parametrize('name', ['srv\n', 'srv\r', 'a/b', '..', ''])
def test_names_are_checked_to_their_true_end(name):
    with pytest.raises(BadInput):
        safe_name(name, 'server_name')


def test_s3_reservation_survives_a_connection_reset_after_it_was_stored(s3_repo):
    """The marker PUT reaches S3, the connection breaks before the answer, botocore retries the
    create-if-absent request and gets 412: the reservation is still ours (no <id>-1, no stray marker)."""
    import datetime
    import urllib3
    from botocore.exceptions import ConnectionClosedError
    from plugins.module_utils.format.backups import reserve_backup_id
    from plugins.module_utils.storage.factory import open_repository
    from plugins.module_utils.storage.s3 import RESERVED_MARKER
    repo = open_repository(s3_repo.params())
    resets = []

    def reset_after_sending(request, **kwargs):
        if request.url.endswith(RESERVED_MARKER) and not resets:
            resets.append(urllib3.PoolManager().request(request.method, request.url, body=request.body,
                                                        headers=dict(request.headers)).status)
            raise ConnectionClosedError(endpoint_url=request.url)
    repo.client.meta.events.register('before-send.s3.PutObject', reset_after_sending)
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    backup_id, path = reserve_backup_id(repo, 'srv/logical/db', start)
    assert resets == [200], 'the fault was not injected'
    assert backup_id == '20260102T030405Z'
    keys = [o['Key'] for o in s3_repo.client.list_objects_v2(Bucket=s3_repo.bucket).get('Contents', [])]
    assert keys == ['%s/srv/logical/db/20260102T030405Z/%s' % (s3_repo.prefix, RESERVED_MARKER)]


def test_info_lists_incomplete_s3_uploads(s3_repo):
    from tests.support.fake_backups import write_backup
    from plugins.module_utils.storage.factory import open_repository
    import datetime
    repo = open_repository(s3_repo.params())
    write_backup(repo, 'upsrv', 'logical', 'app', datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    key = '%s/upsrv/logical/app/20260102T000000Z/data/0001.copy.zst' % s3_repo.prefix
    upload = s3_repo.client.create_multipart_upload(Bucket=s3_repo.bucket, Key=key)['UploadId']
    info = api.run_info(s3_repo.params(server_name='upsrv'))
    assert [(u['server'], u['upload_id'], u['location']) for u in info['incomplete_uploads']] == \
        [('upsrv', upload, 's3://%s/%s' % (s3_repo.bucket, key))]
    assert info['summary']['incomplete_uploads'] == 1 and '1 incomplete upload' in info['msg']
