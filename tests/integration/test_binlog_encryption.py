"""Encrypted MySQL/MariaDB binlog archive (binlog-push with a key) against a real MariaDB server.

One scenario, built once: a backup (not encrypted), write A, a plain push; write B (it holds a
marker string), write C after a whole-second boundary, a push with a key. So the archive is a
mixed chain: the backup's binlog file and write A plain, B and C encrypted. Compression is off
for the pushes, so only the encryption can keep the marker out of the stored bytes; a plain push
of the same files into another repository is the control that the marker is in the binlog.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.mysql.binlog.archive import list_archive
from plugins.module_utils.storage.factory import open_repository
from tests.support.mysql_compare import leftover_databases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROWS_AT_STOP = ((1, 70), (2, 200), (3, 300), (4, 400))
ROWS_AT_END = ((1, 0), (3, 0), (4, 0))


def _key(path):
    with open(path, 'w') as f:
        f.write(os.urandom(32).hex())
    os.chmod(path, 0o600)
    return path


def _utc(ts):
    return time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(ts))


def _files(directory):
    """{relative path: bytes} of every file below directory."""
    out = {}
    for root, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


class Case(object):
    pass


@pytest.fixture(scope='module')
def case(mysql_server, tmp_path_factory):
    c = Case()
    top = tmp_path_factory.mktemp('binlogenc')
    c.server = mysql_server
    c.repo = str(top / 'repo')
    c.plain_repo = str(top / 'plain')
    c.key, c.wrong, c.new = (_key(str(top / n)) for n in ('k1', 'wrong', 'k3'))
    c.marker = 'binlogenc-marker-%s' % os.urandom(8).hex()
    c.db = 'binlogenc_%d' % os.getpid()
    c.server_name = '%s_%d' % (mysql_server.host, mysql_server.port)

    def params(database=None, **options):
        p = mysql_server.conn_params(database)
        p.update(repository=c.repo)
        p.update(options)
        return p
    c.params = params
    mysql_server.create_database(c.db)
    mysql_server.execute('CREATE TABLE `%s`.acct (id INT PRIMARY KEY, balance INT NOT NULL, note VARCHAR(100))' % c.db)
    mysql_server.execute("INSERT INTO `%s`.acct VALUES (1, 100, 'a'), (2, 200, 'b')" % c.db)
    c.backup = api.run_backup(params(c.db))
    mysql_server.execute('UPDATE `%s`.acct SET balance = balance - 30 WHERE id = 1' % c.db)            # A
    mysql_server.execute("INSERT INTO `%s`.acct VALUES (3, 300, 'c')" % c.db)
    c.plain_push = api.run_binlog_push(params(rotate=True, compression='none'))
    mysql_server.execute('INSERT INTO `%s`.acct VALUES (4, 400, %%s)' % c.db, (c.marker,))            # B
    c.between = tuple(mysql_server.execute('SHOW BINLOG STATUS')[0][:2])
    boundary = int(time.time()) + 1
    time.sleep(boundary + 1.1 - time.time())
    c.stop = _utc(boundary)
    mysql_server.execute('UPDATE `%s`.acct SET balance = 0' % c.db)                                     # C
    mysql_server.execute('DELETE FROM `%s`.acct WHERE id = 2' % c.db)
    c.enc_push = api.run_binlog_push(params(rotate=True, compression='none', encryption_key_file=c.key))
    c.control = api.run_binlog_push(params(repository=c.plain_repo, compression='none'))
    c.base = os.path.join(c.repo, c.server_name, 'binlog')
    return c


def test_encrypted_push_keeps_rows_out_of_the_repository(case):
    assert case.plain_push['encrypted'] is False and case.plain_push['archived']
    assert case.enc_push['encrypted'] is True and case.enc_push['archived']
    stored = _files(case.base)
    marker = case.marker.encode()
    # control: the same binlog files pushed plain hold the marker
    control = _files(os.path.join(case.plain_repo, case.server_name, 'binlog'))
    assert any(marker in data for data in control.values())
    assert not [name for name, data in stored.items() if marker in data]
    for name in case.enc_push['archived']:
        assert name + '.enc' in stored and stored[name + '.enc'].startswith(b'\x89DBBENC\n')
        meta = json.loads(stored[name + '.json'])
        assert meta['encrypted'] is True and meta['path'] == name + '.enc'
    for name in case.plain_push['archived']:
        assert name in stored and json.loads(stored[name + '.json'])['encrypted'] is False
    key_doc = json.loads(stored['binlog-key.json'])
    assert key_doc['kind'] == 'binlog' and key_doc['server_name'] == case.server_name
    with open(case.key) as f:
        assert f.read().strip() not in stored['binlog-key.json'].decode()
    # the key file is not an archived binlog
    assert 'binlog-key' not in [m['file'] for m in list_archive(open_repository(case.params()), case.server_name)]


def test_repush_is_idempotent_whatever_the_encryption(case):
    before = dict((p, os.stat(os.path.join(case.base, p)).st_mtime_ns) for p in os.listdir(case.base))
    for options in ({'encryption_key_file': case.key}, {}):
        res = api.run_binlog_push(case.params(compression='none', **options))
        assert res['changed'] is False and res['archived'] == [] and res['already_archived'] >= 2
    # same raw content, other encryption state and no mtime shortcut: compared by raw SHA-256
    record = os.path.join(case.base, case.enc_push['archived'][0] + '.json')
    with open(record) as f:
        meta = json.load(f)
    meta['local_mtime'] = 0
    with open(record, 'w') as f:
        json.dump(meta, f)
    before[os.path.basename(record)] = os.stat(record).st_mtime_ns
    assert api.run_binlog_push(case.params())['changed'] is False
    after = dict((p, os.stat(os.path.join(case.base, p)).st_mtime_ns) for p in os.listdir(case.base))
    assert after == before
    with pytest.raises(errors.WrongKey, match='binlog archive'):
        api.run_binlog_push(case.params(encryption_key_file=case.wrong))
    # the host CLI takes the key options of backups
    for key, rc in ((case.key, 0), (case.wrong, 1)):
        p = subprocess.run([os.path.join(ROOT, 'scripts', 'dbbackup'), 'binlog-push', '--login-host', case.server.host,
                            '--login-port', str(case.server.port), '--repository', case.repo, '--compression', 'none',
                            '--encryption-key-file', key],
                           env=dict(os.environ, DBBACKUP_PYTHON=sys.executable,
                                    DBBACKUP_LOGIN_PASSWORD=case.server.password),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                           check=False)
        assert p.returncode == rc, p.stderr
        if rc == 0:
            res = json.loads(p.stdout)
            assert res['changed'] is False and res['encrypted'] is True
        else:
            assert 'not the key the binlog archive' in p.stderr and len(p.stderr.strip().splitlines()) == 1
    after = dict((p, os.stat(os.path.join(case.base, p)).st_mtime_ns) for p in os.listdir(case.base))
    assert after == before


def _rows(server, db):
    return server.execute('SELECT id, balance FROM `%s`.acct ORDER BY id' % db)


def test_pitr_over_a_mixed_chain(case):
    server, db = case.server, case.db
    # plain files in an encrypted archive are refused unless allowed (anyone able to write could have put them)
    with pytest.raises(errors.IntegrityError, match='stored unencrypted in an encrypted archive'):
        api.run_pitr(case.params(db, target_database=db + '_t', stop_datetime=case.stop, encryption_key_file=case.key))
    assert _absent(server, db + '_t')
    res = api.run_pitr(case.params(db, target_database=db + '_t', stop_datetime=case.stop,
                                   encryption_key_file=case.key, allow_unencrypted=True))
    assert res['changed'] is True and res['binlog_encrypted'] is True
    assert set(case.plain_push['archived']) & set(res['binlog_files'])      # plain and encrypted files
    assert set(case.enc_push['archived']) & set(res['binlog_files'])
    assert _rows(server, db + '_t') == ROWS_AT_STOP
    assert server.scalar('SELECT note FROM `%s`.acct WHERE id = 4' % (db + '_t')) == case.marker
    with open(case.key) as f:
        os.environ['BINLOGENC_KEY'] = f.read().strip()       # the key from an environment variable
    try:
        by_pos = api.run_pitr(case.params(db, target_database=db + '_p', stop_binlog_file=case.between[0],
                                          stop_position=case.between[1], encryption_key_env='BINLOGENC_KEY',
                                          allow_unencrypted=True))
    finally:
        del os.environ['BINLOGENC_KEY']
    assert by_pos['changed'] is True
    assert _rows(server, db + '_p') == ROWS_AT_STOP
    end = api.run_pitr(case.params(db, target_database=db + '_t', if_exists='replace', encryption_key_file=case.key,
                                   allow_unencrypted=True))
    assert _rows(server, db + '_t') == ROWS_AT_END and end['changed'] is True
    assert leftover_databases(server) == []


def _absent(server, db):
    return not server.execute('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s', (db,))


def test_missing_or_wrong_key_restores_nothing(case):
    target = case.db + '_x'
    with pytest.raises(errors.BadInput, match='encrypted and no key was given'):
        api.run_pitr(case.params(case.db, target_database=target, stop_datetime=case.stop))
    with pytest.raises(errors.WrongKey, match='not the key the binlog archive') as e:
        api.run_pitr(case.params(case.db, target_database=target, stop_datetime=case.stop,
                                 encryption_key_file=case.wrong))
    assert 'binlog-key.json' in str(e.value)
    assert _absent(case.server, target) and leftover_databases(case.server) == []
    # a chain that is all plain (to the end of write A's file) needs no key
    last_plain = case.plain_push['archived'][-1]
    with open(os.path.join(case.base, last_plain + '.json')) as f:
        end = json.load(f)['size']
    with pytest.raises(errors.IntegrityError, match='stored unencrypted'):
        api.run_pitr(case.params(case.db, target_database=target, stop_binlog_file=last_plain, stop_position=end))
    res = api.run_pitr(case.params(case.db, target_database=target, stop_binlog_file=last_plain, stop_position=end,
                                   allow_unencrypted=True))
    assert res['binlog_encrypted'] is False and res['binlog_files'][-1] == last_plain
    assert _rows(case.server, target) == ROWS_AT_STOP[:3]


def test_rekey_then_pitr_with_the_new_key(case, tmp_path):
    repo = str(tmp_path / 'repo')
    shutil.copytree(case.repo, repo)
    base = os.path.join(repo, case.server_name, 'binlog')
    data = dict((n, d) for n, d in _files(base).items() if n != 'binlog-key.json')
    common = case.params(repository=repo, encryption_key_file=case.key, new_encryption_key_file=case.new)
    common.pop('database')
    res = api.run_rekey(common)
    assert res['binlog_key'] == 'rekeyed' and res['changed'] and 'binlog archive key' in res['msg']
    assert dict((n, d) for n, d in _files(base).items() if n != 'binlog-key.json') == data
    assert api.run_rekey(common)['binlog_key'] == 'unchanged'
    with pytest.raises(errors.WrongKey):
        api.run_pitr(case.params(case.db, repository=repo, target_database=case.db + '_r', stop_datetime=case.stop,
                                 encryption_key_file=case.key))
    api.run_pitr(case.params(case.db, repository=repo, target_database=case.db + '_r', stop_datetime=case.stop,
                             allow_unencrypted=True, encryption_key_file=case.new))
    assert _rows(case.server, case.db + '_r') == ROWS_AT_STOP


def test_prune_deletes_encrypted_binlogs_before_the_oldest_kept_backup(case, tmp_path):
    repo = str(tmp_path / 'repo')
    shutil.copytree(case.repo, repo)
    later = api.run_backup(case.params(case.db, repository=repo))
    with open(os.path.join(later['location'], 'manifest.json')) as f:
        start = json.load(f)['consistent_position']['binlog_file']
    res = api.run_prune(case.params(case.db, repository=repo, keep_last=1))
    assert set(n + '.enc' for n in case.enc_push['archived']) <= set(res['binlog_deleted'])
    base = os.path.join(repo, case.server_name, 'binlog')
    left = sorted(os.listdir(base))
    assert 'binlog-key.json' in left
    assert not [n for n in left if n.endswith('.enc') or (n.endswith('.json') and n != 'binlog-key.json'
                                                          and n[:-5] < start)]
    assert not glob.glob(os.path.join(base, '.*'))


def test_an_encrypted_file_left_by_an_interrupted_push_is_adopted_with_the_key(case, tmp_path):
    repo = str(tmp_path / 'repo')
    shutil.copytree(case.repo, repo)
    base = os.path.join(repo, case.server_name, 'binlog')
    name = case.enc_push['archived'][0]
    with open(os.path.join(base, name + '.json')) as f:
        record = json.load(f)
    os.unlink(os.path.join(base, name + '.json'))          # killed between data file and record
    with pytest.raises(errors.BadInput, match='interrupted encrypted push'):
        api.run_binlog_push(case.params(repository=repo, compression='none'))
    assert not os.path.exists(os.path.join(base, name + '.json'))
    res = api.run_binlog_push(case.params(repository=repo, compression='none', encryption_key_file=case.key))
    assert res['archived'] == [name]
    with open(os.path.join(base, name + '.json')) as f:
        adopted = json.load(f)
    for key in ('sha256', 'path', 'encrypted', 'stored_sha256', 'stored_bytes', 'size', 'events'):
        assert adopted[key] == record[key], key
