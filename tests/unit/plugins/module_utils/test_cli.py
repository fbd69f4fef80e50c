"""Host CLI parsing: defaults of one subcommand must not leak into the others.

argparse shares parent actions between subparsers, so a set_defaults() or a
changed `required` on one subcommand once turned every backup into a MySQL
backup with one job.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from plugins.module_utils.cli import COMMANDS, _parser


@pytest.mark.parametrize('command', ['backup', 'restore', 'list', 'verify'])
def test_postgresql_defaults_hold_for_every_command(command):
    args = _parser().parse_args([command, '--database', 'app', '--repository', '/srv/backups'])
    assert args.db_type == 'postgresql'
    assert args.jobs == 2


def test_mysql_commands_default_to_mysql():
    args = _parser().parse_args(['binlog-push', '--repository', '/srv/backups'])
    assert args.db_type == 'mysql'


def test_database_stays_required(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(['list', '--repository', '/srv/backups'])
    assert '--database' in capsys.readouterr().err


@pytest.mark.parametrize('command', ['backup', 'restore', 'verify'])
def test_database_required_for_logical(command, capsys, tmp_path):
    # optional on the command line (kind=base/cluster need none), required by the engine for logical
    from plugins.module_utils.cli import main
    assert main([command, '--repository', str(tmp_path)]) == 1
    assert 'database is required' in capsys.readouterr().err


def test_every_command_has_an_entry_point():
    from plugins.module_utils import api
    for name in COMMANDS.values():
        assert callable(getattr(api, name))


def test_pitr_status_needs_no_database_and_stays_postgresql():
    args = _parser().parse_args(['pitr-status', '--repository', '/srv/backups', '--metrics-dir', '/tmp/tf'])
    assert (args.db_type, args.database, args.metrics_dir) == ('postgresql', None, '/tmp/tf')
    assert COMMANDS['pitr-status'] == 'run_pitr_status'
    assert _parser().parse_args(['pitr', '--database', 'app', '--repository', '/srv/b']).db_type == 'mysql'


def test_allow_unencrypted_reaches_wal_fetch_and_restore_command():
    from plugins.module_utils.postgres.physical.wal_archive import restore_command
    args = _parser().parse_args(['wal-fetch', '--repository', '/r', '--allow-unencrypted', 'X', '/p'])
    assert args.allow_unencrypted is True
    assert _parser().parse_args(['wal-fetch', '--repository', '/r', 'X', '/p']).allow_unencrypted is False
    assert restore_command('/usr/local/bin/dbbackup', '/etc/d.conf') == \
        '/usr/local/bin/dbbackup wal-fetch --config /etc/d.conf %f %p'
    assert restore_command('/usr/local/bin/dbbackup', '/etc/d.conf', allow_unencrypted=True) == \
        '/usr/local/bin/dbbackup wal-fetch --config /etc/d.conf --allow-unencrypted %f %p'


def test_wal_fetch_exit_status_says_not_archived_or_unusable(tmp_path, capsys):
    """1 only for "not archived" (PostgreSQL: end of the archive); anything else above 125 (recovery stops)."""
    from plugins.module_utils.cli import FETCH_UNUSABLE, main
    repo = str(tmp_path / 'repo')
    dest = str(tmp_path / 'RECOVERYXLOG')
    assert main(['wal-fetch', '--repository', repo, '--server-name', 's', '000000010000000000000001', dest]) == 1
    assert 'is not in the archive' in capsys.readouterr().err
    assert FETCH_UNUSABLE > 125
    for argv in (['wal-fetch', '--repository', 'relative/repo', '--server-name', 's', '000000010000000000000001',
                  dest],                                                     # bad input
                 ['wal-fetch', '--repository', repo, '--bogus', '000000010000000000000001', dest],   # usage error
                 ['wal-fetch', '--config', str(tmp_path / 'missing.conf'), '000000010000000000000001', dest]):
        assert main(argv) == FETCH_UNUSABLE, argv
    assert not (tmp_path / 'RECOVERYXLOG').exists()
    # other commands keep their statuses
    assert main(['wal-push', '--repository', 'relative/repo', '--server-name', 's', dest,
                 '000000010000000000000001']) == 1


def test_list_without_backups_says_which_server_names_exist(capsys, tmp_path):
    import json
    from plugins.module_utils.cli import main
    (tmp_path / 'db1' / 'logical' / 'app').mkdir(parents=True)
    assert main(['list', '--database', 'app', '--repository', str(tmp_path), '--login-host', '10.0.0.9']) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)['backups'] == [] and 'server name 10.0.0.9' in err and 'server names there: db1' in err
    assert main(['list', '--database', 'other', '--repository', str(tmp_path), '--server-name', 'db1']) == 0
    assert 'it holds backups of: app' in capsys.readouterr().err


def test_cloud_secrets_from_the_config_file_unless_the_environment_has_them(tmp_path, monkeypatch):
    """azure_account_key / gcs_credentials_json may live in a 0600 --config file; AZURE_STORAGE_* wins."""
    from plugins.module_utils import cli_config
    from plugins.module_utils.cli import _params
    conf = tmp_path / 'd.conf'
    conf.write_text('[dbbackup]\nrepository = azure://c/p\nazure_account_url = http://127.0.0.1:1/acct\n'
                    'azure_account_key = S3cretAzureKey==\n')
    conf.chmod(0o600)
    for k in ('AZURE_STORAGE_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_STORAGE_CONNECTION_STRING',
              'GOOGLE_APPLICATION_CREDENTIALS'):
        monkeypatch.delenv(k, raising=False)
    argv = ['list', '--config', str(conf), '--database', 'app']
    parser = _parser()
    secrets = cli_config.apply_config(parser, argv)
    args = parser.parse_args(argv)
    params = cli_config.fill_secrets(_params(args), secrets, 'list')
    assert params['azure_account_key'] == 'S3cretAzureKey==' and params['azure_account_url'] == 'http://127.0.0.1:1/acct'
    monkeypatch.setenv('AZURE_STORAGE_SAS_TOKEN', 'sv=2024&sig=abc')
    params = cli_config.fill_secrets(_params(args), secrets, 'list')
    assert not params.get('azure_account_key')          # the environment decides
    conf.chmod(0o644)
    with pytest.raises(Exception, match='readable by others'):
        cli_config.apply_config(_parser(), argv)
    assert not any(a.dest == 'azure_account_key' for a in parser._actions)   # never a command-line flag


def test_an_error_message_that_ends_in_a_question_keeps_it():
    from plugins.module_utils.common.errors import ConnectionFailed
    e = ConnectionFailed('Cannot connect: is the server accepting TCP/IP connections?', 'Check login_host.')
    assert str(e) == 'Cannot connect: is the server accepting TCP/IP connections? Check login_host.'
    assert str(ConnectionFailed('No route', 'Check it.')) == 'No route. Check it.'


def test_the_wal_fast_path_loads_only_what_it_needs(tmp_path):
    # archive_command / restore_command answered from the spool run once per WAL file: every module
    # imported before the answer is paid on each of them (signal alone pulls in enum and functools)
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    code = ('import sys; before = set(sys.modules); from plugins.module_utils.cli import main; '
            'from plugins.module_utils.postgres.physical.wal_async import fast_path; '
            'fast_path(["wal-push", "--config", sys.argv[1], "pg_wal/000000010000000000000001", '
            '"000000010000000000000001"]); print(" ".join(sorted(set(sys.modules) - before)))')
    conf = tmp_path / 'wal.conf'
    conf.write_text('[dbbackup]\nrepository = %s\nserver_name = s1\narchive_async = true\nspool_path = %s\n'
                    % (tmp_path / 'repo', tmp_path / 'spool'))
    out = subprocess.run([sys.executable, '-s', '-S', '-c', code, str(conf)], cwd=root, env={'PYTHONPATH': root},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True)
    loaded = set(out.stdout.split())
    assert 'plugins.module_utils.postgres.physical.wal_async' in loaded
    assert not loaded & {'signal', 'enum', 'plugins.module_utils.common.errors', 'json', 'configparser'}, loaded
