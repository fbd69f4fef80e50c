"""Verification of stored backups: quick (hashes, no key) and deep (decode and count).

Real backups on the session PostgreSQL; damage is done to the stored files
or the manifest the way a failing disk or a careless hand would.
"""
import json
import os

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from tests.integration.test_encryption import write_key
from tests.integration.test_modules import Run
from tests.support.params import engine_params


@pytest.fixture(scope='module')
def verify_db(pg_server):
    name = 'verify_src'
    pg_server.create_database(name)
    pg_server.psql(name, "CREATE TABLE public.t (id int PRIMARY KEY, v text, b bytea);"
                         "INSERT INTO public.t SELECT g, E'tab\\there ' || g, '\\x00ff' FROM generate_series(1, 3000) g;"
                         "CREATE TABLE public.empty (x int); CREATE INDEX t_v_idx ON public.t (v);"
                         "SELECT lo_from_bytea(0, 'large object'); SELECT lo_from_bytea(0, '');")
    return name


def _backup(pg_server, db, repo, **options):
    result = api.run_backup(engine_params(pg_server, db, repo, **options))
    return result, result['location']


def _manifest(bdir):
    with open(os.path.join(bdir, 'manifest.json')) as f:
        return json.load(f)


def _verify(pg_server, db, repo, **options):
    return api.run_verify(engine_params(pg_server, db, repo, **options))


def test_quick_and_deep_pass_and_are_recorded(pg_server, verify_db, repository):
    result, bdir = _backup(pg_server, verify_db, repository)
    quick = _verify(pg_server, verify_db, repository)
    assert quick['ok'] and quick['backups'] == 1 and quick['verified'][0]['problems'] == []
    with open(os.path.join(bdir, 'verify.json')) as f:
        assert json.load(f)['mode'] == 'quick'
    deep = _verify(pg_server, verify_db, repository, mode='deep')
    assert deep['verified'][0]['rows'] == result['rows'] == 3000
    with open(os.path.join(bdir, 'verify.json')) as f:
        recorded = json.load(f)
    assert recorded['mode'] == 'deep' and recorded['ok'] is True


def test_check_mode_records_nothing(pg_server, verify_db, repository):
    bdir = _backup(pg_server, verify_db, repository)[1]
    api.run_verify(engine_params(pg_server, verify_db, repository), check_mode=True)
    assert not os.path.exists(os.path.join(bdir, 'verify.json'))


def test_flipped_byte_fails_and_names_the_file(pg_server, verify_db, repository):
    bdir = _backup(pg_server, verify_db, repository)[1]
    manifest = _manifest(bdir)
    entry = max((f for f in manifest['files'] if f['role'] == 'data'), key=lambda f: f['stored_bytes'])
    path = os.path.join(bdir, entry['path'])
    with open(path, 'r+b') as f:
        f.seek(entry['stored_bytes'] // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x40]))
    with pytest.raises(errors.IntegrityError) as e:
        _verify(pg_server, verify_db, repository)
    assert entry['path'] in str(e.value) and '1 of 1 backup(s) failed' in str(e.value)
    with open(os.path.join(bdir, 'verify.json')) as f:
        recorded = json.load(f)
    assert recorded['ok'] is False and entry['path'] in recorded['problems'][0]


def test_deep_catches_what_hashes_cannot(pg_server, verify_db, repository):
    """A manifest whose row count was edited: the stored bytes still match their hashes."""
    bdir = _backup(pg_server, verify_db, repository)[1]
    manifest = _manifest(bdir)
    entry = next(f for f in manifest['files'] if f['role'] == 'data' and f['rows'] == 3000)
    entry['rows'] = 2999
    with open(os.path.join(bdir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f)
    assert _verify(pg_server, verify_db, repository)['ok']          # quick: hashes fine
    with pytest.raises(errors.IntegrityError, match='holds 3000 rows, the manifest recorded 2999'):
        _verify(pg_server, verify_db, repository, mode='deep')


def test_all_backups_and_unknown_ids(pg_server, verify_db, repository):
    _backup(pg_server, verify_db, repository)
    _backup(pg_server, verify_db, repository)
    assert _verify(pg_server, verify_db, repository, backup_id='all')['backups'] == 2
    with pytest.raises(errors.NotFound, match='not found'):
        _verify(pg_server, verify_db, repository, backup_id='20200101T000000Z')
    with pytest.raises(errors.NotFound, match='No complete backup'):
        _verify(pg_server, 'no_such_db', repository, backup_id='all')


def test_encrypted_quick_needs_no_key_deep_does(pg_server, verify_db, repository, tmp_path):
    keyfile = write_key(tmp_path / 'k')[0]
    _backup(pg_server, verify_db, repository, encryption_key_file=keyfile)
    assert _verify(pg_server, verify_db, repository)['ok']
    with pytest.raises(errors.BadInput, match='encrypted and no key'):
        _verify(pg_server, verify_db, repository, mode='deep')
    deep = _verify(pg_server, verify_db, repository, mode='deep', encryption_key_file=keyfile)
    assert deep['verified'][0]['rows'] == 3000
    other = write_key(tmp_path / 'other')[0]
    with pytest.raises(errors.WrongKey):
        _verify(pg_server, verify_db, repository, mode='deep', encryption_key_file=other)


def test_backup_verify_option(pg_server, verify_db, repository):
    result = _backup(pg_server, verify_db, repository, verify='deep')[0]
    assert result['verification']['ok'] and result['verification']['rows'] == 3000
    with pytest.raises(errors.BadInput, match='verify must be none, quick or deep'):
        _backup(pg_server, verify_db, repository, verify='sometimes')


def test_modules(pg_server, verify_db, repository, tmp_path, tmp_path_factory):
    run = Run(pg_server, str(tmp_path_factory.mktemp('ansible')), tmp_path)
    out = run('verify', database=verify_db, repository=repository)
    assert out['backup']['changed'] is True and out['backup']['verification']['mode'] == 'deep'
    assert out['quick']['changed'] is False and out['quick']['backups'] == 1
    assert out['deep']['verified'][0]['rows'] == 3000


def test_restored_database_rows_compared(pg_server, verify_db, repository, unique_db_name):
    copy = unique_db_name('verify_copy')
    _backup(pg_server, verify_db, repository)
    api.run_restore(engine_params(pg_server, verify_db, repository, target_database=copy))
    ok = _verify(pg_server, verify_db, repository, restored_database=copy)
    objects = ok['restored'].pop('inventory')
    assert ok['restored'] == {'database': copy, 'ok': True, 'problems': [], 'tables': 2, 'rows': 3000}
    assert objects['compared'] == 'definitions' and objects['objects'] > 5, objects
    assert 'and the %d recorded objects' % objects['objects'] in ok['msg']
    # a lost row, a dropped table, a lost index, a changed default and a new object are all named
    pg_server.psql(copy, 'DELETE FROM public.t WHERE id = 7; DROP TABLE public.empty; '
                         'DROP INDEX public.t_v_idx; ALTER TABLE public.t ALTER v SET DEFAULT 1; '
                         'CREATE VIEW public.extra AS SELECT 1 AS one')
    with pytest.raises(errors.IntegrityError) as e:
        _verify(pg_server, verify_db, repository, restored_database=copy)
    msg = str(e.value)
    assert 'public.t holds 2999 rows' in msg and 'public.empty is missing' in msg
    assert 'index public.t_v_idx' in msg and 'table public.empty' in msg, msg
    assert 'default value for public.t.v' in msg and 'view public.extra' in msg, msg
    with pytest.raises(errors.BadInput):
        _verify(pg_server, verify_db, repository, restored_database=copy, backup_id='all')
