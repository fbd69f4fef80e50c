"""S3-compatible repositories against a real endpoint: moto's server mode on loopback.

The server (tests/support/s3.py, started once per session by conftest's
s3_server) checks SigV4 signatures and IAM policies; every test gets a fresh
bucket. Covers the repository contract (atomic publication, listing, reserve,
delete), streaming multipart uploads that abort cleanly (producer failure,
writer thread dying, SIGKILL of the CLI mid-upload), backup/restore/list/max_age
identical to a local repository, storage class and server-side encryption on
the stored objects, encryption through S3, clear errors (missing bucket, bad
credentials, access denied, unreachable endpoint, bad options) that never
contain a secret, damage in the bucket (missing or flipped object), and the
modules through ansible-playbook.
"""
import gc
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.support import compare
from tests.support.params import engine_params
from tests.support.s3 import free_port

from devtools.drill import run_playbook
from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.storage.factory import open_repository
from plugins.module_utils.storage.s3 import PART_SIZE, RESERVED_MARKER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(ROOT, 'tests', 'integration', 'playbooks')
MIB = 1 << 20
_buckets = itertools.count(1)


def _base(server, database):
    return '%s_%d/logical/%s' % (server.host, server.port, database)


def _cli(args, env, timeout=300):
    """Run scripts/dbbackup with this interpreter; returns CompletedProcess (text)."""
    env = dict(env, DBBACKUP_PYTHON=sys.executable)
    return subprocess.run([os.path.join(ROOT, 'scripts', 'dbbackup')] + args, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, check=False)


def _conn_args(pg_server, database):
    return ['--db-type', 'postgresql', '--database', database, '--login-host', pg_server.host, '--login-port', str(pg_server.port),
            '--login-user', pg_server.user]


def _pg_env(pg_server, base):
    env = dict(base)
    env['PGPASSWORD'] = pg_server.password or ''
    return env


@pytest.fixture(scope='module')
def small_db(pg_server):
    """A few tables with a sequence and 20000 rows: data files of some KiB."""
    name = 's3_src'
    pg_server.create_database(name)
    pg_server.psql(name, """
        CREATE TABLE public.big (id int PRIMARY KEY, payload text NOT NULL);
        INSERT INTO public.big SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 20000) i;
        CREATE TABLE public.small (id serial PRIMARY KEY, note text);
        INSERT INTO public.small (note) VALUES ('one'), ('two'), ('three');
    """)
    return name


@pytest.fixture(scope='module')
def small_snapshot(pg_server, small_db):
    return compare.snapshot(pg_server, small_db)


# --- the repository contract ------------------------------------------------------------

def test_repository_contract(s3_repo):
    repo = open_repository(s3_repo.params())
    assert repo.url == s3_repo.url
    assert repo.location('srv/logical/db') == s3_repo.url + '/srv/logical/db'
    assert repo.list_dir('srv/logical/db') == []
    assert repo.reserve_dir('srv/logical/db/20260101T000000Z') is True
    assert repo.reserve_dir('srv/logical/db/20260101T000000Z') is False
    assert repo.list_dir('srv/logical/db') == ['20260101T000000Z']
    # the reservation marker is not a file of the backup
    assert repo.list_dir('srv/logical/db/20260101T000000Z') == []
    assert repo.exists('srv/logical/db/20260101T000000Z')
    assert not repo.exists('srv/logical/db/20260101T000000Z/manifest.json')

    f = repo.open_write('srv/logical/db/20260101T000000Z/data/0001.copy')
    f.write(b'abc')
    f.write(b'def')
    assert not repo.exists('srv/logical/db/20260101T000000Z/data/0001.copy'), 'visible before commit'
    f.commit()
    assert repo.read_bytes('srv/logical/db/20260101T000000Z/data/0001.copy') == b'abcdef'
    repo.write_bytes('srv/logical/db/20260101T000000Z/manifest.json', b'{}')
    assert repo.list_dir('srv/logical/db/20260101T000000Z') == ['data', 'manifest.json']
    assert repo.exists('srv/logical/db/20260101T000000Z/manifest.json')
    with pytest.raises(errors.NotFound, match='missing'):
        repo.open_read('srv/logical/db/20260101T000000Z/data/0002.copy')
    with pytest.raises(errors.BadInput):
        repo.open_write('srv/../escape')

    keys = s3_repo.keys()
    assert 'backups/srv/logical/db/20260101T000000Z/%s' % RESERVED_MARKER in keys
    assert repo.delete_tree('srv/logical/db/20260101T000000Z') is True
    assert s3_repo.keys() == []
    assert repo.list_dir('srv/logical/db') == []


def test_multipart_write_streams_and_reads_back(s3_repo):
    """A file over PART_SIZE goes up as a multipart upload and only appears on commit."""
    repo = open_repository(s3_repo.params())
    block = os.urandom(MIB)
    size = PART_SIZE * 2 + 3 * MIB
    f = repo.open_write('x/data/big')
    for dummy in range(size // MIB):
        f.write(block)
    assert s3_repo.multipart_uploads() == ['backups/x/data/big']
    assert s3_repo.keys() == []
    f.commit()
    assert s3_repo.multipart_uploads() == []
    head = s3_repo.client.head_object(Bucket=s3_repo.bucket, Key='backups/x/data/big')
    assert head['ContentLength'] == size
    assert '-' in head['ETag'], 'expected a multipart ETag, got %s' % head['ETag']
    reader = repo.open_read('x/data/big')
    total = 0
    try:
        while True:
            data = reader.read(MIB)
            if not data:
                break
            assert data == block
            total += len(data)
    finally:
        reader.close()
    assert total == size


def _socket_of(reader):
    """The TCP socket under an S3Reader's response body (http.client inside urllib3)."""
    fp = reader._body._raw_stream._fp       # http.client.HTTPResponse
    return fp.fp.raw._sock


def test_read_resumes_after_a_broken_connection(s3_repo, monkeypatch):
    from plugins.module_utils.storage import s3
    repo = open_repository(s3_repo.params())
    data = os.urandom(12 * MIB)
    repo.write_bytes('x/resume', data)
    opened_at = []
    real_open = s3.S3Reader._open

    def spy(self, pos):
        opened_at.append(pos)
        return real_open(self, pos)

    monkeypatch.setattr(s3.S3Reader, '_open', spy)
    reader = repo.open_read('x/resume')
    got = [reader.read(MIB)]
    _socket_of(reader).shutdown(socket.SHUT_RDWR)      # the connection breaks mid-object
    while True:
        chunk = reader.read(MIB)
        if not chunk:
            break
        got.append(chunk)
    reader.close()
    assert b''.join(got) == data
    assert len(opened_at) == 2 and opened_at[0] == 0 and 0 < opened_at[1] < len(data), opened_at


def test_producer_failure_aborts_the_multipart_upload(s3_repo):
    repo = open_repository(s3_repo.params())
    f = repo.open_write('x/data/partial')
    for dummy in range(PART_SIZE // MIB + 4):
        f.write(os.urandom(MIB))
    deadline = time.time() + 30             # the transfer manager starts the upload in its own thread
    while not s3_repo.multipart_uploads() and time.time() < deadline:
        time.sleep(0.1)
    assert s3_repo.multipart_uploads() == ['backups/x/data/partial']
    f.abort()
    assert s3_repo.multipart_uploads() == [], 'the multipart upload was not aborted'
    assert s3_repo.keys() == []
    f.abort()   # idempotent


def test_small_write_aborted_leaves_nothing(s3_repo):
    repo = open_repository(s3_repo.params())
    f = repo.open_write('x/small')
    f.write(b'not all of it')
    f.abort()
    time.sleep(0.5)
    assert s3_repo.keys() == []


def test_writer_thread_ending_without_commit_aborts(s3_repo):
    """A bug or a killed worker thread must not let the uploader see end-of-stream."""
    repo = open_repository(s3_repo.params())
    holder = {}

    def work():
        holder['f'] = repo.open_write('x/orphan')
        holder['f'].write(b'x' * 1000)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    deadline = time.time() + 15     # the uploader notices the dead thread within a second or two
    while not holder['f']._pipe.reader_done and time.time() < deadline:
        time.sleep(0.1)
    assert holder['f']._pipe.reader_done, 'the upload did not end after its writing thread ended'
    with pytest.raises(errors.DbBackupError):
        holder['f'].commit()     # too late: the upload was aborted when the thread ended
    assert s3_repo.keys() == []


def test_writer_dropped_without_commit_aborts(s3_repo):
    repo = open_repository(s3_repo.params())
    f = repo.open_write('x/dropped')
    f.write(b'y' * 1000)
    pipe = f._pipe
    del f
    gc.collect()
    deadline = time.time() + 15
    while not pipe.reader_done and time.time() < deadline:
        time.sleep(0.1)
    assert pipe.reader_done, 'the upload of a dropped writer did not end'
    assert s3_repo.keys() == []


def test_option_validation_errors():
    base = {'repository': 's3://bucket-ok/prefix', 's3_endpoint_url': 'http://127.0.0.1:9'}
    cases = [
        (dict(base, repository='s3://'), 'not a valid S3 URL'),
        (dict(base, repository='s3://b/../x'), '..'),
        (dict(base, repository='S3://bucket-ok/x'), 'lower case'),
        (dict(base, repository='ftp://bucket-ok/x'), 's3://'),
        (dict(base, s3_endpoint_url='minio:9000'), 's3_endpoint_url'),
        (dict(base, aws_access_key='AKIAEXAMPLE'), 'together'),
        (dict(base, aws_access_key='AKIAEXAMPLE', aws_secret_key='S3cr3t-never-shown-123',
              aws_profile='p'), 'mutually exclusive'),
        (dict(base, s3_sse='aes'), 's3_sse'),
        (dict(base, s3_sse='AES256', s3_sse_kms_key_id='k1'), 'aws:kms'),
        (dict(base, s3_storage_class='standard ia'), 's3_storage_class'),
        (dict(base, s3_ca_bundle='/nonexistent/ca.pem'), 's3_ca_bundle'),
        (dict(base, aws_profile='no-such-profile-dbbackup'), 'profile'),
    ]
    for params, text in cases:
        with pytest.raises(errors.BadInput) as info:
            open_repository(params)
        assert text in str(info.value), (params, str(info.value))
        assert 'S3cr3t-never-shown-123' not in str(info.value)


# --- backup and restore through S3 ----------------------------------------------------------

@pytest.fixture(scope='module')
def rich_s3_backup(pg_server, rich_db, s3_server):
    """One backup of the rich fixture into its own bucket: (location, result)."""
    loc = s3_server.new_bucket('dbb-rich-%d' % os.getpid())
    result = api.run_backup(engine_params(pg_server, rich_db, loc.url, jobs=2, **loc.options()))
    return loc, result


def test_rich_roundtrip_through_s3(pg_server, rich_db, rich_s3_backup):
    loc, result = rich_s3_backup
    assert result['changed'] is True
    base = '%s/%s/%s' % (loc.prefix, _base(pg_server, rich_db), result['backup_id'])
    assert result['location'] == 's3://%s/%s' % (loc.bucket, base)
    keys = loc.keys()
    assert base + '/manifest.json' in keys
    assert base + '/pre-data.sql.zst' in keys and base + '/post-data.sql.zst' in keys
    assert [k for k in keys if k.startswith(base + '/data/')]
    sizes = sum(o['Size'] for o in loc.client.list_objects_v2(Bucket=loc.bucket, Prefix=base + '/')['Contents']
                if not o['Key'].endswith(('/manifest.json', '/' + RESERVED_MARKER)))
    assert result['size_bytes'] == sizes

    target = 'rich_from_s3'
    restored = api.run_restore(engine_params(pg_server, rich_db, loc.url, target_database=target, jobs=2,
                                             **loc.options()))
    assert restored['changed'] is True and restored['backup_id'] == result['backup_id']
    assert restored['location'] == result['location']
    compare.assert_same_database(pg_server, rich_db, target)
    again = api.run_restore(engine_params(pg_server, rich_db, loc.url, target_database=target, **loc.options()))
    assert again['changed'] is False


@pytest.fixture(params=['local', 's3'])
def storage(request, tmp_path, s3_server):
    """(repository, engine options, CLI args, CLI env) for a local directory or a fresh bucket."""
    if request.param == 'local':
        repo = str(tmp_path / 'repo')
        return repo, {}, ['--repository', repo], s3_server.env(credentials=False)
    loc = s3_server.new_bucket('dbb-st-%d-%d' % (os.getpid(), next(_buckets)))
    return loc.url, loc.options(), ['--repository', loc.url, '--s3-endpoint-url', s3_server.endpoint], s3_server.env()


def test_backup_list_max_age_restore_identical_on_local_and_s3(pg_server, small_db, small_snapshot, storage,
                                                               db_exists, unique_db_name):
    repo, opts, cli_args, env = storage
    first = api.run_backup(engine_params(pg_server, small_db, repo, max_age='1h', **opts))
    again = api.run_backup(engine_params(pg_server, small_db, repo, max_age='1h', **opts))
    assert first['changed'] is True and again['changed'] is False
    assert again['backup_id'] == first['backup_id'] and again['location'] == first['location']
    time.sleep(1.1)   # backup ids have one-second resolution
    second = api.run_backup(engine_params(pg_server, small_db, repo, **opts))
    assert second['changed'] is True and second['backup_id'] > first['backup_id']

    listed = _cli(['list'] + _conn_args(pg_server, small_db) + cli_args, _pg_env(pg_server, env))
    assert listed.returncode == 0, listed.stderr
    backups = json.loads(listed.stdout)['backups']
    assert [b['backup_id'] for b in backups] == [first['backup_id'], second['backup_id']]
    assert [b['location'] for b in backups] == [first['location'], second['location']]
    assert backups[1]['rows'] == second['rows'] == compare.total_rows(pg_server, small_db)

    target = unique_db_name('s3_restored')
    restored = api.run_restore(engine_params(pg_server, small_db, repo, target_database=target, **opts))
    assert restored['backup_id'] == second['backup_id']
    assert db_exists(target)
    compare.assert_same_database(pg_server, small_db, target, src_snapshot=small_snapshot)


def test_cli_backup_and_restore_with_environment_credentials(pg_server, small_db, s3_server, s3_repo,
                                                             unique_db_name, db_exists):
    env = _pg_env(pg_server, s3_server.env())
    args = _conn_args(pg_server, small_db) + ['--repository', s3_repo.url, '--s3-endpoint-url', s3_server.endpoint]
    done = _cli(['backup'] + args, env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result['location'].startswith(s3_repo.url + '/')
    target = unique_db_name('s3_cli')
    restored = _cli(['restore'] + args + ['--target-database', target], env)
    assert restored.returncode == 0, restored.stderr
    assert db_exists(target)
    assert s3_server.secret_key not in done.stdout + done.stderr + restored.stdout + restored.stderr


def test_cli_with_aws_profile(pg_server, small_db, s3_server, s3_repo, tmp_path):
    api.run_backup(engine_params(pg_server, small_db, s3_repo.url, **s3_repo.options()))
    creds = tmp_path / 'credentials'
    creds.write_text('[dbbackup-test]\naws_access_key_id = %s\naws_secret_access_key = %s\n'
                     % (s3_server.access_key, s3_server.secret_key))
    env = _pg_env(pg_server, s3_server.env(credentials=False))
    env['AWS_SHARED_CREDENTIALS_FILE'] = str(creds)
    args = _conn_args(pg_server, small_db) + ['--repository', s3_repo.url, '--s3-endpoint-url', s3_server.endpoint,
                                              '--s3-region', 'us-east-1']
    listed = _cli(['list'] + args + ['--aws-profile', 'dbbackup-test'], env)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)['backups']) == 1
    # without any credentials: one clear message (instance metadata lookups disabled for speed)
    env['AWS_EC2_METADATA_DISABLED'] = 'true'
    bare = _cli(['list'] + args, env)
    assert bare.returncode == 1
    assert 'No usable AWS credentials' in bare.stderr, bare.stderr
    assert 'Traceback' not in bare.stderr


@pytest.mark.parametrize('sse', [{'s3_sse': 'AES256'},
                                 {'s3_sse': 'aws:kms', 's3_sse_kms_key_id': 'alias/dbbackup-test'}],
                         ids=['AES256', 'aws-kms'])
def test_storage_class_and_sse_reach_the_objects(pg_server, small_db, s3_repo, sse, unique_db_name, db_exists):
    opts = s3_repo.options(s3_storage_class='STANDARD_IA', **sse)
    result = api.run_backup(engine_params(pg_server, small_db, s3_repo.url, **opts))
    keys = s3_repo.keys()
    assert len(keys) >= 4, keys
    for key in keys:
        head = s3_repo.client.head_object(Bucket=s3_repo.bucket, Key=key)
        assert head.get('ServerSideEncryption') == sse['s3_sse'], (key, head)
        if 's3_sse_kms_key_id' in sse:
            assert head.get('SSEKMSKeyId') == sse['s3_sse_kms_key_id'], (key, head)
        name = key.rsplit('/', 1)[-1]
        if name in ('manifest.json', RESERVED_MARKER):
            # metadata stays in the default class so listing and max_age never hit an archive tier
            assert head.get('StorageClass', 'STANDARD') == 'STANDARD', (key, head)
        else:
            assert head.get('StorageClass') == 'STANDARD_IA', (key, head)
    target = unique_db_name('s3_sse')
    api.run_restore(engine_params(pg_server, small_db, s3_repo.url, target_database=target,
                                  backup_id=result['backup_id'], **opts))
    assert db_exists(target)


def test_encrypted_roundtrip_through_s3(pg_server, s3_repo, unique_db_name, db_exists):
    marker = 'S3-plaintext-marker-7c1e'
    src = unique_db_name('s3_enc')
    pg_server.create_database(src)
    pg_server.psql(src, "CREATE TABLE t (id int PRIMARY KEY, v text);"
                        "INSERT INTO t SELECT i, '%s ' || i FROM generate_series(1, 5000) i;" % marker)
    passphrase = 'S3-enc-pa55phrase-9d'
    opts = s3_repo.options(encryption_passphrase=passphrase)
    result = api.run_backup(engine_params(pg_server, src, s3_repo.url, compression='none', **opts))
    assert result.get('encrypted') is True
    for key in s3_repo.keys():
        body = s3_repo.client.get_object(Bucket=s3_repo.bucket, Key=key)['Body'].read()
        assert marker.encode() not in body, 'plaintext in %s' % key
        assert passphrase.encode() not in body
    target = unique_db_name('s3_enc_restored')
    with pytest.raises(errors.DbBackupError):
        api.run_restore(engine_params(pg_server, src, s3_repo.url, target_database=target,
                                      **dict(opts, encryption_passphrase='Wrong-pa55phrase-00')))
    assert not db_exists(target)
    api.run_restore(engine_params(pg_server, src, s3_repo.url, target_database=target, **opts))
    compare.assert_same_database(pg_server, src, target)


# --- interrupted uploads ------------------------------------------------------------------------

def test_failure_mid_upload_leaves_no_backup(pg_server, small_db, s3_repo, monkeypatch):
    """A producer failure while a data file is half uploaded: nothing listed, nothing left."""
    from plugins.module_utils.postgres.logical import dump
    seen = {}

    def failing_copy_out(conn, task, writer, data_encoding=None):
        for dummy in range(PART_SIZE // MIB + 4):
            writer.write(os.urandom(MIB))
        deadline = time.time() + 30
        while not seen.get('uploads') and time.time() < deadline:
            seen['uploads'] = [k for k in s3_repo.multipart_uploads() if '/data/' in k]
            time.sleep(0.05)
        raise RuntimeError('injected failure in the middle of a table')

    monkeypatch.setattr(dump.LogicalDump, '_copy_out', staticmethod(failing_copy_out))
    opts = s3_repo.options()
    with pytest.raises(errors.DbBackupError) as info:
        api.run_backup(engine_params(pg_server, small_db, s3_repo.url, jobs=1, compression='none', **opts))
    assert 'injected failure' in str(info.value)
    assert seen.get('uploads'), 'no multipart upload was in progress when the failure was injected'
    assert s3_repo.multipart_uploads() == []
    assert s3_repo.keys() == [], 'a failed backup left objects behind'
    repo = open_repository(s3_repo.params())
    assert repo.list_dir(_base(pg_server, small_db)) == []


@pytest.fixture(scope='module')
def large_db(pg_server):
    """About 85 MB of rows (two ~40 MB data files with jobs=1, stored uncompressed: three parts each)."""
    name = 's3_large'
    pg_server.create_database(name)
    pg_server.psql(name, """
        CREATE TABLE public.wide (id int PRIMARY KEY, payload text NOT NULL);
        INSERT INTO public.wide
          SELECT i, md5(i::text) || md5((i + 1)::text) || md5((i + 2)::text) || md5((i + 3)::text)
            FROM generate_series(1, 600000) i;
    """)
    yield name
    pg_server.psql('postgres', 'DROP DATABASE IF EXISTS %s' % name)


def test_sigkill_during_data_upload_leaves_no_listed_backup(pg_server, large_db, s3_server, s3_repo,
                                                            unique_db_name, db_exists):
    env = _pg_env(pg_server, s3_server.env())
    args = _conn_args(pg_server, large_db) + ['--repository', s3_repo.url, '--s3-endpoint-url',
                                              s3_server.endpoint, '--jobs', '1']
    proc = subprocess.Popen([os.path.join(ROOT, 'scripts', 'dbbackup'), 'backup', '--compression', 'none'] + args,
                            env=dict(env, DBBACKUP_PYTHON=sys.executable),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed_during = None
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            for up in s3_repo.client.list_multipart_uploads(Bucket=s3_repo.bucket).get('Uploads', []):
                if '/data/' not in up['Key']:
                    continue
                parts = s3_repo.client.list_parts(Bucket=s3_repo.bucket, Key=up['Key'],
                                                  UploadId=up['UploadId']).get('Parts', [])
                if len(parts) <= 1:      # well before its last part: kill now
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_during = up['Key']
                    break
            if killed_during:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None and not killed_during:
            proc.kill()
        out, err = proc.communicate(timeout=60)
    assert killed_during, 'never saw a data file being uploaded (exit %s): %s %s' % (
        proc.returncode, out[-2000:], err[-2000:])
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)

    keys = s3_repo.keys()
    assert not [k for k in keys if k.endswith('/manifest.json')], keys
    assert killed_during not in keys, 'the interrupted data file exists as an object'
    incomplete = s3_repo.multipart_uploads()
    assert killed_during in incomplete       # at most an invisible incomplete multipart upload
    assert not set(incomplete) & set(keys)

    listed = _cli(['list'] + args, env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)['backups'] == []
    target = unique_db_name('s3_killed')
    restore = _cli(['restore'] + args + ['--target-database', target], env)
    assert restore.returncode == 1
    assert 'No complete backup' in restore.stderr, restore.stderr
    assert not db_exists(target)


# --- errors --------------------------------------------------------------------------------------

def _assert_clean(e, *secrets):
    msg = str(e)
    assert 'Traceback' not in msg
    for s in secrets:
        assert s not in msg, 'a secret appears in: %s' % msg
    return msg


def test_missing_bucket(pg_server, small_db, s3_server):
    url = 's3://dbb-no-such-bucket-%d/x' % os.getpid()
    opts = s3_server.options()
    for run in (api.run_backup, api.run_restore):
        with pytest.raises(errors.NotFound) as info:
            run(engine_params(pg_server, small_db, url, target_database='never_created', **opts))
        msg = _assert_clean(info.value, s3_server.secret_key)
        assert 'dbb-no-such-bucket' in msg and 'does not exist' in msg and 'Create the bucket' in msg, msg


@pytest.mark.parametrize('which', ['wrong_secret', 'unknown_key'])
def test_bad_credentials(pg_server, small_db, s3_server, s3_repo, which):
    secret = 'Wr0ngS3cretKeyWr0ngS3cretKeyWr0ngS3cret0'
    key = s3_server.access_key if which == 'wrong_secret' else 'AKIADBBACKUPUNKNOWN0'
    opts = dict(s3_server.options(), aws_access_key=key, aws_secret_key=secret)
    with pytest.raises(errors.RepositoryAccessDenied) as info:
        api.run_backup(engine_params(pg_server, small_db, s3_repo.url, **opts))
    msg = _assert_clean(info.value, secret, s3_server.secret_key)
    assert 'rejected the credentials' in msg and 'aws_secret_key' in msg, msg
    assert s3_repo.keys() == []


def test_access_denied(pg_server, small_db, s3_server, s3_repo):
    """Credentials that may list but not write: the reservation fails with what to grant."""
    opts = dict(s3_server.options(), aws_access_key=s3_server.lister_access_key,
                aws_secret_key=s3_server.lister_secret_key)
    with pytest.raises(errors.RepositoryAccessDenied) as info:
        api.run_backup(engine_params(pg_server, small_db, s3_repo.url, **opts))
    msg = _assert_clean(info.value, s3_server.lister_secret_key)
    assert 'Access denied' in msg and 's3:PutObject' in msg, msg
    assert s3_repo.keys() == []


def test_unreachable_endpoint(pg_server, small_db, s3_repo, s3_server, monkeypatch):
    monkeypatch.setenv('AWS_MAX_ATTEMPTS', '2')
    endpoint = 'http://127.0.0.1:%d' % free_port()
    opts = dict(s3_server.options(), s3_endpoint_url=endpoint)
    for run in (api.run_backup, api.run_restore):
        t0 = time.time()
        with pytest.raises(errors.RepositoryUnreachable) as info:
            run(engine_params(pg_server, small_db, s3_repo.url, target_database='never_created', **opts))
        msg = _assert_clean(info.value, s3_server.secret_key)
        assert endpoint in msg and 's3_endpoint_url' in msg, msg
        assert time.time() - t0 < 60


@pytest.fixture
def s3_backup(pg_server, small_db, s3_repo):
    """A fresh backup of small_db in a fresh bucket: (location, options, result, key of the largest data file)."""
    opts = s3_repo.options()
    result = api.run_backup(engine_params(pg_server, small_db, s3_repo.url, **opts))
    objs = s3_repo.client.list_objects_v2(Bucket=s3_repo.bucket, Prefix=s3_repo.prefix + '/')['Contents']
    data = [o for o in objs if '/data/' in o['Key'] and o['Key'].endswith('.copy.zst')]
    assert data, objs
    return s3_repo, opts, result, max(data, key=lambda o: o['Size'])['Key']


def test_missing_data_object_fails_restore_before_touching_target(pg_server, small_db, s3_backup,
                                                                  unique_db_name, db_exists):
    loc, opts, result, key = s3_backup
    loc.client.delete_object(Bucket=loc.bucket, Key=key)
    target = unique_db_name('s3_missing')
    with pytest.raises(errors.NotFound) as info:
        api.run_restore(engine_params(pg_server, small_db, loc.url, target_database=target, **opts))
    msg = str(info.value)
    assert 'missing' in msg and key.rsplit('/', 1)[-1] in msg and msg.count('s3://') >= 1, msg
    assert not db_exists(target)


def test_flipped_byte_in_object_is_an_integrity_error(pg_server, small_db, s3_backup, unique_db_name, db_exists):
    loc, opts, result, key = s3_backup
    body = bytearray(loc.client.get_object(Bucket=loc.bucket, Key=key)['Body'].read())
    body[len(body) // 2] ^= 0x01
    loc.client.put_object(Bucket=loc.bucket, Key=key, Body=bytes(body))
    target = unique_db_name('s3_flipped')
    with pytest.raises(errors.IntegrityError) as info:
        api.run_restore(engine_params(pg_server, small_db, loc.url, target_database=target, **opts))
    assert 'SHA-256' in str(info.value) or 'sha256' in str(info.value).lower()
    assert not db_exists(target)


# --- modules through ansible-playbook ------------------------------------------------------------

def test_modules_with_s3_repository(pg_server, small_db, s3_server, s3_repo, tmp_path, db_exists,
                                    unique_db_name):
    target = unique_db_name('s3_module')
    results = str(tmp_path / 'results.json')
    extra = dict(pg_host=pg_server.host, pg_port=pg_server.port, pg_user=pg_server.user, results_file=results,
                 database=small_db, target_database=target, repository=s3_repo.url,
                 s3_endpoint_url=s3_server.endpoint, aws_access_key=s3_server.access_key,
                 aws_secret_key=s3_server.secret_key)
    proc = run_playbook(os.path.join(PLAYBOOKS, 's3_repository.yml'), extra, str(tmp_path),
                        password=pg_server.password, verbosity=3, capture=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:]
    with open(results) as f:
        text = f.read()
    assert s3_server.secret_key not in proc.stdout, 'the secret key appears in the ansible output'
    assert s3_server.secret_key not in text
    res = json.loads(text)
    backup, again, restore, checked = res['backup'], res['again'], res['restore'], res['checked']
    assert backup['changed'] is True and backup['location'].startswith(s3_repo.url + '/')
    assert again['changed'] is False and again['backup_id'] == backup['backup_id']
    assert checked['changed'] is True
    assert restore['changed'] is True and restore['backup_id'] == backup['backup_id']
    assert db_exists(target)
    assert res['denied']['failed'] is True
    assert 'rejected the credentials' in res['denied']['msg'], res['denied']['msg']
    head = s3_repo.client.head_object(Bucket=s3_repo.bucket,
                                      Key=backup['location'][len('s3://%s/' % s3_repo.bucket):] + '/pre-data.sql.zst')
    assert head.get('StorageClass') == 'STANDARD_IA' and head.get('ServerSideEncryption') == 'AES256'


def test_backup_and_restore_playbooks_to_s3_encrypted(pg_server, small_db, s3_server, s3_repo, tmp_path,
                                                      monkeypatch, unique_db_name):
    """playbooks/backup.yml and restore.yml with an s3:// repository and a key file, AWS keys from the environment."""
    from tests.integration.test_encryption import write_key
    key_file = write_key(tmp_path / 'backup.key')[0]
    for k, v in s3_server.env().items():
        if k.startswith('AWS_'):
            monkeypatch.setenv(k, v)
    target = unique_db_name('s3_playbook')
    common = dict(dbbackup_hosts='localhost', dbbackup_login_host=pg_server.host, dbbackup_login_port=pg_server.port,
                  dbbackup_login_user=pg_server.user, dbbackup_repository=s3_repo.url,
                  dbbackup_s3_endpoint_url=s3_server.endpoint, dbbackup_s3_region=s3_server.options()['s3_region'],
                  dbbackup_encryption_key_file=key_file, dbbackup_server_name='pbsrv')
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'backup.yml'), dict(common, dbbackup_databases=[small_db]),
                        str(tmp_path), password=pg_server.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    keys = s3_repo.keys('pbsrv/logical/%s' % small_db)
    assert any(k.endswith('/manifest.json') for k in keys) and any(k.endswith('.enc') for k in keys), keys
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'restore.yml'),
                        dict(common, dbbackup_database=small_db, dbbackup_target_database=target),
                        str(tmp_path), password=pg_server.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert pg_server.scalar(target, 'SELECT count(*) FROM public.big') == 20000
