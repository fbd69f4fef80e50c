"""MariaDB 10.5, 10.11 and 11.8: logical, cluster and binlog PITR on each version, and 10.5 -> 11.8.

Each version's rich fixture (tests/fixtures/mysql/rich.sql, blocks a version lacks replaced)
must round-trip identically, judged by that server's own SHOW CREATE and CHECKSUM TABLE
(tests/support/mysql_compare.py). binlog-push and the PITR replay run on the database host:
inside the chroot for 10.5 and 11.8, with that release's python3 and mariadb-binlog.
The upgrade is judged against mariadb-dump (11.8) | mariadb into the same 11.8 server.
"""
import datetime
import shutil
import subprocess
import time

import pytest

from devtools import server_versions
from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.mysql.logical.globals import grant_statement
from tests.support.mysql_compare import assert_same_database, schema_snapshot, table_checksums
from tests.versions.conftest import load_mysql_fixture, new_mysql_server
from tests.versions.db_host import engine_for, shared_tmp


def _params(server, database, repo, **extra):
    p = dict(server.conn_params(database), repository=repo)
    p.update(extra)
    return p


def test_logical_round_trip(mysql_version):
    version, server = mysql_version
    repo = shared_tmp('myv-repo-')
    try:
        backup = api.run_backup(_params(server, 'rich', repo, jobs=2))
        assert backup['changed'] and backup['server_version'].startswith(version + '.')
        api.run_restore(_params(server, 'rich', repo, jobs=2, target_database='rich_copy'))
        assert_same_database(server, 'rich', 'rich_copy')
        assert api.run_restore(_params(server, 'rich', repo, target_database='rich_copy'))['changed'] is False
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def _accounts(server):
    """{account: grants as they restore} (without IDENTIFIED: passwords are not in an unencrypted backup)."""
    out = {}
    for user, host in server.execute("SELECT User, Host FROM mysql.user WHERE User LIKE 'vm\\_%' ORDER BY 1, 2"):
        name = '`%s`@`%s`' % (user, host) if host else '`%s`' % user
        lines = [r[0] for r in server.execute('SHOW GRANTS FOR %s' % name)]
        out[name] = sorted(filter(None, (grant_statement(line, name) for line in lines)))
    return out


def test_cluster_round_trip_into_a_fresh_server(mysql_version):
    version, server = mysql_version
    for sql in ("CREATE USER IF NOT EXISTS vm_app@'%' IDENTIFIED BY 'vm-pw-1'",
                'CREATE ROLE IF NOT EXISTS vm_reader',
                'GRANT SELECT ON rich.* TO vm_reader', "GRANT vm_reader TO vm_app@'%'",
                "GRANT INSERT ON rich.types TO vm_app@'%'"):
        server.execute(sql)
    repo = shared_tmp('myv-cluster-')
    fresh = new_mysql_server(version)
    try:
        backup = api.run_backup(_params(server, None, repo, kind='cluster', databases=['rich'], server_name='cl'))
        assert backup['changed'] and backup['databases'] == ['rich']
        assert api.run_restore(_params(fresh, None, repo, kind='cluster', server_name='cl'))['changed']
        assert _accounts(fresh) == _accounts(server)
        assert schema_snapshot(fresh, 'rich') == schema_snapshot(server, 'rich')
        assert table_checksums(fresh, 'rich') == table_checksums(server, 'rich')
    finally:
        fresh.stop()
        shutil.rmtree(repo, ignore_errors=True)


def _utc(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S')


@pytest.mark.parametrize('version', server_versions.MARIADB_VERSIONS, ids=lambda v: 'mariadb%s' % v)
def test_binlog_pitr(version):
    """A backup, a write, a whole-second boundary, a mistake; binlog-push and the replay on the host."""
    host = engine_for('mariadb', version)
    server = new_mysql_server(version)
    repo = host.own(shared_tmp('myv-pitr-'), 'root')
    try:
        server.create_database('shop')
        server.execute('CREATE TABLE shop.acct (id INT PRIMARY KEY, balance INT NOT NULL)')
        server.execute('INSERT INTO shop.acct VALUES (1, 100), (2, 200)')
        common = _params(server, 'shop', repo, server_name='pitrsrc')
        backup = api.run_backup(common)
        server.execute('UPDATE shop.acct SET balance = balance - 30 WHERE id = 1')
        server.execute('INSERT INTO shop.acct VALUES (3, 300)')
        boundary = int(time.time()) + 1
        time.sleep(boundary + 1.1 - time.time())
        server.execute('UPDATE shop.acct SET balance = 0')
        server.execute('DELETE FROM shop.acct WHERE id = 2')
        pushed = host.api('run_binlog_push', dict(common, database=None, rotate=True))
        assert pushed['archived'], pushed
        result = host.api('run_pitr', dict(common, target_database='shop_then', stop_datetime=_utc(boundary)))
        assert result['changed'] is True and result['backup_id'] == backup['backup_id']
        assert server.execute('SELECT id, balance FROM shop_then.acct ORDER BY id') == ((1, 70), (2, 200), (3, 300))
        assert server.execute('SELECT id, balance FROM shop.acct ORDER BY id') == ((1, 0), (3, 0))
        end = host.api('run_pitr', dict(common, target_database='shop_end'))
        assert end['changed'] is True
        assert table_checksums(server, 'shop_end') == table_checksums(server, 'shop')
    finally:
        server.stop()
        host.cleanup()
        shutil.rmtree(repo, ignore_errors=True)


def _exact_rows(server, db, table):
    """Every row with values that survive the text protocol: FLOAT as DOUBLE, the rest as hex or text."""
    cols = server.execute('SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s '
                          'AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION', (db, table))
    select = []
    for name, kind in cols:
        q = '`%s`' % name.replace('`', '``')
        if kind == 'float':
            select.append('CAST(%s AS DOUBLE)' % q)
        elif kind in ('decimal', 'double', 'int', 'bigint', 'smallint', 'tinyint', 'mediumint', 'year'):
            select.append(q)
        else:
            select.append('HEX(%s)' % q)
    return server.execute('SELECT %s FROM `%s`.`%s` ORDER BY %s' % (
        ', '.join(select), db, table, ', '.join(str(i + 1) for i in range(len(select)))))


@pytest.fixture(scope='module')
def newest():
    server = new_mysql_server('11.8')
    yield server
    server.stop()


def test_upgrade_10_5_to_11_8_matches_mariadb_dump(newest):
    source = new_mysql_server('10.5')
    repo = shared_tmp('myup-')
    try:
        load_mysql_fixture(source, '10.5')
        api.run_backup(_params(source, 'rich', repo, server_name='up', jobs=2))
        restored = api.run_restore(_params(newest, 'rich', repo, server_name='up', jobs=2, target_database='ours'))
        assert restored['changed']
        dump_tool = server_versions.mysql_tool(newest, 'mariadb-dump')
        dump_args = ['--single-transaction', '--routines', '--events', '--triggers', '--hex-blob', 'rich']
        dump = subprocess.run([dump_tool] + source.client_args() + dump_args,
                              env=source.client_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert dump.returncode == 0, dump.stderr.decode()
        newest.create_database('reference', collation='utf8mb4_unicode_ci')
        load = subprocess.run([newest.client_bin] + newest.client_args() + ['reference'], input=dump.stdout,
                              env=newest.client_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert load.returncode == 0, load.stderr.decode()
        # mariadb-dump without --databases carries no database-level properties: ours must carry the source's
        ours, reference = schema_snapshot(newest, 'ours'), schema_snapshot(newest, 'reference')
        reference[('DATABASE', '')] = schema_snapshot(source, 'rich')[('DATABASE', '')]
        assert ours == reference
        # data: each table as mariadb-dump | mariadb gives it, or exactly the source's (mariadb-dump
        # prints FLOAT with 6 significant digits, so its copy of a FLOAT column can be the lossy one)
        theirs, mine = table_checksums(newest, 'reference'), table_checksums(newest, 'ours')
        for table in sorted(set(theirs) | set(mine)):
            if theirs.get(table) != mine.get(table):
                assert _exact_rows(newest, 'ours', table) == _exact_rows(source, 'rich', table), table
    finally:
        source.stop()
        shutil.rmtree(repo, ignore_errors=True)


def test_restore_into_an_older_version_is_refused_before_anything_changes(newest):
    older = new_mysql_server('10.5')
    repo = shared_tmp('mydown-')
    try:
        newest.create_database('newer')
        newest.execute('CREATE TABLE newer.t (id INT PRIMARY KEY)')
        api.run_backup(_params(newest, 'newer', repo, server_name='down'))
        before = older.execute('SHOW DATABASES')
        with pytest.raises(errors.BadInput) as info:
            api.run_restore(_params(older, 'newer', repo, server_name='down'))
        msg = str(info.value)
        assert 'MariaDB 11.8' in msg and 'older' in msg and 'Nothing was changed' in msg, msg
        assert older.execute('SHOW DATABASES') == before
    finally:
        older.stop()
        shutil.rmtree(repo, ignore_errors=True)
