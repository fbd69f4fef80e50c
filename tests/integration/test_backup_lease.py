"""A running backup is visibly alive and never pruned; a backup never commits missing files.

The backup is held right before its first data file (its schema files are already
stored) by wrapping the dump's store_file: the test decides when it goes on. While it
waits, dbbackup_prune with a grace period of one second runs against it (it used to
delete the directory, and the backup then committed a manifest listing files that were
gone), and dbbackup_info shows it running. A lease that is not renewed any more (an
interrupted backup) lets prune remove the directory. When the files vanish anyway, the
backup fails instead of writing its manifest: on a local repository and on S3.
"""
import os
import threading
import time

import pytest

from plugins.module_utils import api
from plugins.module_utils.common.errors import BackupFailed
from plugins.module_utils.format.backups import backups_path, list_backups
from plugins.module_utils.format.lease import LEASE_NAME, LEASE_SECONDS
from plugins.module_utils.postgres.logical import dump
from plugins.module_utils.storage.factory import open_repository
from tests.support import compare
from tests.support.params import engine_params

SERVER = 'leasesrv'


@pytest.fixture(scope='module')
def lease_db(pg_server):
    name = 'lease_src'
    pg_server.create_database(name)
    pg_server.psql(name, 'CREATE TABLE a (v int); INSERT INTO a SELECT generate_series(1, 100); '
                         'CREATE TABLE b (v text); INSERT INTO b VALUES (\'x\'), (\'y\');')
    return name


class HeldBackup(threading.Thread):
    """run_backup in a thread, held before its first data file until go() (then `during` ran)."""

    def __init__(self, monkeypatch, params, during=None):
        threading.Thread.__init__(self, daemon=True)
        self.params, self.during = params, during
        self.reached, self._go = threading.Event(), threading.Event()
        self.result = self.error = None
        real = dump.store_file

        def store_file(repo, path, relpath, *args):
            if relpath.startswith('data/') and not self.reached.is_set():
                self.path = path
                self.reached.set()
                assert self._go.wait(120)
                if self.during:
                    self.during(repo, path)
            return real(repo, path, relpath, *args)
        monkeypatch.setattr(dump, 'store_file', store_file)

    def run(self):
        try:
            self.result = api.run_backup(self.params)
        except Exception as e:  # pylint: disable=broad-except
            self.error = e

    def held(self):
        self.start()
        assert self.reached.wait(120), 'the backup never reached its data files'
        return self.path.rsplit('/', 1)[-1]

    def go(self):
        self._go.set()
        self.join(120)


def test_prune_keeps_a_running_backup_and_it_completes(pg_server, lease_db, repository, monkeypatch):
    params = engine_params(pg_server, lease_db, repository, jobs=1, server_name=SERVER)
    backup = HeldBackup(monkeypatch, params)
    backup_id = backup.held()
    time.sleep(1.2)                    # older than the grace period
    try:
        pruned = api.run_prune(dict(params, keep_last=10, grace_period='1s'))
        listed = api.run_info(dict(params, kind='logical'))
    finally:
        backup.go()
    assert not pruned['deleted'], pruned['deleted']
    kept = [k for k in pruned['kept'] if k['backup_id'] == backup_id]
    assert kept and kept[0]['reason'].startswith('running'), pruned['kept']
    assert [(i['backup_id'], i['running']) for i in listed['incomplete']] == [(backup_id, True)]
    assert backup.error is None, backup.error
    assert backup.result['backup_id'] == backup_id
    repo = open_repository(params)
    assert not repo.exists('%s/%s/%s' % (backups_path(SERVER, 'logical', lease_db), backup_id, LEASE_NAME))
    target = lease_db + '_restored'
    api.run_restore(dict(params, target_database=target))
    compare.assert_same_database(pg_server, lease_db, target)


def _delete_schema_file(repo, path):
    assert repo.delete_file(path + '/pre-data.sql.zst')


@pytest.mark.parametrize('where', ['local', 's3'])
def test_a_backup_whose_files_vanish_is_not_committed(pg_server, lease_db, tmp_path, monkeypatch, where, request):
    if where == 's3':
        s3 = request.getfixturevalue('s3_repo')
        params = engine_params(pg_server, lease_db, s3.url, jobs=1, server_name=SERVER, **s3.options())
    else:
        params = engine_params(pg_server, lease_db, str(tmp_path / 'repo'), jobs=1, server_name=SERVER)
    backup = HeldBackup(monkeypatch, params, during=_delete_schema_file)
    backup.held()
    backup.go()
    assert isinstance(backup.error, BackupFailed), backup.error
    assert 'missing or changed' in str(backup.error) and 'pre-data' in str(backup.error)
    repo = open_repository(params)
    base = backups_path(SERVER, 'logical', lease_db)
    assert list_backups(repo, base) == []
    assert repo.list_dir(base) == [], 'the failed backup left its directory'


def test_an_abandoned_lease_lets_prune_remove_the_backup(pg_server, lease_db, repository):
    """A backup killed mid-run leaves its lease; once it is older than LEASE_SECONDS it is
    an interrupted backup like one without a lease."""
    params = engine_params(pg_server, lease_db, repository, server_name=SERVER)
    repo = open_repository(params)
    api.run_backup(params)
    base = backups_path(SERVER, 'logical', lease_db)
    for backup_id, age in (('20200101T000000Z', LEASE_SECONDS + 60), ('20200101T000001Z', 5)):
        repo.write_bytes('%s/%s/%s' % (base, backup_id, LEASE_NAME), b'{}')
        then = time.time() - age
        os.utime(os.path.join(repository, base, backup_id, LEASE_NAME), (then, then))
    pruned = api.run_prune(dict(params, keep_last=10, grace_period='1s'))
    assert [d['backup_id'] for d in pruned['deleted']] == ['20200101T000000Z']
    assert [k['reason'] for k in pruned['kept'] if k['backup_id'] == '20200101T000001Z'][0].startswith('running')
