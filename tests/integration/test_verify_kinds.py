"""dbbackup_verify of base (kind=base) and cluster (kind=cluster) backups.

One throwaway PostgreSQL 15 server with WAL archiving ('cp %p <dir>/%f') and a
tablespace is backed up once per kind, plain and encrypted, into a repository
the tests copy before damaging it: a flipped byte (quick), a tar cut short and
recompressed with matching hashes (deep), manifests edited where the hashes
cannot tell (deep), and the manifest MAC of encrypted backups, which covers
the base-specific and cluster-specific fields.
"""
import hashlib
import io
import json
import os
import shutil
import tarfile

import pytest
import zstandard

from devtools.pg_temp import PgServer
from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.format.keys import backup_data_key
from plugins.module_utils.cli import main as cli_main
from plugins.module_utils.format.keys import key_source
from tests.integration.test_base_backup import _postgres_dir, _shared_tmp
from tests.integration.test_encryption import write_key
from tests.integration.test_modules import Run


@pytest.fixture(scope='module')
def kinds(tmp_path_factory):
    """One base and one cluster backup, plain (server_name 'plain') and encrypted ('enc')."""
    holder = _shared_tmp('dbbackup-verifykinds-')
    archive = _postgres_dir(os.path.join(holder, 'archive'))
    tsdir = _postgres_dir(os.path.join(holder, 'ts1'))
    server = PgServer(extra_conf={'wal_level': 'replica', 'archive_mode': 'on',
                                  'archive_command': "'cp %%p %s/%%f'" % archive})
    try:
        server.start()
        server.psql('postgres', "CREATE TABLESPACE vk_ts LOCATION '%s'" % tsdir)
        server.create_database('vk_app')
        server.psql('vk_app', "CREATE TABLE t (id int PRIMARY KEY, v text);"
                              "INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 4000) i;"
                              "CREATE TABLE in_ts (id int) TABLESPACE vk_ts;"
                              "INSERT INTO in_ts SELECT generate_series(1, 500);")
        repo = str(tmp_path_factory.mktemp('kinds-repo'))
        key = write_key(tmp_path_factory.mktemp('kinds-key') / 'k')[0]

        def backup(kind, server_name, **options):
            params = server.conn_params('postgres')
            if kind == 'cluster':
                params.pop('database')
            params.update(repository=repo, kind=kind, server_name=server_name, checkpoint='fast', **options)
            if kind == 'cluster':
                params.pop('checkpoint')
            return api.run_backup(params)

        yield {
            'server': server, 'repo': repo, 'key': key,
            'base': backup('base', 'plain', verify='deep'),
            'base_enc': backup('base', 'enc', encryption_key_file=key),
            'cluster': backup('cluster', 'plain'),
            'cluster_enc': backup('cluster', 'enc', encryption_key_file=key),
        }
    finally:
        server.stop()
        shutil.rmtree(holder, ignore_errors=True)


def _copy(kinds, tmp_path):
    dst = str(tmp_path / 'repo')
    shutil.copytree(kinds['repo'], dst)
    return dst


def _bdir(repo, server_name, kind, result):
    return os.path.join(repo, server_name, kind, result['backup_id'])


def _manifest(bdir):
    with open(os.path.join(bdir, 'manifest.json')) as f:
        return json.load(f)


def _write_manifest(bdir, manifest):
    with open(os.path.join(bdir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f)


def _verify(repo, kind, server_name='plain', check_mode=False, **options):
    params = dict(repository=repo, server_name=server_name, kind=kind, **options)
    return api.run_verify(params, check_mode=check_mode)


def _flip(path, offset):
    with open(path, 'r+b') as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x40]))


def _info(repo, kind):
    out = api.run_info({'repository': repo, 'server_name': 'plain', 'kind': kind, 'check_wal': False})
    assert len(out['backups']) == 1
    return out['backups'][0]


def test_base_deep_at_backup_time(kinds):
    result = kinds['base']
    manifest = _manifest(result['location'])
    report = result['verification']
    assert report['mode'] == 'deep' and report['ok'] and report['kind'] == 'base'
    tars = [f for f in manifest['files'] if f['role'] in ('base', 'tablespace')]
    assert len(tars) == 2 and report['members'] == manifest['totals']['data_files'] > 100
    assert report['data_bytes'] == sum(f['data_bytes'] for f in tars) > 1 << 20
    with open(os.path.join(result['location'], 'verify.json')) as f:
        assert json.load(f)['mode'] == 'deep'


def test_base_check_mode_quick_deep_and_info(kinds, tmp_path):
    repo = _copy(kinds, tmp_path)
    bdir = _bdir(repo, 'plain', 'base', kinds['base'])
    os.unlink(os.path.join(bdir, 'verify.json'))
    checked = _verify(repo, 'base', check_mode=True, mode='deep')
    assert checked['ok'] and checked['kind'] == 'base' and checked['verified'][0]['database'] is None
    assert not os.path.exists(os.path.join(bdir, 'verify.json'))
    assert _info(repo, 'base')['verification'] == 'never'
    quick = _verify(repo, 'base')
    assert quick['verified'][0]['files'] == 4 and 'members' not in quick['verified'][0]
    info = _info(repo, 'base')
    assert (info['verification'], info['verify_mode']) == ('ok', 'quick')
    deep = _verify(repo, 'base', mode='deep', backup_id='all')
    assert deep['backups'] == 1 and deep['verified'][0]['members'] == kinds['base']['verification']['members']
    assert _info(repo, 'base')['verify_mode'] == 'deep'


def test_base_flipped_byte_found_by_quick(kinds, tmp_path):
    repo = _copy(kinds, tmp_path)
    bdir = _bdir(repo, 'plain', 'base', kinds['base'])
    entry = next(f for f in _manifest(bdir)['files'] if f['role'] == 'base')
    _flip(os.path.join(bdir, entry['path']), entry['stored_bytes'] // 2)
    with pytest.raises(errors.IntegrityError) as e:
        _verify(repo, 'base')
    assert entry['path'] in str(e.value) and '1 of 1 backup(s) failed' in str(e.value)
    info = _info(repo, 'base')
    assert (info['verification'], info['verify_mode']) == ('failed', 'quick')


def test_base_truncated_tar_found_by_deep(kinds, tmp_path):
    """The tar is cut at a member boundary and recompressed; the manifest gets the new hashes."""
    repo = _copy(kinds, tmp_path)
    bdir = _bdir(repo, 'plain', 'base', kinds['base'])
    manifest = _manifest(bdir)
    entry = next(f for f in manifest['files'] if f['role'] == 'base')
    path = os.path.join(bdir, entry['path'])
    with open(path, 'rb') as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
    with tarfile.open(fileobj=io.BytesIO(raw), mode='r:') as tar:
        members = tar.getmembers()
    cut = raw[:members[len(members) // 2].offset]
    stored = zstandard.ZstdCompressor().compress(cut)
    with open(path, 'wb') as f:
        f.write(stored)
    entry.update(sha256=hashlib.sha256(stored).hexdigest(), stored_bytes=len(stored), raw_bytes=len(cut))
    _write_manifest(bdir, manifest)
    assert _verify(repo, 'base')['ok']                        # quick: the hashes match
    with pytest.raises(errors.IntegrityError) as e:
        _verify(repo, 'base', mode='deep')
    kept = sum(1 for m in members[:len(members) // 2] if m.isreg())
    assert '%s holds %d files, the manifest recorded %d' % (entry['path'], kept, entry['members']) in str(e.value)
    assert 'bytes of file data, the manifest recorded %d' % entry['data_bytes'] in str(e.value)


def test_base_link_in_tar_found_by_deep(kinds, tmp_path):
    """A base tar holding a symbolic link (what an extraction must never create): deep refuses it."""
    repo = _copy(kinds, tmp_path)
    bdir = _bdir(repo, 'plain', 'base', kinds['base'])
    manifest = _manifest(bdir)
    entry = next(f for f in manifest['files'] if f['role'] == 'base')
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tar:
        link = tarfile.TarInfo('global/evil')
        link.type, link.linkname = tarfile.SYMTYPE, '/etc/passwd'
        tar.addfile(link)
    stored = zstandard.ZstdCompressor().compress(buf.getvalue())
    with open(os.path.join(bdir, entry['path']), 'wb') as f:
        f.write(stored)
    entry.update(sha256=hashlib.sha256(stored).hexdigest(), stored_bytes=len(stored))
    _write_manifest(bdir, manifest)
    assert _verify(repo, 'base')['ok']
    with pytest.raises(errors.IntegrityError, match='holds global/evil, which a base backup never contains'):
        _verify(repo, 'base', mode='deep')


def test_base_label_checked_by_deep(kinds, tmp_path):
    """A start_lsn edited in a plain manifest: the hashes cannot tell, the backup_label can."""
    repo = _copy(kinds, tmp_path)
    bdir = _bdir(repo, 'plain', 'base', kinds['base'])
    manifest = _manifest(bdir)
    manifest['start_lsn'] = '0/1'
    _write_manifest(bdir, manifest)
    assert _verify(repo, 'base')['ok']
    with pytest.raises(errors.IntegrityError, match='backup_label.zst names the start WAL location'):
        _verify(repo, 'base', mode='deep')


def test_encrypted_base_mac_covers_stop_lsn(kinds, tmp_path):
    repo = _copy(kinds, tmp_path)
    key = kinds['key']
    assert _verify(repo, 'base', server_name='enc')['ok']                 # quick: no key needed
    with pytest.raises(errors.BadInput, match='encrypted and no key'):
        _verify(repo, 'base', server_name='enc', mode='deep')
    deep = _verify(repo, 'base', server_name='enc', mode='deep', encryption_key_file=key)
    assert deep['verified'][0]['ok'] and deep['verified'][0]['members'] > 100
    bdir = _bdir(repo, 'enc', 'base', kinds['base_enc'])
    manifest = _manifest(bdir)
    manifest['stop_lsn'] = '0/FFFFFFFF'
    _write_manifest(bdir, manifest)
    with pytest.raises(errors.IntegrityError, match='was modified after the backup was written'):
        _verify(repo, 'base', server_name='enc', mode='deep', encryption_key_file=key)
    with pytest.raises(errors.IntegrityError, match='was modified'):    # what extract/PITR unwrap with
        backup_data_key(key_source({'encryption_key_file': key}), manifest)


def test_cluster_check_mode_quick_deep_and_info(kinds, tmp_path):
    repo = _copy(kinds, tmp_path)
    bdir = _bdir(repo, 'plain', 'cluster', kinds['cluster'])
    assert not os.path.exists(os.path.join(bdir, 'verify.json'))
    _verify(repo, 'cluster', check_mode=True, mode='deep')
    assert not os.path.exists(os.path.join(bdir, 'verify.json'))
    quick = _verify(repo, 'cluster')
    report = quick['verified'][0]
    assert report['databases'] == ['postgres', 'vk_app'] and report['files'] == len(_manifest(bdir)['files'])
    assert quick['msg'] == '1 backup(s) of plain (cluster) verified (quick).'
    assert (_info(repo, 'cluster')['verification'], _info(repo, 'cluster')['verify_mode']) == ('ok', 'quick')
    deep = _verify(repo, 'cluster', mode='deep')
    assert deep['verified'][0]['rows'] == kinds['cluster']['rows'] == 4500
    assert _info(repo, 'cluster')['verify_mode'] == 'deep'


def test_cluster_damage(kinds, tmp_path):
    repo = _copy(kinds, tmp_path)
    bdir = _bdir(repo, 'plain', 'cluster', kinds['cluster'])
    manifest = _manifest(bdir)
    # globals item count edited: the hashes still match, deep parses the file
    entry = next(f for f in manifest['files'] if f['role'] == 'globals')
    entry['items'] += 1
    _write_manifest(bdir, manifest)
    assert _verify(repo, 'cluster')['ok']
    with pytest.raises(errors.IntegrityError, match=r'globals.sql.zst holds \d+ items, the manifest recorded'):
        _verify(repo, 'cluster', mode='deep')
    entry['items'] -= 1
    _write_manifest(bdir, manifest)
    # a database's own manifest that disagrees with the cluster manifest: quick reads it too
    sub_path = os.path.join(bdir, 'vk_app')
    sub = _manifest(sub_path)
    saved = json.dumps(sub)
    sub['files'][0]['sha256'] = '00' * 32
    _write_manifest(sub_path, sub)
    with pytest.raises(errors.IntegrityError, match='manifest of database vk_app .* does not match'):
        _verify(repo, 'cluster')
    _write_manifest(sub_path, json.loads(saved))
    # a flipped byte in a member's data file
    data = max((f for f in manifest['files'] if f['path'].startswith('vk_app/') and f['role'] == 'data'),
               key=lambda f: f['stored_bytes'])
    _flip(os.path.join(bdir, data['path']), data['stored_bytes'] // 2)
    for mode in ('quick', 'deep'):
        with pytest.raises(errors.IntegrityError) as e:
            _verify(repo, 'cluster', mode=mode)
        assert data['path'].split('/', 1)[1] in str(e.value)
    assert _info(repo, 'cluster')['verification'] == 'failed'


def test_encrypted_cluster_mac_covers_databases(kinds, tmp_path):
    repo = _copy(kinds, tmp_path)
    key = kinds['key']
    assert _verify(repo, 'cluster', server_name='enc')['ok']
    deep = _verify(repo, 'cluster', server_name='enc', mode='deep', encryption_key_file=key)
    assert deep['verified'][0]['rows'] == 4500
    bdir = _bdir(repo, 'enc', 'cluster', kinds['cluster_enc'])
    manifest = _manifest(bdir)
    manifest['databases'] = ['postgres']
    _write_manifest(bdir, manifest)
    with pytest.raises(errors.IntegrityError, match='was modified after the backup was written'):
        _verify(repo, 'cluster', server_name='enc', mode='deep', encryption_key_file=key)


def test_bad_input_and_cli(kinds, tmp_path, capsys):
    repo = kinds['repo']
    with pytest.raises(errors.BadInput, match='database is not used with kind=base'):
        _verify(repo, 'base', database='postgres')
    with pytest.raises(errors.BadInput, match='kind must be one of logical, base, cluster'):
        _verify(repo, 'physical')
    with pytest.raises(errors.BadInput, match='database is required'):
        _verify(repo, 'logical')
    with pytest.raises(errors.NotFound):
        _verify(repo, 'cluster', server_name='nothing')
    with pytest.raises(errors.BadInput, match='not used with kind=cluster'):
        _verify(repo, 'cluster', restored_database='x')
    copy = _copy(kinds, tmp_path)
    assert cli_main(['verify', '--kind', 'cluster', '--repository', copy, '--server-name', 'plain',
                     '--mode', 'deep']) == 0
    out = json.loads(capsys.readouterr().out)
    assert out['kind'] == 'cluster' and out['verified'][0]['rows'] == 4500


def test_modules(kinds, tmp_path, tmp_path_factory):
    repo = _copy(kinds, tmp_path)
    run = Run(kinds['server'], str(tmp_path_factory.mktemp('ansible')), tmp_path)
    out = run('verify_kinds', repository=repo, server_name='plain')
    assert out['base']['changed'] is False and out['base']['verified'][0]['kind'] == 'base'
    assert out['cluster']['verified'][0]['rows'] == 4500
    assert out['no_database']['failed'] and 'database' in out['no_database']['msg']
    assert sorted((b['kind'], b['verification'], b['verify_mode']) for b in out['info']['backups']) == [
        ('base', 'ok', 'quick'), ('cluster', 'ok', 'deep')]
