"""What users get wrong, and what breaks underneath them, against a real server.

Every failure must raise the matching errors.DbBackupError subclass with a
message that names what was wrong and what to do, must not leak secrets, and
must leave nothing half-done that looks complete: no manifest for a failed
backup, no target database after a failed restore into a new one.
"""
import glob
import os
import shutil

import pytest

from tests.support.params import engine_params

from plugins.module_utils import api
from plugins.module_utils.common import errors

WRONG_PASSWORD = 'Wr0ng-pa55word-zq9'


def _server_dir(repo, server):
    return os.path.join(repo, '%s_%d' % (server.host, server.port))


def _manifests(repo):
    return sorted(glob.glob(os.path.join(repo, '**', 'manifest.json'), recursive=True))


@pytest.fixture(scope='module')
def source_db(pg_server):
    """A small database with enough rows that its data files are several KiB."""
    name = 'badinput_src'
    pg_server.create_database(name)
    pg_server.psql(name, """
        CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL);
        INSERT INTO big SELECT i, md5(i::text) || md5((i * 7)::text)
          FROM generate_series(1, 20000) i;
        CREATE TABLE small (id serial PRIMARY KEY, note text);
        INSERT INTO small (note) VALUES ('one'), ('two'), ('three');
    """)
    return name


@pytest.fixture(scope='module')
def pristine(pg_server, source_db, tmp_path_factory):
    """A repository holding one good backup of source_db: (repo, result). Never modified."""
    repo = str(tmp_path_factory.mktemp('pristine_repo'))
    result = api.run_backup(engine_params(pg_server, source_db, repo))
    return repo, result


@pytest.fixture
def backup_copy(pristine, tmp_path):
    """A private copy of the pristine repository that a test may damage: (repo, result, dir)."""
    repo, result = pristine
    copy = str(tmp_path / 'repo')
    shutil.copytree(repo, copy)
    bdirs = glob.glob(os.path.join(copy, '*', 'logical', '*', result['backup_id']))
    assert len(bdirs) == 1, bdirs
    return copy, result, bdirs[0]


def _largest_data_file(bdir):
    files = glob.glob(os.path.join(bdir, 'data', '*.copy.zst'))
    assert files, 'no data files in %s' % bdir
    return max(files, key=os.path.getsize)


# --- connection and names -------------------------------------------------------

@pytest.mark.parametrize('operation', ['backup', 'restore'])
def test_wrong_password(pg_server, source_db, pristine, operation):
    repo = pristine[0]
    params = engine_params(pg_server, source_db, repo, login_password=WRONG_PASSWORD,
                           target_database='never_created')
    run = api.run_backup if operation == 'backup' else api.run_restore
    with pytest.raises(errors.ConnectionFailed) as info:
        run(params)
    msg = str(info.value)
    assert 'authentication' in msg.lower(), msg
    assert 'login_password' in msg or 'login_user' in msg, 'message does not say what to check: ' + msg
    assert WRONG_PASSWORD not in msg
    assert WRONG_PASSWORD not in repr(info.value.args)


def test_unreachable_server(pg_server, source_db, repository):
    from devtools.pg_temp import free_port
    port = free_port()
    with pytest.raises(errors.ConnectionFailed) as info:
        api.run_backup(engine_params(pg_server, source_db, repository, login_port=port))
    msg = str(info.value)
    assert str(port) in msg, msg
    assert pg_server.password not in msg


def test_missing_database(pg_server, repository):
    with pytest.raises(errors.NotFound) as info:
        api.run_backup(engine_params(pg_server, 'no_such_database', repository))
    assert 'no_such_database' in str(info.value)
    assert _manifests(repository) == []


@pytest.mark.parametrize('option, value', [
    ('compression', 'lzma'),
    ('if_exists', 'sometimes'),
    ('max_age', 'soon'),
    ('db_type', 'oracle'),
])
def test_bad_option_values(pg_server, source_db, repository, option, value):
    with pytest.raises(errors.BadInput) as info:
        if option == 'if_exists':
            api.run_restore(engine_params(pg_server, source_db, repository, **{option: value}))
        else:
            api.run_backup(engine_params(pg_server, source_db, repository, **{option: value}))
    assert option in str(info.value), str(info.value)


@pytest.mark.parametrize('missing', ['database', 'repository'])
def test_missing_required_option(pg_server, source_db, repository, missing):
    params = engine_params(pg_server, source_db, repository)
    del params[missing]
    with pytest.raises(errors.BadInput) as info:
        api.run_backup(params)
    assert missing in str(info.value)


# --- finding backups ------------------------------------------------------------

def test_unknown_backup_id_lists_what_exists(pg_server, source_db, pristine):
    repo, result = pristine
    with pytest.raises(errors.NotFound) as info:
        api.run_restore(engine_params(pg_server, source_db, repo, backup_id='20000101T000000Z',
                                      target_database='never_created'))
    msg = str(info.value)
    assert '20000101T000000Z' in msg
    assert result['backup_id'] in msg, 'message should list the existing backups: ' + msg


def test_restore_from_empty_repository(pg_server, source_db, repository, db_exists):
    with pytest.raises(errors.NotFound) as info:
        api.run_restore(engine_params(pg_server, source_db, repository, target_database='never_created'))
    assert source_db in str(info.value)
    assert not db_exists('never_created')


def test_backup_without_manifest_is_not_listed(pg_server, source_db, backup_copy,
                                               unique_db_name, db_exists):
    repo, result, bdir = backup_copy
    os.unlink(os.path.join(bdir, 'manifest.json'))
    target = unique_db_name('nomanifest')
    with pytest.raises(errors.NotFound):
        api.run_restore(engine_params(pg_server, source_db, repo, target_database=target))
    with pytest.raises(errors.NotFound):
        api.run_restore(engine_params(pg_server, source_db, repo, target_database=target,
                                      backup_id=result['backup_id']))
    assert not db_exists(target)
    # An incomplete backup never counts as a fresh one either.
    again = api.run_backup(engine_params(pg_server, source_db, repo, max_age='1d'))
    assert again['changed'] is True
    assert again['backup_id'] != result['backup_id']


# --- damaged backups ------------------------------------------------------------

def test_corrupted_data_file(pg_server, source_db, backup_copy, unique_db_name, db_exists):
    repo, bdir = backup_copy[0], backup_copy[2]
    victim = _largest_data_file(bdir)
    with open(victim, 'r+b') as f:
        f.seek(os.path.getsize(victim) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    target = unique_db_name('corrupt')
    with pytest.raises(errors.IntegrityError) as info:
        api.run_restore(engine_params(pg_server, source_db, repo, target_database=target))
    assert os.path.basename(victim) in str(info.value), str(info.value)
    assert not db_exists(target), 'a failed restore left database %s behind' % target


def test_truncated_data_file(pg_server, source_db, backup_copy, unique_db_name, db_exists):
    repo, bdir = backup_copy[0], backup_copy[2]
    victim = _largest_data_file(bdir)
    with open(victim, 'r+b') as f:
        f.truncate(os.path.getsize(victim) // 2)
    target = unique_db_name('truncated')
    with pytest.raises(errors.IntegrityError) as info:
        api.run_restore(engine_params(pg_server, source_db, repo, target_database=target))
    assert os.path.basename(victim) in str(info.value), str(info.value)
    assert not db_exists(target), 'a failed restore left database %s behind' % target


def test_failed_restore_keeps_existing_target_with_replace(pg_server, source_db, backup_copy,
                                                           unique_db_name):
    """if_exists=replace must not destroy the old database when the backup is damaged."""
    repo, bdir = backup_copy[0], backup_copy[2]
    victim = _largest_data_file(bdir)
    with open(victim, 'r+b') as f:
        f.truncate(os.path.getsize(victim) // 2)
    target = unique_db_name('keepold')
    pg_server.create_database(target)
    pg_server.psql(target, "CREATE TABLE keep_me(v text); INSERT INTO keep_me VALUES ('precious')")
    with pytest.raises(errors.IntegrityError):
        api.run_restore(engine_params(pg_server, source_db, repo, target_database=target,
                                      if_exists='replace'))
    assert pg_server.scalar(target, 'SELECT v FROM keep_me') == 'precious'


# --- a backup that fails midway ---------------------------------------------------

def test_backup_failing_midway_leaves_no_manifest(pg_server, repository, unique_db_name):
    """A login role that may read one table but not the other: the dump fails on a real
    'permission denied' after it has started, and the previous good backup stays latest."""
    db = unique_db_name('partial')
    pg_server.create_database(db)
    pg_server.psql(db, """
        CREATE TABLE readable (id int, payload text);
        INSERT INTO readable SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 20000) i;
        CREATE TABLE secret_stuff (id int);
        INSERT INTO secret_stuff VALUES (1);
    """)
    role, password = db + '_limited', 'limited-pw-123'
    pg_server.psql('postgres', "CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, password))
    pg_server.psql(db, 'GRANT SELECT ON readable TO %s' % role)

    good = api.run_backup(engine_params(pg_server, db, repository))
    assert len(_manifests(repository)) == 1

    with pytest.raises(errors.BackupFailed) as info:
        api.run_backup(engine_params(pg_server, db, repository, login_user=role,
                                     login_password=password, jobs=1))
    msg = str(info.value)
    assert 'secret_stuff' in msg or 'permission' in msg.lower(), msg
    assert password not in msg
    assert len(_manifests(repository)) == 1, _manifests(repository)

    # The good backup is still the latest complete one.
    target = unique_db_name('after_failure')
    restored = api.run_restore(engine_params(pg_server, db, repository, target_database=target))
    assert restored['backup_id'] == good['backup_id']


def test_lock_wait_timeout_fails_clearly_and_records_nothing(pg_server, repository, unique_db_name):
    """A session holding ACCESS EXCLUSIVE: the backup gives up after lock_wait_timeout."""
    import time
    from plugins.module_utils.format import backups
    from plugins.module_utils.storage.local import LocalRepository
    db = unique_db_name('locked')
    pg_server.create_database(db)
    pg_server.psql(db, 'CREATE TABLE public.busy (id int); INSERT INTO public.busy VALUES (1);')
    holder = pg_server.connect(db, autocommit=False)
    holder.cursor().execute('LOCK TABLE public.busy IN ACCESS EXCLUSIVE MODE')
    try:
        t0 = time.time()
        with pytest.raises(errors.BackupFailed, match='within lock_wait_timeout'):
            api.run_backup(engine_params(pg_server, db, repository, lock_wait_timeout=1))
        assert time.time() - t0 < 30
    finally:
        holder.rollback()
        holder.close()
    repo = LocalRepository(repository)
    assert backups.list_backups(repo, backups.backups_path('127.0.0.1_%d' % pg_server.port, 'logical', db)) == []
    assert api.run_backup(engine_params(pg_server, db, repository, lock_wait_timeout=1))['rows'] == 1
    with pytest.raises(errors.BadInput, match='lock_wait_timeout'):
        api.run_backup(engine_params(pg_server, db, repository, lock_wait_timeout=0))


def test_restore_by_a_login_that_is_not_a_superuser_says_so_first(pg_server, source_db, pristine, unique_db_name,
                                                                  db_exists):
    """Even a role with CREATEDB is told up front that a restore needs a superuser; nothing is created."""
    repo, result = pristine
    role, password = unique_db_name('creator'), 'Creat0r-pw-5541'
    pg_server.psql('postgres', "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (role, password))
    target = unique_db_name('never')
    with pytest.raises(errors.BadInput) as info:
        api.run_restore(engine_params(pg_server, source_db, repo, target_database=target, login_user=role,
                                      login_password=password, server_name='127.0.0.1_%d' % pg_server.port))
    msg = str(info.value)
    assert 'needs a superuser' in msg and role in msg and 'nothing was changed' in msg and '{' not in msg, msg
    assert not db_exists(target)
