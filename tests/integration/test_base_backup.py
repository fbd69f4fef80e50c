"""Physical base backups (kind=base) and their extraction, against real PostgreSQL 15 servers.

A server with WAL archiving (archive_command 'cp' into a directory: independent of
the WAL archive of the collection) is backed up while a writer inserts rows; the
backup is extracted into a fresh directory (its tablespace mapped elsewhere) and
started on another port with recovery_target='immediate' (test scaffolding for what
postgres/physical/recovery.py does), and its data are compared with the source. Also:
PostgreSQL's exclusions, encryption, refusals with nothing stored, and extraction
that refuses a non-empty target or a corrupted file and leaves nothing behind.
"""
import glob
import io
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import zstandard

from devtools.pg_temp import PgServer, free_port
from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.format.keys import backup_data_key
from plugins.module_utils.format.backups import kind_path
from plugins.module_utils.format.keys import key_source
from plugins.module_utils.format.manifest import read_manifest
from plugins.module_utils.postgres.physical.base_restore import extract_base_backup, parse_tablespace_map
from plugins.module_utils.storage.factory import open_repository

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MARKER = 'Zb9-BASE-PLAINTEXT-MARKER-77e1'


def _postgres_dir(path):
    os.makedirs(path, exist_ok=True)
    pw = pwd.getpwnam('postgres')
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o700)
    return path


def _shared_tmp(prefix):
    """A directory user postgres can traverse (pytest's tmp_path is root-only)."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope='module')
def archiving(request):
    """(server, archive_dir, tablespace_dir): PostgreSQL 15 with archive_mode=on and a tablespace."""
    holder = _shared_tmp('dbbackup-base-')
    archive = _postgres_dir(os.path.join(holder, 'archive'))
    tsdir = _postgres_dir(os.path.join(holder, 'ts1'))
    server = PgServer(extra_conf={
        'wal_level': 'replica', 'archive_mode': 'on',
        'archive_command': "'test ! -f %s/%%f && cp %%p %s/%%f'" % (archive, archive),
    })
    server.start()
    server.psql('postgres', "CREATE TABLESPACE ts1 LOCATION '%s'" % tsdir)
    server.psql('postgres', """
        CREATE TABLE stable (id int PRIMARY KEY, v text);
        INSERT INTO stable SELECT i, md5(i::text) || ' %s' FROM generate_series(1, 20000) i;
        CREATE TABLE in_ts (id int, v text) TABLESPACE ts1;
        INSERT INTO in_ts SELECT i, 'ts ' || i FROM generate_series(1, 5000) i;
        CREATE UNLOGGED TABLE scratch (id int);
        INSERT INTO scratch SELECT generate_series(1, 1000);
        CREATE TABLE writes (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
        CHECKPOINT;
    """ % MARKER)
    yield server, archive, tsdir
    server.stop()
    shutil.rmtree(holder, ignore_errors=True)


def _params(server, repo, **options):
    params = server.conn_params('postgres')
    params.update(repository=repo, kind='base', checkpoint='fast', server_name='src')
    params.update(options)
    return params


def _tar_names(path):
    """Member names of a stored, unencrypted zstd tar."""
    import tarfile
    with open(path, 'rb') as f:
        reader = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        with tarfile.open(fileobj=reader, mode='r|') as tar:
            return [m.name for m in tar]


def _md5_rows(server, table, order='id'):
    return server.scalar('postgres', 'SELECT md5(string_agg(t::text, \',\' ORDER BY %s)) FROM %s t'
                         % (order, table))


def _start_recovered(data_dir_base, archive, extra=''):
    """Scaffolding: recovery.signal + restore_command + recovery_target=immediate, start, promote."""
    data = os.path.join(data_dir_base, 'data')
    _postgres_dir(os.path.join(data_dir_base, 'sock'))
    server = PgServer(base_dir=data_dir_base, port=free_port())
    with open(os.path.join(data, 'postgresql.conf'), 'a') as f:
        f.write("\nport = %d\nunix_socket_directories = '%s'\narchive_mode = off\n"
                "restore_command = 'cp %s/%%f %%p'\nrecovery_target = 'immediate'\n"
                "recovery_target_action = 'promote'\n%s" % (server.port, server.sockdir, archive, extra))
    open(os.path.join(data, 'recovery.signal'), 'w').close()
    pw = pwd.getpwnam('postgres')
    os.chown(os.path.join(data, 'recovery.signal'), pw.pw_uid, pw.pw_gid)
    server.start()
    deadline = time.time() + 30
    while server.scalar('postgres', 'SELECT pg_is_in_recovery()'):
        assert time.time() < deadline, 'the restored server did not finish recovery'
        time.sleep(0.2)
    return server


def test_base_backup_round_trip_with_writer_and_tablespace(archiving, repository):
    server, archive, tsdir = archiving
    stop = threading.Event()
    inserted = []

    def writer():
        conn = server.connect()
        cur = conn.cursor()
        while not stop.is_set():
            cur.execute('INSERT INTO writes DEFAULT VALUES')
            inserted.append(1)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        before = server.scalar('postgres', 'SELECT count(*) FROM writes')
        result = api.run_backup(_params(server, repository, jobs=2))
        after = server.scalar('postgres', 'SELECT count(*) FROM writes')
    finally:
        stop.set()
        thread.join()
    assert result['changed'] and result['kind'] == 'base' and result['backup_id']
    assert after > before > 0, 'the writer was not running during the backup'
    repo = open_repository({'repository': repository})
    path = kind_path('src', 'base') + '/' + result['backup_id']
    manifest = read_manifest(repo, path)
    assert manifest['kind'] == 'base' and manifest['database'] is None
    assert manifest['timeline'] == 1 and manifest['wal_segment_size'] == 16 * 1024 * 1024
    assert manifest['start_wal_file'] <= manifest['stop_wal_file']
    assert manifest['system_identifier'] == str(server.scalar(
        'postgres', 'SELECT system_identifier FROM pg_control_system()'))
    ts_oid = server.scalar('postgres', "SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")
    assert manifest['tablespaces'] == [{'oid': ts_oid, 'location': tsdir, 'name': 'ts1',
                                        'path': 'tablespaces/%d.tar.zst' % ts_oid}]
    roles = sorted(f['role'] for f in manifest['files'])
    assert roles == ['backup_label', 'base', 'tablespace', 'tablespace_map']
    # the stop segment was archived before the backup reported success
    assert os.path.exists(os.path.join(archive, manifest['stop_wal_file']))

    # PostgreSQL's exclusions
    names = set(_tar_names(os.path.join(repository, path, 'base.tar.zst')))
    scratch = server.scalar('postgres', "SELECT pg_relation_filepath('scratch')")
    stable = server.scalar('postgres', "SELECT pg_relation_filepath('stable')")
    assert stable in names and 'PG_VERSION' in names and 'global/pg_control' in names
    assert scratch + '_init' in names and scratch not in names, 'unlogged main fork must be left out'
    assert 'postmaster.pid' not in names and 'postmaster.opts' not in names
    assert {'pg_wal', 'pg_wal/archive_status'} <= names
    assert not [n for n in names if n.startswith('pg_wal/') and n != 'pg_wal/archive_status']
    assert not [n for n in names if n.startswith('pg_tblspc/')], 'tablespace links go via tablespace_map'
    assert 'pg_stat_tmp' in names and not [n for n in names if n.startswith(('pg_stat_tmp/', 'pg_subtrans/'))]
    assert not [n for n in names if os.path.basename(n).startswith('pg_internal.init')]
    assert _tar_names(os.path.join(repository, path, 'tablespaces/%d.tar.zst' % ts_oid))[0].startswith('PG_15_')

    # the original tablespace location is in use: map it; the data directory must be empty
    rbase = _shared_tmp('dbbackup-base-restore-')
    occupied = os.path.join(rbase, 'occupied')
    os.makedirs(occupied)
    open(os.path.join(occupied, 'file'), 'w').close()
    with pytest.raises(errors.BadInput, match='is not empty'):
        extract_base_backup(repo, path, manifest, occupied)
    shutil.rmtree(occupied)
    with pytest.raises(errors.BadInput, match='not encrypted.*tablespace_mapping'):   # unauthenticated map
        extract_base_backup(repo, path, manifest, os.path.join(rbase, 'data'))
    with pytest.raises(errors.BadInput, match='PG_15_'):        # mapped in place: it is in use there
        extract_base_backup(repo, path, manifest, os.path.join(rbase, 'data'), tablespace_mapping={tsdir: tsdir})
    assert not os.path.exists(os.path.join(rbase, 'data'))
    new_ts = os.path.join(rbase, 'ts-moved')
    out = extract_base_backup(repo, path, manifest, os.path.join(rbase, 'data'),
                              tablespace_mapping={tsdir: new_ts}, owner='postgres')
    assert out['tablespaces'] == [{'oid': ts_oid, 'location': new_ts, 'original_location': tsdir}]
    data = os.path.join(rbase, 'data')
    assert os.stat(data).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(data, 'PG_VERSION')).st_uid == pwd.getpwnam('postgres').pw_uid
    with open(os.path.join(data, 'tablespace_map')) as f:
        assert parse_tablespace_map(f.read()) == [(ts_oid, new_ts)]
    assert os.readlink(os.path.join(data, 'pg_tblspc', str(ts_oid))) == new_ts
    assert glob.glob(os.path.join(new_ts, 'PG_15_*', '*'))

    restored = _start_recovered(rbase, archive)
    try:
        assert _md5_rows(restored, 'stable') == _md5_rows(server, 'stable')
        assert _md5_rows(restored, 'in_ts') == _md5_rows(server, 'in_ts')
        assert restored.scalar('postgres', "SELECT pg_tablespace_location(oid) FROM pg_tablespace "
                                           "WHERE spcname = 'ts1'") == new_ts
        count, top = restored.scalar('postgres', 'SELECT ARRAY[count(*), coalesce(max(id), 0)] FROM writes')
        assert before <= count <= after and count == top, 'rows must be the source\'s up to the backup end'
        assert restored.scalar('postgres', 'SELECT count(*) FROM scratch') == 0   # unlogged: reset
    finally:
        restored.stop()


def test_encrypted_base_backup(archiving, repository, tmp_path):
    server, archive, tsdir = archiving
    key = tmp_path / 'kek'
    key.write_text(os.urandom(32).hex())
    key.chmod(0o600)
    wrong = tmp_path / 'wrong'
    wrong.write_text(os.urandom(32).hex())
    wrong.chmod(0o600)
    plain = api.run_backup(_params(server, repository, compression='none', server_name='plain'))
    enc = api.run_backup(_params(server, repository, compression='none', encryption_key_file=str(key)))
    assert enc['encrypted'] and not plain['encrypted']

    def holds_marker(location):
        for root, dirs, files in os.walk(location):
            for name in files:
                with open(os.path.join(root, name), 'rb') as f:
                    if MARKER.encode() in f.read():
                        return True
        return False

    assert holds_marker(plain['location']), 'control: the marker is visible without encryption'
    assert not holds_marker(enc['location'])
    assert sorted(os.listdir(enc['location'])) == ['backup_label.enc', 'base.tar.enc', 'manifest.json',
                                                   'tablespace_map.enc', 'tablespaces']
    repo = open_repository({'repository': repository})
    path = kind_path('src', 'base') + '/' + enc['backup_id']
    manifest = read_manifest(repo, path)
    with pytest.raises(errors.WrongKey, match='does not match'):
        backup_data_key(key_source({'encryption_key_file': str(wrong)}), manifest)
    rbase = _shared_tmp('dbbackup-base-enc-')
    try:
        with pytest.raises(errors.BadInput, match='is encrypted and no data key'):
            extract_base_backup(repo, path, manifest, os.path.join(rbase, 'data'),
                                tablespace_mapping={tsdir: os.path.join(rbase, 'ts')})
        assert not os.path.exists(os.path.join(rbase, 'data')) and not os.path.exists(os.path.join(rbase, 'ts'))
        data_key = backup_data_key(key_source({'encryption_key_file': str(key)}), manifest)
        out = extract_base_backup(repo, path, manifest, os.path.join(rbase, 'data'), data_key=data_key,
                                  tablespace_mapping={str(manifest['tablespaces'][0]['oid']):
                                                      os.path.join(rbase, 'ts')})
        assert out['files'] > 100
        with open(os.path.join(rbase, 'data', 'backup_label')) as f:
            assert 'dbbackup %s' % enc['backup_id'] in f.read()
    finally:
        shutil.rmtree(rbase, ignore_errors=True)


def test_corrupted_file_fails_extraction_and_leaves_nothing(archiving, repository):
    server, archive, tsdir = archiving
    result = api.run_backup(_params(server, repository, compression='none'))
    repo = open_repository({'repository': repository})
    path = kind_path('src', 'base') + '/' + result['backup_id']
    manifest = read_manifest(repo, path)
    ts_oid = manifest['tablespaces'][0]['oid']
    stored = os.path.join(result['location'], 'tablespaces', '%d.tar' % ts_oid)
    with open(stored, 'r+b') as f:      # flip one byte inside file data: the tar still parses
        f.seek(os.path.getsize(stored) // 2)
        byte = f.read(1)
        f.seek(-1, io.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    rbase = _shared_tmp('dbbackup-base-bad-')
    try:
        empty = _postgres_dir(os.path.join(rbase, 'data'))     # an existing empty target stays, empty
        with pytest.raises(errors.IntegrityError, match='SHA-256'):
            extract_base_backup(repo, path, manifest, empty,
                                tablespace_mapping={ts_oid: os.path.join(rbase, 'new', 'ts')})
        assert os.listdir(empty) == []
        assert not os.path.exists(os.path.join(rbase, 'new'))
    finally:
        shutil.rmtree(rbase, ignore_errors=True)


def test_refusals_store_nothing(pg_server, archiving, repository):
    server, archive, tsdir = archiving
    # archive_mode off (the session server): clear error, nothing stored
    with pytest.raises(errors.BadInput, match='dbbackup_pitr state=enabled'):
        api.run_backup(_params(pg_server, repository))
    assert not os.path.exists(os.path.join(repository, 'src', 'base')) or \
        not os.listdir(os.path.join(repository, 'src', 'base'))
    # check mode connects and checks, writes nothing
    result = api.run_backup(_params(server, repository, server_name='checked'), check_mode=True)
    assert result['changed'] and result['backup_id'] is None and result['tablespaces'] == 1
    assert not os.path.exists(os.path.join(repository, 'checked'))
    with pytest.raises(errors.BadInput, match='checkpoint'):
        api.run_backup(_params(server, repository, checkpoint='slow'))
    # a broken archive_command: the stop call gives up after archive_wait_timeout, nothing is kept
    server.psql('postgres', "ALTER SYSTEM SET archive_command = 'false'")
    server.psql('postgres', 'SELECT pg_reload_conf()')
    try:
        time.sleep(0.5)
        with pytest.raises(errors.BackupFailed, match='not archived within 2 s'):
            api.run_backup(_params(server, repository, server_name='stuck', archive_wait_timeout=2))
        assert os.listdir(os.path.join(repository, 'stuck', 'base')) == []
    finally:
        server.psql('postgres', 'ALTER SYSTEM RESET archive_command')
        server.psql('postgres', 'SELECT pg_reload_conf()')


def test_cli_base_backup_verify_and_max_age(archiving, repository):
    server, archive, tsdir = archiving
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, DBBACKUP_PYTHON=sys.executable, PGPASSWORD=server.password)
    argv = [os.path.join(root, 'scripts', 'dbbackup'), 'backup', '--kind', 'base', '--repository', repository,
            '--login-host', server.host, '--login-port', str(server.port), '--server-name', 'cli',
            '--checkpoint', 'fast', '--archive-wait-timeout', '120', '--verify', 'quick', '--max-age', '1h']
    first = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result['changed'] and result['verification']['ok'] and result['verification']['files'] == 4
    assert os.path.exists(os.path.join(result['location'], 'verify.json'))
    second = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=120, check=False)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert not again['changed'] and again['backup_id'] == result['backup_id']
    assert again['stop_wal_file'] == result['stop_wal_file']


def test_module_base_backup_check_mode_and_max_age(archiving, repository, tmp_path):
    from devtools.drill import run_playbook
    server, archive, tsdir = archiving
    results = str(tmp_path / 'results.json')
    proc = run_playbook(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'base_backup.yml'),
                        dict(pg_host=server.host, pg_port=server.port, pg_user=server.user,
                             repository=repository, results_file=results),
                        str(tmp_path / 'ansible'), password=server.password, capture=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with open(results) as f:
        out = json.load(f)
    assert out['checked']['changed'] and out['checked']['backup_id'] is None
    first, second = out['first'], out['second']
    assert first['changed'] and first['kind'] == 'base' and first['tablespaces'] == 1
    assert first['start_wal_file'] <= first['stop_wal_file'] and first['timeline'] == 1
    assert not second['changed'] and second['backup_id'] == first['backup_id']
    assert os.listdir(os.path.join(repository, 'module-base', 'base')) == [first['backup_id']]


def test_full_repository_disk_fails_with_one_line(archiving, tmp_path):
    """A base backup into a repository that fills up (a 1 MiB tmpfs): exit 1, one line on stderr
    (the tar stream of the failed file used to print a traceback at exit), nothing kept."""
    if os.geteuid() != 0:
        pytest.fail('this test mounts a small tmpfs and needs root (as the suite does when it runs as root)')
    server, archive, tsdir = archiving
    tiny = str(tmp_path / 'tiny')
    os.makedirs(tiny)
    subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', tiny])
    try:
        env = dict(os.environ, DBBACKUP_PYTHON=sys.executable, PGPASSWORD=server.password)
        p = subprocess.run([os.path.join(ROOT, 'scripts', 'dbbackup'), 'backup', '--kind', 'base', '--checkpoint',
                            'fast', '--repository', tiny, '--server-name', 'full', '--login-host', server.host,
                            '--login-port', str(server.port), '--login-user', server.user],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=300, check=False)
        assert p.returncode == 1, (p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and 'disk is full' in lines[0], p.stderr
        assert os.listdir(os.path.join(tiny, 'full', 'base')) == []
    finally:
        subprocess.call(['umount', tiny])
