"""Throwaway MariaDB (or MySQL) servers for the test suite and the bench.

mariadb-install-db into a temporary directory (as the mysql user when running
as root), then mariadbd on a free loopback port with its own socket, binary
logging on (ROW format, server_id 1, GTIDs), a root password for TCP and
socket logins, and everything removed on stop. Nothing here is part of the
engine. Debian 12: apt-get install mariadb-server mariadb-client
(scripts/bootstrap.sh does it).
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

from devtools.pg_temp import free_port

SERVER_CANDIDATES = ('/usr/sbin/mariadbd', '/usr/sbin/mysqld', '/usr/bin/mariadbd', '/usr/bin/mysqld')
INSTALL_DB_CANDIDATES = ('/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db',
                         '/usr/sbin/mariadb-install-db')
ROOT_PASSWORD = 'throwaway-mysql-root-pw'
BINLOG_BASENAME = 'binlog'


def _first(candidates, env=None):
    if env and os.environ.get(env):
        return os.environ[env]
    for path in candidates:
        if os.path.exists(path):
            return path
    return None


def find_mysql_binaries():
    """(server, install_db, client) paths; RuntimeError names what to install."""
    server = _first(SERVER_CANDIDATES, 'MYSQLD')
    install = _first(INSTALL_DB_CANDIDATES, 'MYSQL_INSTALL_DB')
    client = shutil.which('mariadb') or shutil.which('mysql')
    missing = [n for n, p in (('mariadbd', server), ('mariadb-install-db', install), ('mariadb', client)) if not p]
    if missing:
        raise RuntimeError('MariaDB binaries not found (%s); install them with '
                           'apt-get install mariadb-server mariadb-client, or run scripts/bootstrap.sh'
                           % ', '.join(missing))
    return server, install, client


def client_tool(*names):
    """Path of the first client program found (mariadb-dump, mysqldump, ...)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError('none of %s found; install mariadb-client' % ', '.join(names))


class MySqlServer(object):
    """A running throwaway server. Use as a context manager or call stop()."""

    def __init__(self, base_dir=None, port=None, extra_args=None, buffer_pool='256M'):
        self.server_bin, self.install_bin, self.client_bin = find_mysql_binaries()
        self.base = base_dir or tempfile.mkdtemp(prefix='dbbackup-my-')
        self.datadir = os.path.join(self.base, 'data')
        self.socket = os.path.join(self.base, 'mysqld.sock')
        self.pidfile = os.path.join(self.base, 'mysqld.pid')
        self.logfile = os.path.join(self.base, 'server.log')
        self.port = port or free_port()
        self.host = '127.0.0.1'
        self.user = 'root'
        self.password = ROOT_PASSWORD
        self.extra_args = list(extra_args or ())
        self.buffer_pool = buffer_pool
        self.proc = None
        self.os_user = 'mysql' if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def binlog_basename(self):
        return os.path.join(self.datadir, BINLOG_BASENAME)

    def _chown(self, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.os_user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _server_args(self):
        return [self.server_bin, '--no-defaults',
                '--datadir=%s' % self.datadir,
                '--socket=%s' % self.socket,
                '--pid-file=%s' % self.pidfile,
                '--log-error=%s' % self.logfile,
                '--port=%d' % self.port,
                '--bind-address=127.0.0.1',
                '--user=%s' % self.os_user,
                '--skip-name-resolve',
                '--log-bin=%s' % self.binlog_basename,
                '--binlog-format=ROW',
                '--server-id=1',
                '--log-slave-updates=ON',
                '--max-connections=200',
                '--innodb-buffer-pool-size=%s' % self.buffer_pool,
                '--innodb-flush-log-at-trx-commit=2',
                '--sync-binlog=0',
                '--local-infile=1',
                '--character-set-server=utf8mb4',
                '--collation-server=utf8mb4_general_ci'] + self.extra_args

    def init(self):
        os.chmod(self.base, 0o755)
        self._chown(self.base)
        argv = [self.install_bin, '--no-defaults', '--datadir=%s' % self.datadir,
                '--user=%s' % self.os_user, '--auth-root-authentication-method=normal',
                '--skip-test-db']
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if p.returncode != 0:
            raise RuntimeError('mariadb-install-db failed:\n%s' % p.stdout[-3000:])
        return self

    def start(self, timeout=60):
        if not os.path.exists(self.datadir):
            self.init()
        with open(self.logfile, 'a'):
            pass
        self._chown(self.logfile)
        self.proc = subprocess.Popen(self._server_args(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError('mariadbd exited with %s; see %s:\n%s'
                                   % (self.proc.returncode, self.logfile, self.log_tail()))
            if os.path.exists(self.socket) and self._socket_ready():
                break
            time.sleep(0.1)
        else:
            self.stop(remove=False)
            raise RuntimeError('mariadbd did not become ready in %ds; see %s' % (timeout, self.logfile))
        try:
            self._secure()
        except BaseException:
            self.stop(remove=False)
            raise
        return self

    def _socket_ready(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def _secure(self):
        """Give root a password, and a 127.0.0.1 account for TCP logins (skip-name-resolve)."""
        import pymysql
        done = os.path.join(self.base, '.secured')
        if os.path.exists(done):
            return   # a restarted server
        conn = pymysql.connect(unix_socket=self.socket, user='root', password='', autocommit=True)
        try:
            cur = conn.cursor()
            for host in ('localhost', '127.0.0.1'):
                cur.execute("CREATE USER IF NOT EXISTS 'root'@'%s'" % host)
                cur.execute("ALTER USER 'root'@'%s' IDENTIFIED BY %%s" % host, (self.password,))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%s' WITH GRANT OPTION" % host)
            cur.execute('FLUSH PRIVILEGES')
        finally:
            conn.close()
        with open(done, 'w'):
            pass

    def log_tail(self, size=3000):
        try:
            with open(self.logfile) as f:
                return f.read()[-size:]
        except OSError:
            return ''

    def stop(self, remove=True):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()   # SIGTERM: clean shutdown
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if remove:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- client helpers -------------------------------------------------
    def conn_params(self, dbname=None):
        """Module/engine option names for this server."""
        return {'db_type': 'mysql', 'login_host': self.host, 'login_port': self.port,
                'login_user': self.user, 'login_password': self.password, 'database': dbname}

    def connect(self, dbname=None, autocommit=True, **kw):
        import pymysql
        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=dbname, autocommit=autocommit, charset='utf8mb4', **kw)

    def execute(self, sql, args=None, dbname=None):
        conn = self.connect(dbname)
        try:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            conn.close()

    def scalar(self, sql, args=None, dbname=None):
        rows = self.execute(sql, args, dbname)
        return rows[0][0] if rows else None

    def client_env(self):
        """Environment for mariadb/mariadb-dump without the password on the command line."""
        env = dict(os.environ)
        env['MYSQL_PWD'] = self.password
        return env

    def client_args(self):
        return ['--no-defaults', '--host=%s' % self.host, '--port=%d' % self.port,
                '--user=%s' % self.user, '--protocol=TCP']

    def sql(self, sql, dbname=None, check=True):
        """Run a script (may hold DELIMITER lines) through the mariadb client; returns stdout."""
        argv = [self.client_bin] + self.client_args() + ['--batch', '--skip-column-names',
                                                         '--default-character-set=utf8mb4']
        if dbname:
            argv.append(dbname)
        p = subprocess.run(argv, input=sql, env=self.client_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, check=False)
        if check and p.returncode != 0:
            raise RuntimeError('mariadb client failed: %s' % p.stderr)
        return p.stdout

    def create_database(self, name, charset='utf8mb4', collation=None):
        sql = 'CREATE DATABASE `%s` CHARACTER SET %s' % (name.replace('`', '``'), charset)
        if collation:
            sql += ' COLLATE %s' % collation
        self.execute(sql)
