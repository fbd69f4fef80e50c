#!/usr/bin/env python
"""Encryption overhead: dbbackup backup of the bench dataset with and without encryption.

Why: the issue's target is that encryption costs < 10% of backup wall time.
This script measures it on one throwaway server in one run, so both variants
see the same data, cache and machine state:

  1. starts a throwaway server with bench/bench_pg.py's settings and builds its
     dataset (`pgbench -i -s SCALE` plus the type-rich `wide` table);
  2. reads every table once (warm cache);
  3. runs the engine's backup (api.run_backup, in this process, `--jobs` sessions,
     zstd level 3 unless --compression) N times per variant, the variants
     interleaved and their order alternated per round, repository emptied and a
     CHECKPOINT + sync before every run;
  4. prints best and median wall time and client CPU (user+sys of this process,
     all threads) per variant, and the overhead of encryption as a percentage of
     the best plain wall time, with PASS/MISS against the 10% target;
  5. isolates the cost of the stage itself, which wall-time differences of a few
     percent cannot show reliably on a shared machine: the stored files of a plain
     backup are encrypted once more in this process (one core) and timed, and the
     passphrase KDF is timed on its own.

Before every run the script waits (up to --quiet-wait s) until other processes
use < 0.3 cores, as bench_pg.py does.

Variants: `plain`, `key file` (raw 32-byte KEK from a 0600 file), and with
--passphrase also `passphrase` (adds the one-off Argon2id/scrypt derivation).

    python3 bench/bench_encrypt.py                    # scale 10 + 1M wide rows, best of 3
    python3 bench/bench_encrypt.py --repeat 5 --json out.json
"""
from __future__ import print_function

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'bench'))

from devtools.pg_temp import PgServer  # noqa: E402
from bench_pg import (BENCH_CONF, DB, build_dataset, engine_revision, log, machine_info,  # noqa: E402
                      quiesce, wait_quiet, warm_up)
from plugins.module_utils import api
from plugins.module_utils.format import keys  # noqa: E402
from plugins.module_utils.stream.encrypt import EncryptingWriter  # noqa: E402

MB = 1024.0 * 1024.0
TARGET_PCT = 10.0
PASSPHRASE_ENV = 'DBBACKUP_BENCH_PASSPHRASE'


def write_key(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(os.urandom(32).hex() + '\n')
    return path


def tree_bytes(path):
    total = 0
    for root, dummy, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


class _Null(object):
    def write(self, data):
        return len(data)


def stage_cost(location):
    """Seconds (one core) to encrypt every stored file under location, and bytes encrypted."""
    files = []
    for root, dummy, names in os.walk(location):
        files.extend(os.path.join(root, n) for n in names if n != 'manifest.json')
    data_key = os.urandom(32)
    total = 0
    seconds = 0.0
    for path in files:
        with open(path, 'rb') as f:
            blocks = iter(lambda: f.read(1 << 20), b'')
            t0 = time.perf_counter()
            w = EncryptingWriter(_Null(), data_key)
            for block in blocks:
                w.write(block)
                total += len(block)
            w.close()
            seconds += time.perf_counter() - t0
    return seconds, total


def kdf_cost():
    src = keys.key_source({'encryption_passphrase': 'bench passphrase, not a secret'})
    t0 = time.perf_counter()
    kdf = src.new_kek()[0]
    return time.perf_counter() - t0, kdf['name']


def run_backup(server, args, repo, options):
    if os.path.isdir(repo):
        shutil.rmtree(repo)
    quiesce(server)
    busy = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else None
    params = server.conn_params(DB)
    params.update(repository=repo, jobs=args.jobs, compression=args.compression, **options)
    cpu0 = os.times()
    t0 = time.perf_counter()
    result = api.run_backup(params)
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {'wall_s': wall, 'cpu_s': cpu, 'stored_bytes': tree_bytes(result['location']),
            'raw_bytes': result['raw_bytes'], 'rows': result['rows'], 'encrypted': result['encrypted'],
            'location': result['location'], 'busy_before': busy}


def summarize(runs):
    walls = [r['wall_s'] for r in runs]
    cpus = [r['cpu_s'] for r in runs]
    best = min(runs, key=lambda r: r['wall_s'])
    return {'best_wall_s': round(best['wall_s'], 3), 'median_wall_s': round(statistics.median(walls), 3),
            'best_cpu_s': round(min(cpus), 3), 'median_cpu_s': round(statistics.median(cpus), 3),
            'stored_bytes': best['stored_bytes'], 'raw_bytes': best['raw_bytes'], 'rows': best['rows'],
            'walls_s': [round(w, 3) for w in walls]}


def render(report):
    lines = ['', 'dbbackup backup, jobs %d, %s; best of %d (interleaved)' % (
        report['args']['jobs'], report['args']['compression'], report['args']['repeat']),
        '%-12s %10s %10s %10s %10s %12s' % ('variant', 'best s', 'median s', 'cpu s', 'MB/s', 'stored MB')]
    copy_mb = report['dataset']['copy_bytes'] / MB
    for name, s in report['variants'].items():
        lines.append('%-12s %10.2f %10.2f %10.2f %10.1f %12.1f' % (
            name, s['best_wall_s'], s['median_wall_s'], s['median_cpu_s'], copy_mb / s['best_wall_s'],
            s['stored_bytes'] / MB))
    lines.append('')
    for name, o in report['overhead'].items():
        lines.append('encryption overhead (%s): %+.1f%% of wall time (best), %+.1f%% (median), '
                     'client CPU %+.1f%% -> %s (target < %d%%)' % (
                         name, o['wall_pct_best'], o['wall_pct_median'], o['cpu_pct_median'],
                         'PASS' if o['wall_pct_best'] < TARGET_PCT else 'MISS', TARGET_PCT))
    st = report['stage']
    lines.append('encryption stage alone: %.1f MB in %.3f s on one core (%.0f MB/s) = %.2f%% of the best '
                 'plain wall time; %s passphrase derivation %.3f s once per backup' % (
                     st['bytes'] / MB, st['seconds'], st['bytes'] / MB / st['seconds'], st['pct_of_plain_wall'],
                     st['kdf'], st['kdf_seconds']))
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--scale', type=int, default=10, help='pgbench scale (default 10)')
    ap.add_argument('--wide-rows', type=int, default=1000000, help='rows in the wide table')
    ap.add_argument('--jobs', type=int, default=2, help='backup sessions (default 2)')
    ap.add_argument('--compression', default='zstd', choices=('zstd', 'gzip', 'none'))
    ap.add_argument('--repeat', type=int, default=3, help='runs per variant; best wall is kept')
    ap.add_argument('--passphrase', action='store_true', help='also measure a passphrase-derived key')
    ap.add_argument('--json', metavar='FILE', help='write machine-readable results')
    ap.add_argument('--workdir', help='directory for server + repositories (default: a new temp dir)')
    ap.add_argument('--keep', action='store_true', help='keep the work dir')
    ap.add_argument('--quiet-wait', type=float, default=60,
                    help='before each run wait up to this many seconds until other processes use '
                         '< 0.3 cores (shared machines); 0 = do not wait')
    args = ap.parse_args()

    base = args.workdir or tempfile.mkdtemp(prefix='dbbackup-bench-enc-')
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    work = os.path.join(base, 'out')
    os.makedirs(work, exist_ok=True)
    key_file = write_key(os.path.join(work, 'bench.key'))
    variants = [('plain', {}), ('key file', {'encryption_key_file': key_file})]
    if args.passphrase:
        variants.append(('passphrase', {'encryption_passphrase': os.environ.get(PASSPHRASE_ENV)
                                        or 'bench passphrase, not a secret'}))
    server = PgServer(base_dir=os.path.join(base, 'pg'), extra_conf=BENCH_CONF)
    report = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
              'machine': machine_info(), 'engine_revision': engine_revision(),
              'args': dict(vars(args))}
    log('work dir %s' % base)
    server.start()
    try:
        gen = build_dataset(server, args)
        info = warm_up(server)[0]
        report['dataset'] = {'copy_bytes': sum(t['copy_bytes'] for t in info), 'generate_s': round(gen, 1),
                             'scale': args.scale, 'wide_rows': args.wide_rows}
        log('dataset: %.1f MB COPY text' % (report['dataset']['copy_bytes'] / MB))
        runs = dict((name, []) for name, dummy in variants)
        for i in range(args.repeat):
            order = variants if i % 2 == 0 else list(reversed(variants))
            for name, options in order:
                r = run_backup(server, args, os.path.join(work, 'repo'), options)
                assert r['encrypted'] == bool(options), r
                runs[name].append(r)
                log('round %d %-10s %.2fs wall, %.2fs cpu' % (i + 1, name, r['wall_s'], r['cpu_s']))
        report['variants'] = dict((name, summarize(runs[name])) for name, dummy in variants)
        rows = set(s['rows'] for s in report['variants'].values())
        if len(rows) != 1:
            raise SystemExit('variants backed up different row counts: %r' % rows)
        plain = report['variants']['plain']
        report['overhead'] = {}
        for name, dummy in variants[1:]:
            s = report['variants'][name]
            report['overhead'][name] = {
                'wall_pct_best': round(100.0 * (s['best_wall_s'] / plain['best_wall_s'] - 1), 2),
                'wall_pct_median': round(100.0 * (s['median_wall_s'] / plain['median_wall_s'] - 1), 2),
                'cpu_pct_median': round(100.0 * (s['median_cpu_s'] / plain['median_cpu_s'] - 1), 2),
                'stored_bytes_added': s['stored_bytes'] - plain['stored_bytes'],
            }
        plain_run = run_backup(server, args, os.path.join(work, 'repo'), {})
        seconds, nbytes = stage_cost(plain_run['location'])
        kdf_seconds, kdf_name = kdf_cost()
        report['stage'] = {'seconds': round(seconds, 4), 'bytes': nbytes, 'kdf': kdf_name,
                           'kdf_seconds': round(kdf_seconds, 3),
                           'pct_of_plain_wall': round(100.0 * seconds / plain['best_wall_s'], 2)}
        for name in runs:
            for r in runs[name]:
                r.pop('location', None)
        report['runs'] = runs
        print(render(report))
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(report, f, indent=2, sort_keys=True)
    finally:
        server.stop()
        if not args.keep and not args.workdir:
            shutil.rmtree(base, ignore_errors=True)
    ok = all(o['wall_pct_best'] < TARGET_PCT for o in report['overhead'].values())
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
