"""PostgreSQL backup/restore benchmark: dbbackup vs. pg_dump/pg_restore vs. raw COPY.

Why: the collection promises to be faster than pg_dump/pg_restore and close to
the server's COPY limit with bounded memory. This script measures that on one
throwaway server in one run so the numbers are comparable.

What it does (see bench/README.md, docs/benchmarks.md):
  1. starts a throwaway server (devtools.pg_temp.PgServer, fsync off, BENCH_CONF);
  2. builds the dataset: `pgbench -i -s SCALE` plus a type-rich table `wide`
     generated with generate_series (deterministic, no random());
  3. warm-up: reads every table once through COPY (counts the COPY text bytes);
  4. measures each tool (wall time, client CPU, peak memory of its process tree,
     stored size), verifies every restore (row count + row-text hash per table);
  5. prints the table and the target ratios with PASS/MISS; --json writes it all.

Memory: "peak MB" is the larger of (a) the max RSS of the tool's process tree
as reported by `/usr/bin/time -f %M` (GNU time wait4()s the tool; the kernel
folds in the largest waited-for descendant) and (b) the peak of the summed PSS
of the whole process tree, sampled every --sample-interval seconds from
/proc/<pid>/smaps_rollup (adds up parallel worker processes, which (a) does
not). ru_maxrss read directly by this script would be wrong: Python's
subprocess uses vfork, so the child's high-water mark starts at this script's
own RSS; GNU time is the small exec shim that avoids that. Client CPU is
user+sys from os.wait4() of the time process (includes all its descendants).
Server memory and server CPU are not counted for any tool.
"""
from __future__ import print_function

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from devtools.pg_temp import PgServer  # noqa: E402

DB = 'bench'
TIME_BIN = '/usr/bin/time' if os.access('/usr/bin/time', os.X_OK) else None
MB = 1024.0 * 1024.0

# Same server settings for every tool. fsync/full_page_writes/synchronous_commit
# are already off in PgServer; these make loads and index builds less noisy.
BENCH_CONF = {
    'shared_buffers': "'1GB'",
    'maintenance_work_mem': "'256MB'",
    'work_mem': "'16MB'",
    'max_wal_size': "'8GB'",
    'min_wal_size': "'1GB'",
    'checkpoint_timeout': "'30min'",
    'autovacuum': 'off',            # no background vacuum/analyze between measurements
    'max_parallel_workers_per_gather': '0',  # COPY does not use it; keeps counts/hash stable
    'max_worker_processes': '8',
}

WIDE_DDL = """
DROP TABLE IF EXISTS public.wide;
CREATE TABLE public.wide (
    id          bigint PRIMARY KEY,
    i4          integer NOT NULL,
    amount      numeric(14,2),
    note        text,
    email       varchar(80),
    created_at  timestamptz,
    day         date,
    flag        boolean,
    uid         uuid,
    doc         jsonb,
    blob        bytea,
    score       float8,
    addr        inet,
    ints        integer[],
    tags        text[]
);
"""

# Deterministic: every value is a function of g (md5, modulo), never random().
WIDE_FILL = """
INSERT INTO public.wide
SELECT g,
       ((g * 7919) %% 1000000)::int - 500000,
       round(((g * 104729) %% 100000000)::numeric / 100, 2),
       'customer ' || g || ' note ' || repeat(md5(g::text), 1 + (g %% 3)::int),
       'user' || g || '@example.' || (ARRAY['com','org','net'])[1 + (g %% 3)::int],
       timestamptz '2020-01-01 00:00:00+00' + g * interval '37 seconds'
           + (g %% 1000) * interval '1 millisecond',
       date '2000-01-01' + (g %% 9000)::int,
       g %% 3 = 0,
       md5(g::text || 'u')::uuid,
       jsonb_build_object('id', g, 'kind', (ARRAY['alpha','beta','gamma','delta'])[1 + (g %% 4)::int],
                          'tags', jsonb_build_array(g %% 10, g %% 100, 'x' || (g %% 7)),
                          'price', (g %% 10000) / 100.0, 'ok', g %% 2 = 0),
       decode(md5(g::text || 'b') || md5(g::text || 'c'), 'hex'),
       g::float8 / 7.0,
       ('10.' || ((g >> 16) %% 256) || '.' || ((g >> 8) %% 256) || '.' || (g %% 256))::inet,
       ARRAY[(g %% 10)::int, (g %% 100)::int, (g %% 1000)::int, (g %% 100000)::int],
       ARRAY['t' || (g %% 17), 'tag' || (g %% 31), substr(md5(g::text || 't'), 1, 8)]
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
"""

WIDE_INDEXES = """
CREATE INDEX wide_created_at_idx ON public.wide (created_at);
"""


# --------------------------------------------------------------------------
# process-tree measurement
# --------------------------------------------------------------------------
def _ppid_map():
    """pid -> ppid for all live processes (no /proc/<pid>/task/*/children here)."""
    out = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                data = f.read()
        except OSError:
            continue
        # comm may contain spaces/parens: ppid is the 2nd field after the last ')'
        rest = data[data.rfind(b')') + 2:].split()
        try:
            out[int(name)] = int(rest[1])
        except (IndexError, ValueError):
            pass
    return out


def _tree(roots):
    pmap = _ppid_map()
    children = {}
    for pid, ppid in pmap.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack = set(), [r for r in roots if r in pmap]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        stack.extend(children.get(p, ()))
    return seen


def _pss_kb(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


CLK_TCK = os.sysconf('SC_CLK_TCK')


def _stat_fields(pid):
    with open('/proc/%d/stat' % pid, 'rb') as f:
        data = f.read()
    return data[data.rfind(b')') + 2:].split()


def server_cpu_s(postmaster_pid):
    """CPU seconds of the server so far: postmaster + reaped children + live children."""
    total = 0
    try:
        f = _stat_fields(postmaster_pid)
        total += sum(int(x) for x in f[11:15])      # utime stime cutime cstime
    except (OSError, ValueError, IndexError):
        return 0.0
    for pid, ppid in _ppid_map().items():
        if ppid == postmaster_pid:
            try:
                total += sum(int(x) for x in _stat_fields(pid)[11:15])
            except (OSError, ValueError, IndexError):
                pass
    return total / float(CLK_TCK)


def postmaster_pid(server):
    with open(os.path.join(server.datadir, 'postmaster.pid')) as f:
        return int(f.readline())


def others_cpu_s(exclude_roots):
    """CPU seconds used so far by user processes outside the trees under exclude_roots.

    Counts utime+stime+cutime+cstime of every process that is not a kernel thread
    (those include the writeback our own restores cause) and not in an excluded
    tree; a child that exits moves into its parent's cutime, so deltas stay right.
    """
    stats = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            f = _stat_fields(int(name))
            stats[int(name)] = (int(f[1]), sum(int(x) for x in f[11:15]))
        except (OSError, ValueError, IndexError):
            continue
    children = {}
    for pid, (ppid, _unused) in stats.items():
        children.setdefault(ppid, []).append(pid)
    skip, stack = set([2]), list(exclude_roots) + [2]
    while stack:
        p = stack.pop()
        skip.add(p)
        stack.extend(c for c in children.get(p, ()) if c not in skip)
    return sum(t for pid, (ppid, t) in stats.items() if pid not in skip) / float(CLK_TCK)


def system_busy_s():
    """CPU seconds (all cores) spent not idle since boot, from /proc/stat."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / float(CLK_TCK)


def wait_quiet(max_wait, threshold=0.3):
    """Wait (up to max_wait s) until other processes use < threshold cores for 1 s."""
    end = time.time() + max_wait
    while True:
        b0, s0 = system_busy_s(), time.time()
        time.sleep(1.0)
        busy = (system_busy_s() - b0) / (time.time() - s0)
        if busy < threshold or time.time() >= end:
            return busy


class TreeSampler(threading.Thread):
    """Samples the summed PSS of the process trees under `roots`."""

    def __init__(self, roots, interval):
        super(TreeSampler, self).__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.peak_kb, self.max_procs = 0, 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            pids = _tree(self.roots)
            total = sum(_pss_kb(p) for p in pids)
            self.peak_kb = max(self.peak_kb, total)
            self.max_procs = max(self.max_procs, len(pids))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()


def run_measured(argvs, env, interval, cwd=None):
    """Start all argvs at once, wait for all; wall time, CPU, peak memory, outputs."""
    procs, outs, tfiles = [], [], []
    t0 = time.perf_counter()
    for argv in argvs:
        if TIME_BIN:
            fd, tf = tempfile.mkstemp(prefix='bench-time-')
            os.close(fd)
            tfiles.append(tf)
            argv = [TIME_BIN, '-q', '-f', '%M', '-o', tf] + list(argv)
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err)
        procs.append(p)
        outs.append((out, err))
    sampler = TreeSampler([p.pid for p in procs], interval) if interval > 0 else None
    if sampler:
        sampler.start()
    maxrss_kb, cpu, codes = 0, 0.0, []
    for p in procs:
        status, ru = os.wait4(p.pid, 0)[1:]
        p.returncode = os.waitstatus_to_exitcode(status)
        codes.append(p.returncode)
        if not TIME_BIN:
            maxrss_kb = max(maxrss_kb, ru.ru_maxrss)   # inflated by our RSS (vfork); fallback only
        cpu += ru.ru_utime + ru.ru_stime
    wall = time.perf_counter() - t0
    if sampler:
        sampler.stop()
    for tf in tfiles:
        with open(tf) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        os.unlink(tf)
        if lines and lines[-1].isdigit():
            maxrss_kb = max(maxrss_kb, int(lines[-1]))
    texts = []
    for out, err in outs:
        out.seek(0)
        err.seek(0)
        texts.append((out.read().decode('utf-8', 'replace'), err.read().decode('utf-8', 'replace')))
        out.close()
        err.close()
    tree_kb = sampler.peak_kb if sampler else 0
    return {
        'wall_s': wall,
        'cpu_s': cpu,
        'maxrss_mb': maxrss_kb / 1024.0,
        'tree_pss_mb': tree_kb / 1024.0,
        'peak_mb': max(maxrss_kb, tree_kb) / 1024.0,
        'procs': sampler.max_procs if sampler else len(procs),
        'returncodes': codes,
        'outputs': texts,
    }


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def path_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, unused_dirs, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def rm(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


def quiesce(server):
    """Flush dirty buffers and OS page cache writeback so the next tool starts clean."""
    conn = server.connect('postgres')
    conn.cursor().execute('CHECKPOINT')
    conn.close()
    os.sync()


def drop_db(server, name):
    server.psql('postgres', 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def tables(conn):
    cur = conn.cursor()
    cur.execute("""SELECT n.nspname, c.relname, c.relpages, pg_relation_size(c.oid)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                     AND n.nspname NOT LIKE 'pg_toast%'
                   ORDER BY pg_relation_size(c.oid) DESC, 1, 2""")
    return cur.fetchall()


def qident(s):
    return '"%s"' % s.replace('"', '""')


def signature(server, dbname, mode):
    """Per table: row count and (mode 'hash') sum of hashtext(row::text)."""
    conn = server.connect(dbname)
    cur = conn.cursor()
    cur.execute("SET extra_float_digits = 3; SET DateStyle = ISO; SET TimeZone = 'UTC'")
    sig = {}
    for row in tables(conn):
        nsp, rel = row[0], row[1]
        name = '%s.%s' % (qident(nsp), qident(rel))
        if mode == 'hash':
            cur.execute('SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM %s t' % name)
        else:
            cur.execute('SELECT count(*), 0 FROM %s' % name)
        cnt, h = cur.fetchone()
        sig['%s.%s' % (nsp, rel)] = [int(cnt), int(h)]
    conn.close()
    return sig


def compare(src, dst):
    problems = []
    for k, v in sorted(src.items()):
        if k not in dst:
            problems.append('%s missing' % k)
        elif dst[k][0] != v[0]:
            problems.append('%s rows %d != %d' % (k, dst[k][0], v[0]))
        elif dst[k][1] != v[1]:
            problems.append('%s row hash differs' % k)
    for k in sorted(set(dst) - set(src)):
        problems.append('%s unexpected' % k)
    return problems


# --------------------------------------------------------------------------
# dataset
# --------------------------------------------------------------------------
def build_dataset(server, args):
    server.create_database(DB)
    env = server.env()
    t0 = time.perf_counter()
    log('pgbench -i -s %d' % args.scale)
    subprocess.run([server.bin('pgbench'), '-i', '-q', '-s', str(args.scale), DB], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log('wide table: %d rows' % args.wide_rows)
    conn = server.connect(DB)
    cur = conn.cursor()
    cur.execute(WIDE_DDL)
    step = 250000
    lo = 1
    while lo <= args.wide_rows:
        hi = min(args.wide_rows, lo + step - 1)
        cur.execute(WIDE_FILL % {'lo': lo, 'hi': hi})
        lo = hi + 1
    cur.execute(WIDE_INDEXES)
    log('VACUUM (FREEZE, ANALYZE)')
    cur.execute('VACUUM (FREEZE, ANALYZE)')
    conn.close()
    return time.perf_counter() - t0


class _Counter(object):
    def __init__(self):
        self.n = 0

    def write(self, b):
        self.n += len(b)


def warm_up(server):
    """Read every table once (cache warm) and count its COPY text bytes."""
    conn = server.connect(DB)
    cur = conn.cursor()
    cur.execute('SET extra_float_digits = 3; SET DateStyle = ISO')
    info = []
    for nsp, rel, pages, size in tables(conn):
        c = _Counter()
        cur.copy_expert('COPY %s.%s TO STDOUT' % (qident(nsp), qident(rel)), c)
        info.append({'table': '%s.%s' % (nsp, rel), 'pages': pages, 'heap_bytes': size,
                     'copy_bytes': c.n})
    cur.execute('SELECT pg_database_size(current_database()), version(), '
                'current_setting(\'server_version_num\')')
    dbsize, version, vnum = cur.fetchone()
    conn.close()
    return info, dbsize, version, vnum


def copy_chunks(table_info, jobs):
    """Work units for the parallel raw COPY: big tables split by ctid ranges."""
    total = sum(t['heap_bytes'] for t in table_info) or 1
    units = []
    for t in table_info:
        name = '.'.join(qident(p) for p in t['table'].split('.', 1))
        if jobs > 1 and t['heap_bytes'] > total / (2.0 * jobs) and t['pages'] > jobs:
            per = -(-t['pages'] // jobs)
            for i in range(jobs):
                lo, hi = i * per, (i + 1) * per
                sql = ("(SELECT * FROM %s WHERE ctid >= '(%d,0)'::tid AND ctid < '(%d,0)'::tid)"
                       % (name, lo, hi))
                units.append((t['heap_bytes'] / float(jobs), sql))
        else:
            units.append((t['heap_bytes'], name))
    # longest-processing-time first onto the least loaded stream
    streams = [[0.0, []] for unused_i in range(jobs)]
    for size, sql in sorted(units, key=lambda u: -u[0]):
        s = min(streams, key=lambda x: x[0])
        s[0] += size
        s[1].append(sql)
    return [s[1] for s in streams if s[1]]


def psql_copy_argv(server, workdir, idx, what):
    script = os.path.join(workdir, 'rawcopy-%d.sql' % idx)
    with open(script, 'w') as f:
        f.write('SET extra_float_digits = 3;\nSET DateStyle = ISO;\n')
        for w in what:
            f.write("\\copy %s to '/dev/null'\n" % w)
    return [server.bin('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', DB, '-f', script]


# --------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------
class Bench(object):
    def __init__(self, server, args, workdir):
        self.s, self.args, self.work = server, args, workdir
        self.results = []
        self.runs = []
        self.src_sig = None

    def measure(self, name, kind, make_argvs, setup=None, after=None, env=None):
        """Best of --repeat undisturbed runs (min wall); peak memory = max over runs.

        A run during which other processes used more than --max-other-load cores
        (shared machine) does not count and is repeated, at most --extra-runs times.
        """
        best, peak, clean, attempt = None, 0.0, 0, 0
        limit = self.args.repeat + self.args.extra_runs
        while clean < self.args.repeat and attempt < limit:
            attempt += 1
            if setup:
                setup()
            quiesce(self.s)
            idle_before = wait_quiet(self.args.quiet_wait) if self.args.quiet_wait > 0 else None
            log('%s: run %d (%d of %d counted so far)' % (name, attempt, clean, self.args.repeat))
            pm = postmaster_pid(self.s)
            mine = [os.getpid(), pm]
            srv0, oth0 = server_cpu_s(pm), others_cpu_s(mine)
            r = run_measured(make_argvs(), env or self.s.env(), self.args.sample_interval, cwd=REPO)
            r['server_cpu_s'] = server_cpu_s(pm) - srv0
            r['other_cores'] = max(0.0, others_cpu_s(mine) - oth0) / r['wall_s']
            disturbed = r['other_cores'] > self.args.max_other_load
            self.runs.append({'tool': name, 'run': attempt, 'wall_s': r['wall_s'], 'cpu_s': r['cpu_s'],
                              'server_cpu_s': r['server_cpu_s'], 'other_cores': r['other_cores'],
                              'other_cores_before': idle_before, 'disturbed': disturbed,
                              'peak_mb': r['peak_mb'], 'ok': not any(r['returncodes'])})
            if any(r['returncodes']):
                errs = ' | '.join(e.strip()[-2000:] for unused_out, e in r['outputs'] if e.strip())
                log('%s FAILED rc=%s: %s' % (name, r['returncodes'], errs))
                res = {'tool': name, 'kind': kind, 'ok': False, 'error': errs,
                       'wall_s': r['wall_s'], 'cpu_s': r['cpu_s'], 'peak_mb': r['peak_mb'],
                       'maxrss_mb': r['maxrss_mb'], 'tree_pss_mb': r['tree_pss_mb']}
                self.results.append(res)
                return res
            extra = after(r) if after else {}
            peak = max(peak, r['peak_mb'])
            clean += 0 if disturbed else 1
            key = (disturbed, r['wall_s'])
            if best is None or key < best[2]:
                res = {'tool': name, 'kind': kind, 'ok': True, 'wall_s': r['wall_s'],
                       'cpu_s': r['cpu_s'], 'server_cpu_s': r['server_cpu_s'],
                       'other_cores': r['other_cores'], 'disturbed': disturbed,
                       'maxrss_mb': r['maxrss_mb'], 'tree_pss_mb': r['tree_pss_mb'],
                       'procs': r['procs']}
                res.update(extra)
                best = (res, r, key)
            log('  %.2fs wall, %.2fs client cpu, %.2fs server cpu, other load %.2f cores%s, peak %.1f MB'
                % (r['wall_s'], r['cpu_s'], r['server_cpu_s'], r['other_cores'],
                   ' (disturbed, not counted)' if disturbed else '', r['peak_mb']))
        best[0]['peak_mb'] = peak
        best[0]['runs'] = attempt
        best[0]['counted_runs'] = clean
        self.results.append(best[0])
        return best[0]

    def verify(self, res, dbname):
        if not res.get('ok'):
            return
        problems = compare(self.src_sig, signature(self.s, dbname, self.args.verify))
        res['verified'] = not problems
        if problems:
            res['verify_problems'] = problems[:20]
            log('%s VERIFY FAILED: %s' % (res['tool'], '; '.join(problems[:5])))
        if not self.args.keep:
            drop_db(self.s, dbname)

    # ---- reference
    def raw_copy(self, table_info):
        allt = ['.'.join(qident(p) for p in t['table'].split('.', 1)) for t in table_info]
        self.measure('raw COPY -> /dev/null (1 stream)', 'raw',
                     lambda: [psql_copy_argv(self.s, self.work, 0, allt)])
        j = self.args.jobs
        streams = copy_chunks(table_info, j)
        self.measure('raw COPY -> /dev/null (%d streams)' % j, 'raw',
                     lambda: [psql_copy_argv(self.s, self.work, i, w) for i, w in enumerate(streams)])

    def pg_dump(self):
        fc = os.path.join(self.work, 'dump.fc')
        fd = os.path.join(self.work, 'dump.fd')
        self.measure('pg_dump -Fc (gzip)', 'backup',
                     lambda: [[self.s.bin('pg_dump'), '-Fc', '-f', fc, '-d', DB]],
                     setup=lambda: rm(fc), after=lambda r: {'stored_bytes': path_size(fc)})
        self.measure('pg_dump -Fd -j%d' % self.args.jobs, 'backup',
                     lambda: [[self.s.bin('pg_dump'), '-Fd', '-j', str(self.args.jobs), '-f', fd, '-d', DB]],
                     setup=lambda: rm(fd), after=lambda r: {'stored_bytes': path_size(fd)})
        return fc, fd

    def pg_restore(self, fc, fd):
        def fresh(name):
            def f():
                drop_db(self.s, name)
                self.s.create_database(name)
            return f
        res = self.measure('pg_restore -j1 (from -Fc)', 'restore',
                           lambda: [[self.s.bin('pg_restore'), '-d', 'r_fc', fc]], setup=fresh('r_fc'))
        self.verify(res, 'r_fc')
        j = self.args.jobs
        res = self.measure('pg_restore -j%d (from -Fd)' % j, 'restore',
                           lambda: [[self.s.bin('pg_restore'), '-j', str(j), '-d', 'r_fd', fd]],
                           setup=fresh('r_fd'))
        self.verify(res, 'r_fd')

    # ---- ours
    def ours_env(self):
        env = dict(os.environ)
        for k in ('PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE'):
            env.pop(k, None)
        env['PGPASSWORD'] = self.s.password
        env['DBBACKUP_PYTHON'] = sys.executable     # used by the scripts/dbbackup sh launcher
        return env

    def ours_argv(self):
        """The launcher as argv: a Python script runs under this Python, anything else directly."""
        cli = self.args.dbbackup
        with open(cli, 'rb') as f:
            first = f.readline()
        return [sys.executable, cli] if b'python' in first else [cli]

    def ours_common(self, repo):
        return ['--db-type', 'postgresql', '--login-host', self.s.host, '--login-port', str(self.s.port),
                '--login-user', self.s.user, '--database', DB, '--repository', repo]

    def ours(self):
        cli = self.ours_argv()
        repo = os.path.join(self.work, 'repo')
        j = str(self.args.jobs)
        state = {}

        def parse(r):
            out = r['outputs'][0][0]
            try:
                d = json.loads(out)
            except ValueError:
                d = {}
            state['result'] = d
            return d

        def after_backup(r):
            d = parse(r)
            loc = d.get('location')
            stored = path_size(loc) if loc and os.path.isdir(loc) else d.get('size_bytes')
            return {'stored_bytes': stored, 'backup_id': d.get('backup_id'),
                    'reported_size_bytes': d.get('size_bytes'), 'raw_bytes': d.get('raw_bytes'),
                    'reported_rows': d.get('rows'), 'reported_tables': d.get('tables')}

        res = self.measure('dbbackup backup --jobs %s (zstd)' % j, 'backup',
                           lambda: [cli + ['backup'] + self.ours_common(repo)
                                    + ['--jobs', j]],
                           setup=lambda: rm(repo), after=after_backup, env=self.ours_env())
        if not res.get('ok'):
            return
        bid = state.get('result', {}).get('backup_id') or 'latest'   # last run's (repo cleared per run)
        res = self.measure('dbbackup restore --jobs %s' % j, 'restore',
                           lambda: [cli + ['restore'] + self.ours_common(repo)
                                    + ['--target-database', 'r_ours', '--backup-id', bid,
                                       '--jobs', j]],
                           setup=lambda: drop_db(self.s, 'r_ours'),
                           after=lambda r: {'result': parse(r)}, env=self.ours_env())
        self.verify(res, 'r_ours')


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------
def find(results, prefix):
    for r in results:
        if r['tool'].startswith(prefix) and r.get('ok'):
            return r
    return None


def targets(results, jobs):
    fc = find(results, 'pg_dump -Fc')
    raw1 = find(results, 'raw COPY -> /dev/null (1 stream)')
    rawj = find(results, 'raw COPY -> /dev/null (%d streams)' % jobs)
    r1 = find(results, 'pg_restore -j1')
    ob = find(results, 'dbbackup backup')
    orr = find(results, 'dbbackup restore')
    out = []

    def ratio(name, a, b, limit, note=''):
        if a is None or b is None:
            out.append({'target': name, 'value': None, 'limit': limit, 'status': 'n/a', 'note': note})
            return
        v = a['wall_s'] / b['wall_s']
        ok = v <= limit and a.get('verified', True) is not False
        out.append({'target': name, 'value': v, 'limit': limit,
                    'status': 'PASS' if ok else 'MISS', 'note': note})

    ratio('ours backup / pg_dump -Fc wall', ob, fc, 0.5)
    ratio('ours backup / raw COPY (1 stream) wall', ob, raw1, 1.25)
    if rawj:
        ratio('ours backup / raw COPY (%d streams) wall' % jobs, ob, rawj, 1.25, 'info only')
    ratio('ours restore / pg_restore -j1 wall', orr, r1, 0.8,
          '' if orr is None or orr.get('verified') else 'restore not verified')
    peaks = [r['peak_mb'] for r in (ob, orr) if r]
    if peaks:
        v = max(peaks)
        out.append({'target': 'ours peak memory (MB)', 'value': v, 'limit': 200,
                    'status': 'PASS' if v <= 200 else 'MISS', 'note': ''})
    else:
        out.append({'target': 'ours peak memory (MB)', 'value': None, 'limit': 200,
                    'status': 'n/a', 'note': ''})
    return out


def render(report):
    lines = []
    lines.append('| tool | wall s | client CPU s | server CPU s | other load | peak MB | stored MB | verified |')
    lines.append('|---|---:|---:|---:|---:|---:|---:|---|')
    for r in report['results']:
        if not r.get('ok'):
            lines.append('| %s | FAILED | | | | | | %s |' % (r['tool'], (r.get('error') or '')[:80]))
            continue
        st = r.get('stored_bytes')
        ver = {True: 'yes', False: 'NO'}.get(r.get('verified'), '')
        if r.get('disturbed'):
            ver += ' (disturbed)'
        lines.append('| %s | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %s |' % (
            r['tool'], r['wall_s'], r['cpu_s'], r['server_cpu_s'], r['other_cores'], r['peak_mb'],
            '%.1f' % (st / MB) if st else '', ver))
    lines.append('')
    lines.append('| target | value | limit | result |')
    lines.append('|---|---:|---:|---|')
    for t in report['targets']:
        v = '' if t['value'] is None else ('%.1f' % t['value'] if 'MB' in t['target']
                                           else '%.3f' % t['value'])
        lines.append('| %s | %s | %s %s | %s%s |' % (
            t['target'], v, '<=', t['limit'], t['status'],
            (' (%s)' % t['note']) if t['note'] else ''))
    return '\n'.join(lines)


def machine_info():
    model = ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    return {'cpus': os.cpu_count(), 'cpu_model': model, 'mem_gb': round(mem / 1e9, 1),
            'kernel': platform.release(), 'python': platform.python_version()}


def engine_revision():
    """Commit of the checkout being measured (+dirty), read-only git."""
    try:
        head = subprocess.run(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', REPO, 'status', '--porcelain', '--untracked-files=no'],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               check=True).stdout.strip()
        return head + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return None


def default_cli():
    return os.path.join(REPO, 'scripts', 'dbbackup')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--scale', type=int, default=10, help='pgbench scale (default 10)')
    ap.add_argument('--wide-rows', type=int, default=1000000, help='rows in the wide table')
    ap.add_argument('--jobs', type=int, default=2, help='parallelism for -j tools and ours')
    ap.add_argument('--repeat', type=int, default=1, help='runs per tool; best wall is kept')
    ap.add_argument('--keep', action='store_true', help='keep the work dir (data, dumps, restored dbs)')
    ap.add_argument('--json', metavar='FILE', help='write machine-readable results')
    ap.add_argument('--workdir', help='directory for server + dumps (default: a new temp dir)')
    ap.add_argument('--verify', choices=('hash', 'counts'), default='hash',
                    help='restore check: row counts + row-text hash (default) or counts only')
    ap.add_argument('--dbbackup', default=default_cli(),
                    help='path of the dbbackup CLI launcher (default: scripts/dbbackup, '
                         'else bin/dbbackup, of this checkout)')
    ap.add_argument('--skip-ours', action='store_true', help='reference tools only')
    ap.add_argument('--skip-reference', action='store_true', help='raw COPY + ours only (no pg_dump)')
    ap.add_argument('--max-other-load', type=float, default=0.25,
                    help='a run during which other processes used more cores than this is '
                         'repeated (shared machines); default 0.25')
    ap.add_argument('--extra-runs', type=int, default=3,
                    help='at most this many repeated (disturbed) runs per tool')
    ap.add_argument('--quiet-wait', type=float, default=120,
                    help='before each run wait up to this many seconds until other processes use '
                         '< 0.3 cores (shared machines); 0 = do not wait')
    ap.add_argument('--sample-interval', type=float, default=0.2,
                    help='seconds between process-tree PSS samples (0 = wait4 maxrss only)')
    args = ap.parse_args()

    base = args.workdir or tempfile.mkdtemp(prefix='dbbackup-bench-')
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    work = os.path.join(base, 'out')
    os.makedirs(work, exist_ok=True)
    server = PgServer(base_dir=os.path.join(base, 'pg'), extra_conf=BENCH_CONF)
    report = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
              'machine': machine_info(), 'server_conf': BENCH_CONF,
              'args': dict(vars(args)), 'engine_revision': engine_revision(),
              'rss_method': ('max(/usr/bin/time %M of each started tool, sampled sum of '
                             '/proc/<pid>/smaps_rollup Pss over the process tree)' if TIME_BIN else
                             'max(os.wait4 ru_maxrss (inflated by the parent via vfork), sampled '
                             'tree Pss sum)')}
    log('work dir %s' % base)
    server.start()
    try:
        gen = build_dataset(server, args)
        log('dataset built in %.1fs; warm-up read' % gen)
        info, dbsize, version, vnum = warm_up(server)
        src = Bench(server, args, work)
        src.src_sig = signature(server, DB, args.verify)
        report['server_version'] = version
        report['dataset'] = {'tables': info, 'database_bytes': dbsize,
                             'copy_bytes': sum(t['copy_bytes'] for t in info),
                             'generate_s': gen, 'scale': args.scale, 'wide_rows': args.wide_rows,
                             'rows': {k: v[0] for k, v in src.src_sig.items()}}
        log('dataset: %.1f MB database, %.1f MB COPY text' % (dbsize / MB, report['dataset']['copy_bytes'] / MB))

        src.raw_copy(info)
        if not args.skip_reference:
            fc, fd = src.pg_dump()
        if args.skip_ours:
            log('--skip-ours: not running dbbackup')
        elif not os.path.exists(args.dbbackup):
            log('%s not found: skipping ours' % args.dbbackup)
        else:
            src.ours()
        if not args.skip_reference:
            src.pg_restore(fc, fd)
        report['results'] = src.results
        report['runs'] = src.runs
        report['targets'] = targets(src.results, args.jobs)
    finally:
        if args.keep:
            server.stop(remove=False)
            log('kept %s' % base)
        else:
            server.stop()
            shutil.rmtree(base, ignore_errors=True)

    print()
    print('engine %s (%s)' % (report['engine_revision'], args.dbbackup))
    print('PostgreSQL %s; %d CPUs; dataset: %.1f MB database, %.1f MB COPY text (%s)' % (
        vnum, report['machine']['cpus'], report['dataset']['database_bytes'] / MB,
        report['dataset']['copy_bytes'] / MB,
        ', '.join('%s %d rows' % (k, v) for k, v in sorted(report['dataset']['rows'].items()))))
    print()
    print(render(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2, default=str)
    bad = [r for r in src.results if r.get('verified') is False or not r.get('ok')]
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
