"""WAL archive: wal-push / wal-fetch as PostgreSQL's archive_command, against real servers.

PostgreSQL 15 (devtools/pg_temp.PgServer, archive_mode=on) archives through the host
CLI run as the postgres user (tests/support/pitr_cli.py builds the launcher), into a local
repository and into S3 (moto server). Covers: segments appear and pg_stat_archiver has
no failures; idempotent push (same content: exit 0; different: exit 1, original kept);
byte-identical fetch; missing files fail fast; damaged objects never reach %p;
encryption (nothing readable in the stored bytes, wrong key fails clearly, concurrent
first pushes share one key, rekey rewraps the WAL key); the chain check on a real archive;
never-overwrite under real concurrency (threads pushing one name, local and S3 incl.
multipart, a lost race after the pre-check); the number of S3 requests per push/fetch.
"""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from devtools.pg_temp import PgServer
from tests.support.pitr_cli import PostgresCli
from tests.support.wal_segments import segment_bytes, write_segment

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.format.keys import key_source
from plugins.module_utils.postgres.physical import wal_archive, wal_chain
from plugins.module_utils.storage import s3 as s3_storage
from plugins.module_utils.storage.factory import open_repository

SERVER = 'walsrv'
MARKER = b'wal-marker-7f3a9c'
MIB = 1 << 20


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def workdir():
    d = tempfile.mkdtemp(prefix='dbbackup-wal-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def pg_cli():
    made = PostgresCli().make()
    yield made
    made.cleanup()


@pytest.fixture(scope='module')
def cli(pg_cli):
    return pg_cli.launcher('dbbackup-wal')


def chown_postgres(path, mode=None):
    pw = pwd.getpwnam('postgres')
    os.chown(path, pw.pw_uid, pw.pw_gid)
    if mode is not None:
        os.chmod(path, mode)


def as_postgres(argv, **kw):
    return subprocess.run(['runuser', '-u', 'postgres', '--'] + argv, check=False, **kw)


def _postgres_dir(path):
    os.makedirs(path)
    chown_postgres(path, 0o700)
    return path


def _key_file(path, owner_postgres=True):
    with open(path, 'w') as f:
        f.write(os.urandom(32).hex() + '\n')
    os.chmod(path, 0o600)
    if owner_postgres:
        chown_postgres(path)
    return path


def _config(path, **values):
    with open(path, 'w') as f:
        json.dump(values, f)
    chown_postgres(path, 0o600)
    return path


def _archiving_server(cli, config):
    cmd = wal_archive.archive_command(cli, config)
    return PgServer(extra_conf={'archive_mode': 'on', 'wal_level': 'replica',
                                'archive_command': wal_archive.conf_quote(cmd)}).start()


@pytest.fixture(scope='module')
def local_archive(workdir, cli):
    """A server archiving to a local repository, encrypted with a key file."""
    base = os.path.join(workdir, 'local')
    os.mkdir(base)
    os.chmod(base, 0o755)
    repo = _postgres_dir(os.path.join(base, 'repo'))
    key = _key_file(os.path.join(base, 'wal.key'))
    conf = _config(os.path.join(base, 'wal.json'), repository=repo, server_name=SERVER, encryption_key_file=key)
    server = _archiving_server(cli, conf)
    yield {'server': server, 'repo': repo, 'key': key, 'conf': conf}
    server.stop()


def _switch_and_wait(server, timeout=30):
    """Write WAL holding MARKER, switch segments; the finished segment's name once it is archived."""
    server.psql('postgres', "CREATE TABLE IF NOT EXISTS walt(t text); "
                            "INSERT INTO walt SELECT '%s ' || g FROM generate_series(1, 200) g" % MARKER.decode())
    name = server.scalar('postgres', 'SELECT pg_walfile_name(pg_switch_wal())')
    deadline = time.time() + timeout
    while True:
        row = server.connect().cursor()
        row.execute('SELECT last_archived_wal, failed_count, last_failed_wal FROM pg_stat_archiver')
        last, failed, failed_wal = row.fetchone()
        row.connection.close()
        if last is not None and last >= name:
            return name, failed
        if time.time() > deadline:
            with open(server.logfile) as f:
                log = f.read()[-3000:]
            pytest.fail('%s was not archived within %ds (failed_count %s, last failed %s)\n%s'
                        % (name, timeout, failed, failed_wal, log))
        time.sleep(0.1)


def _run(cli, args, env=None, user_postgres=False):
    argv = [cli] + args
    kw = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    if env is not None:
        kw['env'] = env
    if user_postgres:
        return as_postgres(argv, **kw)
    return subprocess.run(argv, check=False, **kw)


def _segment_file(path, name, size=MIB, fill=b'seg'):
    """A segment for `name` with real page headers (tests/support/wal_segments.py), random 4 KiB head."""
    return write_segment(path, name, size, fill)


# --- a real server archiving --------------------------------------------------------------

def test_archive_command_archives_encrypted_segments(local_archive, cli):
    server, repo = local_archive['server'], local_archive['repo']
    name, failed = _switch_and_wait(server)
    assert failed == 0
    stored = os.path.join(repo, SERVER, 'wal', name[:8], name + '.zst.enc')
    assert os.path.isfile(stored)
    with open(stored, 'rb') as f:
        data = f.read()
    assert MARKER not in data and data.startswith(b'\x89DBBARC\n')     # framed: header, encrypted payload
    assert b'\x89DBBENC\n' in data[:200] and b'"encrypted":true' in data[:200]
    with open(os.path.join(repo, SERVER, 'wal', 'wal-key.json')) as f:
        key_doc = f.read()
    with open(local_archive['key']) as f:
        assert f.read().strip() not in key_doc
    # fetch as PostgreSQL's restore_command would: byte-identical to the server's own segment
    dest_dir = _postgres_dir(os.path.join(os.path.dirname(repo), 'restore-%s' % name))
    dest = os.path.join(dest_dir, 'RECOVERYXLOG')
    p = _run(cli, ['wal-fetch', '--config', local_archive['conf'], name, dest], user_postgres=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == '' and p.stderr == ''
    with open(dest, 'rb') as f:
        fetched = f.read()
    assert MARKER in fetched and len(fetched) == 16 * MIB
    original = os.path.join(server.datadir, 'pg_wal', name)
    if os.path.exists(original):
        with open(original, 'rb') as f:
            assert f.read() == fetched
    assert os.listdir(dest_dir) == ['RECOVERYXLOG']


def test_chain_of_a_real_archive(local_archive):
    server = local_archive['server']
    names = [_switch_and_wait(server)[0] for dummy in range(2)]
    seg_size = int(server.scalar('postgres', "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"))
    repo = open_repository({'repository': local_archive['repo']})
    archive = wal_chain.list_archive(repo, SERVER)
    assert set(names) <= set(archive[1])
    first = archive[1][0]
    r = wal_chain.check_chain(repo, SERVER, first, seg_size)
    assert r['ok'] and r['gaps'] == [] and r['timeline'] == 1, r
    assert r['first'] == first and r['last'] >= names[-1]
    # a hole in the archive is a gap
    middle = names[0]
    os.rename(os.path.join(local_archive['repo'], SERVER, 'wal', '00000001', middle + '.zst.enc'),
              os.path.join(local_archive['repo'], 'moved-away'))
    try:
        r = wal_chain.check_chain(repo, SERVER, first, seg_size)
        assert not r['ok'] and r['gaps'][0]['missing_from'] == middle
    finally:
        os.rename(os.path.join(local_archive['repo'], 'moved-away'),
                  os.path.join(local_archive['repo'], SERVER, 'wal', '00000001', middle + '.zst.enc'))


# --- asynchronous mode: spooler and prefetcher -----------------------------------------------

def _spool_pids(spool, kind):
    """Pids holding the spool's lock of kind (push/fetch): the running background process."""
    locks = [os.path.join(root, '%s.lock' % kind) for root, dummy, files in os.walk(spool)
             if '%s.lock' % kind in files]
    out = subprocess.run(['fuser'] + locks, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True, check=False).stdout if locks else ''
    return [int(x) for x in out.split()]


def _acknowledged(server):
    """The WAL files PostgreSQL considers archived (archive_status/*.done)."""
    status = os.path.join(server.datadir, 'pg_wal', 'archive_status')
    return sorted(n[:-5] for n in os.listdir(status) if n.endswith('.done'))


def test_async_archiving_acknowledges_only_stored_files_and_survives_a_killed_spooler(workdir, pg_cli):
    """archive_async: the spooler pushes ahead; PostgreSQL is told "archived" only for stored files, also
    when the spooler is killed (SIGKILL) in the middle of its work; then fetch through the prefetcher."""
    base = os.path.join(workdir, 'async')
    os.mkdir(base)
    os.chmod(base, 0o755)
    repo = _postgres_dir(os.path.join(base, 'repo'))
    spool = _postgres_dir(os.path.join(base, 'spool'))
    key = _key_file(os.path.join(base, 'wal.key'))
    conf = _config(os.path.join(base, 'async.json'), repository=repo, server_name='asyncsrv', encryption_key_file=key,
                   archive_async=True, spool_path=spool, async_jobs=2)
    cli = pg_cli.launcher('dbbackup-async')
    server = _archiving_server(cli, conf)
    try:
        server.psql('postgres', 'CREATE TABLE t (x text)')
        stored = os.path.join(repo, 'asyncsrv', 'wal', '00000001')

        def in_repo(names):
            have = set(n.split('.')[0] for n in os.listdir(stored)) if os.path.isdir(stored) else set()
            return [n for n in names if n.split('.')[0] not in have and len(n) == 24]

        first = _switch_and_wait(server)[0]
        assert _spool_pids(spool, 'push'), 'no spooler runs'
        assert in_repo(_acknowledged(server)) == []
        # many segments at once, then SIGKILL the spooler while it works on them
        for dummy in range(6):
            server.psql('postgres', "INSERT INTO t SELECT repeat('y', 500) FROM generate_series(1, 3000); "
                                    "SELECT pg_switch_wal()")
        pids = _spool_pids(spool, 'push')
        for pid in pids:
            os.kill(pid, 9)
        time.sleep(0.2)
        assert in_repo(_acknowledged(server)) == [], 'acknowledged to PostgreSQL but not stored'
        last, failed = _switch_and_wait(server, timeout=60)      # archiving goes on: a new spooler
        assert in_repo(_acknowledged(server)) == [] and in_repo([last]) == []
        assert set(_spool_pids(spool, 'push')) - set(pids), 'no new spooler was started'
        names = sorted(n.split('.')[0] for n in os.listdir(stored) if len(n.split('.')[0]) == 24)
        assert names[0] <= first and names[-1] >= last and len(names) >= 8
    finally:
        server.stop()
    # every stored segment is whole and checked (deep), and the prefetcher serves them
    from plugins.module_utils.postgres.physical.wal_verify import verify_archive
    p = {'repository': repo, 'server_name': 'asyncsrv', 'encryption_key_file': key}
    r = open_repository(p)
    v = verify_archive(r, p, wal_chain.list_archive(r, 'asyncsrv'), 'deep')
    assert v['ok'] and v['checked'] == v['objects'], v
    dest_dir = _postgres_dir(os.path.join(base, 'restore'))
    dest = os.path.join(dest_dir, 'RECOVERYXLOG')
    direct = os.path.join(base, 'direct')
    for name in names[:4]:
        proc = _run(cli, ['wal-fetch', '--config', conf, name, dest], user_postgres=True)
        assert proc.returncode == 0, proc.stderr
        api.run_wal_fetch(dict(p, wal_name=name, dest_path=direct))
        assert _read(dest) == _read(direct)
        os.unlink(dest)
    assert _spool_pids(spool, 'fetch'), 'no prefetcher runs'
    fetch_dir = [root for root, dummy, files in os.walk(spool) if root.endswith('fetch')][0]
    deadline = time.time() + 10
    while names[4] not in os.listdir(fetch_dir) and time.time() < deadline:
        time.sleep(0.05)
    assert names[4] in os.listdir(fetch_dir), os.listdir(fetch_dir)    # read ahead of the last one asked for
    proc = _run(cli, ['wal-fetch', '--config', conf, '0000000100000000000000F0', dest], user_postgres=True)
    assert proc.returncode == 1 and 'not in the archive' in proc.stderr and not os.path.exists(dest), proc.stderr
    for kind in ('push', 'fetch'):
        for pid in _spool_pids(spool, kind):
            os.kill(pid, 15)


# --- push / fetch through the CLI --------------------------------------------------------

@pytest.fixture
def plain_repo(workdir):
    return tempfile.mkdtemp(prefix='repo-', dir=workdir)


def test_wal_push_is_idempotent_and_never_overwrites(cli, plain_repo, workdir):
    name = '000000010000000000000007'
    src = _segment_file(os.path.join(plain_repo, 'src-' + name), name)
    args = ['--repository', plain_repo, '--server-name', SERVER]
    first = _run(cli, ['wal-push'] + args + [src, name])
    assert first.returncode == 0 and first.stdout == '' and first.stderr == '', first.stderr
    stored = os.path.join(plain_repo, SERVER, 'wal', '00000001', name + '.zst')
    before = os.stat(stored)
    again = _run(cli, ['wal-push'] + args + ['--compression', 'gzip', src, name])
    assert again.returncode == 0, again.stderr
    assert os.listdir(os.path.dirname(stored)) == [name + '.zst']
    assert os.stat(stored).st_mtime_ns == before.st_mtime_ns
    other = _segment_file(os.path.join(plain_repo, 'other'), name, fill=b'different')
    clash = _run(cli, ['wal-push'] + args + [other, name])
    assert clash.returncode == 1
    assert 'different content' in clash.stderr and 'never overwritten' in clash.stderr
    assert clash.stderr.count('\n') == 1 and clash.stderr.startswith('dbbackup: ')
    dest = os.path.join(plain_repo, 'fetched')
    fetched = _run(cli, ['wal-fetch'] + args + [name, dest])
    assert fetched.returncode == 0, fetched.stderr
    with open(src, 'rb') as a, open(dest, 'rb') as b:
        assert a.read() == b.read()
    # the same through the API: changed flags
    p = {'repository': plain_repo, 'server_name': SERVER, 'src_path': src, 'wal_name': name}
    assert api.run_wal_push(p)['changed'] is False
    hist = os.path.join(plain_repo, '00000002.history')
    with open(hist, 'w') as f:
        f.write('1\t0/7000100\tno recovery target specified\n')
    assert api.run_wal_push(dict(p, src_path=hist, wal_name='00000002.history'))['changed'] is True
    assert os.path.isfile(os.path.join(plain_repo, SERVER, 'wal', '00000002', '00000002.history.zst'))


def test_bad_input_is_one_clear_error(cli, plain_repo):
    args = ['--repository', plain_repo, '--server-name', SERVER]
    src = _segment_file(os.path.join(plain_repo, 'seg'), '000000010000000000000001')
    for name in ('../../etc/passwd', '00000001000000000000000a', 'RECOVERYXLOG'):
        p = _run(cli, ['wal-push'] + args + [src, name])
        assert p.returncode == 1 and 'is not a WAL file name' in p.stderr, p.stderr
    p = _run(cli, ['wal-push'] + args + [os.path.join(plain_repo, 'nope'), '000000010000000000000001'])
    assert p.returncode == 1 and 'cannot be read' in p.stderr
    short = os.path.join(plain_repo, 'short')
    with open(short, 'wb') as f:
        f.write(b'x' * 1000)
    p = _run(cli, ['wal-push'] + args + [short, '000000010000000000000001'])
    assert p.returncode == 1 and 'power of two' in p.stderr
    assert not os.path.exists(os.path.join(plain_repo, SERVER))


def test_wal_fetch_of_a_missing_file_fails_fast(cli, plain_repo):
    args = ['--repository', plain_repo, '--server-name', SERVER]
    dest = os.path.join(plain_repo, 'RECOVERYHISTORY')
    for name in ('00000002.history', '000000010000000000000042'):
        t0 = time.time()
        p = _run(cli, ['wal-fetch'] + args + [name, dest])
        assert time.time() - t0 < 20      # a hang guard (no retry loop on a miss), not a speed target
        assert p.returncode == 1 and 'is not in the archive' in p.stderr
        assert not os.path.exists(dest)


def test_damaged_object_never_reaches_the_destination(cli, plain_repo, workdir):
    key = _key_file(os.path.join(plain_repo, 'k.key'), owner_postgres=False)
    for encrypted in (False, True):
        name = '00000001000000000000001%d' % int(encrypted)
        src = _segment_file(os.path.join(plain_repo, 'src'), name)
        p = {'repository': plain_repo, 'server_name': SERVER, 'src_path': src, 'wal_name': name}
        if encrypted:
            p['encryption_key_file'] = key
        api.run_wal_push(p)
        stored = os.path.join(plain_repo, SERVER, 'wal', '00000001', name + ('.zst.enc' if encrypted else '.zst'))
        with open(stored, 'rb') as f:
            good = f.read()
        dest_dir = tempfile.mkdtemp(dir=workdir)
        dest = os.path.join(dest_dir, 'RECOVERYXLOG')
        flipped = good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 1]) + good[len(good) // 2 + 1:]
        damaged = ((good[:-9], 'truncated'), (flipped, 'cannot be decrypted' if encrypted else 'damaged'))
        for bad, said in damaged:
            with open(stored, 'wb') as f:
                f.write(bad)
            args = ['--repository', plain_repo, '--server-name', SERVER]
            if encrypted:
                args += ['--encryption-key-file', key]
            r = _run(cli, ['wal-fetch'] + args + [name, dest])
            # archived but unusable: above 125, so PostgreSQL stops recovery (exit 1 would read as "not archived")
            assert r.returncode == 200, r.stderr
            assert 'Archived WAL file' in r.stderr and 'Backup file' not in r.stderr, r.stderr
            assert said in r.stderr, r.stderr
            assert 'recovery cannot use it' in r.stderr.lower(), r.stderr
            assert os.listdir(dest_dir) == []
        with open(stored, 'wb') as f:
            f.write(good)
        assert api.run_wal_fetch(dict(p, dest_path=dest))['raw_bytes'] == MIB


def test_an_object_copied_to_another_name_is_refused(cli, plain_repo):
    """An encrypted segment copied over another segment's key: the name is bound into the object (item 4)."""
    from plugins.module_utils.postgres.physical.wal_verify import verify_archive
    key = _key_file(os.path.join(plain_repo, 'c.key'), owner_postgres=False)
    base = {'repository': plain_repo, 'server_name': SERVER, 'encryption_key_file': key}
    a, b = '000000010000000000000061', '000000010000000000000062'
    for name in (a, b):
        api.run_wal_push(dict(base, wal_name=name, src_path=_segment_file(os.path.join(plain_repo, name), name)))
    tli_dir = os.path.join(plain_repo, SERVER, 'wal', '00000001')
    shutil.copyfile(os.path.join(tli_dir, b + '.zst.enc'), os.path.join(tli_dir, a + '.zst.enc'))
    dest = os.path.join(plain_repo, 'RECOVERYXLOG')
    r = _run(cli, ['wal-fetch', '--repository', plain_repo, '--server-name', SERVER, '--encryption-key-file', key,
                   a, dest])
    assert r.returncode == 200 and not os.path.exists(dest), r.stderr
    assert "is file '%s', not '%s': it was copied or renamed" % (b, a) in r.stderr
    repo = open_repository(base)
    for mode in ('quick', 'deep'):         # quick needs no key: the identity is in the clear header
        v = verify_archive(repo, dict(base, encryption_key_file=None if mode == 'quick' else key),
                           wal_chain.list_archive(repo, SERVER), mode)
        assert [d['wal_name'] for d in v['damaged']] == [a] and v['checked'] == v['objects'] - 1, v


# --- encryption keys -------------------------------------------------------------------

def test_wrong_key_fails_clearly_and_writes_nothing(plain_repo, workdir):
    right = _key_file(os.path.join(plain_repo, 'right.key'), owner_postgres=False)
    wrong = _key_file(os.path.join(plain_repo, 'wrong.key'), owner_postgres=False)
    src = _segment_file(os.path.join(plain_repo, 'src'), '000000010000000000000001')
    src2 = _segment_file(os.path.join(plain_repo, 'src2'), '000000010000000000000002')
    base = {'repository': plain_repo, 'server_name': SERVER}
    api.run_wal_push(dict(base, src_path=src, wal_name='000000010000000000000001', encryption_key_file=right))
    dest = os.path.join(plain_repo, 'out')
    with pytest.raises(errors.WrongKey, match='not the key the WAL archive'):
        api.run_wal_fetch(dict(base, wal_name='000000010000000000000001', dest_path=dest, encryption_key_file=wrong))
    assert not os.path.exists(dest)
    with pytest.raises(errors.WrongKey):
        api.run_wal_push(dict(base, src_path=src2, wal_name='000000010000000000000002', encryption_key_file=wrong))
    assert os.listdir(os.path.join(plain_repo, SERVER, 'wal', '00000001')) == ['000000010000000000000001.zst.enc']
    with pytest.raises(errors.BadInput, match='no key was given'):
        api.run_wal_fetch(dict(base, wal_name='000000010000000000000001', dest_path=dest))
    with pytest.raises(errors.WrongKey):
        api.run_wal_fetch(dict(base, wal_name='000000010000000000000001', dest_path=dest,
                               encryption_passphrase='a passphrase that is wrong'))
    assert not os.path.exists(dest)


def test_plain_wal_in_an_encrypted_archive_is_refused_unless_allowed(plain_repo, cli):
    """A plain copy placed into an encrypted archive (downgrade) is never restored silently."""
    key = _key_file(os.path.join(plain_repo, 'd.key'), owner_postgres=False)
    first = _segment_file(os.path.join(plain_repo, 'src-d1'), '000000010000000000000001')
    src = _segment_file(os.path.join(plain_repo, 'src-d'), '000000010000000000000002', fill=b'planted')
    base = {'repository': plain_repo, 'server_name': SERVER}
    api.run_wal_push(dict(base, src_path=first, wal_name='000000010000000000000001', encryption_key_file=key))
    api.run_wal_push(dict(base, src_path=src, wal_name='000000010000000000000002'))     # plain, as an intruder would
    dest = os.path.join(plain_repo, 'out-d')
    for params in (dict(base, encryption_key_file=key), dict(base)):     # key configured, or wal-key.json exists
        with pytest.raises(errors.IntegrityError, match='stored unencrypted .* in an encrypted archive'):
            api.run_wal_fetch(dict(params, wal_name='000000010000000000000002', dest_path=dest))
        assert not os.path.exists(dest)
    proc = _run(cli, ['wal-fetch', '--repository', plain_repo, '--server-name', SERVER,
                      '000000010000000000000002', dest])
    assert proc.returncode == 200 and 'allow-unencrypted' in proc.stderr and not os.path.exists(dest)
    allowed = api.run_wal_fetch(dict(base, encryption_key_file=key, allow_unencrypted=True,
                                     wal_name='000000010000000000000002', dest_path=dest))
    assert allowed['encrypted'] is False and open(dest, 'rb').read() == open(src, 'rb').read()
    # a plain archive (no key anywhere) is not affected
    other = dict(base, server_name='plainsrv')
    third = _segment_file(os.path.join(plain_repo, 'src-d3'), '000000010000000000000003')
    api.run_wal_push(dict(other, src_path=third, wal_name='000000010000000000000003'))
    api.run_wal_fetch(dict(other, wal_name='000000010000000000000003', dest_path=dest + '3'))
    assert os.path.exists(dest + '3')


def test_concurrent_first_pushes_share_one_key(plain_repo):
    key = _key_file(os.path.join(plain_repo, 'k.key'), owner_postgres=False)
    p = {'repository': plain_repo, 'server_name': SERVER, 'encryption_key_file': key}
    names = ['0000000100000000000000%02X' % (i + 1) for i in range(6)]
    srcs = [_segment_file(os.path.join(plain_repo, 'src%d' % i), n) for i, n in enumerate(names)]
    barrier = threading.Barrier(6)
    keys, failures = [], []

    def push(i):
        try:
            barrier.wait()
            repo = open_repository(p)
            keys.append(wal_archive.wal_data_key(repo, SERVER, key_source(p), create=True))
            api.run_wal_push(dict(p, src_path=srcs[i], wal_name=names[i]))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(set(keys)) == 1
    for i in range(6):
        out = os.path.join(plain_repo, 'out%d' % i)
        api.run_wal_fetch(dict(p, wal_name=names[i], dest_path=out))
        with open(out, 'rb') as a, open(srcs[i], 'rb') as b:
            assert a.read() == b.read()
    assert [n for n in os.listdir(os.path.join(plain_repo, SERVER, 'wal')) if n.startswith('.')] == []


def test_rekey_rewraps_the_wal_key(plain_repo):
    old = _key_file(os.path.join(plain_repo, 'old.key'), owner_postgres=False)
    new = _key_file(os.path.join(plain_repo, 'new.key'), owner_postgres=False)
    name = '000000010000000000000003'
    src = _segment_file(os.path.join(plain_repo, 'src'), name)
    base = {'repository': plain_repo, 'server_name': SERVER}
    api.run_wal_push(dict(base, src_path=src, wal_name=name, encryption_key_file=old))
    stored = os.path.join(plain_repo, SERVER, 'wal', '00000001', name + '.zst.enc')
    with open(stored, 'rb') as f:
        before = f.read()
    r = api.run_rekey(dict(base, encryption_key_file=old, new_encryption_key_file=new), check_mode=True)
    assert r['wal_key'] == 'rekeyed' and r['changed']
    api.run_wal_fetch(dict(base, wal_name=name, dest_path=os.path.join(plain_repo, 'o0'), encryption_key_file=old))
    r = api.run_rekey(dict(base, encryption_key_file=old, new_encryption_key_file=new))
    assert r['wal_key'] == 'rekeyed' and r['changed'] and 'WAL archive key' in r['msg']
    with open(stored, 'rb') as f:
        assert f.read() == before          # data never changes, only the wrapped key
    api.run_wal_fetch(dict(base, wal_name=name, dest_path=os.path.join(plain_repo, 'o1'), encryption_key_file=new))
    with pytest.raises(errors.WrongKey):
        api.run_wal_fetch(dict(base, wal_name=name, dest_path=os.path.join(plain_repo, 'o2'),
                               encryption_key_file=old))
    r = api.run_rekey(dict(base, encryption_key_file=old, new_encryption_key_file=new))
    assert r['wal_key'] == 'unchanged' and not r['changed']
    # a wrong old key changes nothing
    other = _key_file(os.path.join(plain_repo, 'other.key'), owner_postgres=False)
    with pytest.raises(errors.WrongKey):
        api.run_rekey(dict(base, encryption_key_file=other, new_encryption_key_file=old))
    api.run_wal_fetch(dict(base, wal_name=name, dest_path=os.path.join(plain_repo, 'o3'), encryption_key_file=new))


# --- S3 ---------------------------------------------------------------------------------

def test_s3_archive_encrypted_by_a_real_server(s3_server, s3_repo, workdir, pg_cli):
    base = os.path.join(workdir, 's3')
    os.mkdir(base)
    os.chmod(base, 0o755)
    creds = os.path.join(base, 'credentials')
    with open(creds, 'w') as f:
        f.write('[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n'
                % (s3_server.access_key, s3_server.secret_key))
    chown_postgres(creds, 0o600)
    s3cli = pg_cli.launcher('dbbackup-wal-s3', env={
        'AWS_SHARED_CREDENTIALS_FILE': creds, 'AWS_CONFIG_FILE': '/dev/null',
        'NO_PROXY': '127.0.0.1,localhost', 'no_proxy': '127.0.0.1,localhost'})
    key = _key_file(os.path.join(base, 'wal.key'))
    conf = _config(os.path.join(base, 'wal.json'), repository=s3_repo.url, server_name=SERVER,
                   s3_endpoint_url=s3_server.endpoint, s3_region='us-east-1', encryption_key_file=key)
    server = _archiving_server(s3cli, conf)
    try:
        name, failed = _switch_and_wait(server)
        assert failed == 0
    finally:
        server.stop()
    objects = s3_repo.keys('%s/wal' % SERVER)
    obj = '%s/%s/wal/%s/%s.zst.enc' % (s3_repo.prefix, SERVER, name[:8], name)
    assert obj in objects and '%s/%s/wal/wal-key.json' % (s3_repo.prefix, SERVER) in objects
    body = s3_repo.client.get_object(Bucket=s3_repo.bucket, Key=obj)['Body'].read()
    assert MARKER not in body
    p = s3_repo.params(server_name=SERVER, encryption_key_file=key)
    dest = os.path.join(base, 'RECOVERYXLOG')
    r = api.run_wal_fetch(dict(p, wal_name=name, dest_path=dest))
    assert r['encrypted'] and r['raw_bytes'] == 16 * MIB
    with open(dest, 'rb') as f:
        assert MARKER in f.read()
    repo = open_repository(p)
    # the key file is written only when absent (conditional PUT): a second writer gets False
    stored_key = s3_repo.client.get_object(Bucket=s3_repo.bucket, Key='%s/%s/wal/wal-key.json'
                                           % (s3_repo.prefix, SERVER))['Body'].read()
    assert repo.write_bytes(wal_archive.key_path(SERVER), b'{}', if_absent=True) is False
    assert repo.read_bytes(wal_archive.key_path(SERVER)) == stored_key
    chain = wal_chain.check_chain(repo, SERVER, wal_chain.list_archive(repo, SERVER)[1][0], 16 * MIB)
    assert chain['ok'] and chain['last'] >= name, chain
    # a missing file: a fast, clean failure through the CLI
    env = s3_server.env()
    t0 = time.time()
    miss = _run(s3cli, ['wal-fetch', '--config', conf, '00000002.history', os.path.join(base, 'h')], env=env)
    assert miss.returncode == 1 and 'is not in the archive' in miss.stderr
    assert time.time() - t0 < 20      # a hang guard (no retry loop on a miss), not a speed target
    assert s3_server.secret_key not in miss.stderr
    assert not os.path.exists(os.path.join(base, 'h'))


# --- never overwrite: concurrent pushes of one name ---------------------------------------

@pytest.fixture(scope='module')
def serial_s3(workdir):
    """A moto server answering one request at a time (its conditional writes are then atomic, as on S3)."""
    from tests.support.s3 import start_moto
    try:
        server = start_moto(os.path.join(workdir, 'moto-serial.log'), threaded=False)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def serial_repo(serial_s3):
    return serial_s3.new_bucket('walrace-%d-%d' % (os.getpid(), int(time.time() * 1000) % 10 ** 9))


def _race(params, name, srcs):
    """Push every src as `name` at the same moment (one thread each); (won, lost) lists."""
    barrier = threading.Barrier(len(srcs))
    won, lost, lock = [], [], threading.Lock()

    def push(src):
        barrier.wait()
        try:
            r = api.run_wal_push(dict(params, src_path=src, wal_name=name))
            with lock:
                won.append((src, r))
        except Exception as e:  # noqa: BLE001 - asserted by the caller
            with lock:
                lost.append((src, e))

    threads = [threading.Thread(target=push, args=(src,)) for src in srcs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def _assert_one_winner(params, name, srcs, won, lost, tmpdir):
    assert len(won) == 1 and won[0][1]['changed'] is True, (won, lost)
    assert len(lost) == len(srcs) - 1
    for src, e in lost:
        assert isinstance(e, errors.IntegrityError), repr(e)
        assert 'different content' in str(e) and 'never overwritten' in str(e)
    dest = os.path.join(tmpdir, 'fetched-' + name)
    api.run_wal_fetch(dict(params, wal_name=name, dest_path=dest))
    assert _read(dest) == _read(won[0][0])          # the stored object is the winner's, whole


def test_concurrent_pushes_of_one_name_local(plain_repo):
    params = {'repository': plain_repo, 'server_name': SERVER}
    name = '000000010000000000000021'
    srcs = [_segment_file(os.path.join(plain_repo, 'src%d' % i), name) for i in range(6)]   # all different
    won, lost = _race(params, name, srcs)
    _assert_one_winner(params, name, srcs, won, lost, plain_repo)
    # nothing else: no second variant, no hidden temporary file
    assert os.listdir(os.path.join(plain_repo, SERVER, 'wal', '00000001')) == [name + '.zst']
    # the same content from everyone: all succeed, exactly one writes
    same = '000000010000000000000022'
    won, lost = _race(params, same, [_segment_file(os.path.join(plain_repo, 'same'), same)] * 4)
    assert not lost and sorted(r['changed'] for src, r in won) == [False, False, False, True]


def test_concurrent_pushes_of_one_name_s3(serial_repo, workdir, monkeypatch):
    s3_repo = serial_repo
    params = s3_repo.params(server_name=SERVER)
    tmpdir = tempfile.mkdtemp(dir=workdir)
    name = '000000010000000000000031'
    srcs = [_segment_file(os.path.join(tmpdir, 'src%d' % i), name) for i in range(5)]
    won, lost = _race(params, name, srcs)
    _assert_one_winner(params, name, srcs, won, lost, tmpdir)
    same = _segment_file(os.path.join(tmpdir, 'same'), '000000010000000000000032')
    won, lost = _race(params, '000000010000000000000032', [same] * 3)
    assert not lost and sorted(r['changed'] for src, r in won) == [False, False, True]
    # bodies above one part go out as multipart uploads whose completion is conditional
    monkeypatch.setattr(s3_storage, 'PART_SIZE', 5 * MIB)
    big = []
    for i in range(3):
        path = os.path.join(tmpdir, 'big%d' % i)
        with open(path, 'wb') as f:
            f.write(segment_bytes('000000010000000000000033', 16 * MIB, fill=os.urandom(4096)))   # 4 parts
        big.append(path)
    multi = dict(params, compression='none')
    won, lost = _race(multi, '000000010000000000000033', big)
    _assert_one_winner(multi, '000000010000000000000033', big, won, lost, tmpdir)
    assert 16 * MIB < won[0][1]['stored_bytes'] < 16 * MIB + 400     # + header and checksum trailer
    assert s3_repo.multipart_uploads() == []          # the losers' uploads were aborted
    names = ('000000010000000000000031.zst', '000000010000000000000032.zst', '000000010000000000000033')
    expected = ['%s/%s/wal/00000001/%s' % (s3_repo.prefix, SERVER, n) for n in names]
    assert s3_repo.keys('%s/wal/00000001' % SERVER) == expected


@pytest.fixture(params=['local', 's3'])
def any_repo(request, workdir):
    if request.param == 'local':
        return {'repository': tempfile.mkdtemp(prefix='repo-', dir=workdir), 'server_name': SERVER}
    return request.getfixturevalue('serial_repo').params(server_name=SERVER)


def test_lost_race_after_the_check_never_overwrites(any_repo, workdir, monkeypatch):
    """The pre-check saw nothing (another push was still writing): the publish itself refuses."""
    tmpdir = tempfile.mkdtemp(dir=workdir)
    key = _key_file(os.path.join(tmpdir, 'k.key'), owner_postgres=False)
    params = dict(any_repo, encryption_key_file=key)
    name = '000000010000000000000041'
    first = _segment_file(os.path.join(tmpdir, 'first'), name)
    assert api.run_wal_push(dict(params, src_path=first, wal_name=name))['changed'] is True
    repo = open_repository(params)
    relpath = wal_archive.object_path(SERVER, name, 'zstd', True)
    stored = repo.read_bytes(relpath)
    monkeypatch.setattr(wal_archive, 'stored_copies', lambda *a: [])      # the check finds nothing
    again = api.run_wal_push(dict(params, src_path=first, wal_name=name))
    assert again['changed'] is False and 'same content' in again['msg']
    other = _segment_file(os.path.join(tmpdir, 'other'), name)
    with pytest.raises(errors.IntegrityError, match='different content.*never overwritten'):
        api.run_wal_push(dict(params, src_path=other, wal_name=name))
    assert repo.read_bytes(relpath) == stored
    monkeypatch.undo()
    assert [c[0] for c in wal_archive.stored_copies(repo, SERVER, name)] == [relpath]
    if any_repo['repository'].startswith('/'):
        assert os.listdir(os.path.join(any_repo['repository'], SERVER, 'wal', '00000001')) == [name + '.zst.enc']
    else:
        assert s3_storage.S3Repository.incomplete_uploads(repo, '%s/wal' % SERVER) == []


# --- how many requests a push or fetch costs on S3 ------------------------------------------

def test_s3_request_count(s3_repo, workdir, monkeypatch):
    calls = []
    real = s3_storage.make_client

    def counting(opts, jobs=2):
        client = real(opts, jobs)
        client.meta.events.register('before-call.s3', lambda model, **kw: calls.append(model.name))
        return client

    monkeypatch.setattr(s3_storage, 'make_client', counting)
    params = s3_repo.params(server_name=SERVER)
    tmpdir = tempfile.mkdtemp(dir=workdir)
    src = _segment_file(os.path.join(tmpdir, 'src'), '000000010000000000000051')

    def count(fn, **extra):
        del calls[:]
        t0 = time.time()
        try:
            fn(dict(params, **extra))
        except errors.NotFound:
            pass
        return list(calls), time.time() - t0

    name = '000000010000000000000051'
    assert count(api.run_wal_push, src_path=src, wal_name=name)[0] == ['ListObjectsV2', 'PutObject']
    assert count(api.run_wal_push, src_path=src, wal_name=name)[0] == ['ListObjectsV2', 'GetObject']
    # without a configured key, fetch first asks whether the archive is encrypted (wal-key.json), one GET
    assert count(api.run_wal_fetch, wal_name=name, dest_path=os.path.join(tmpdir, 'a'))[0] == ['GetObject'] * 2
    for missing in ('000000010000000000000052', '00000009.history'):
        seen = count(api.run_wal_fetch, wal_name=missing, dest_path=os.path.join(tmpdir, 'b'))[0]
        assert seen == ['GetObject', 'GetObject', 'ListObjectsV2'], seen   # a miss costs three requests, no retries
    assert not os.path.exists(os.path.join(tmpdir, 'b'))
    # another variant (pushed as gzip, fetched with the default zstd): found by the one listing
    gz = '000000010000000000000053'
    src = _segment_file(os.path.join(tmpdir, 'src53'), gz)
    api.run_wal_push(dict(params, src_path=src, wal_name=gz, compression='gzip'))
    seen = count(api.run_wal_fetch, wal_name=gz, dest_path=os.path.join(tmpdir, 'c'))[0]
    assert seen == ['GetObject', 'GetObject', 'ListObjectsV2', 'GetObject']
    assert _read(os.path.join(tmpdir, 'c')) == _read(src)
    # with the key configured (an encrypted archive) that question is not asked
    key = _key_file(os.path.join(tmpdir, 'k.key'), owner_postgres=False)
    enc = '000000010000000000000054'
    src = _segment_file(os.path.join(tmpdir, 'src54'), enc)
    api.run_wal_push(dict(params, src_path=src, wal_name=enc, encryption_key_file=key))
    seen = count(api.run_wal_fetch, wal_name=enc, dest_path=os.path.join(tmpdir, 'd'), encryption_key_file=key)[0]
    assert seen == ['GetObject', 'GetObject'], seen          # the segment, then wal-key.json to unwrap its key


def test_s3_endpoint_without_conditional_writes_falls_back_to_check_then_write(s3_repo):
    repo = open_repository(s3_repo.params(server_name=SERVER))
    repo._conditional_put = False        # as after a 501 NotImplemented from the endpoint
    path = wal_archive.key_path(SERVER)
    assert repo.write_bytes(path, b'first', if_absent=True) is True
    assert repo.write_bytes(path, b'second', if_absent=True) is False
    f = repo.open_write(path, if_absent=True)
    f.write(b'third')
    assert f.commit() is False
    assert repo.read_bytes(path) == b'first'
