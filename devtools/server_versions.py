"""Throwaway PostgreSQL and MariaDB servers of a given version, for the server-version matrix.

    pg_server('13')  -> a PgServer of PostgreSQL 13 (bullseye chroot); '15' is this machine's
    mysql_server('11.8') -> a MySqlServer of MariaDB 11.8 (trixie chroot); '10.11' is this machine's

This machine (Debian 12) has PostgreSQL 15 and MariaDB 10.11; the others come from Debian's
other releases in chroots (devtools/debian_chroot.py), cached and rebuilt when missing. A
chroot server keeps the PgServer/MySqlServer interface: bin('pg_dump') and friends are
host-side scripts that run that release's own program inside the chroot (the oracle of a
version is that version's pg_dump), its files live under debian_chroot.SHARED (one path inside
and outside), and it listens on 127.0.0.1 for the engine and tests outside.

engine_cli(release) gives the engine's host CLI inside a chroot, run with that release's own
python3 and a venv of requirements.txt: what PostgreSQL's archive_command / restore_command and
a PITR on the database host run there. Nothing here is part of the engine.
"""
import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile

from devtools import debian_chroot
from devtools.mysql_temp import MySqlServer
from devtools.pg_temp import PgServer

ROOT = debian_chroot.ROOT
HOST_VERSIONS = {'postgresql': '15', 'mariadb': '10.11'}
PG_VERSIONS = ('13', '15', '17')
MARIADB_VERSIONS = ('10.5', '10.11', '11.8')
_acquired = {}


def release_of(kind, version):
    """The Debian release whose packages carry that server version, or None for this machine's."""
    if HOST_VERSIONS[kind] == version:
        return None
    for release, versions in debian_chroot.RELEASES.items():
        if versions[kind] == version:
            return release
    raise ValueError('no Debian release here carries %s %s (known: %s)'
                     % (kind, version, ', '.join(PG_VERSIONS if kind == 'postgresql' else MARIADB_VERSIONS)))


def chroot(release):
    """The release's chroot, built if needed and mounted for this process (released at exit)."""
    if release not in _acquired:
        _acquired[release] = debian_chroot.DebianChroot(release).acquire()
        atexit.register(_acquired[release].leave)
    return _acquired[release]


def shared_dir(prefix):
    """A new directory under SHARED (visible at the same path inside every chroot in use)."""
    os.makedirs(debian_chroot.SHARED, mode=0o1777, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=debian_chroot.SHARED)
    os.chmod(path, 0o755)
    return path


class ChrootPgServer(PgServer):
    """A PostgreSQL server of another major version, running in a Debian chroot."""

    def __init__(self, version, extra_conf=None):
        self.chroot = chroot(release_of('postgresql', version))
        self.version = version
        inside_bin = '/usr/lib/postgresql/%s/bin' % version
        names = sorted(os.listdir(os.path.join(self.chroot.root, inside_bin.lstrip('/'))))
        base = shared_dir('pg%s-' % version)
        wrappers = self.chroot.wrappers(os.path.join(base, 'bin'), inside_bin, names, user='postgres')
        super(ChrootPgServer, self).__init__(base_dir=base, extra_conf=extra_conf, pg_bin=wrappers)

    def postgres_argv(self, argv):
        return list(argv)        # the wrappers already run as the chroot's postgres user

    def _chown(self, path):
        os.chown(path, *self.chroot.ids('postgres'))


class ChrootMySqlServer(MySqlServer):
    """A MariaDB server of another version, running in a Debian chroot."""

    def __init__(self, version, **kw):
        self.chroot = chroot(release_of('mariadb', version))
        self.version = version
        base = shared_dir('my%s-' % version)
        super(ChrootMySqlServer, self).__init__(base_dir=base, **kw)
        self.os_user = 'mysql'
        wrappers = os.path.join(base, 'bin')
        self.chroot.wrappers(wrappers, '/usr/bin', ['mariadb', 'mariadb-dump', 'mariadb-binlog'])
        self.client_bin = os.path.join(wrappers, 'mariadb')
        self.tool_dir = wrappers
        self.server_bin = '/usr/sbin/mariadbd'
        self.install_bin = '/usr/bin/mariadb-install-db'

    def _chown(self, path):
        os.chown(path, *self.chroot.ids('mysql'))

    def _server_args(self):
        return self.chroot.argv(super(ChrootMySqlServer, self)._server_args())

    def init(self):
        os.chmod(self.base, 0o755)
        self._chown(self.base)
        argv = self.chroot.argv([self.install_bin, '--no-defaults', '--datadir=%s' % self.datadir,
                                 '--user=mysql', '--auth-root-authentication-method=normal', '--skip-test-db'])
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if p.returncode != 0:
            raise RuntimeError('mariadb-install-db failed:\n%s' % p.stdout[-3000:])
        return self


def pg_server(version, **kw):
    """A (not yet started) PostgreSQL server of major `version`."""
    if release_of('postgresql', version) is None:
        return PgServer(**kw)
    return ChrootPgServer(version, **kw)


def mysql_server(version, **kw):
    """A (not yet started) MariaDB server of `version`."""
    if release_of('mariadb', version) is None:
        server = MySqlServer(**kw)
        server.version = version
        server.tool_dir = None
        return server
    return ChrootMySqlServer(version, **kw)


def mysql_tool(server, name):
    """Path of a client program (mariadb-dump, mariadb-binlog) of the server's own version."""
    if getattr(server, 'tool_dir', None):
        return os.path.join(server.tool_dir, name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError('%s not found; install mariadb-client' % name)
    return found


class EngineCli(object):
    """The engine's host CLI inside a chroot: .argv(args) to run it, .launcher for archive_command.

    The engine package is copied under SHARED (readable by the chroot's postgres and mysql
    users), so its path is the same inside and outside.
    """

    def __init__(self, release):
        self.chroot = chroot(release)
        src = os.path.join(ROOT, 'plugins')
        digest = hashlib.sha256()
        for dirpath, dirnames, filenames in sorted(os.walk(src)):
            dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
            for name in sorted(filenames):
                if name.endswith('.py'):
                    with open(os.path.join(dirpath, name), 'rb') as f:
                        digest.update(name.encode() + f.read())
        self.dir = os.path.join(debian_chroot.SHARED, 'engine-%s-%s' % (release, digest.hexdigest()[:12]))
        if not os.path.isdir(self.dir):
            tmp = shared_dir('engine-')
            shutil.copytree(src, os.path.join(tmp, 'plugins'), ignore=shutil.ignore_patterns('__pycache__'))
            subprocess.run(['chmod', '-R', 'a+rX', tmp], check=True)
            try:
                os.rename(tmp, self.dir)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)     # another process made the same copy
        self.python = debian_chroot.VENV + '/bin/python'
        self.launcher = os.path.join(self.dir, 'dbbackup')
        if not os.path.exists(self.launcher):
            with open(self.launcher + '.tmp', 'w') as f:
                f.write('#!/bin/sh\nPYTHONPATH=%s exec %s -s -B -m plugins.module_utils.cli "$@"\n'
                        % (self.dir, self.python))
            os.chmod(self.launcher + '.tmp', 0o755)
            os.rename(self.launcher + '.tmp', self.launcher)

    def argv(self, args, user=None):
        return self.chroot.argv([self.launcher] + list(args), user=user)

    def run(self, args, env=None, user=None, check=True):
        p = subprocess.run(self.argv(args, user=user), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, check=False, cwd='/')
        if check and p.returncode != 0:
            raise RuntimeError('dbbackup %s in the %s chroot failed (exit %d): %s%s'
                               % (args[0], self.chroot.release, p.returncode, p.stderr, p.stdout[-2000:]))
        return p

    def api(self, function, params, user=None):
        """api.<function>(params) run by the engine inside the chroot; params go on stdin (passwords
        never on a command line). Returns the result dict, or raises RuntimeError with the engine's
        one-line message."""
        import json
        code = ('import json, sys\n'
                'from plugins.module_utils import api\n'
                'from plugins.module_utils.common.errors import DbBackupError\n'
                'try:\n'
                '    result = getattr(api, sys.argv[1])(json.load(sys.stdin))\n'
                'except DbBackupError as e:\n'
                '    sys.stderr.write(str(e))\n'
                '    sys.exit(1)\n'
                'json.dump(result, sys.stdout)\n')
        argv = self.chroot.argv(['env', 'PYTHONPATH=%s' % self.dir, self.python, '-s', '-B', '-c', code, function],
                                user=user)
        p = subprocess.run(argv, input=json.dumps(params), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, check=False, cwd='/')
        if p.returncode != 0:
            raise RuntimeError('%s in the %s chroot failed: %s'
                               % (function, self.chroot.release, p.stderr.strip()[-3000:]))
        return json.loads(p.stdout)
