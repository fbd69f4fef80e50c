"""MySQL/MariaDB backup/restore benchmark: dbbackup vs. mariadb-dump | zstd -1 and zstd -d | mariadb.

Why: the collection's MySQL engine must beat the classic pair on narrow and wide tables alike,
with bounded memory and with binary values that used to cost it quadratic time. Targets (issue 16),
as ratios measured in the same run on one throwaway server:

    backup   <= 0.8 x  `mariadb-dump --single-transaction --quick | zstd -1`   (each dataset)
    restore  <= 0.8 x  `zstd -d | mariadb`                                      (each dataset)
    peak RSS <= 200 MB of the dbbackup process

What it does:
  1. starts a throwaway server (devtools.mysql_temp.MySqlServer: binary log on, as the tests);
  2. builds three databases with SQL only (deterministic):
       wide    type-rich `orders` (--rows), `customers` (JSON, latin1/utf8mb4), `events`
               (VARBINARY, TIMESTAMP(6), SET), `attachments` (20k x 1 KiB BLOBs), 20 small tables
       narrow  `salaries` (--narrow-rows) shaped like the employee sample's: 2 INT + 2 DATE,
               primary key (emp_no, from_date)
       blob    one 512 KiB BLOB of NULs, one of 4 MiB random bytes, 200 x 100 KiB random
  3. per condition (quiet; then one competing busy process burning a core, --busy) and round:
     for each database, dbbackup backup and restore (host CLI, --jobs, zstd at --level, default 1
     like the reference), `mariadb-dump --single-transaction --quick | zstd -1` and
     `zstd -d | mariadb`; every restore is checked with CHECKSUM TABLE against the source;
  4. prints wall, client CPU, server CPU, peak RSS and stored size per run (medians of the
     rounds), the ratios dbbackup / reference with PASS/FAIL, and the load average;
     --markdown prints the section for docs/benchmarks.md, --json writes everything.

Every run starts once dirty pages are written back and the server is idle (settle(): the writeback,
purge, page flushing and change-buffer merges a build or a restore leaves behind are not billed to
whichever run comes next).
Peak RSS is GNU time's %M (the largest process of the tool's tree; dbbackup is one process).
The engine's bytecode is compiled first (as for an installed CLI; PYTHONDONTWRITEBYTECODE is
dropped for the CLI runs), so no run pays for compiling it.
Server memory and CPU are not counted for either tool; the server runs on the same machine, so
CPU a client spends is CPU the server lacks.

    python3 bench/bench_mysql.py                                  # defaults, quiet + busy
    python3 bench/bench_mysql.py --rows 200000 --narrow-rows 500000 --rounds 1   # smaller, ~3 min
"""
from __future__ import print_function

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from devtools.mysql_temp import MySqlServer, client_tool  # noqa: E402

TIME_BIN = '/usr/bin/time' if os.access('/usr/bin/time', os.X_OK) else None
MB = 1024.0 * 1024.0
TARGETS = {'backup': 0.8, 'restore': 0.8, 'peak_mb': 200.0}
DATABASES = ('wide', 'narrow', 'blob')

WIDE_SQL = """
CREATE TABLE orders (
  id BIGINT NOT NULL PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(12,2), status ENUM('new','paid','shipped','void'),
  note VARCHAR(200), created DATETIME(3), flags BIT(8), ratio DOUBLE, code CHAR(8) CHARACTER SET ascii,
  KEY by_customer (customer)
) ENGINE=InnoDB;
INSERT INTO orders SELECT seq, seq % 50000, (seq % 100000) / 100, ELT(1 + seq % 4, 'new','paid','shipped','void'),
  IF(seq % 3 = 0, NULL, CONCAT('order note ', seq, IF(seq % 11 = 0, '\\ttab\\nline', ''), ' ', REPEAT(CHAR(97 + seq % 26), seq % 60))),
  '2020-01-01' + INTERVAL seq SECOND, seq % 256, seq / 7, LPAD(HEX(seq), 8, '0') FROM seq_1_to_{rows};
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
CREATE TABLE attachments (id INT NOT NULL PRIMARY KEY, name VARCHAR(40), body BLOB) ENGINE=InnoDB;
INSERT INTO attachments SELECT seq, CONCAT('file', seq, '.bin'),
  CONCAT(UNHEX(SHA2(seq, 512)), REPEAT(UNHEX(SHA2(seq + 1, 512)), 15)) FROM seq_1_to_{attachments};
"""
SMALL_SQL = ("CREATE TABLE small_{n} (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB;\n"
             "INSERT INTO small_{n} SELECT seq, CONCAT('v', seq) FROM seq_1_to_100;\n")
NARROW_SQL = """
CREATE TABLE salaries (emp_no INT NOT NULL, salary INT NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
  PRIMARY KEY (emp_no, from_date)) ENGINE=InnoDB;
INSERT INTO salaries SELECT 10001 + seq DIV 10, 40000 + (seq * 7919) % 80000,
  '1985-01-01' + INTERVAL (seq % 10) * 365 + (seq DIV 10) % 300 DAY,
  '1986-01-01' + INTERVAL (seq % 10) * 365 + (seq DIV 10) % 300 DAY FROM seq_0_to_{last};
"""

SERVER = {'pid': None}


def server_cpu():
    """CPU seconds (user + system) the server process has used so far."""
    with open('/proc/%d/stat' % SERVER['pid']) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))


def settle(limit=60.0, window=0.5, idle=0.02):
    """Write back dirty pages (os.sync), then wait until the server is idle (at most `idle` CPU-s in
    `window` s, up to `limit` s): the previous run's writeback and background work (purge, page
    flushing, change-buffer merges after a build or a restore) must not be billed to the next run,
    whichever tool it is."""
    os.sync()
    end = time.time() + limit
    while time.time() < end:
        s0 = server_cpu()
        time.sleep(window)
        if server_cpu() - s0 <= idle:
            return


def run_measured(argv, env=None, shell=False):
    """{wall, cpu, peak_mb, server_cpu} of a command (or shell pipeline), once the server is idle."""
    settle()
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
    return {'wall': wall, 'cpu': usage.ru_utime + usage.ru_stime, 'peak_mb': rss, 'server_cpu': server}


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


def build(server, args):
    """Create the three databases; returns {db: facts}."""
    out = {}
    t0 = time.time()
    server.create_database('wide')
    rows = args.rows
    server.sql(WIDE_SQL.format(rows=rows, customers=max(10, rows // 10), events=max(10, rows // 2),
                               attachments=args.attachments) + ''.join(SMALL_SQL.format(n=n) for n in range(20)),
               'wide')
    server.create_database('narrow')
    server.sql(NARROW_SQL.format(last=args.narrow_rows - 1), 'narrow')
    server.create_database('blob')
    server.sql('CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB;', 'blob')
    rnd = random.Random(16)
    conn = server.connect('blob')
    try:
        cur = conn.cursor()
        cur.execute('INSERT INTO blobs VALUES (1, REPEAT(CHAR(0), 524288))')
        cur.execute('INSERT INTO blobs VALUES (2, %s)', (rnd.getrandbits(8 * (4 << 20)).to_bytes(4 << 20, 'little'),))
        for i in range(200):
            cur.execute('INSERT INTO blobs VALUES (%s, %s)', (100 + i, rnd.getrandbits(8 * 102400).to_bytes(102400, 'little')))
    finally:
        conn.close()
    for db in DATABASES:
        for (table,) in server.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                                       (db,)):
            server.execute('ANALYZE TABLE `%s`.`%s`' % (db, table))
        sums = checksums(server, db)             # also warms the cache
        out[db] = {'checksums': sums,
                   'rows': sum(server.execute('SELECT COUNT(*) FROM `%s`.`%s`' % (db, t))[0][0] for t in sums),
                   'disk_mb': float(server.execute('SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES '
                                                   'WHERE TABLE_SCHEMA = %s', (db,))[0][0] or 0) / MB}
    print('  built in %.0f s: %s' % (time.time() - t0, ', '.join(
        '%s %d rows %.0f MB' % (db, out[db]['rows'], out[db]['disk_mb']) for db in DATABASES)), flush=True)
    return out


def one_round(server, args, work, facts, tag):
    cli = os.path.join(REPO, 'scripts', 'dbbackup')
    env = dict(os.environ, DBBACKUP_PYTHON=args.python, DBBACKUP_LOGIN_PASSWORD=server.password)
    env.pop('PYTHONDONTWRITEBYTECODE', None)        # an installed CLI runs from cached bytecode
    common = ['--db-type', 'mysql', '--login-host', server.host, '--login-port', str(server.port),
              '--login-user', server.user, '--jobs', str(args.jobs)]
    dump = client_tool('mariadb-dump', 'mysqldump')
    client = client_tool('mariadb', 'mysql')
    conn = ' '.join(server.client_args())
    menv = server.client_env()
    out = {}
    for db in DATABASES:
        m = out[db] = {}
        repo = os.path.join(work, 'repo')
        m['dbbackup_backup'] = run_measured([cli, 'backup'] + common + [
            '--database', db, '--repository', repo, '--compression-level', str(args.level)], env)
        m['dbbackup_size_mb'] = tree_size(repo) / MB
        target = 'r_ours_%s_%s' % (db, tag)
        m['dbbackup_restore'] = run_measured([cli, 'restore'] + common + [
            '--database', db, '--repository', repo, '--target-database', target], env)
        assert checksums(server, target) == facts[db]['checksums'], 'dbbackup restore of %s differs' % db
        server.execute('DROP DATABASE `%s`' % target)
        shutil.rmtree(repo)

        path = os.path.join(work, 'dump.sql.zst')
        m['reference_backup'] = run_measured(
            '%s %s --single-transaction --quick --routines --triggers --events %s | zstd -q -1 > %s'
            % (dump, conn, db, path), menv, shell=True)
        m['reference_size_mb'] = os.path.getsize(path) / MB
        target = 'r_ref_%s_%s' % (db, tag)
        server.execute('CREATE DATABASE `%s`' % target)
        m['reference_restore'] = run_measured('zstd -q -dc %s | %s %s %s' % (path, client, conn, target), menv,
                                              shell=True)
        assert checksums(server, target) == facts[db]['checksums'], 'mariadb restore of %s differs' % db
        server.execute('DROP DATABASE `%s`' % target)
        os.unlink(path)
    return out


def summarize(rounds):
    """Medians over rounds: {db: {tool_op: {wall, cpu, ...}, ratios}}."""
    out = {}
    for db in DATABASES:
        d = out[db] = {}
        for key in ('dbbackup_backup', 'dbbackup_restore', 'reference_backup', 'reference_restore'):
            d[key] = dict((f, statistics.median(r[db][key][f] for r in rounds))
                          for f in ('wall', 'cpu', 'peak_mb', 'server_cpu'))
        for key in ('dbbackup_size_mb', 'reference_size_mb'):
            d[key] = statistics.median(r[db][key] for r in rounds)
        d['ratios'] = {'backup': d['dbbackup_backup']['wall'] / d['reference_backup']['wall'],
                       'restore': d['dbbackup_restore']['wall'] / d['reference_restore']['wall'],
                       'size': d['dbbackup_size_mb'] / d['reference_size_mb']}
    total = {}
    for op in ('backup', 'restore'):
        ours = sum(out[db]['dbbackup_%s' % op]['wall'] for db in DATABASES)
        ref = sum(out[db]['reference_%s' % op]['wall'] for db in DATABASES)
        total[op] = ours / ref
    out['all'] = {'ratios': total,
                  'peak_mb': max(out[db]['dbbackup_%s' % op]['peak_mb'] for db in DATABASES
                                 for op in ('backup', 'restore'))}
    return out


def verdicts(summary):
    lines, ok = [], True
    for db in DATABASES + ('all',):
        for op in ('backup', 'restore'):
            r = summary[db]['ratios'][op]
            passed = r <= TARGETS[op]
            ok &= passed
            lines.append((db, op, r, passed))
    peak = summary['all']['peak_mb']
    ok &= peak <= TARGETS['peak_mb']
    return lines, peak, ok


class Busy(object):
    """One competing process burning a core while it runs."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def report(name, summary, load):
    print()
    print('== %s (load average before: %s)' % (name, ' '.join('%.2f' % x for x in load)))
    print('%-8s %-32s %8s %8s %8s %9s %8s' % ('db', 'tool', 'wall s', 'cpu s', 'srv s', 'peak MB', 'size MB'))
    for db in DATABASES:
        d = summary[db]
        for tool in ('dbbackup', 'reference'):
            for op in ('backup', 'restore'):
                m = d['%s_%s' % (tool, op)]
                size = '%8.1f' % d['%s_size_mb' % tool] if op == 'backup' else ''
                print('%-8s %-32s %8.2f %8.2f %8.2f %9.1f %s' % (
                    db, '%s %s' % (tool, op), m['wall'], m['cpu'], m['server_cpu'], m['peak_mb'], size))
    lines, peak, ok = verdicts(summary)
    for db, op, r, passed in lines:
        print('ratio %-7s %-8s %.2f  (target <= %.1f) %s' % (db, op, r, TARGETS[op], 'PASS' if passed else 'FAIL'))
    print('peak dbbackup RSS %.0f MB (target <= %.0f) %s' % (
        peak, TARGETS['peak_mb'], 'PASS' if peak <= TARGETS['peak_mb'] else 'FAIL'))
    return ok


def markdown(res):
    lines = []
    for name in res['conditions']:
        cond = res['conditions'][name]
        s = cond['summary']
        lines += ['', '#### %s (load average before: %s)' % (name, ' / '.join('%.2f' % x for x in cond['load'])), '',
                  '| dataset | dbbackup backup s | mariadb-dump\\|zstd -1 s | ratio | dbbackup restore s | '
                  'zstd -d\\|mariadb s | ratio | stored MB ours / ref | peak MB backup / restore |',
                  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
        for db in DATABASES:
            d = s[db]
            lines.append('| %s | %.2f | %.2f | **%.2f** | %.2f | %.2f | **%.2f** | %.1f / %.1f | %.0f / %.0f |' % (
                db, d['dbbackup_backup']['wall'], d['reference_backup']['wall'], d['ratios']['backup'],
                d['dbbackup_restore']['wall'], d['reference_restore']['wall'], d['ratios']['restore'],
                d['dbbackup_size_mb'], d['reference_size_mb'], d['dbbackup_backup']['peak_mb'],
                d['dbbackup_restore']['peak_mb']))
        lines.append('| all | | | **%.2f** | | | **%.2f** | | max %.0f |' % (
            s['all']['ratios']['backup'], s['all']['ratios']['restore'], s['all']['peak_mb']))
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--rows', type=int, default=1000000, help='rows of wide.orders (customers /10, events /2)')
    ap.add_argument('--attachments', type=int, default=20000, help='1 KiB BLOB rows of wide.attachments')
    ap.add_argument('--narrow-rows', type=int, default=2800000, help='rows of narrow.salaries')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--level', type=int, default=1, help='dbbackup zstd level (the reference uses zstd -1)')
    ap.add_argument('--rounds', type=int, default=1, help='measure this many times; medians are reported')
    ap.add_argument('--no-busy', action='store_true', help='measure the quiet condition only')
    ap.add_argument('--buffer-pool', default='1G')
    ap.add_argument('--python', default=sys.executable, help='Python with requirements.txt for the dbbackup CLI')
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--markdown', action='store_true', help='print tables for docs/benchmarks.md')
    args = ap.parse_args()
    if not shutil.which('zstd'):
        sys.exit('zstd (the command) is needed for the reference pipeline: apt-get install zstd')
    work = tempfile.mkdtemp(prefix='dbbackup-bench-my-')
    server = MySqlServer(buffer_pool=args.buffer_pool, extra_args=['--innodb-log-file-size=512M'])
    res = {'date': datetime.date.today().isoformat(), 'jobs': args.jobs, 'level': args.level, 'rounds': args.rounds,
           'cpus': os.cpu_count(), 'machine': platform.platform(), 'conditions': {}, 'targets': TARGETS}
    ok = True
    try:
        server.start()
        SERVER['pid'] = server.proc.pid
        res['server'] = server.scalar('SELECT VERSION()')
        subprocess.run([args.python, '-m', 'compileall', '-q', os.path.join(REPO, 'plugins', 'module_utils')],
                       check=True)
        print('server %s, building the datasets ...' % res['server'], flush=True)
        facts = build(server, args)
        res['datasets'] = dict((db, {'rows': facts[db]['rows'], 'disk_mb': facts[db]['disk_mb']}) for db in DATABASES)
        conditions = [('quiet', None)] + ([] if args.no_busy else [('one busy process', Busy)])
        for name, context in conditions:
            load = os.getloadavg()
            rounds = []
            for n in range(args.rounds):
                if context is None:
                    rounds.append(one_round(server, args, work, facts, '%s%d' % (name[0], n)))
                else:
                    with context():
                        rounds.append(one_round(server, args, work, facts, '%s%d' % (name[0], n)))
                print('  %s: round %d done' % (name, n + 1), flush=True)
            summary = summarize(rounds)
            res['conditions'][name] = {'load': load, 'summary': summary, 'rounds': rounds}
            ok &= report(name, summary, load)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=1, sort_keys=True)
    if args.markdown:
        print(markdown(res))
    print()
    print('every target met' if ok else 'some target missed')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
