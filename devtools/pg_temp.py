"""Throwaway PostgreSQL servers for the drill, the test suite and the bench.

initdb into a temporary directory (as the postgres user when running as
root), start on a free loopback port with SCRAM password auth, and remove
everything on stop. Nothing here is part of the engine.
"""
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN_CANDIDATES = ('/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin',
                     '/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/14/bin')
SUPERUSER = 'postgres'
SUPERUSER_PASSWORD = 'throwaway-superuser-pw'


def find_pg_bin():
    """Directory with initdb/pg_ctl; PG_BIN overrides."""
    env = os.environ.get('PG_BIN')
    candidates = ([env] if env else []) + list(PG_BIN_CANDIDATES)
    for d in candidates:
        if d and os.path.exists(os.path.join(d, 'initdb')):
            return d
    raise RuntimeError('PostgreSQL server binaries not found (looked in %s); '
                       'install postgresql-15 (apt-get install postgresql-15) or set PG_BIN'
                       % ', '.join(candidates))


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _as_postgres_argv(argv):
    if os.geteuid() == 0:
        return ['runuser', '-u', 'postgres', '--'] + argv
    return argv


class PgServer(object):
    """A running throwaway server. Use as a context manager or call stop()."""

    def __init__(self, base_dir=None, port=None, extra_conf=None, pg_bin=None):
        self.pg_bin = pg_bin or find_pg_bin()
        self.base = base_dir or tempfile.mkdtemp(prefix='dbbackup-pg-')
        self.datadir = os.path.join(self.base, 'data')
        self.sockdir = os.path.join(self.base, 'sock')
        self.logfile = os.path.join(self.base, 'server.log')
        self.port = port or free_port()
        self.host = '127.0.0.1'
        self.user = SUPERUSER
        self.password = SUPERUSER_PASSWORD
        self.extra_conf = extra_conf or {}
        self.started = False

    def bin(self, name):
        return os.path.join(self.pg_bin, name)

    def _chown(self, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def postgres_argv(self, argv):
        """argv run as the server's OS user (a chroot's server: see devtools/server_versions.py)."""
        return _as_postgres_argv(argv)

    def run_as_postgres(self, argv, **kw):
        kw.setdefault('cwd', '/')     # the caller's directory may be out of postgres' reach (/root)
        return subprocess.run(self.postgres_argv(argv), check=True, **kw)

    def init(self):
        os.makedirs(self.sockdir, exist_ok=True)
        os.chmod(self.base, 0o755)
        self._chown(self.base)
        self._chown(self.sockdir)
        pwfile = os.path.join(self.base, 'pwfile')
        with open(pwfile, 'w') as f:
            f.write(self.password + '\n')
        self._chown(pwfile)
        self.run_as_postgres([self.bin('initdb'), '-D', self.datadir, '-U', self.user,
                              '--pwfile', pwfile, '--auth=scram-sha-256', '-E', 'UTF8',
                              '--locale=C.UTF-8', '--no-sync'],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.unlink(pwfile)
        conf = {
            'listen_addresses': "'127.0.0.1'",
            'port': str(self.port),
            'unix_socket_directories': "'%s'" % self.sockdir,
            'fsync': 'off',
            'full_page_writes': 'off',
            'synchronous_commit': 'off',
            'shared_buffers': "'256MB'",
            'max_connections': '50',
            'logging_collector': 'off',
        }
        conf.update(self.extra_conf)
        with open(os.path.join(self.datadir, 'postgresql.conf'), 'a') as f:
            for k, v in conf.items():
                f.write('%s = %s\n' % (k, v))
        return self

    def start(self):
        if not os.path.exists(self.datadir):
            self.init()
        open(self.logfile, 'a').close()
        self._chown(self.logfile)
        self.run_as_postgres([self.bin('pg_ctl'), '-D', self.datadir, '-l', self.logfile,
                              '-w', '-t', '60', 'start'], stdout=subprocess.DEVNULL)
        self.started = True
        return self

    def stop(self, remove=True):
        if self.started:
            subprocess.run(self.postgres_argv([self.bin('pg_ctl'), '-D', self.datadir,
                                               '-m', 'fast', '-w', 'stop']), cwd='/',
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            self.started = False
        if remove:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- client helpers -------------------------------------------------
    def env(self):
        """Environment for libpq clients (psql, pg_dump, pgbench) as superuser."""
        e = dict(os.environ)
        e.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user,
                 PGPASSWORD=self.password)
        return e

    def conn_params(self, dbname='postgres'):
        """Module/engine option names for this server."""
        return {'login_host': self.host, 'login_port': self.port,
                'login_user': self.user, 'login_password': self.password,
                'database': dbname}

    def dsn(self, dbname='postgres'):
        return 'host=%s port=%d user=%s password=%s dbname=%s' % (
            self.host, self.port, self.user, self.password, dbname)

    def connect(self, dbname='postgres', autocommit=True):
        import psycopg2
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                password=self.password, dbname=dbname)
        conn.autocommit = autocommit
        return conn

    def scalar(self, dbname, sql, args=None):
        """The first column of the first row of one query."""
        conn = self.connect(dbname)
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur.fetchone()[0]
        finally:
            conn.close()

    def psql(self, dbname, sql=None, file=None, check=True):
        """Run SQL through this server's psql with ON_ERROR_STOP; returns stdout.

        A file is fed on stdin, so it need not be visible where psql runs (a chroot).
        """
        argv = [self.bin('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dbname]
        if file:
            with open(file) as f:
                script = f.read()
            argv += ['-f', '-']
        else:
            script = None
            argv += ['-c', sql]
        p = subprocess.run(argv, env=self.env(), input=script, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, check=False)
        if check and p.returncode != 0:
            raise RuntimeError('psql failed: %s' % p.stderr)
        return p.stdout

    def create_database(self, name):
        self.psql('postgres', 'CREATE DATABASE "%s"' % name)

    def wait_ready(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            p = subprocess.run([self.bin('pg_isready'), '-h', self.host, '-p', str(self.port)],
                               stdout=subprocess.DEVNULL, check=False)
            if p.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError('server did not become ready; see %s' % self.logfile)
