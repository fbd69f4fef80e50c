"""MySQL/MariaDB backup/restore benchmark: dbbackup vs. mariadb-dump | mariadb.

Why: the collection's MySQL engine should beat the classic `mysqldump | mysql`
pair, above all on restore time (the RTO), with bounded memory. This script
measures both on one throwaway MariaDB server in one run.

What it does:
  1. starts a throwaway server (devtools.mysql_temp.MySqlServer, binary log on,
     larger buffer pool);
  2. generates a deterministic dataset with MariaDB's sequence engine: `orders`
     (--rows rows, integer key, secondary index, decimal, enum, text, datetime, BIT,
     double), `customers` (rows/10: latin1 and utf8mb4 text, JSON), `events`
     (rows/2: binary payload, timestamp, set) and 20 small tables;
  3. reads every table once (warm cache);
  4. per round: dbbackup backup (host CLI, zstd level 3, --jobs), dbbackup restore
     into a new database, `mariadb-dump --single-transaction --quick` piped into
     `zstd -3`, and `zstd -dc | mariadb` into a new database; every restore is
     checked with CHECKSUM TABLE against the source;
  5. prints wall time, client CPU, peak RSS and stored size per tool, and the
     ratios dbbackup / mariadb-dump; --markdown prints a section for
     docs/benchmarks.md, --json writes everything.

Peak RSS is GNU time's %M for the tool's process tree (the largest process of a
pipeline); server memory and CPU are not counted for either tool. The server
runs on the same machine, so CPU the client spends is CPU the server lacks.

    python3 bench/bench_mysql.py                    # 1M orders rows, jobs 2
    python3 bench/bench_mysql.py --rows 3000000 --rounds 3 --markdown
"""
from __future__ import print_function

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from devtools.mysql_temp import MySqlServer, client_tool  # noqa: E402

DB = 'bench'
TIME_BIN = '/usr/bin/time' if os.access('/usr/bin/time', os.X_OK) else None
MB = 1024.0 * 1024.0

DATASET_SQL = """
CREATE TABLE orders (
  id BIGINT NOT NULL PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(12,2), status ENUM('new','paid','shipped','void'),
  note VARCHAR(200), created DATETIME(3), flags BIT(8), ratio DOUBLE, KEY by_customer (customer)
) ENGINE=InnoDB;
INSERT INTO orders SELECT seq, seq % 50000, (seq % 100000) / 100, ELT(1 + seq % 4, 'new','paid','shipped','void'),
  IF(seq % 3 = 0, NULL, CONCAT('order note ', seq, IF(seq % 11 = 0, '\\ttab\\nline', ''), ' ', REPEAT(CHAR(97 + seq % 26), seq % 60))),
  '2020-01-01' + INTERVAL seq SECOND, seq % 256, seq / 7 FROM seq_1_to_{rows};
CREATE TABLE customers (
  id INT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, city VARCHAR(60) CHARACTER SET latin1,
  profile JSON, signup DATE, KEY by_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO customers SELECT seq, CONCAT('customer ', seq, ' ', IF(seq % 7 = 0, 'Zoë 😀', 'plain')),
  ELT(1 + seq % 3, 'Paris', 'Köln', 'Oslo'), JSON_OBJECT('tier', seq % 5, 'tags', JSON_ARRAY('a', seq)),
  '2015-01-01' + INTERVAL (seq % 3000) DAY FROM seq_1_to_{customers};
CREATE TABLE events (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, kind SET('click','view','buy'), at TIMESTAMP(6) NOT NULL,
  payload VARBINARY(64), KEY by_at (at)
) ENGINE=InnoDB;
INSERT INTO events SELECT seq, ELT(1 + seq % 3, 'click', 'view', 'click,buy'), FROM_UNIXTIME(1600000000 + seq),
  UNHEX(SHA2(seq, 256)) FROM seq_1_to_{events};
"""
SMALL_SQL = ("CREATE TABLE small_{n} (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB;\n"
             "INSERT INTO small_{n} SELECT seq, CONCAT('v', seq) FROM seq_1_to_100;\n")


SERVER = {'pid': None}


def server_cpu():
    """CPU seconds (user + system) the server process has used so far."""
    with open('/proc/%d/stat' % SERVER['pid']) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))


def run_measured(argv, env=None, shell=False):
    """(wall s, client CPU s, peak RSS MB, server CPU s) of a command (or shell pipeline)."""
    if shell:
        argv = ['sh', '-c', argv]
    cmd = ([TIME_BIN, '-f', '%M'] + argv) if TIME_BIN else argv
    t0, s0 = time.time(), server_cpu()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall, server = time.time() - t0, server_cpu() - s0
    err = proc.stderr.read().decode('utf-8', 'replace')
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError('%s failed: %s' % (argv, err[-2000:]))
    rss = float(err.strip().splitlines()[-1]) / 1024.0 if TIME_BIN else float('nan')
    return wall, usage.ru_utime + usage.ru_stime, rss, server


def checksums(server, db):
    names = [r[0] for r in server.execute(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' "
        "ORDER BY TABLE_NAME", (db,))]
    return dict((n, server.execute('CHECKSUM TABLE `%s`.`%s`' % (db, n))[0][1]) for n in names)


def tree_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def build_dataset(server, rows):
    server.create_database(DB)
    sql = DATASET_SQL.format(rows=rows, customers=max(10, rows // 10), events=max(10, rows // 2))
    sql += ''.join(SMALL_SQL.format(n=n) for n in range(20))
    t0 = time.time()
    server.sql(sql, DB)
    for table in ('orders', 'customers', 'events'):
        server.execute('ANALYZE TABLE `%s`.`%s`' % (DB, table))      # fresh size statistics
    raw = server.execute("SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                         (DB,))[0][0]
    return time.time() - t0, float(raw or 0) / MB


def one_round(server, args, work, n, source_sums):
    py = args.python
    cli = os.path.join(REPO, 'scripts', 'dbbackup')
    env = dict(os.environ, DBBACKUP_PYTHON=py, DBBACKUP_LOGIN_PASSWORD=server.password)
    common = ['--db-type', 'mysql', '--login-host', server.host, '--login-port', str(server.port),
              '--login-user', server.user, '--jobs', str(args.jobs)]
    repo = os.path.join(work, 'repo%d' % n)
    out = {}
    out['dbbackup_backup'] = run_measured([cli, 'backup'] + common + ['--database', DB, '--repository', repo], env)
    out['dbbackup_size_mb'] = tree_size(repo) / MB
    target = 'r_ours_%d' % n
    restore = [cli, 'restore'] + common + ['--database', DB, '--repository', repo, '--target-database', target]
    out['dbbackup_restore'] = run_measured(restore, env)
    assert checksums(server, target) == source_sums, 'dbbackup restore differs from the source'
    server.execute('DROP DATABASE `%s`' % target)
    shutil.rmtree(repo)

    dump = client_tool('mariadb-dump', 'mysqldump')
    client = client_tool('mariadb', 'mysql')
    conn = ' '.join(server.client_args())
    path = os.path.join(work, 'dump%d.sql.zst' % n)
    menv = server.client_env()
    out['mysqldump_backup'] = run_measured(
        '%s %s --single-transaction --quick --routines --triggers --events %s | zstd -q -3 > %s'
        % (dump, conn, DB, path), menv, shell=True)
    out['mysqldump_size_mb'] = os.path.getsize(path) / MB
    target = 'r_dump_%d' % n
    server.execute('CREATE DATABASE `%s`' % target)
    out['mysqldump_restore'] = run_measured('zstd -q -dc %s | %s %s %s' % (path, client, conn, target), menv,
                                            shell=True)
    assert checksums(server, target) == source_sums, 'mariadb restore differs from the source'
    server.execute('DROP DATABASE `%s`' % target)
    os.unlink(path)
    return out


def median(rounds, key, index=None):
    values = [r[key] if index is None else r[key][index] for r in rounds]
    return statistics.median(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--rows', type=int, default=1000000, help='rows of the orders table (others scale with it)')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=1, help='measure this many times; medians are reported')
    ap.add_argument('--buffer-pool', default='1G')
    ap.add_argument('--python', default=sys.executable, help='Python with requirements.txt for the dbbackup CLI')
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--markdown', action='store_true', help='print a section for docs/benchmarks.md')
    args = ap.parse_args()
    if not shutil.which('zstd'):
        sys.exit('zstd (the command) is needed for the mariadb-dump pipeline: apt-get install zstd')
    work = tempfile.mkdtemp(prefix='dbbackup-bench-my-')
    server = MySqlServer(buffer_pool=args.buffer_pool, extra_args=['--innodb-log-file-size=512M'])
    try:
        server.start()
        SERVER['pid'] = server.proc.pid
        version = server.scalar('SELECT VERSION()')
        print('server %s, dataset: %d orders rows ...' % (version, args.rows), flush=True)
        build_s, size_mb = build_dataset(server, args.rows)
        source_sums = checksums(server, DB)      # also warms the cache
        rows = sum(server.execute('SELECT COUNT(*) FROM `%s`.`%s`' % (DB, t))[0][0] for t in source_sums)
        print('  built in %.1f s: %d tables, %d rows, %.0f MB on disk (data + indexes)'
              % (build_s, len(source_sums), rows, size_mb), flush=True)
        rounds = []
        for n in range(args.rounds):
            rounds.append(one_round(server, args, work, n, source_sums))
            print('  round %d done' % (n + 1), flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    res = {'date': datetime.date.today().isoformat(), 'server': version, 'rows': rows, 'tables': len(source_sums),
           'disk_mb': size_mb, 'jobs': args.jobs, 'rounds': args.rounds, 'cpus': os.cpu_count(),
           'machine': platform.platform()}
    for tool in ('dbbackup', 'mysqldump'):
        for op in ('backup', 'restore'):
            key = '%s_%s' % (tool, op)
            res[key] = {'wall_s': median(rounds, key, 0), 'cpu_s': median(rounds, key, 1),
                        'peak_rss_mb': median(rounds, key, 2), 'server_cpu_s': median(rounds, key, 3)}
        res['%s_size_mb' % tool] = median(rounds, '%s_size_mb' % tool)
    ratio = {
        'backup_time': res['dbbackup_backup']['wall_s'] / res['mysqldump_backup']['wall_s'],
        'restore_time': res['dbbackup_restore']['wall_s'] / res['mysqldump_restore']['wall_s'],
        'size': res['dbbackup_size_mb'] / res['mysqldump_size_mb'],
    }
    res['ratios'] = ratio
    print()
    print('%-40s %9s %9s %9s %10s %9s' % ('tool', 'wall s', 'cpu s', 'srv cpu', 'peak MB', 'size MB'))
    for tool, label in (('dbbackup', 'dbbackup (jobs %d, zstd-3)' % args.jobs),
                        ('mysqldump', 'mariadb-dump|zstd-3, mariadb')):
        for op in ('backup', 'restore'):
            m = res['%s_%s' % (tool, op)]
            size = '%9.1f' % res['%s_size_mb' % tool] if op == 'backup' else '%9s' % ''
            print('%-40s %9.2f %9.2f %9.2f %10.1f %s' % ('%s %s' % (label, op), m['wall_s'], m['cpu_s'],
                                                         m['server_cpu_s'], m['peak_rss_mb'], size))
    print()
    print('ratios dbbackup / mariadb-dump: backup time %.2f, restore time %.2f, stored size %.2f'
          % (ratio['backup_time'], ratio['restore_time'], ratio['size']))
    print('(below 1 = dbbackup faster or smaller; every restore verified with CHECKSUM TABLE)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=1, sort_keys=True)
    if args.markdown:
        print()
        print(markdown(res))


def markdown(res):
    lines = ['### %s: %d rows in %d tables (%.0f MB on disk), %s, jobs %d, %d CPUs'
             % (res['date'], res['rows'], res['tables'], res['disk_mb'], res['server'], res['jobs'], res['cpus']),
             '',
             '| tool | backup s | restore s | backup client / server CPU s | restore client / server CPU s '
             '| stored MB | backup / restore peak RSS MB |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
    for tool, label in (('dbbackup', 'dbbackup (zstd-3)'), ('mysqldump', '`mariadb-dump \\| zstd -3`, `mariadb`')):
        b, r = res['%s_backup' % tool], res['%s_restore' % tool]
        lines.append('| %s | %.2f | %.2f | %.2f / %.2f | %.2f / %.2f | %.1f | %.0f / %.0f |' % (
            label, b['wall_s'], r['wall_s'], b['cpu_s'], b['server_cpu_s'], r['cpu_s'], r['server_cpu_s'],
            res['%s_size_mb' % tool], b['peak_rss_mb'], r['peak_rss_mb']))
    ratio = res['ratios']
    lines += ['', 'Ratios dbbackup / mariadb-dump (median of %d round(s)): backup time **%.2f**, restore time '
              '**%.2f**, stored size %.2f.' % (res['rounds'], ratio['backup_time'], ratio['restore_time'],
                                               ratio['size'])]
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
