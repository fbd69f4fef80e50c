"""Engine round trip against a real server: what is restored is what was backed up.

Backs up the rich fixture with run_backup and restores it with run_restore into
new databases; the restored database must be identical by every comparison in
tests/support/compare.py, and the result dicts must carry values an operator
can trust (they are what AWX job output shows).
"""
import glob
import os
import re

import pytest

from tests.support.params import engine_params

from plugins.module_utils import api
from plugins.module_utils.common import errors
from tests.support import compare

BACKUP_ID = re.compile(r'^\d{8}T\d{6}Z(\S+)?$')


def _backup_dir(repo, server, database, backup_id):
    return os.path.join(repo, '%s_%d' % (server.host, server.port), 'logical', database, backup_id)


def _files_under(path):
    out = []
    for root, dummy, files in os.walk(path):
        out.extend(os.path.join(root, f) for f in files)
    return out


@pytest.fixture(scope='module')
def rich_snapshot(pg_server, rich_db):
    """Snapshot of the source once per module (the rich database is read-only)."""
    return compare.snapshot(pg_server, rich_db)


@pytest.fixture(scope='module')
def zstd_backup(pg_server, rich_db, tmp_path_factory):
    """One zstd backup of the rich fixture with two jobs: (repo, result)."""
    repo = str(tmp_path_factory.mktemp('zstd_repo'))
    result = api.run_backup(engine_params(pg_server, rich_db, repo, jobs=2))
    return repo, result


@pytest.fixture(scope='module')
def zstd_restore(pg_server, rich_db, zstd_backup):
    """The zstd backup restored into 'rich_restored': (target, result)."""
    repo = zstd_backup[0]
    target = 'rich_restored'
    result = api.run_restore(engine_params(pg_server, rich_db, repo, jobs=2, target_database=target))
    return target, result


def test_backup_result_is_sane(pg_server, rich_db, zstd_backup, rich_snapshot):
    repo, result = zstd_backup
    assert result['changed'] is True
    assert BACKUP_ID.match(result['backup_id']), result['backup_id']
    assert result['database'] == rich_db
    assert result['tables'] > 0
    source_rows = sum(count for count, dummy in rich_snapshot['tables'].values())
    assert result['rows'] == source_rows
    assert result['size_bytes'] > 0
    assert result['raw_bytes'] > 0
    assert result['duration_seconds'] >= 0
    assert result['server_version']
    assert result['msg']

    bdir = _backup_dir(repo, pg_server, rich_db, result['backup_id'])
    assert os.path.isfile(os.path.join(bdir, 'manifest.json')), sorted(_files_under(repo))
    assert os.path.isfile(os.path.join(bdir, 'pre-data.sql.zst'))
    assert os.path.isfile(os.path.join(bdir, 'post-data.sql.zst'))
    assert glob.glob(os.path.join(bdir, 'data', '*.copy.zst'))
    # size_bytes counts stored bytes: the data files, with or without the manifest.
    all_bytes = sum(os.path.getsize(f) for f in _files_under(bdir))
    manifest_bytes = os.path.getsize(os.path.join(bdir, 'manifest.json'))
    assert result['size_bytes'] in (all_bytes, all_bytes - manifest_bytes), (
        result['size_bytes'], all_bytes, manifest_bytes)


def test_backup_files_are_private(pg_server, rich_db, zstd_backup):
    repo, result = zstd_backup
    bdir = _backup_dir(repo, pg_server, rich_db, result['backup_id'])
    for f in _files_under(bdir):
        assert os.stat(f).st_mode & 0o077 == 0, '%s is readable by others' % f


def test_restore_result_is_sane(rich_db, zstd_backup, zstd_restore, rich_snapshot):
    backup = zstd_backup[1]
    target, result = zstd_restore
    assert result['changed'] is True
    assert result['backup_id'] == backup['backup_id']
    assert result['target_database'] == target
    assert result['database'] == rich_db
    assert result['rows'] == sum(count for count, dummy in rich_snapshot['tables'].values())
    assert result['tables'] == backup['tables']
    assert result['msg']


def test_restored_database_is_identical(pg_server, rich_db, zstd_restore, rich_snapshot):
    target = zstd_restore[0]
    compare.assert_same_database(pg_server, rich_db, target, src_snapshot=rich_snapshot)


def test_restored_database_properties(pg_server, rich_db, zstd_restore):
    """Comment, owner, ACL, encoding of the database itself come back too."""
    target = zstd_restore[0]
    assert compare.database_properties(pg_server, target) == \
        compare.database_properties(pg_server, rich_db)


def test_restoring_the_same_backup_again_changes_nothing(pg_server, rich_db, zstd_backup,
                                                         zstd_restore, rich_snapshot):
    repo, backup = zstd_backup
    target = zstd_restore[0]
    again = api.run_restore(engine_params(pg_server, rich_db, repo, target_database=target))
    assert again['changed'] is False
    assert again['backup_id'] == backup['backup_id']
    compare.assert_same_database(pg_server, rich_db, target, src_snapshot=rich_snapshot)


@pytest.mark.parametrize('compression', ['gzip', 'none'])
def test_roundtrip_other_compression(pg_server, rich_db, repository, rich_snapshot, compression):
    result = api.run_backup(engine_params(pg_server, rich_db, repository, compression=compression))
    assert result['changed'] is True
    bdir = _backup_dir(repository, pg_server, rich_db, result['backup_id'])
    assert os.path.isfile(os.path.join(bdir, 'manifest.json'))
    target = 'rich_%s' % compression
    restored = api.run_restore(engine_params(pg_server, rich_db, repository, target_database=target))
    assert restored['changed'] is True
    assert restored['backup_id'] == result['backup_id']
    compare.assert_same_database(pg_server, rich_db, target, src_snapshot=rich_snapshot)


def test_if_exists_fail_leaves_target_untouched(pg_server, rich_db, zstd_backup, unique_db_name):
    repo = zstd_backup[0]
    target = unique_db_name('occupied')
    pg_server.create_database(target)
    pg_server.psql(target, "CREATE TABLE keep_me(v text); INSERT INTO keep_me VALUES ('precious')")
    with pytest.raises(errors.TargetExists) as info:
        api.run_restore(engine_params(pg_server, rich_db, repo, target_database=target, if_exists='fail'))
    msg = str(info.value)
    assert target in msg
    assert 'replace' in msg or 'target_database' in msg, msg
    assert pg_server.scalar(target, 'SELECT v FROM keep_me') == 'precious'


def test_if_exists_replace_replaces_target(pg_server, rich_db, zstd_backup, rich_snapshot,
                                           unique_db_name):
    repo, backup = zstd_backup
    target = unique_db_name('replaced')
    pg_server.create_database(target)
    pg_server.psql(target, 'CREATE TABLE old_stuff(v int)')
    result = api.run_restore(engine_params(pg_server, rich_db, repo, target_database=target,
                                           if_exists='replace'))
    assert result['changed'] is True
    assert result['backup_id'] == backup['backup_id']
    compare.assert_same_database(pg_server, rich_db, target, src_snapshot=rich_snapshot)


def test_max_age_reuses_a_fresh_backup(pg_server, rich_db, repository):
    first = api.run_backup(engine_params(pg_server, rich_db, repository))
    assert first['changed'] is True
    second = api.run_backup(engine_params(pg_server, rich_db, repository, max_age='1h'))
    assert second['changed'] is False
    assert second['backup_id'] == first['backup_id']
    assert second['rows'] == first['rows']
    assert second['size_bytes'] == first['size_bytes']
    third = api.run_backup(engine_params(pg_server, rich_db, repository, max_age=3600))
    assert third['changed'] is False
    assert third['backup_id'] == first['backup_id']
    backups = os.listdir(os.path.join(repository, '%s_%d' % (pg_server.host, pg_server.port),
                                      'logical', rich_db))
    assert backups == [first['backup_id']]


def test_check_mode_backup_writes_nothing(pg_server, rich_db, repository):
    result = api.run_backup(engine_params(pg_server, rich_db, repository), check_mode=True)
    assert result['changed'] is True
    assert os.listdir(repository) == []
