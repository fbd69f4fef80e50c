"""MySQL/MariaDB point-in-time recovery into another name never touches another database.

One scenario (module fixture): database `shop` (tables, a view, a trigger, a table to drop) and a
live neighbour database, a backup of `shop`, then events of every kind the replay must place:
statements that name `shop` explicitly from inside it (the TRUNCATE that emptied the live table),
DDL and rows run without a default database, DDL on `shop` from another database, a transaction
writing both databases, statement-format DML naming `shop`, DDL creating a table, a view and a
trigger, and a DROP VIEW; then one binlog-push. Recovering `shop` into a copy on the same server
must give exactly the source (SHOW CREATE of every object, CHECKSUM TABLE), while `shop` and the
neighbour are unchanged before and after. A second scenario has a statement naming the neighbour
(refused before anything is restored, with its position and statement; recovering to just before
it works); the last one is the "undo a DROP TABLE" recipe of docs/mysql.md through the host CLI.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from plugins.module_utils import api
from plugins.module_utils.common import errors
from plugins.module_utils.mysql.binlog.replay_filter import Refused
from tests.support.mysql_compare import assert_same_database, leftover_databases, schema_snapshot, table_checksums

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUFFIX = '%d' % os.getpid()
SHOP = 'shop_' + SUFFIX
LIVE = 'live_' + SUFFIX

SETUP = """
CREATE TABLE staging (id INT PRIMARY KEY, v VARCHAR(20));
CREATE TABLE orders (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20));
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40));
CREATE TABLE old_stuff (id INT PRIMARY KEY);
CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('order ', NEW.id));
CREATE VIEW v_orders AS SELECT id, qty FROM orders;
INSERT INTO staging VALUES (1, 'a'), (2, 'b');
INSERT INTO orders VALUES (1, 10, 'first'), (2, 20, 'second');
INSERT INTO old_stuff VALUES (1);
"""


def _state(server, *dbs):
    return dict((db, (schema_snapshot(server, db), table_checksums(server, db))) for db in dbs)


def _params(server, repo, database, **options):
    p = server.conn_params(database)
    p.update(repository=repo, server_name='pitr-safety')
    p.update(options)
    return p


@pytest.fixture(scope='module')
def scenario(mysql_server, tmp_path_factory):
    s = mysql_server
    repo = str(tmp_path_factory.mktemp('pitr_safety') / 'repo')
    s.create_database(SHOP)
    s.sql(SETUP, SHOP)
    s.create_database(LIVE)
    s.sql('CREATE TABLE x (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO x VALUES (1, \'one\'), (2, \'two\');', LIVE)
    backup = api.run_backup(_params(s, repo, SHOP))
    started = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())
    # 1. named explicitly from inside the database (it emptied the live table before)
    s.sql("TRUNCATE TABLE %s.staging; INSERT INTO staging VALUES (10, 'after-truncate');" % SHOP, SHOP)
    # 2. no default database: DDL and rows (the copy lacked column c before)
    s.sql("ALTER TABLE %s.orders ADD COLUMN c INT; INSERT INTO %s.orders VALUES (3, 30, 'third', 9);" % (SHOP, SHOP))
    # 3. run from the neighbour: its own rows (left out) and DDL on shop (applied)
    s.sql("INSERT INTO x VALUES (5, 'live'); UPDATE x SET v = 'changed' WHERE id = 1; DROP TABLE %s.old_stuff;"
          % SHOP, LIVE)
    # 4. one transaction writing both databases
    s.sql("BEGIN; INSERT INTO staging VALUES (11, 'tx'); INSERT INTO %s.x VALUES (6, 'tx'); "
          "UPDATE orders SET qty = qty + 5 WHERE id = 2; COMMIT;" % LIVE, SHOP)
    # 4b. a savepoint rolled back to inside a transaction
    s.sql("BEGIN; INSERT INTO staging VALUES (14, 'kept'); SAVEPOINT sp1; INSERT INTO staging VALUES (15, 'undone'); "
          "ROLLBACK TO SAVEPOINT sp1; COMMIT;", SHOP)
    # 5. statement format, naming the database explicitly
    s.sql("SET SESSION binlog_format = 'STATEMENT'; UPDATE %s.orders SET qty = qty + 1 WHERE id = 1; "
          "INSERT INTO staging (id, v) VALUES (12, 'stmt');" % SHOP, SHOP)
    # 6. DDL without a default database: a table, renamed, a view on it
    s.sql("CREATE TABLE %s.newt (id INT PRIMARY KEY); INSERT INTO %s.newt VALUES (1), (2); "
          "RENAME TABLE %s.newt TO %s.newt2; CREATE VIEW %s.v2 AS SELECT id FROM %s.newt2;" % ((SHOP,) * 6))
    # 7. a trigger created after the backup (it must not fire again when its rows are replayed)
    s.sql("CREATE TRIGGER staging_bi BEFORE INSERT ON staging FOR EACH ROW SET NEW.v = CONCAT(NEW.v, '!'); "
          "INSERT INTO staging VALUES (13, 'lower'); DROP VIEW v_orders;", SHOP)
    pushed = api.run_binlog_push(_params(s, repo, None, rotate=True))
    assert pushed['archived']
    return {'repo': repo, 'backup': backup, 'started': started}


def test_recovery_into_a_copy_equals_the_source_and_touches_nothing_else(mysql_server, scenario):
    s = mysql_server
    assert s.execute('SELECT id, v FROM `%s`.staging ORDER BY id' % SHOP) == \
        ((10, 'after-truncate'), (11, 'tx'), (12, 'stmt'), (13, 'lower!'), (14, 'kept'))
    before = _state(s, SHOP, LIVE)
    copy = SHOP + '_copy'
    checked = api.run_pitr(_params(s, scenario['repo'], SHOP, target_database=copy), check_mode=True)
    assert checked['changed'] is True and checked['rewritten_statements'] >= 6
    assert not s.execute("SHOW DATABASES LIKE %s", (copy,))
    result = api.run_pitr(_params(s, scenario['repo'], SHOP, target_database=copy))
    assert result['changed'] is True and result['backup_id'] == scenario['backup']['backup_id']
    assert result['stopped_before'] is None and result['replayed_row_events'] >= 6
    assert _state(s, SHOP, LIVE) == before, 'the recovery changed the source or the neighbour database'
    assert_same_database(s, SHOP, copy)
    assert s.execute('SELECT id, v FROM `%s`.staging ORDER BY id' % copy) == \
        ((10, 'after-truncate'), (11, 'tx'), (12, 'stmt'), (13, 'lower!'), (14, 'kept'))
    assert s.execute('SELECT id, qty, c FROM `%s`.orders ORDER BY id' % copy) == \
        ((1, 11, None), (2, 25, None), (3, 30, 9))
    assert leftover_databases(s) == []
    again = api.run_pitr(_params(s, scenario['repo'], SHOP, target_database=copy))
    assert again['changed'] is False


def test_a_statement_naming_another_database_is_refused_before_anything_is_touched(mysql_server, scenario, tmp_path):
    s = mysql_server
    db = 'refuse_' + SUFFIX
    repo = str(tmp_path / 'repo')
    s.create_database(db)
    s.sql('CREATE TABLE t (id INT PRIMARY KEY);', db)
    api.run_backup(_params(s, repo, db))
    s.sql('INSERT INTO t VALUES (2);', db)
    s.sql("SET SESSION binlog_format = 'STATEMENT'; INSERT INTO t SELECT id + 100 FROM `%s`.x;" % LIVE, db)
    s.sql('INSERT INTO t VALUES (3);', db)
    api.run_binlog_push(_params(s, repo, None, rotate=True))
    before = _state(s, db, LIVE)
    target = db + '_copy'
    for check in (True, False):
        with pytest.raises(Refused) as e:
            api.run_pitr(_params(s, repo, db, target_database=target), check_mode=check)
        message = str(e.value)
        assert 'FROM `%s`.x' % LIVE in message and 'names database %s' % LIVE in message
        assert e.value.hint.startswith('Nothing was restored') and 'stop_position' in e.value.hint
    assert _state(s, db, LIVE) == before
    assert not s.execute('SHOW DATABASES LIKE %s', (target,)) and leftover_databases(s) == []
    # the message's stop point: everything before the refused transaction
    stop_file = e.value.hint.split('stop_binlog_file: ')[1].split(',')[0]
    stop_pos = int(e.value.hint.split('stop_position: ')[1].split(')')[0])
    done = api.run_pitr(_params(s, repo, db, target_database=target, stop_binlog_file=stop_file,
                                stop_position=stop_pos))
    assert done['stopped_before']['transaction_position'] == stop_pos
    assert s.execute('SELECT id FROM `%s`.t ORDER BY id' % target) == ((2,),)
    assert _state(s, db, LIVE) == before


def _cli(server, *args):
    env = dict(os.environ, DBBACKUP_LOGIN_PASSWORD=server.password, DBBACKUP_PYTHON=sys.executable)
    argv = [os.path.join(ROOT, 'scripts', 'dbbackup')] + list(args) + [
        '--db-type', 'mysql', '--login-host', server.host, '--login-port', str(server.port)]
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300,
                       check=False)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_undo_a_drop_table_recipe(mysql_server, tmp_path):
    """docs/mysql.md "Undo a DROP TABLE", step by step through the host CLI."""
    s = mysql_server
    db = 'undo_' + SUFFIX
    repo = str(tmp_path / 'repo')
    common = ['--repository', repo, '--server-name', 'undo-recipe']
    s.create_database(db)
    s.sql("CREATE TABLE invoices (id INT PRIMARY KEY, amount INT); CREATE TABLE log (id INT PRIMARY KEY); "
          "INSERT INTO invoices VALUES (1, 100), (2, 200); INSERT INTO log VALUES (1);", db)
    _cli(s, 'backup', '--database', db, *common)
    s.sql('INSERT INTO invoices VALUES (3, 300); INSERT INTO log VALUES (2);', db)
    s.sql('DROP TABLE invoices;', db)                         # the mistake
    s.sql('INSERT INTO log VALUES (3);', db)                   # work goes on
    _cli(s, 'binlog-push', *common + ['--rotate'])
    # 1. find the transaction that dropped the table
    listed = _cli(s, 'binlog-events', '--database', db, '--table', 'invoices', *common)
    drops = [t for t in listed['transactions']
             if any(e['kind'] == 'statement' and e['statement'].startswith('DROP TABLE') for e in t['events'])]
    assert len(drops) == 1 and listed['transactions'][-1] == drops[0]
    drop = drops[0]
    assert [e['kind'] for e in listed['transactions'][-2]['events']] == ['insert']   # invoices row 3
    # 2. recover the database to just before it, under another name
    undo = db + '_before_drop'
    result = _cli(s, 'pitr', '--database', db, '--target-database', undo, '--stop-binlog-file',
                  drop['stop_binlog_file'], '--stop-position', str(drop['stop_position']), *common)
    assert result['stopped_before']['transaction_position'] == drop['stop_position']
    # 3. move the table back into the live database
    live_log = s.execute('SELECT id FROM `%s`.log ORDER BY id' % db)
    s.execute('RENAME TABLE `%s`.invoices TO `%s`.invoices' % (undo, db))
    assert s.execute('SELECT id, amount FROM `%s`.invoices ORDER BY id' % db) == ((1, 100), (2, 200), (3, 300))
    assert s.execute('SELECT id FROM `%s`.log ORDER BY id' % db) == live_log == ((1,), (2,), (3,))
    s.execute('DROP DATABASE `%s`' % undo)


def test_bad_event_listing_input(mysql_server, scenario):
    with pytest.raises(errors.BadInput):
        api.run_binlog_events(_params(mysql_server, scenario['repo'], SHOP, events_around='noon'))
    with pytest.raises(errors.BadInput):
        api.run_pitr(_params(mysql_server, scenario['repo'], SHOP, target_database='never_made',
                             events_table='staging'))
    around = api.run_binlog_events(_params(mysql_server, scenario['repo'], SHOP, events_table='newt2',
                                           events_around=scenario['started'], events_window='1h'))
    kinds = [e['statement'].split()[0] for t in around['transactions'] for e in t['events']
             if e['kind'] == 'statement']
    assert kinds == ['RENAME', 'CREATE'] and around['truncated'] is False
