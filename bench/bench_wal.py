#!/usr/bin/env python
"""WAL archive speed: archive_command and restore_command of dbbackup against `cp` and `zstd -1`, in one run.

1. A throwaway PostgreSQL server (full_page_writes on) archives with `cp` into a plain directory; a
   base backup (pg_basebackup -X none) is taken, then a write workload (inserts with an index,
   updates after checkpoints, so page images too) produces --segments WAL segments of 16 MiB.
2. Archive rate: PostgreSQL's archiver is replayed exactly: a copy of those segments in a pg_wal
   directory with archive_status/<name>.ready files, and for each file in the archiver's order
   `sh -c "<archive_command>"` run from the data directory as the postgres user, then .ready
   renamed to .done. Commands, each into a fresh destination:
     cp             cp %p <dir>/%f
     zstd -1        zstd -1 -q -f %p -o <dir>/%f.zst
     dbbackup local, local-async, s3, s3-async
                    `dbbackup wal-push --config <file> %p %f`, encrypted (key file), S3 = moto's
                    server on loopback (tests/support/s3.py); -async with archive_async on.
   Rate = segments / wall time. The async spooler's peak memory is its VmHWM (/proc). Before each
   measured run (archive and recovery) the disk is synced and the CPUs must be quiet.
3. Recovery: the base backup is copied to a scratch directory, recovery.signal and
   restore_command set, the server started; time until it is promoted (end of the archive,
   pg_is_in_recovery() false), for `cp <dir>/%f %p` and for dbbackup wal-fetch (async and
   direct) from the local and S3 repositories written in step 2. Every recovery must replay to
   the same final LSN as the reference, or the run fails.

Runs as root (the server and the commands run as postgres). Needs PostgreSQL binaries (PG_BIN),
zstd, and a Python with the engine's requirements and moto[server] (scripts/bootstrap.sh's venv).

    ~/.cache/dbbackup/venv/bin/python bench/bench_wal.py                    # 100 segments
    ~/.cache/dbbackup/venv/bin/python bench/bench_wal.py --segments 30 --skip-s3   # quick look
"""
from __future__ import print_function

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'bench'))

from bench_pg import engine_revision, machine_info, wait_quiet  # noqa: E402
from devtools.pg_temp import PgServer, free_port  # noqa: E402
from tests.support.pitr_cli import PostgresCli, postgres_dir  # noqa: E402

SEG = 16 << 20
TARGETS = {'local-async': 30.0, 's3-async': 15.0}     # segments/s
RECOVERY_TARGET = 1.0                                 # x cp
MEMORY_TARGET_MB = 64.0

# the archiver, replayed: run as postgres by the system python (stdlib only)
SIMULATOR = r'''
import json, os, resource, subprocess, sys, time
data_dir, command = sys.argv[1], sys.argv[2]
status = os.path.join(data_dir, 'pg_wal', 'archive_status')
names = sorted((n[:-6] for n in os.listdir(status) if n.endswith('.ready')),
               key=lambda n: (not n.endswith('.history'), n))
t0 = time.perf_counter()
slowest = 0.0
for name in names:
    cmd = command.replace('%p', 'pg_wal/' + name).replace('%f', name)
    t = time.perf_counter()
    rc = subprocess.call(['sh', '-c', cmd], cwd=data_dir)
    slowest = max(slowest, time.perf_counter() - t)
    if rc != 0:
        print(json.dumps({'error': 'archive_command failed (%d) for %s' % (rc, name)}))
        sys.exit(1)
    os.rename(os.path.join(status, name + '.ready'), os.path.join(status, name + '.done'))
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({'files': len(names), 'seconds': time.perf_counter() - t0, 'slowest': slowest,
                  'command_cpu': ru.ru_utime + ru.ru_stime}))
'''


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def as_postgres(argv):
    return ['runuser', '-u', 'postgres', '--'] + argv if os.geteuid() == 0 else argv


def chown(path):
    subprocess.run(['chown', '-R', 'postgres:postgres', path], check=True)


# --- the WAL -------------------------------------------------------------------------------------

def make_wal(server, raw, base, segments):
    """Base backup, then a workload until `segments` full segments are archived into raw."""
    env = dict(os.environ, PGPASSWORD=server.password)
    server.psql('postgres', 'CREATE TABLE bench_t (id bigint PRIMARY KEY, a int, b text)')
    subprocess.run(as_postgres([server.bin('pg_basebackup'), '-h', server.host, '-p', str(server.port), '-U',
                                server.user, '-D', base, '-X', 'none', '-c', 'fast', '--no-sync']),
                   env=env, check=True, stdout=subprocess.DEVNULL)
    start = server.scalar('postgres', 'SELECT pg_current_wal_lsn() - \'0/0\'::pg_lsn')
    step, n = 150000, 0
    while True:
        lsn = server.scalar('postgres', 'SELECT pg_current_wal_lsn() - \'0/0\'::pg_lsn')
        if lsn - start >= segments * SEG:
            break
        server.psql('postgres', "INSERT INTO bench_t SELECT g, g %% 1000, md5(g::text) || repeat('w', g %% 97) "
                                "FROM generate_series(%d, %d) g" % (n * step + 1, (n + 1) * step))
        if n % 3 == 2:
            server.psql('postgres', 'CHECKPOINT; UPDATE bench_t SET a = a + 1 WHERE id %% 7 = %d' % (n % 7))
        n += 1
    last = server.scalar('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn())')
    server.psql('postgres', 'SELECT pg_switch_wal()')
    deadline = time.time() + 300
    while server.scalar('postgres', 'SELECT last_archived_wal FROM pg_stat_archiver') < last:
        if time.time() > deadline:
            raise RuntimeError('the WAL was not archived')
        time.sleep(0.2)
    return sorted(os.listdir(raw))


# --- archive_command -----------------------------------------------------------------------------

def fake_data_dir(work, raw, names):
    """A data directory holding pg_wal/<name> and archive_status/<name>.ready for every archived file."""
    d = os.path.join(work, 'sim')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, 'pg_wal', 'archive_status'))
    for n in names:
        shutil.copyfile(os.path.join(raw, n), os.path.join(d, 'pg_wal', n))
        open(os.path.join(d, 'pg_wal', 'archive_status', n + '.ready'), 'w').close()
    chown(d)
    return d


def reset_ready(sim):
    status = os.path.join(sim, 'pg_wal', 'archive_status')
    for n in os.listdir(status):
        if n.endswith('.done'):
            os.rename(os.path.join(status, n), os.path.join(status, n[:-5] + '.ready'))


def daemon_cpu_s(pids):
    """CPU seconds (user + system) the running background processes used so far."""
    total = 0.0
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))
        except (OSError, IndexError, ValueError):
            pass
    return total


def daemon_peak_mb(spool_root):
    """VmHWM of the background processes that logged their pid under spool_root (MiB), and their pids."""
    peak, pids = 0.0, []
    for root, dummy, files in os.walk(spool_root):
        if 'daemon.log' in files:
            with open(os.path.join(root, 'daemon.log')) as f:
                for line in f:
                    if '(pid ' in line:
                        pids.append(int(line.split('(pid ')[1].split(',')[0]))
    for pid in pids:
        try:
            with open('/proc/%d/status' % pid) as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        peak = max(peak, int(line.split()[1]) / 1024.0)
        except OSError:
            pass
    return peak, pids


def stop_daemons(pids):
    for pid in pids:
        try:
            os.kill(pid, 15)
        except OSError:
            pass


def settle(quiet_wait):
    """Before each measured run: the disk has written back what earlier runs wrote (sync), so no command
    pays for another's writeback (`cp` measured 21-25 segments/s right after other runs, ~100 after a
    sync), and the CPUs are quiet; returns the other load seen."""
    os.sync()
    return wait_quiet(quiet_wait) if quiet_wait else None


def archive_run(sim, command, quiet_wait):
    reset_ready(sim)
    other = settle(quiet_wait)
    proc = subprocess.run(as_postgres([sys.executable if os.geteuid() != 0 else '/usr/bin/python3', '-c',
                                       SIMULATOR, sim, command]),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError('the archiver simulation failed: %s %s' % (proc.stdout, proc.stderr[-2000:]))
    if 'error' in out:
        raise RuntimeError('%s: %s' % (out['error'], proc.stderr[-2000:]))
    out['other_load'] = other
    return out


# --- recovery -------------------------------------------------------------------------------------

def recover(server, base, work, name, restore_command, timeout=900):
    """Seconds from pg_ctl start to promotion, and the final LSN."""
    import psycopg2
    data = os.path.join(work, 'rec-' + name)
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(base, data)
    port = free_port()
    with open(os.path.join(data, 'postgresql.auto.conf'), 'a') as f:
        f.write("restore_command = '%s'\nport = %d\narchive_mode = off\n"
                "recovery_target_timeline = 'latest'\n" % (restore_command.replace("'", "''"), port))
    open(os.path.join(data, 'recovery.signal'), 'w').close()
    chown(data)
    os.chmod(data, 0o700)
    logfile = os.path.join(work, 'rec-%s.log' % name)
    open(logfile, 'w').close()
    chown(logfile)
    pg_ctl = server.bin('pg_ctl')
    t0 = time.perf_counter()
    subprocess.run(as_postgres([pg_ctl, '-D', data, '-l', logfile, 'start']), stdout=subprocess.DEVNULL,
                   check=True)
    try:
        while True:
            try:
                conn = psycopg2.connect(host='127.0.0.1', port=port, user=server.user, password=server.password,
                                        dbname='postgres', connect_timeout=2)
                try:
                    cur = conn.cursor()
                    cur.execute('SELECT pg_is_in_recovery()')
                    if not cur.fetchone()[0]:
                        took = time.perf_counter() - t0
                        cur.execute("SELECT setting FROM pg_settings WHERE name = 'port'")
                        cur.execute('SELECT pg_current_wal_lsn()::text')
                        return took, cur.fetchone()[0]
                finally:
                    conn.close()
            except psycopg2.OperationalError:
                pass
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError('recovery %s did not finish; see %s' % (name, logfile))
            time.sleep(0.01)
    finally:
        subprocess.run(as_postgres([pg_ctl, '-D', data, '-m', 'immediate', '-w', 'stop']),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(data, ignore_errors=True)


# --- the launcher and the config files -------------------------------------------------------------

def launcher(cli, path, env):
    """The host CLI as scripts/dbbackup runs it: a shell script exec'ing python -S -c (no runpy; site-packages
    are loaded by the CLI when it needs them, so the fast path pays only for the interpreter)."""
    lines = ['#!/bin/sh'] + ["export %s='%s'" % kv for kv in sorted(env.items())]
    lines.append("PYTHONPATH=%s exec %s -s -S -c 'from plugins.module_utils.cli import main; raise SystemExit(main())' "
                 '"$@"' % (cli.pythonpath, cli.python))
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.chmod(path, 0o755)
    return path


def per_call(argv, n=20, prep=None, cwd=None):
    """(CPU ms, wall ms) of one call: the least over n runs (user+sys of the process, os.wait4)."""
    cpu = wall = 1e9
    for dummy in range(n):
        if prep:
            prep()
        t = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        dummy, status, usage = os.wait4(proc.pid, 0)
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, usage.ru_utime + usage.ru_stime)
        if status:
            raise RuntimeError('%s failed: %s' % (' '.join(argv), err.decode('utf-8', 'replace')[-500:]))
    return round(cpu * 1000, 1), round(wall * 1000, 1)


def startup_costs(cli, exe, sim, work, segment):
    """What one archive_command / restore_command call costs before any work: the fast path measured
    against sh, cp, zstd -1 and a bare Python start-up (answers prepared in a spool, no daemon)."""
    sys.path.insert(0, cli.pythonpath.split(':')[0])
    from plugins.module_utils.postgres.physical import wal_async
    spool_path = os.path.join(work, 'spool-startup')
    conf = config(os.path.join(work, 'startup.conf'), repository='/nonexistent/startup', server_name='startup',
                  archive_async='true', spool_path=spool_path)
    spool = wal_async.spool_dir(spool_path, 'startup', '/nonexistent/startup')
    wal_async.make_dirs(spool)
    src = os.path.join(sim, 'pg_wal', segment)
    out = os.path.join(work, 'startup-out')

    def ok():
        wal_async.write_file(os.path.join(spool, 'push', 'ok', segment), wal_async.ok_record(os.stat(src), 'x'))

    def prefetched():
        shutil.copyfile(src, os.path.join(spool, 'fetch', segment))
        if os.path.exists(out):
            os.unlink(out)          # PostgreSQL removes RECOVERYXLOG before it calls restore_command

    lock = wal_async.try_lock(spool, 'fetch')      # as a running prefetcher would hold it
    rows = [('sh -c true', per_call(['sh', '-c', 'true'])),
            ('cp (16 MiB)', per_call(['cp', src, out])),
            ('zstd -1 (16 MiB)', per_call(['zstd', '-1', '-q', '-f', src, '-o', out])),
            ('python -S -c pass', per_call([cli.python, '-s', '-S', '-c', 'pass'])),
            ('wal-push, answered from the spool', per_call([exe, 'wal-push', '--config', conf, 'pg_wal/' + segment,
                                                            segment], prep=ok, cwd=sim)),
            ('wal-fetch, answered from the spool', per_call([exe, 'wal-fetch', '--config', conf, segment, out],
                                                            prep=prefetched, cwd=sim))]
    os.close(lock)
    shutil.rmtree(spool_path, ignore_errors=True)
    return rows


def cpu_floor(raw, segments, level=1):
    """CPU ms per segment of the work no archive of this format can skip, measured in this process on
    real segments: zstd (one call), AES-256-GCM of the compressed bytes, SHA-256 of them (the checksum record)."""
    import hashlib
    import resource
    import zstandard
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    aead = AESGCM(os.urandom(32))
    data = []
    for name in segments:
        with open(os.path.join(raw, name), 'rb') as f:
            data.append(f.read())

    def cpu():
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    parts = {}
    packed = []
    for label, step in (('zstd -1 (level %d)' % level,
                         lambda d: packed.append(zstandard.ZstdCompressor(level=level).compress(d))),
                        ('AES-256-GCM of the compressed segment', 'aes'),
                        ('SHA-256 of the stored object', 'sha')):
        c = cpu()
        if step == 'aes':
            for d in packed:
                for i in range(0, len(d), 1 << 16):
                    aead.encrypt(os.urandom(12), d[i:i + (1 << 16)], b'')
        elif step == 'sha':
            for d in packed:
                hashlib.sha256(d).digest()
        else:
            for d in data:
                step(d)
        parts[label] = round((cpu() - c) * 1000 / len(data), 1)
    return parts


def config(path, **values):
    with open(path, 'w') as f:
        f.write('[dbbackup]\n' + ''.join('%s = %s\n' % kv for kv in values.items()))
    os.chmod(path, 0o600)
    chown(path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--segments', type=int, default=100)
    ap.add_argument('--skip-s3', action='store_true')
    ap.add_argument('--quiet-wait', type=float, default=60, help='wait up to S s for a quiet machine before a run')
    ap.add_argument('--json', help='write everything to this file')
    ap.add_argument('--keep', action='store_true')
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix='dbbackup-bench-wal-')
    os.chmod(work, 0o755)
    raw = postgres_dir('dbbackup-bench-rawarch-')
    server = PgServer(extra_conf={'archive_mode': 'on', 'wal_level': 'replica', 'full_page_writes': 'on',
                                  'archive_command': "'cp %%p %s/%%f'" % raw, 'max_wal_size': "'4GB'",
                                  'checkpoint_timeout': "'30min'"})
    cli = PostgresCli().make()
    moto = None
    scratch = [work, raw]           # removed at the end (unless --keep)
    report = {'machine': machine_info(), 'engine': engine_revision(), 'segments': args.segments, 'archive': {},
              'recovery': {}}
    try:
        server.start()
        base = os.path.join(work, 'base')
        os.makedirs(base)
        chown(base)
        log('generating %d segments of WAL' % args.segments)
        names = make_wal(server, raw, base, args.segments)
        segs = [n for n in names if len(n) == 24]
        raw_mb = sum(os.path.getsize(os.path.join(raw, n)) for n in names) / 1048576.0
        report['wal'] = {'files': len(names), 'segments': len(segs), 'mib': round(raw_mb, 1),
                         'zstd1_mib': None}
        sim = fake_data_dir(work, raw, names)
        key = os.path.join(work, 'wal.key')
        with open(key, 'w') as f:
            f.write(os.urandom(32).hex() + '\n')
        os.chmod(key, 0o600)
        chown(key)
        env = {}
        targets = {'local': {'repository': postgres_dir('dbbackup-bench-repo-')}}
        scratch.append(targets['local']['repository'])
        if not args.skip_s3:
            from tests.support.s3 import start_moto
            moto = start_moto(os.path.join(work, 'moto.log'))
            moto.client().create_bucket(Bucket='walbench')
            env = {'AWS_ACCESS_KEY_ID': moto.access_key, 'AWS_SECRET_ACCESS_KEY': moto.secret_key,
                   'AWS_CONFIG_FILE': '/dev/null', 'AWS_SHARED_CREDENTIALS_FILE': '/dev/null',
                   'NO_PROXY': '127.0.0.1,localhost'}
            targets['s3'] = {'repository': 's3://walbench/wal', 's3_endpoint_url': moto.endpoint,
                             's3_region': 'us-east-1'}
        exe = launcher(cli, os.path.join(cli.dir, 'dbbackup-bench'), env)
        # bytecode, as an installed Python package has it (this environment may forbid writing it)
        engine = cli.pythonpath.split(':')[0]
        subprocess.run([cli.python, '-m', 'compileall', '-q', os.path.join(engine, 'plugins')], check=True,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE=''))
        subprocess.run(['chmod', '-R', 'a+rX', os.path.join(engine, 'plugins')], check=True)
        report['startup'] = startup_costs(cli, exe, sim, work, segs[len(segs) // 2])
        report['cpu_floor'] = cpu_floor(raw, segs[len(segs) // 4:len(segs) // 4 + 10])
        spool = postgres_dir('dbbackup-bench-spool-')
        scratch.append(spool)
        configs = {}
        for where, opts in targets.items():
            for mode in ('', '-async'):
                label = where + mode
                configs[label] = config(os.path.join(cli.dir, label + '.conf'), server_name='bench-' + label,
                                        encryption_key_file=key, archive_async='true' if mode else 'false',
                                        spool_path=spool, **opts)
        zdir, cdir = postgres_dir('dbbackup-bench-zstd-'), postgres_dir('dbbackup-bench-cp-')
        scratch.extend([zdir, cdir])
        commands = [('cp', 'cp %%p %s/%%f' % cdir), ('zstd -1', 'zstd -1 -q -f %%p -o %s/%%f.zst' % zdir)]
        commands += [('dbbackup ' + label, '%s wal-push --config %s %%p %%f' % (exe, conf))
                     for label, conf in sorted(configs.items())]
        for label, command in commands:
            log('archive_command: %s' % label)
            r = archive_run(sim, command, args.quiet_wait)
            r['segments_per_s'] = round(r['files'] / r['seconds'], 2)
            cpu = r['command_cpu']
            if label.endswith('-async'):
                r['daemon_peak_mb'], pids = daemon_peak_mb(spool)
                cpu += daemon_cpu_s(pids)
                stop_daemons(pids)
            r['cpu_ms_per_file'] = round(cpu * 1000 / r['files'], 1)
            report['archive'][label] = r
            log('  %.2f s, %.1f segments/s' % (r['seconds'], r['segments_per_s']))
        report['wal']['zstd1_mib'] = round(sum(os.path.getsize(os.path.join(zdir, n))
                                               for n in os.listdir(zdir)) / 1048576.0, 1)
        server.stop(remove=False)
        recoveries = [('cp', 'cp %s/%%f %%p' % cdir)]     # exactly the files the others archived
        for label in sorted(configs):
            recoveries.append(('dbbackup ' + label, '%s wal-fetch --config %s %%f %%p' % (exe, configs[label])))
        reference_lsn = None
        for label, command in recoveries:
            log('restore_command: %s' % label)
            other = settle(args.quiet_wait)
            took, lsn = recover(server, base, work, label.replace(' ', '_'), command)
            peak, pids = daemon_peak_mb(spool) if label.endswith('-async') else (None, [])
            stop_daemons(pids)
            reference_lsn = reference_lsn or lsn
            report['recovery'][label] = {'seconds': round(took, 3), 'final_lsn': lsn, 'daemon_peak_mb': peak,
                                         'other_load': other}
            log('  %.2f s to promotion (%s)' % (took, lsn))
            if lsn != reference_lsn:
                raise RuntimeError('%s recovered to %s, cp to %s' % (label, lsn, reference_lsn))
    finally:
        if moto is not None:
            moto.stop()
        server.stop(remove=not args.keep)
        cli.cleanup()
        if not args.keep:
            for d in scratch:
                shutil.rmtree(d, ignore_errors=True)
    print(render(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2, sort_keys=True)


def render(report):
    arch, rec = report['archive'], report['recovery']
    cp, zs = arch['cp']['segments_per_s'], arch['zstd -1']['segments_per_s']
    out = ['WAL archive, %d segments (%.0f MiB WAL, %s MiB with zstd -1); engine %s; %d CPUs'
           % (report['wal']['segments'], report['wal']['mib'], report['wal']['zstd1_mib'], report['engine'],
              report['machine']['cpus']), '',
           '| archive_command | s | segments/s | x cp | x zstd -1 | CPU ms per file | slowest call s '
           '| spooler peak MiB | other load |',
           '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    for label, r in arch.items():
        out.append('| %s | %.2f | %.1f | %.2f | %.2f | %s | %.3f | %s | %s |' % (
            label, r['seconds'], r['segments_per_s'], r['segments_per_s'] / cp, r['segments_per_s'] / zs,
            r.get('cpu_ms_per_file', ''), r['slowest'], '%.1f' % r['daemon_peak_mb'] if r.get('daemon_peak_mb') else '',
            '%.2f' % r['other_load'] if r.get('other_load') is not None else ''))
    out += ['', '| restore_command (recovery to the end) | s to promotion | x cp | prefetcher peak MiB | other load |',
            '|---|---:|---:|---:|---:|']
    for label, r in rec.items():
        out.append('| %s | %.2f | %.2f | %s | %s |' % (
            label, r['seconds'], r['seconds'] / rec['cp']['seconds'],
            '%.1f' % r['daemon_peak_mb'] if r.get('daemon_peak_mb') else '',
            '%.2f' % r['other_load'] if r.get('other_load') is not None else ''))
    out += ['', '| one call (least of 20) | CPU ms | wall ms |', '|---|---:|---:|']
    out += ['| %s | %.1f | %.1f |' % (label, c, w) for label, (c, w) in report.get('startup') or []]
    floor = report.get('cpu_floor')
    if floor:
        out += ['', '| CPU per segment no archive of this format can skip | ms |', '|---|---:|']
        floor = dict(floor)
        start = dict(report.get('startup') or []).get('python -S -c pass')
        if start:       # archive_command is one process per file, so the interpreter's start-up is paid too
            floor['the archive_command process: python -S start-up'] = start[0]
        out += ['| %s | %.1f |' % kv for kv in floor.items()]
        total = sum(floor.values())
        out.append('| sum: at most %.0f segments/s on %d CPUs with nothing else running | %.1f |'
                   % (1000.0 * report['machine']['cpus'] / total, report['machine']['cpus'], total))
    out += ['', '| target | measured | limit | result |', '|---|---:|---:|---|']
    for label, limit in TARGETS.items():
        key = 'dbbackup ' + label
        if key in arch:
            v = arch[key]['segments_per_s']
            out.append('| %s archive rate | %.1f segments/s | >= %.0f | %s |'
                       % (label, v, limit, verdict(v >= limit)))
    if 'dbbackup local-async' in rec:
        v = rec['dbbackup local-async']['seconds'] / rec['cp']['seconds']
        out.append('| recovery, local-async / cp | %.2f | <= %.1f | %s |'
                   % (v, RECOVERY_TARGET, verdict(v <= RECOVERY_TARGET)))
    rows = list(arch.items()) + list(rec.items())
    for what, keep in (('local (spooler, prefetcher)', 'local'), ('S3 (spooler, prefetcher)', 's3')):
        peak = max([r.get('daemon_peak_mb') or 0 for k, r in rows if keep in k] or [0])
        if peak:
            out.append('| peak memory, %s | %.1f MiB | <= %.0f | %s |'
                       % (what, peak, MEMORY_TARGET_MB, verdict(peak <= MEMORY_TARGET_MB)))
    return '\n'.join(out)


def verdict(ok):
    return 'PASS' if ok else 'MISS'


if __name__ == '__main__':
    main()
