"""Encrypted backups against a real server: round trips, no plaintext at rest, wrong keys,
damage, key rotation, and secrets kept out of results and messages.

The source database carries a marker string in table data (text and bytea),
a table comment, a function body and a large object. With encryption on, the
marker (and its hex form, as bytea appears in COPY text) must be absent from
every byte stored in the backup directory, with and without compression; a
control backup without encryption proves the test would see it.
"""
import base64
import binascii
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support import compare
from tests.support.params import engine_params

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.format.manifest import dumps as manifest_dumps
from plugins.module_utils.stream.encrypt import CHUNK_SIZE, HEADER_SIZE, MAGIC, TAG_SIZE
from plugins.module_utils.stream.pipeline import open_stored_reader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKER = 'Xq7-PLAINTEXT-MARKER-b41d'
MARKER_FORMS = (MARKER.encode(), binascii.hexlify(MARKER.encode()), MARKER.encode('utf-16-le'))
PASSPHRASE = 'Enc-pa55phrase-t0p-s3cret-91'
NEW_PASSPHRASE = 'N3w-pa55phrase-r0tated-44'
KEY_ENV = 'DBBACKUP_TEST_KEK'


@pytest.fixture(scope='module')
def secret_db(pg_server):
    """A database whose data, comment, function body and large object hold MARKER."""
    name = 'enc_src'
    pg_server.create_database(name)
    pg_server.psql(name, """
        CREATE TABLE public.accounts (id int PRIMARY KEY, owner text NOT NULL, note text, raw bytea);
        INSERT INTO public.accounts
          SELECT i, 'owner ' || i || ' ' || md5(i::text),
                 CASE WHEN i %% 997 = 0 THEN 'note %(m)s ' || i ELSE repeat(md5(i::text), 3) END,
                 CASE WHEN i %% 1999 = 0 THEN convert_to('%(m)s', 'UTF8') ELSE decode(md5(i::text), 'hex') END
            FROM generate_series(1, 20000) i;
        CREATE TABLE public.events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, what text);
        INSERT INTO public.events (at, what)
          SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute', 'event ' || i
            FROM generate_series(1, 3000) i;
        COMMENT ON TABLE public.events IS 'audit trail %(m)s';
        CREATE FUNCTION public.whisper() RETURNS text LANGUAGE sql AS $$ SELECT '%(m)s'::text $$;
        SELECT lo_from_bytea(424242, convert_to(repeat('%(m)s ', 5000), 'UTF8'));
    """ % {'m': MARKER})
    return name


@pytest.fixture(scope='module')
def source_snapshot(pg_server, secret_db):
    return compare.snapshot(pg_server, secret_db)


def write_key(path, key=None, mode=0o600):
    key = key if key is not None else os.urandom(32)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as f:
        f.write(binascii.hexlify(key).decode() + '\n')
    return str(path), key


@pytest.fixture(scope='module')
def keyfile(tmp_path_factory):
    return write_key(tmp_path_factory.mktemp('keys') / 'backup.key')


@pytest.fixture(scope='module')
def keyfile_b(tmp_path_factory):
    return write_key(tmp_path_factory.mktemp('keys_b') / 'other.key')


def stored_files(bdir):
    out = []
    for root, dummy, files in os.walk(bdir):
        out.extend(os.path.join(root, f) for f in files)
    return sorted(out)


def backup_dir(result):
    return result['location']


def secrets_absent(obj, secrets):
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    for s in secrets:
        assert s not in text, 'a secret appears in %r' % text[:500]


def key_secrets(keyfile_tuple):
    key = keyfile_tuple[1]
    return [binascii.hexlify(key).decode(), base64.b64encode(key).decode()]


@pytest.fixture(scope='module')
def encrypted_backup(pg_server, secret_db, keyfile, tmp_path_factory):
    """One zstd backup encrypted with keyfile: (repo, result). Never modified."""
    repo = str(tmp_path_factory.mktemp('enc_repo'))
    result = api.run_backup(engine_params(pg_server, secret_db, repo, encryption_key_file=keyfile[0]))
    return repo, result


@pytest.fixture
def damaged_copy(encrypted_backup, tmp_path):
    """A private copy of encrypted_backup: (repo, result, backup dir, manifest dict)."""
    repo, result = encrypted_backup
    copy = str(tmp_path / 'repo')
    shutil.copytree(repo, copy)
    bdir = result['location'].replace(repo, copy, 1)
    with open(os.path.join(bdir, 'manifest.json')) as f:
        manifest = json.load(f)
    return copy, result, bdir, manifest


# --- round trips -----------------------------------------------------------------

@pytest.mark.parametrize('source', ['file', 'env', 'passphrase'])
def test_round_trip_with_each_key_source(pg_server, secret_db, source_snapshot, keyfile, repository,
                                         unique_db_name, monkeypatch, source):
    if source == 'file':
        opts = {'encryption_key_file': keyfile[0]}
        secrets = key_secrets(keyfile)
    elif source == 'env':
        monkeypatch.setenv(KEY_ENV, base64.b64encode(keyfile[1]).decode())
        opts = {'encryption_key_env': KEY_ENV}
        secrets = key_secrets(keyfile)
    else:
        opts = {'encryption_passphrase': PASSPHRASE}
        secrets = [PASSPHRASE]
    result = api.run_backup(engine_params(pg_server, secret_db, repository, jobs=2, **opts))
    assert result['encrypted'] is True and result['changed'] is True
    secrets_absent(result, secrets)
    bdir = backup_dir(result)
    with open(os.path.join(bdir, 'manifest.json')) as f:
        manifest = json.load(f)
    enc = manifest['encryption']
    assert enc['algorithm'] and enc['chunk_size'] == CHUNK_SIZE and enc['wrapped_key'] and enc['kek_id']
    assert enc['key_source'] == list(opts)[0]
    if source == 'passphrase':
        assert enc['kdf']['name'] in ('argon2id', 'scrypt') and enc['kdf']['salt']
    else:
        assert enc['kdf'] is None
    secrets_absent(manifest, secrets)
    for entry in manifest['files']:
        assert entry['path'].endswith('.zst.enc'), entry['path']
    for path in stored_files(bdir):
        if not path.endswith('manifest.json'):
            with open(path, 'rb') as f:
                assert f.read(len(MAGIC)) == MAGIC, path

    target = unique_db_name('enc_rt')
    restored = api.run_restore(engine_params(pg_server, secret_db, repository, target_database=target, **opts))
    assert restored['changed'] is True and restored['encrypted'] is True
    assert restored['rows'] == result['rows']
    secrets_absent(restored, secrets)
    compare.assert_same_database(pg_server, secret_db, target, source_snapshot)
    # the same backup again: unchanged, still needs (and accepts) the key
    again = api.run_restore(engine_params(pg_server, secret_db, repository, target_database=target, **opts))
    assert again['changed'] is False


@pytest.mark.parametrize('compression', ['none', 'zstd'])
def test_marker_is_absent_from_every_stored_byte(pg_server, secret_db, keyfile, repository, compression):
    plain = api.run_backup(engine_params(pg_server, secret_db, repository, compression=compression,
                                         server_name='plain'))
    enc = api.run_backup(engine_params(pg_server, secret_db, repository, compression=compression,
                                       server_name='enc', encryption_key_file=keyfile[0]))
    assert plain['encrypted'] is False and enc['encrypted'] is True
    if compression == 'none':
        # control: without encryption the marker is there in plain sight, in each place it was put
        seen = {}
        for path in stored_files(backup_dir(plain)):
            with open(path, 'rb') as f:
                data = f.read()
            for form in MARKER_FORMS[:2]:
                if form in data:
                    seen.setdefault(os.path.basename(path), set()).add(form)
        assert any(n.startswith('pre-data') for n in seen), seen    # function body
        assert any(n.startswith('post-data') for n in seen), seen   # comment
        assert any(n.startswith('blobs') for n in seen), seen       # large object
        assert any(n.endswith('.copy') for n in seen), seen         # table data
    files = stored_files(backup_dir(enc))
    assert len(files) >= 5, files
    total = 0
    for path in files:
        with open(path, 'rb') as f:
            data = f.read()
        total += len(data)
        for form in MARKER_FORMS:
            assert form not in data, '%r found in %s' % (form, path)
        if not path.endswith('manifest.json'):
            assert data.startswith(MAGIC), path
            assert b'\x28\xb5\x2f\xfd' not in data[:HEADER_SIZE], path   # no zstd frame in the clear
    assert total > 200000    # the backup holds the data (in ciphertext), not nothing


@pytest.mark.parametrize('kind', ['logical', 'cluster'])
def test_unencrypted_backup_is_refused_when_a_key_is_given(pg_server, secret_db, source_snapshot, keyfile,
                                                           repository, unique_db_name, db_exists, kind):
    """A downgrade: a newer unencrypted backup planted in an encrypted series is never restored
    (its SQL would run) when a key is given, unless allow_unencrypted says it is wanted."""
    def params(**extra):
        p = engine_params(pg_server, secret_db, repository, **extra)
        if kind == 'cluster':
            p.update(kind='cluster', databases=[secret_db], database=None)
        return p
    api.run_backup(params(encryption_key_file=keyfile[0]))
    planted = api.run_backup(params(compression='gzip'))
    assert planted['encrypted'] is False
    target = unique_db_name('enc_downgrade')
    params = params(target_database=target, encryption_key_file=keyfile[0])
    if kind == 'cluster':
        params['globals'] = False
    with pytest.raises(errors.BadInput) as err:
        api.run_restore(params)
    assert 'not encrypted, but a key was given' in str(err.value) and 'allow_unencrypted' in str(err.value)
    assert not db_exists(target)
    # verify with the key says the same of it, quick and deep; allow_unencrypted accepts it
    check = dict(params, backup_id=planted['backup_id'])
    for key in ('target_database', 'globals', 'databases'):
        check.pop(key, None)
    for mode in ('quick', 'deep'):
        with pytest.raises(errors.IntegrityError) as err:
            api.run_verify(dict(check, mode=mode), check_mode=True)
        assert 'not encrypted, but a key was given' in str(err.value) and planted['backup_id'] in str(err.value)
        assert api.run_verify(dict(check, mode=mode, allow_unencrypted=True))['ok'] is True
    restored = api.run_restore(dict(params, allow_unencrypted=True))
    assert restored['encrypted'] is False and restored['changed'] is True
    compare.assert_same_database(pg_server, secret_db, target, source_snapshot)


def test_max_age_reuses_only_a_backup_with_the_same_encryption(pg_server, secret_db, keyfile, repository):
    first = api.run_backup(engine_params(pg_server, secret_db, repository, max_age='1h'))
    assert first['changed'] is True and first['encrypted'] is False
    enc = api.run_backup(engine_params(pg_server, secret_db, repository, max_age='1h',
                                       encryption_key_file=keyfile[0]))
    assert enc['changed'] is True and enc['encrypted'] is True
    again = api.run_backup(engine_params(pg_server, secret_db, repository, max_age='1h',
                                         encryption_key_file=keyfile[0]))
    assert again['changed'] is False and again['backup_id'] == enc['backup_id']


# --- wrong or missing key ------------------------------------------------------------

def _assert_not_created(db_exists, target):
    assert not db_exists(target), 'restore created %s' % target


def test_wrong_key_fails_before_touching_the_target(pg_server, secret_db, encrypted_backup, keyfile,
                                                    keyfile_b, unique_db_name, db_exists):
    repo, dummy = encrypted_backup
    target = unique_db_name('enc_wrong')
    with pytest.raises(errors.WrongKey) as e:
        api.run_restore(engine_params(pg_server, secret_db, repo, target_database=target,
                                      encryption_key_file=keyfile_b[0]))
    msg = str(e.value)
    assert 'does not match the key' in msg and keyfile_b[0] in msg
    secrets_absent(msg, key_secrets(keyfile) + key_secrets(keyfile_b))
    _assert_not_created(db_exists, target)
    with pytest.raises(errors.WrongKey) as e:
        api.run_restore(engine_params(pg_server, secret_db, repo, target_database=target,
                                      encryption_passphrase=PASSPHRASE))
    secrets_absent(str(e.value), [PASSPHRASE])
    _assert_not_created(db_exists, target)
    # check mode reports the wrong key too
    with pytest.raises(errors.WrongKey):
        api.run_restore(engine_params(pg_server, secret_db, repo, target_database=target,
                                      encryption_key_file=keyfile_b[0]), check_mode=True)


def test_wrong_passphrase(pg_server, secret_db, repository, unique_db_name, db_exists):
    api.run_backup(engine_params(pg_server, secret_db, repository, encryption_passphrase=PASSPHRASE))
    target = unique_db_name('enc_wrongpp')
    with pytest.raises(errors.WrongKey) as e:
        api.run_restore(engine_params(pg_server, secret_db, repository, target_database=target,
                                      encryption_passphrase=NEW_PASSPHRASE))
    assert 'does not match the key' in str(e.value)
    secrets_absent(str(e.value), [PASSPHRASE, NEW_PASSPHRASE])
    _assert_not_created(db_exists, target)


def test_missing_key_names_the_options(pg_server, secret_db, encrypted_backup, unique_db_name, db_exists):
    repo, dummy = encrypted_backup
    target = unique_db_name('enc_nokey')
    with pytest.raises(errors.BadInput) as e:
        api.run_restore(engine_params(pg_server, secret_db, repo, target_database=target))
    msg = str(e.value)
    for option in ('encryption_key_file', 'encryption_key_env', 'encryption_passphrase'):
        assert option in msg
    assert 'encrypted' in msg
    _assert_not_created(db_exists, target)


def test_key_file_readable_by_others_is_refused(pg_server, secret_db, repository, tmp_path):
    path, dummy = write_key(tmp_path / 'loose.key', mode=0o644)
    with pytest.raises(errors.BadInput) as e:
        api.run_backup(engine_params(pg_server, secret_db, repository, encryption_key_file=path))
    assert 'chmod 600' in str(e.value)
    assert not glob.glob(os.path.join(repository, '**', 'manifest.json'), recursive=True)


# --- damaged backups ------------------------------------------------------------------

def _largest_data_file(bdir, manifest):
    data = [f for f in manifest['files'] if f['role'] == 'data']
    entry = max(data, key=lambda f: f['stored_bytes'])
    assert entry['stored_bytes'] > HEADER_SIZE + 2 * (CHUNK_SIZE + TAG_SIZE), entry
    return entry, os.path.join(bdir, entry['path'])


def _restore_fails_with_integrity_error(pg_server, secret_db, repo, keyfile, target, db_exists):
    with pytest.raises(errors.IntegrityError) as e:
        api.run_restore(engine_params(pg_server, secret_db, repo, target_database=target,
                                      encryption_key_file=keyfile[0]))
    _assert_not_created(db_exists, target)
    return str(e.value)


def _rewrite_manifest(bdir, manifest):
    with open(os.path.join(bdir, 'manifest.json'), 'wb') as f:
        f.write(manifest_dumps(manifest))


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_flipped_byte_is_an_integrity_error(pg_server, secret_db, damaged_copy, keyfile, unique_db_name,
                                            db_exists):
    repo, dummy, bdir, manifest = damaged_copy
    entry, path = _largest_data_file(bdir, manifest)
    with open(path, 'r+b') as f:
        f.seek(HEADER_SIZE + CHUNK_SIZE + 100)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x20]))
    msg = _restore_fails_with_integrity_error(pg_server, secret_db, repo, keyfile,
                                              unique_db_name('enc_flip'), db_exists)
    assert entry['path'] in msg
    # the decryption stage detects it on its own (without the manifest's SHA-256)
    with pytest.raises(errors.IntegrityError) as e:
        _decrypt_without_sha(repo, bdir, entry, manifest, keyfile)
    assert 'chunk 1 failed authentication' in str(e.value)


def _decrypt_without_sha(repo, bdir, entry, manifest, keyfile):
    from plugins.module_utils.format.keys import key_source, unwrap_data_key
    from plugins.module_utils.storage.local import LocalRepository
    data_key = unwrap_data_key(key_source({'encryption_key_file': keyfile[0]}), manifest)
    rel = os.path.relpath(os.path.join(bdir, entry['path']), repo)
    reader = open_stored_reader(LocalRepository(repo), rel, manifest['compression']['algorithm'],
                                data_key=data_key)
    try:
        while reader.read(1 << 20):
            pass
    finally:
        reader.close()


def test_manifest_edited_to_match_a_flipped_byte_is_detected(pg_server, secret_db, damaged_copy, keyfile,
                                                             unique_db_name, db_exists):
    repo, dummy, bdir, manifest = damaged_copy
    entry, path = _largest_data_file(bdir, manifest)
    with open(path, 'r+b') as f:
        f.seek(HEADER_SIZE + 10)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    entry['sha256'] = _sha(path)      # an attacker fixes the manifest up
    _rewrite_manifest(bdir, manifest)
    msg = _restore_fails_with_integrity_error(pg_server, secret_db, repo, keyfile,
                                              unique_db_name('enc_flipfix'), db_exists)
    assert 'modified' in msg


@pytest.mark.parametrize('fix_manifest', [False, True])
def test_truncated_at_a_chunk_boundary(pg_server, secret_db, damaged_copy, keyfile, unique_db_name,
                                       db_exists, fix_manifest):
    repo, dummy, bdir, manifest = damaged_copy
    pristine = json.loads(json.dumps(manifest))
    entry, path = _largest_data_file(bdir, manifest)
    with open(path, 'r+b') as f:
        f.truncate(HEADER_SIZE + 2 * (CHUNK_SIZE + TAG_SIZE))
    if fix_manifest:      # an attacker fixes the manifest up
        entry['sha256'] = _sha(path)
        entry['stored_bytes'] = os.path.getsize(path)
        _rewrite_manifest(bdir, manifest)
    msg = _restore_fails_with_integrity_error(pg_server, secret_db, repo, keyfile,
                                              unique_db_name('enc_trunc'), db_exists)
    if fix_manifest:
        assert 'modified' in msg, msg
    else:
        assert 'truncated' in msg and entry['path'] in msg, msg
    # the decryption stage detects it on its own (without the manifest's size and SHA-256)
    with pytest.raises(errors.IntegrityError) as e:
        _decrypt_without_sha(repo, bdir, entry, pristine, keyfile)
    assert 'truncated at a chunk boundary' in str(e.value)


def test_missing_data_file(pg_server, secret_db, damaged_copy, keyfile, unique_db_name, db_exists):
    repo, dummy, bdir, manifest = damaged_copy
    entry, path = _largest_data_file(bdir, manifest)
    os.unlink(path)
    with pytest.raises(errors.NotFound):
        api.run_restore(engine_params(pg_server, secret_db, repo, target_database=unique_db_name('enc_miss'),
                                      encryption_key_file=keyfile[0]))


# --- key rotation ----------------------------------------------------------------------

def _data_hashes(repo):
    return dict((p, _sha(p)) for p in stored_files(repo) if not p.endswith('manifest.json'))


def _manifest_bytes(repo):
    out = {}
    for p in stored_files(repo):
        if p.endswith('manifest.json'):
            with open(p, 'rb') as f:
                out[p] = f.read()
    return out


def test_rekey_then_restore_with_the_new_key(pg_server, secret_db, source_snapshot, keyfile, keyfile_b,
                                             repository, unique_db_name, db_exists):
    params = engine_params(pg_server, secret_db, repository, encryption_key_file=keyfile[0])
    first = api.run_backup(params)
    second = api.run_backup(params)
    other_db = unique_db_name('enc_other')
    pg_server.create_database(other_db)
    pg_server.psql(other_db, "CREATE TABLE t (v text); INSERT INTO t VALUES ('%s');" % MARKER)
    api.run_backup(engine_params(pg_server, other_db, repository, encryption_key_file=keyfile[0]))
    api.run_backup(engine_params(pg_server, other_db, repository))            # unencrypted
    data_before = _data_hashes(repository)
    manifests_before = _manifest_bytes(repository)
    rekey_params = engine_params(pg_server, None, repository, encryption_key_file=keyfile[0],
                                 new_encryption_passphrase=NEW_PASSPHRASE)
    rekey_params.pop('database')

    # check mode: lists, changes nothing
    checked = api.run_rekey(rekey_params, check_mode=True)
    assert checked['changed'] is True
    assert (checked['rekeyed'], checked['unchanged'], checked['unencrypted']) == (3, 0, 1)
    assert _manifest_bytes(repository) == manifests_before
    ids = set(b['backup_id'] for b in checked['backups'] if b['action'] == 'rekeyed')
    assert {first['backup_id'], second['backup_id']} <= ids

    # a wrong old key changes nothing
    with pytest.raises(errors.WrongKey):
        api.run_rekey(dict(rekey_params, encryption_key_file=keyfile_b[0]))
    assert _manifest_bytes(repository) == manifests_before

    done = api.run_rekey(rekey_params)
    assert done['changed'] is True and done['rekeyed'] == 3
    secrets_absent(done, [NEW_PASSPHRASE] + key_secrets(keyfile))
    assert _data_hashes(repository) == data_before, 'rekey rewrote data files'
    assert _manifest_bytes(repository) != manifests_before

    # idempotent
    again = api.run_rekey(rekey_params)
    assert again['changed'] is False and (again['rekeyed'], again['unchanged']) == (0, 3)

    target = unique_db_name('enc_rekeyed')
    with pytest.raises(errors.WrongKey):
        api.run_restore(engine_params(pg_server, secret_db, repository, target_database=target,
                                      encryption_key_file=keyfile[0]))
    _assert_not_created(db_exists, target)
    restored = api.run_restore(engine_params(pg_server, secret_db, repository, target_database=target,
                                             backup_id=first['backup_id'],
                                             encryption_passphrase=NEW_PASSPHRASE))
    assert restored['changed'] is True
    compare.assert_same_database(pg_server, secret_db, target, source_snapshot)

    # one database only, back to a key file
    one = api.run_rekey(engine_params(pg_server, secret_db, repository, encryption_passphrase=NEW_PASSPHRASE,
                                      new_encryption_key_file=keyfile_b[0]))
    assert (one['rekeyed'], one['unchanged'], one['unencrypted']) == (2, 0, 0)
    assert set(b['database'] for b in one['backups']) == {secret_db}


def test_rekey_needs_both_keys(pg_server, repository, keyfile):
    params = engine_params(pg_server, 'x', repository, encryption_key_file=keyfile[0])
    with pytest.raises(errors.BadInput) as e:
        api.run_rekey(params)
    assert 'new_encryption_key_file' in str(e.value)
    with pytest.raises(errors.BadInput):
        api.run_rekey(engine_params(pg_server, 'x', repository, new_encryption_key_file=keyfile[0]))


# --- the host CLI ----------------------------------------------------------------------

def _cli(args, env_extra, pg_server):
    env = dict(os.environ, DBBACKUP_PYTHON=sys.executable, DBBACKUP_LOGIN_PASSWORD=pg_server.password or '')
    env.update(env_extra)
    return subprocess.run([os.path.join(ROOT, 'scripts', 'dbbackup')] + args, env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=300, check=False)


def test_cli_passphrase_from_environment_and_rekey(pg_server, secret_db, repository, keyfile,
                                                   unique_db_name, db_exists):
    conn = ['--login-host', pg_server.host, '--login-port', str(pg_server.port), '--login-user', pg_server.user,
            '--database', secret_db, '--repository', repository]
    pp = {'DBBACKUP_ENCRYPTION_PASSPHRASE': PASSPHRASE}
    b = _cli(['backup'] + conn, pp, pg_server)
    assert b.returncode == 0, b.stderr
    assert json.loads(b.stdout)['encrypted'] is True
    target = unique_db_name('enc_cli')
    bad = _cli(['restore'] + conn + ['--target-database', target],
               {'DBBACKUP_ENCRYPTION_PASSPHRASE': NEW_PASSPHRASE}, pg_server)
    assert bad.returncode == 1 and 'does not match the key' in bad.stderr
    nokey = _cli(['restore'] + conn + ['--target-database', target], {}, pg_server)
    assert nokey.returncode == 1 and '--encryption-key-file' in nokey.stderr
    _assert_not_created(db_exists, target)
    rk = _cli(['rekey'] + conn + ['--new-encryption-key-file', keyfile[0]], pp, pg_server)
    assert rk.returncode == 0, rk.stderr
    assert json.loads(rk.stdout)['rekeyed'] == 1
    ok = _cli(['restore'] + conn + ['--target-database', target, '--encryption-key-file', keyfile[0]], {},
              pg_server)
    assert ok.returncode == 0, ok.stderr
    assert db_exists(target)
    for proc in (b, bad, nokey, rk, ok):
        secrets_absent(proc.stdout + proc.stderr, [PASSPHRASE, NEW_PASSPHRASE] + key_secrets(keyfile))


def test_rekey_on_an_s3_repository(pg_server, s3_repo, keyfile, keyfile_b, unique_db_name, db_exists):
    src = unique_db_name('enc_s3')
    pg_server.create_database(src)
    pg_server.psql(src, "CREATE TABLE t (id int PRIMARY KEY, v text);"
                        "INSERT INTO t SELECT i, '%s ' || i FROM generate_series(1, 3000) i;" % MARKER)
    opts = s3_repo.options(encryption_key_file=keyfile[0])
    backup = api.run_backup(engine_params(pg_server, src, s3_repo.url, **opts))
    assert backup['encrypted'] is True
    objects = dict((k, s3_repo.client.get_object(Bucket=s3_repo.bucket, Key=k)['Body'].read())
                   for k in s3_repo.keys())
    rekey = api.run_rekey(engine_params(pg_server, src, s3_repo.url, new_encryption_key_file=keyfile_b[0], **opts))
    assert rekey['rekeyed'] == 1 and rekey['changed'] is True
    after = dict((k, s3_repo.client.get_object(Bucket=s3_repo.bucket, Key=k)['Body'].read())
                 for k in s3_repo.keys())
    assert set(after) == set(objects)
    changed = sorted(k for k in after if after[k] != objects[k])
    assert len(changed) == 1 and changed[0].endswith('/manifest.json'), changed
    target = unique_db_name('enc_s3_restored')
    with pytest.raises(errors.WrongKey):
        api.run_restore(engine_params(pg_server, src, s3_repo.url, target_database=target, **opts))
    assert not db_exists(target)
    restored = api.run_restore(engine_params(pg_server, src, s3_repo.url, target_database=target,
                                             **dict(opts, encryption_key_file=keyfile_b[0])))
    assert restored['changed'] is True and restored['rows'] == 3000
    compare.assert_same_database(pg_server, src, target)
