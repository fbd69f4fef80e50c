"""Encryption through the modules as users run them (ansible-playbook on localhost, -vvv).

The passphrase travels as a no_log option: it must not appear in ansible's
-vvv output (which prints every module's arguments) nor in registered
results; the key from a key file or from the environment must not either.
Missing and wrong keys fail the task with the clear engine message, a
rotation with dbbackup_rekey works (check mode, change, idempotent rerun),
and two key options at once are refused.
"""
import binascii
import json
import os

import pytest

from devtools.drill import run_playbook

HERE = os.path.dirname(os.path.abspath(__file__))
PASSPHRASE = 'M0dule-pa55phrase-n0log-x81'
WRONG_PASSPHRASE = 'Wr0ng-m0dule-phrase-c55'


@pytest.fixture
def sample_db(pg_server, unique_db_name):
    name = unique_db_name('encmod')
    pg_server.create_database(name)
    pg_server.psql(name, 'CREATE TABLE public.t (id serial PRIMARY KEY, v text);'
                         "INSERT INTO public.t (v) SELECT 'row ' || g FROM generate_series(1, 300) g;")
    return name


def test_encryption_through_the_modules(pg_server, sample_db, tmp_path, monkeypatch, db_exists):
    key = os.urandom(32)
    key_hex = binascii.hexlify(key).decode()
    key_file = str(tmp_path / 'backup.key')
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(key_hex)
    monkeypatch.setenv('DBBACKUP_TEST_PASSPHRASE', PASSPHRASE)
    monkeypatch.setenv('DBBACKUP_TEST_WRONG_PASSPHRASE', WRONG_PASSPHRASE)
    monkeypatch.setenv('DBBACKUP_TEST_KEK', key_hex)
    results = str(tmp_path / 'results.json')
    target = sample_db + '_enc'
    workdir = tmp_path / 'ansible'
    workdir.mkdir()
    proc = run_playbook(os.path.join(HERE, 'playbooks', 'encryption.yml'),
                        dict(pg_host=pg_server.host, pg_port=pg_server.port, pg_user=pg_server.user,
                             results_file=results, database=sample_db, target_database=target,
                             repository=str(tmp_path / 'repo'), key_file=key_file),
                        str(workdir), password=pg_server.password, verbosity=3, capture=True, timeout=600)
    output = proc.stdout
    assert proc.returncode == 0, output[-6000:]
    with open(results) as f:
        text = f.read()
    for secret in (PASSPHRASE, WRONG_PASSPHRASE, key_hex):
        assert secret not in output, 'a secret appears in the -vvv output'
        assert secret not in text, 'a secret appears in the registered results'
    # -vvv does print module arguments: the passphrase is there, masked
    assert 'encryption_passphrase' in output
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in output
    res = json.loads(text)

    assert res['backup']['changed'] is True and res['backup']['encrypted'] is True
    nokey = res['nokey']
    assert nokey['failed'] is True and 'encrypted and no key was given' in nokey['msg']
    assert 'encryption_passphrase' in nokey['msg']
    wrong = res['wrong']
    assert wrong['failed'] is True and 'does not match the key' in wrong['msg']
    assert wrong['error_type'] == 'WrongKey'
    restore = res['restore']
    assert restore['changed'] is True and restore['encrypted'] is True
    assert restore['rows'] == 300 and db_exists(target)

    check, rekey, again = res['rekey_check'], res['rekey'], res['rekey_again']
    assert check['changed'] is True and check['rekeyed'] == 1
    assert rekey['changed'] is True and rekey['rekeyed'] == 1
    assert [b['action'] for b in rekey['backups']] == ['rekeyed']
    assert again['changed'] is False and again['unchanged'] == 1 and again['rekeyed'] == 0

    assert res['restore_env']['changed'] is True and db_exists(target + '_env')
    conflict = res['conflict']
    assert conflict['failed'] is True and 'mutually exclusive' in conflict['msg']
