"""DR drill in one command: back up a database with the collection's modules, restore it, prove it.

Runs playbooks/drill.yml through ansible-playbook against localhost (the modules
back up `drill_database` and restore it as `<drill_database>_drill`), then
compares source and restored copy in Python: per-table row counts and md5 of
the ordered rows, sequence positions, large objects, database-level settings
and, where a matching pg_dump exists, `pg_dump -s` output. Prints RTO, sizes
and the verdict; exits 1 unless the copy is IDENTICAL.

With no --login-host a throwaway PostgreSQL server (devtools.pg_temp) is
started and filled with a pgbench-style sample plus the rich test fixture;
it is removed afterwards. Against a real server, name the database with
--database; the password comes from PGPASSWORD (never the command line).

    bash scripts/drill.sh                       # fresh machine: bootstrap, then this
    python3 devtools/drill.py --scale 5         # bigger sample
    PGPASSWORD=... python3 devtools/drill.py --login-host db1 --database orders

The helpers for running playbooks (collection_dir, run_playbook) are reused by
tests/integration/test_modules.py.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

COLLECTION = ('dbbackup', 'dbbackup')
SAMPLE_DB = 'sampledb'
PASSWORD_ENV = 'DBBACKUP_LOGIN_PASSWORD'   # what the playbooks read on the controller

# A pgbench -i style sample (same tables and distribution), built with SQL so the
# drill needs no pgbench; plus history rows, foreign keys and an identity column
# so that sequences, indexes and constraints are exercised too.
SAMPLE_SQL = """
SET client_min_messages = warning;
CREATE TABLE public.pgbench_branches (bid integer NOT NULL, bbalance integer, filler character(88));
CREATE TABLE public.pgbench_tellers (tid integer NOT NULL, bid integer, tbalance integer, filler character(84));
CREATE TABLE public.pgbench_accounts (aid integer NOT NULL, bid integer, abalance integer, filler character(84));
CREATE TABLE public.pgbench_history (tid integer, bid integer, aid integer, delta integer,
                                     mtime timestamp without time zone, filler character(22));
CREATE TABLE public.drill_audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                 at timestamptz NOT NULL, note text);
INSERT INTO public.pgbench_branches (bid, bbalance) SELECT b, 0 FROM generate_series(1, {scale}) b;
INSERT INTO public.pgbench_tellers (tid, bid, tbalance) SELECT t, (t - 1) / 10 + 1, 0
  FROM generate_series(1, 10 * {scale}) t;
INSERT INTO public.pgbench_accounts (aid, bid, abalance, filler) SELECT a, (a - 1) / 100000 + 1, 0, ''
  FROM generate_series(1, 100000 * {scale}) a;
INSERT INTO public.pgbench_history (tid, bid, aid, delta, mtime)
  SELECT 1 + g % (10 * {scale}), 1 + g % {scale}, 1 + (g * 7919) % (100000 * {scale}), g % 10001 - 5000,
         timestamp '2024-01-01' + g * interval '1 second'
  FROM generate_series(1, 5000 * {scale}) g;
UPDATE public.pgbench_accounts a SET abalance = h.s
  FROM (SELECT aid, sum(delta) AS s FROM public.pgbench_history GROUP BY aid) h WHERE h.aid = a.aid;
INSERT INTO public.drill_audit (at, note)
  SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 'event ' || g
  FROM generate_series(1, 1000) g;
ALTER TABLE public.pgbench_branches ADD PRIMARY KEY (bid);
ALTER TABLE public.pgbench_tellers ADD PRIMARY KEY (tid);
ALTER TABLE public.pgbench_accounts ADD PRIMARY KEY (aid);
ALTER TABLE public.pgbench_tellers ADD FOREIGN KEY (bid) REFERENCES public.pgbench_branches;
ALTER TABLE public.pgbench_accounts ADD FOREIGN KEY (bid) REFERENCES public.pgbench_branches;
ALTER TABLE public.pgbench_history ADD FOREIGN KEY (aid) REFERENCES public.pgbench_accounts;
CREATE INDEX pgbench_history_mtime ON public.pgbench_history (mtime);
"""


# --- running the collection's playbooks ------------------------------------------

def collection_dir(base):
    """Make <base>/ansible_collections/dbbackup/dbbackup a symlink to the checkout; returns base."""
    parent = os.path.join(base, 'ansible_collections', COLLECTION[0])
    os.makedirs(parent, exist_ok=True)
    link = os.path.join(parent, COLLECTION[1])
    if not os.path.islink(link):
        os.symlink(ROOT, link)
    return base


def ansible_playbook_bin():
    """ansible-playbook next to the running python (the venv), else from PATH."""
    local = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    if os.access(local, os.X_OK):
        return local
    found = shutil.which('ansible-playbook')
    if not found:
        raise RuntimeError('ansible-playbook not found; run scripts/bootstrap.sh '
                           '(it installs ansible-core into the venv).')
    return found


def ansible_env(collections, password=None):
    """Environment for ansible-playbook: the collection importable, quiet about localhost."""
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': collections,
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_HOST_KEY_CHECKING': 'false',
        # ansible-core imports DSA support from cryptography 46+, which warns on every start
        'PYTHONWARNINGS': 'ignore:DSA is deprecated',
    })
    env.pop(PASSWORD_ENV, None)
    if password is not None:
        env[PASSWORD_ENV] = password
    return env


def write_private_json(path, data):
    """Write data as JSON readable by the owner only (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(data, f)
    return path


def run_playbook(playbook, extra_vars, workdir, password=None, check=False, verbosity=0,
                 capture=False, timeout=1800, python=None):
    """ansible-playbook -i localhost, -c local <playbook> with vars from a 0600 file.

    The password reaches the playbook through the DBBACKUP_LOGIN_PASSWORD
    environment variable, never argv. Modules run with `python` (default: the
    running interpreter). Returns subprocess.CompletedProcess.
    """
    collections = collection_dir(os.path.join(workdir, 'collections'))
    vars_file = write_private_json(
        os.path.join(workdir, 'extra-vars-%d.json' % int(time.time() * 1000)),
        dict(extra_vars, ansible_python_interpreter=python or sys.executable))
    argv = [ansible_playbook_bin(), '-i', 'localhost,', '-c', 'local', '-e', '@' + vars_file]
    if check:
        argv.append('--check')
    if verbosity:
        argv.append('-' + 'v' * verbosity)
    argv.append(playbook)
    kw = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True) if capture else {}
    return subprocess.run(argv, env=ansible_env(collections, password), cwd=ROOT, timeout=timeout,
                          check=False, **kw)


# --- servers -----------------------------------------------------------------------

class ExternalServer(object):
    """The subset of devtools.pg_temp.PgServer that tests/support/compare.py uses."""

    def __init__(self, host, port, user, password):
        self.host, self.port, self.user, self.password = host, port, user, password

    def connect(self, dbname='postgres', autocommit=True):
        import psycopg2
        kw = dict(host=self.host, port=self.port, user=self.user, dbname=dbname)
        if self.password:
            kw['password'] = self.password
        conn = psycopg2.connect(**kw)
        conn.autocommit = autocommit
        return conn

    def env(self):
        e = dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user)
        if self.password:
            e['PGPASSWORD'] = self.password
        return e

    def bin(self, name):
        from devtools.pg_temp import find_pg_bin
        try:
            return os.path.join(find_pg_bin(), name)
        except RuntimeError:
            return shutil.which(name) or name


def load_sample(server, database, scale, rich=True):
    """Create `database` with the pgbench-style sample and the rich fixture (if present)."""
    server.create_database(database)
    server.psql(database, SAMPLE_SQL.format(scale=int(scale)))
    files = sorted(glob.glob(os.path.join(ROOT, 'tests', 'fixtures', 'rich', '*.sql'))) if rich else []
    for f in files:
        server.psql('postgres' if os.path.basename(f) == '00_roles.sql' else database, file=f)
    return len(files)


def drop_database(server, name):
    conn = server.connect('postgres')
    try:
        cur = conn.cursor()
        cur.execute('SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity '
                    'WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()', (name,))
        cur.execute('DROP DATABASE IF EXISTS "%s"' % name.replace('"', '""'))
    finally:
        conn.close()


# --- proving the copy --------------------------------------------------------------

def verify(server, source, restored):
    """[(check, ok, detail)] comparing two databases; uses tests/support/compare.py."""
    from tests.support import compare
    checks = []
    empty = {'schema': '', 'tables': {}, 'sequences': {}, 'large_objects': [], 'settings': []}

    def add(name, a, b, describe):
        problems = compare.differences(dict(empty, **{name: a}), dict(empty, **{name: b}),
                                       source, restored)
        checks.append((name, not problems, describe(a) if not problems else '\n'.join(problems)))

    add('tables', compare.table_hashes(server, source), compare.table_hashes(server, restored),
        lambda t: 'tables: %d, rows: %d; row counts and md5 of ordered rows equal'
        % (len(t), sum(count for count, digest in t.values())))
    add('sequences', compare.sequence_values(server, source), compare.sequence_values(server, restored),
        lambda s: '%d sequence(s) at the same position' % len(s))
    add('large_objects', compare.large_objects(server, source), compare.large_objects(server, restored),
        lambda lo: '%d large object(s) equal (contents, owner, ACL, comment)' % len(lo))
    add('settings', compare.database_settings(server, source), compare.database_settings(server, restored),
        lambda s: '%d database-level setting(s) equal' % len(s))
    try:
        a, b = compare.schema_dump(server, source), compare.schema_dump(server, restored)
    except (AssertionError, OSError) as e:
        checks.append(('schema', None, 'not compared: %s' % str(e).strip().splitlines()[0]))
    else:
        add('schema', a, b, lambda s: 'pg_dump -s output identical (%d lines)' % len(s.splitlines()))
    return checks


# --- reporting -------------------------------------------------------------------

def human(n):
    n = float(n or 0)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if n < 1024 or unit == 'TiB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1024.0


def summary(report, checks, where, kept=True):
    size, raw = int(report['size_bytes']), int(report['raw_bytes'])
    identical = all(check[1] is not False for check in checks)
    lines = [
        '',
        '=== dbbackup DR drill ' + '=' * 50,
        'source       %s on %s (PostgreSQL %s)' % (report['database'], where, report['server_version']),
        'backup       %s  %s stored / %s raw (%.1fx), %s tables, %s rows%s'
        % (report['backup_id'], human(size), human(raw), (raw / float(size)) if size else 0.0,
           report['tables'], report['rows'],
           ', took %s s' % report['backup_seconds'] if report.get('backup_seconds') not in (None, '') else ''),
        'restore      into %s: RTO %s s (restore wall time)'
        % (report['target_database'], report['rto_seconds']),
        'location     %s' % (report['location'] if kept
                             else 'a temporary repository, removed after the drill (--repository DIR keeps it)'),
    ]
    for name, ok, detail in checks:
        mark = {True: 'ok  ', False: 'DIFF', None: 'skip'}[ok]
        first, rest = (detail.split('\n', 1) + [''])[:2]
        lines.append('check %-14s %s %s' % (name, mark, first))
        if rest:
            lines.extend('    ' + line for line in rest.splitlines())
    lines.append('verdict      %s' % ('IDENTICAL' if identical else 'DIFFERENT'))
    return '\n'.join(lines), identical


# --- main --------------------------------------------------------------------------

HELP_EPILOG = """\
what it does:
  Backs up the database with dbbackup.dbbackup.dbbackup_backup and restores it as
  <database>_drill with dbbackup.dbbackup.dbbackup_restore (playbooks/drill.yml, through
  ansible-playbook on localhost), then proves the copy: row counts and md5 of every table,
  sequences, large objects, database settings and pg_dump -s when a matching pg_dump exists.
  Prints RTO, sizes and the verdict; exits 0 only when the copy is IDENTICAL.

examples:
  bash scripts/drill.sh                        throwaway PostgreSQL 15 and a sample database
  bash scripts/drill.sh --scale 10             a bigger sample (1,000,000 accounts)
  PGPASSWORD=secret bash scripts/drill.sh --login-host db1 --login-user postgres --database orders
  bash scripts/drill.sh --repository /srv/drill   keep the backup

against your own server:
  The password comes from PGPASSWORD (or DBBACKUP_LOGIN_PASSWORD), never the command line.
  The login role must be a superuser: the restore creates a database and sets owners and
  grants. The scratch copy <database>_drill (replaced when it exists) is dropped afterwards
  (--keep-scratch keeps it).

scripts/drill.sh first installs what the drill needs when it is missing (PostgreSQL 15 server
binaries unless --login-host is given, and a virtualenv with the collection's requirements and
ansible-core in ~/.cache/dbbackup); devtools/drill.py is the drill itself.
"""


def parse_args(argv):
    p = argparse.ArgumentParser(prog='scripts/drill.sh', description=__doc__.split('\n\n', maxsplit=1)[0],
                                epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--login-host', help='server to drill (default: a throwaway local server)')
    p.add_argument('--login-port', type=int, default=5432)
    p.add_argument('--login-user', default='postgres')
    p.add_argument('--database', help='database to drill (required with --login-host; '
                                      'default with the throwaway server: %s)' % SAMPLE_DB)
    p.add_argument('--repository', help='repository directory to keep the backup in '
                                        '(default: a temporary one, removed afterwards)')
    p.add_argument('--jobs', type=int, default=2, help='parallel sessions (default 2)')
    p.add_argument('--scale', type=int, default=1,
                   help='pgbench scale of the sample (100,000 accounts each; default 1)')
    p.add_argument('--no-rich', action='store_true',
                   help='throwaway server: load only the pgbench-style sample, not tests/fixtures/rich')
    p.add_argument('--keep-scratch', action='store_true',
                   help='keep <database>_drill on an external server after the drill')
    args = p.parse_args(argv)
    if args.login_host and not args.database:
        p.error('--database is required with --login-host')
    if args.scale < 1 or args.jobs < 1:
        p.error('--scale and --jobs must be at least 1')
    return args


def drill(args, server, database, workdir, where):
    repository = os.path.abspath(args.repository) if args.repository else os.path.join(workdir, 'repo')
    report_file = os.path.join(workdir, 'report.json')
    extra = {
        'drill_database': database,
        'drill_repository': repository,
        'drill_jobs': args.jobs,
        'drill_report_file': report_file,
        'dbbackup_login_host': server.host,
        'dbbackup_login_port': server.port,
        'dbbackup_login_user': server.user,
    }
    print('drill: running playbooks/drill.yml for %s on %s' % (database, where), flush=True)
    t0 = time.time()
    proc = run_playbook(os.path.join(ROOT, 'playbooks', 'drill.yml'), extra, workdir, password=server.password)
    elapsed = time.time() - t0
    if proc.returncode != 0 or not os.path.exists(report_file):
        print('drill: FAILED: ansible-playbook exited %d (see its output above)' % proc.returncode,
              file=sys.stderr)
        return 1
    with open(report_file) as f:
        report = json.load(f)
    print('drill: playbook finished in %.1f s; comparing %s with %s'
          % (elapsed, database, report['target_database']), flush=True)
    checks = verify(server, database, report['target_database'])
    text, identical = summary(report, checks, where, kept=bool(args.repository))
    print(text)
    if args.login_host and not args.keep_scratch:
        drop_database(server, report['target_database'])
        print('drill: dropped the scratch database %s' % report['target_database'])
    return 0 if identical else 1


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = tempfile.mkdtemp(prefix='dbbackup-drill-')
    os.chmod(workdir, 0o700)
    server = None
    try:
        if args.login_host:
            server = ExternalServer(args.login_host, args.login_port, args.login_user,
                                    os.environ.get('PGPASSWORD') or os.environ.get(PASSWORD_ENV))
            return drill(args, server, args.database, workdir,
                         '%s:%d' % (args.login_host, args.login_port))
        from devtools.pg_temp import PgServer
        print('drill: starting a throwaway PostgreSQL server', flush=True)
        server = PgServer()
        server.start()
        t0 = time.time()
        database = args.database or SAMPLE_DB
        fixtures = load_sample(server, database, args.scale, rich=not args.no_rich)
        print('drill: sample database %s loaded (pgbench scale %d%s) in %.1f s'
              % (database, args.scale, ', rich fixture: %d files' % fixtures if fixtures else '',
                 time.time() - t0), flush=True)
        return drill(args, server, database, workdir,
                     'a throwaway server %s:%d' % (server.host, server.port))
    except KeyboardInterrupt:
        print('drill: interrupted', file=sys.stderr)
        return 130
    except Exception as e:  # one clear line instead of a traceback: this is an operator tool
        print('drill: FAILED: %s: %s' % (type(e).__name__, str(e).strip()), file=sys.stderr)
        return 1
    finally:
        if server is not None and not args.login_host:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
