"""The object inventory: no silent loss at backup time, no lossy restore, old backups still restore.

A backup records every object of the database (class, identity, digest of its definition)
in its manifest and fails, naming them, on objects it cannot reproduce (unless
unsupported_objects: warn). A restore compares the copy with that inventory before
renaming it into place and refuses a copy that lost or changed an object.
"""
import binascii
import json
import os

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.format.manifest import dumps
from plugins.module_utils.postgres.logical import restore as restore_module
from tests.support import compare
from tests.support.params import engine_params

PASSWORD = 'inventory-backup-pw'


@pytest.fixture(scope='module')
def inv_src(pg_server):
    name = 'inv_src'
    pg_server.create_database(name)
    pg_server.psql(name, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b'); "
                         "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; "
                         "CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch(); "
                         "COMMENT ON TABLE t IS 'kept'; CREATE VIEW tv AS SELECT id, v FROM t GROUP BY id")
    return name


@pytest.fixture(scope='module')
def inv_backup(pg_server, inv_src, tmp_path_factory):
    repo = str(tmp_path_factory.mktemp('inv_repo'))
    result = api.run_backup(engine_params(pg_server, inv_src, repo))
    with open(os.path.join(result['location'], 'manifest.json')) as f:
        return repo, result, json.load(f)


def _databases(server, pattern):
    conn = server.connect('postgres')
    try:
        cur = conn.cursor()
        cur.execute('SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE %s', (pattern,))
        return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def test_manifest_records_every_object(inv_backup):
    manifest = inv_backup[2]
    inventory = manifest['inventory']
    assert inventory['version'] == 1 and inventory['digest'] == 'sha256-128'
    objects = inventory['objects']
    assert set(objects['table']) == {'public.t'} and set(objects['view']) == {'public.tv'}
    assert set(objects['trigger']) == {'t_touch on public.t'}
    assert 'public.t.v' in objects['table column'] and 't_pkey on public.t' in objects['table constraint']
    assert all(len(d) == 32 for kind in objects.values() for d in kind.values())
    assert manifest['totals']['objects'] == inventory['count'] == sum(len(k) for k in objects.values())
    # the view groups by the primary key: it is completed after the constraint (postponed),
    # which older engines cannot restore, so the manifest says format_version 2
    assert manifest['format_version'] == 2


def test_restore_that_loses_an_object_is_refused(pg_server, inv_src, inv_backup, monkeypatch, unique_db_name):
    repo = inv_backup[0]
    target = unique_db_name('inv_lossy')
    pg_server.create_database(target)
    pg_server.psql(target, "CREATE TABLE keep_me (v text); INSERT INTO keep_me VALUES ('precious')")
    real_execute = restore_module.LogicalRestore._execute

    def lose_triggers(self, conn, item):
        if item.kind != 'TRIGGER':
            real_execute(self, conn, item)
    monkeypatch.setattr(restore_module.LogicalRestore, '_execute', lose_triggers)
    with pytest.raises(errors.RestoreFailed) as e:
        api.run_restore(engine_params(pg_server, inv_src, repo, target_database=target, if_exists='replace'))
    msg = str(e.value)
    assert '1 missing: trigger t_touch on public.t' in msg and 'target was left unchanged' in msg, msg
    assert pg_server.scalar(target, 'SELECT v FROM keep_me') == 'precious'
    assert _databases(pg_server, '_dbbackup_restore_%') == []


def test_old_manifest_without_inventory_still_restores(pg_server, inv_src, inv_backup, tmp_path):
    repo, result, manifest = inv_backup
    old = dict(manifest)
    old.pop('inventory')
    old['totals'] = dict(manifest['totals'])
    old['totals'].pop('objects')
    path = os.path.join(result['location'], 'manifest.json')
    with open(path, 'wb') as f:
        f.write(dumps(old))
    try:
        restored = api.run_restore(engine_params(pg_server, inv_src, repo, target_database='inv_old'))
        assert restored['inventory'] == {'compared': 'nothing', 'objects': 0,
                                         'reason': 'the backup has no inventory (taken by an older version)'}
        compare.assert_same_database(pg_server, inv_src, 'inv_old')
        # a manifest that counts objects but whose inventory was taken out is refused
        stripped = dict(manifest)
        stripped.pop('inventory')
        with open(path, 'wb') as f:
            f.write(dumps(stripped))
        with pytest.raises(errors.IntegrityError, match='holds no inventory'):
            api.run_restore(engine_params(pg_server, inv_src, repo, target_database='inv_stripped',
                                          backup_id=result['backup_id']))
    finally:
        with open(path, 'wb') as f:
            f.write(dumps(manifest))


def test_encrypted_manifest_authenticates_its_inventory(pg_server, inv_src, tmp_path):
    key = str(tmp_path / 'inv.key')
    with open(key, 'w') as f:
        f.write(binascii.hexlify(os.urandom(32)).decode())
    os.chmod(key, 0o600)
    repo = str(tmp_path / 'repo')
    result = api.run_backup(engine_params(pg_server, inv_src, repo, encryption_key_file=key))
    path = os.path.join(result['location'], 'manifest.json')
    with open(path) as f:
        manifest = json.load(f)
    manifest['inventory']['objects']['table']['public.t'] = '0' * 32   # a forged digest
    with open(path, 'wb') as f:
        f.write(dumps(manifest))
    with pytest.raises(errors.IntegrityError, match='modified after the backup was written'):
        api.run_restore(engine_params(pg_server, inv_src, repo, target_database='inv_forged',
                                      encryption_key_file=key))


@pytest.fixture(scope='module')
def subscribed_db(pg_server):
    """A database owned by a role without superuser, holding a subscription (made by a superuser)."""
    name = 'inv_subscribed'
    pg_server.psql('postgres', "CREATE ROLE inv_backup LOGIN PASSWORD '%s'" % PASSWORD)
    pg_server.psql('postgres', 'CREATE DATABASE %s OWNER inv_backup' % name)
    pg_server.psql(name, "SET ROLE inv_backup; CREATE TABLE kept (a int); INSERT INTO kept VALUES (1)")
    pg_server.psql(name, "CREATE SUBSCRIPTION inv_sub CONNECTION 'dbname=nowhere' PUBLICATION p "
                         "WITH (connect = false)")
    return name


def test_unsupported_object_fails_the_backup_naming_it(pg_server, subscribed_db, tmp_path):
    """A subscription's connection string is readable by superusers only: this backup cannot reproduce it."""
    params = engine_params(pg_server, subscribed_db, str(tmp_path), login_user='inv_backup', login_password=PASSWORD)
    with pytest.raises(errors.BackupFailed) as e:
        api.run_backup(params)
    assert 'cannot reproduce 1 object(s): subscription inv_sub' in str(e.value)
    assert 'unsupported_objects: warn' in str(e.value)
    assert not [f for root, dirs, files in os.walk(str(tmp_path)) for f in files if f == 'manifest.json']
    with pytest.raises(errors.BadInput, match='unsupported_objects must be fail or warn'):
        api.run_backup(dict(params, unsupported_objects='ignore'))

    # warn: the backup is written without it, says so, and so does its restore
    result = api.run_backup(dict(params, unsupported_objects='warn'))
    assert result['warnings'] == ['Backup %s lacks 1 object(s) it cannot reproduce: subscription inv_sub.'
                                  % result['backup_id']]
    with open(os.path.join(result['location'], 'manifest.json')) as f:
        assert json.load(f)['unsupported_objects'] == [['subscription', 'inv_sub']]
    restored = api.run_restore(engine_params(pg_server, subscribed_db, str(tmp_path), target_database='inv_unsub'))
    assert restored['warnings'] == result['warnings'] and restored['inventory']['compared'] == 'definitions'
    assert pg_server.scalar('inv_unsub', 'SELECT count(*) FROM pg_catalog.pg_subscription s JOIN '
                                         'pg_catalog.pg_database d ON d.oid = s.subdbid '
                                         "WHERE d.datname = 'inv_unsub'") == 0
    assert pg_server.scalar('inv_unsub', 'SELECT a FROM kept') == 1
    # a cluster backup says which database lacks what
    cluster_params = dict(params, kind='cluster', databases=[subscribed_db], unsupported_objects='warn',
                          repository=str(tmp_path / 'cluster'))
    cluster_params.pop('database')
    cluster = api.run_backup(cluster_params)
    assert cluster['warnings'] == ['Backup %s (%s) lacks 1 object(s) it cannot reproduce: subscription inv_sub.'
                                   % (cluster['backup_id'], subscribed_db)]


def test_rows_of_extension_configuration_tables_are_not_lost_silently(pg_server, tmp_path):
    """pg_dump dumps the user's rows of an extension's configuration tables; this engine does not yet,
    so a backup holding some fails, naming the table. The catalog state is what
    pg_extension_config_dump() leaves (contrib extensions of PostgreSQL 15 use none)."""
    pg_server.create_database('inv_extcfg')
    pg_server.psql('inv_extcfg', "CREATE EXTENSION citext; CREATE TABLE cfg (a int); "
                                 "ALTER EXTENSION citext ADD TABLE cfg; "
                                 "UPDATE pg_catalog.pg_extension SET extconfig = ARRAY['cfg'::regclass::oid], "
                                 "extcondition = ARRAY['WHERE a > 0'] WHERE extname = 'citext'; "
                                 "INSERT INTO cfg VALUES (0)")
    api.run_backup(engine_params(pg_server, 'inv_extcfg', str(tmp_path / 'a')))   # the extension's own row only
    pg_server.psql('inv_extcfg', 'INSERT INTO cfg VALUES (7)')
    with pytest.raises(errors.BackupFailed, match=r'extension configuration data public\.cfg'):
        api.run_backup(engine_params(pg_server, 'inv_extcfg', str(tmp_path / 'b')))


def test_child_table_column_order_a_restore_cannot_keep_is_named(pg_server, tmp_path):
    """CREATE TABLE ... INHERITS puts the parents' columns first: a column added to the parent
    later ends up elsewhere (pg_dump moves it silently). The backup names the columns that move."""
    pg_server.create_database('inv_order')
    pg_server.psql('inv_order', 'CREATE TABLE parent (a int); CREATE TABLE child (b int) INHERITS (parent); '
                                'ALTER TABLE parent ADD COLUMN c int; INSERT INTO child VALUES (1, 2, 3); '
                                'CREATE TABLE grandchild () INHERITS (child)')
    with pytest.raises(errors.BackupFailed) as e:
        api.run_backup(engine_params(pg_server, 'inv_order', str(tmp_path)))
    assert ('cannot reproduce 4 object(s): table column public.child.b, table column public.child.c, '
            'table column public.grandchild.b, table column public.grandchild.c '
            '(a restore cannot give this child table its column order') in str(e.value), str(e.value)
    result = api.run_backup(engine_params(pg_server, 'inv_order', str(tmp_path), unsupported_objects='warn'))
    assert 'table column public.child.b, table column public.child.c' in result['warnings'][0]
    restored = api.run_restore(engine_params(pg_server, 'inv_order', str(tmp_path), target_database='inv_order_copy'))
    assert restored['warnings'] == result['warnings'] and restored['inventory']['compared'] == 'definitions'
    columns = "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '%s'::regclass " \
              "AND attnum > 0"
    assert pg_server.scalar('inv_order', columns % 'child') == 'a,b,c'
    assert pg_server.scalar('inv_order_copy', columns % 'child') == 'a,c,b'     # as said
    assert pg_server.scalar('inv_order_copy', columns % 'grandchild') == 'a,c,b'
    assert pg_server.scalar('inv_order_copy', 'SELECT b FROM child') == 2        # data by column name
    proof = api.run_verify(engine_params(pg_server, 'inv_order', str(tmp_path), restored_database='inv_order_copy'))
    assert proof['restored']['ok']


def test_invalid_index_is_left_out_as_pg_dump_does(pg_server, tmp_path):
    """A failed CREATE INDEX CONCURRENTLY leaves an invalid index: neither dumped nor expected back."""
    pg_server.create_database('inv_invalid')
    pg_server.psql('inv_invalid', 'CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1)')
    pg_server.psql('inv_invalid', 'CREATE UNIQUE INDEX CONCURRENTLY t_a ON t (a)', check=False)
    pg_server.psql('inv_invalid', "COMMENT ON INDEX t_a IS 'half built'")
    assert pg_server.scalar('inv_invalid', "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = 't_a'::regclass")
    api.run_backup(engine_params(pg_server, 'inv_invalid', str(tmp_path)))
    restored = api.run_restore(engine_params(pg_server, 'inv_invalid', str(tmp_path), target_database='inv_invalid_c'))
    assert restored['inventory']['compared'] == 'definitions'
    assert pg_server.scalar('inv_invalid_c', "SELECT count(*) FROM pg_class WHERE relname = 't_a'") == 0
    compare.assert_same_database(pg_server, 'inv_invalid', 'inv_invalid_c')
