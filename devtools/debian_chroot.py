"""Debian root file systems of other releases, for servers this machine's packages do not have.

No container engine here: other PostgreSQL and MariaDB versions come from Debian's other
releases (bullseye: PostgreSQL 13, MariaDB 10.5; trixie: PostgreSQL 17, MariaDB 11.8),
installed with debootstrap into a cached directory and run with chroot. The chroot shares
the network namespace, so a server inside listening on 127.0.0.1 is reached from outside.

    python -m devtools.debian_chroot ensure bullseye trixie   # build what is missing (CI step)
    python -m devtools.debian_chroot status
    python -m devtools.debian_chroot remove trixie

A chroot is rebuilt when missing or when its recipe (release, packages, requirements.txt)
changed; building one takes about two minutes. The version matrix uses one tree per release
(named after it, with the engine's venv); other users (the SSH fleet, devtools/fleet.py) name
their own trees and choose packages and set-up commands, and leave the engine venv out. SHARED is bind-mounted at the same path in
every chroot in use, so data directories, sockets and repositories have one path inside and
outside (the engine outside reads a data directory the server inside writes). Mounts are
counted per process: the last user unmounts them. Nothing here is part of the engine.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get('DBBACKUP_CHROOTS') or os.path.join(os.path.expanduser('~'), '.cache', 'dbbackup', 'chroots')
SHARED = os.environ.get('DBBACKUP_CHROOT_SHARED') or '/var/tmp/dbbackup-shared'
VENV = '/opt/dbbackup-venv'          # inside every chroot: requirements.txt for the release's python3
BASE_PACKAGES = ('ca-certificates', 'python3', 'python3-venv', 'procps', 'tzdata')
RELEASES = {
    'bullseye': {'postgresql': '13', 'mariadb': '10.5', 'python': '3.9'},
    'bookworm': {'postgresql': '15', 'mariadb': '10.11', 'python': '3.11'},
    'trixie': {'postgresql': '17', 'mariadb': '11.8', 'python': '3.13'},
}
MATRIX_RELEASES = ('bullseye', 'trixie')     # what the version matrix needs (this machine is bookworm)
SERVER_PACKAGES = {
    'bullseye': ('postgresql-13', 'mariadb-server', 'mariadb-client'),
    'bookworm': ('postgresql-15', 'mariadb-server', 'mariadb-client'),
    'trixie': ('postgresql-17', 'mariadb-server', 'mariadb-client'),
}
STAMP = '.dbbackup-chroot.json'
SPECIAL_MOUNTS = ('proc', 'sys', 'dev', 'dev/pts', 'dev/shm')


class ChrootError(RuntimeError):
    pass


def _log(msg):
    sys.stderr.write('debian_chroot: %s\n' % msg)
    sys.stderr.flush()


def mirror():
    """The Debian mirror of this machine's apt sources (deb822 or one-line format)."""
    candidates = []
    for path in ('/etc/apt/sources.list.d/debian.sources',):
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    if line.startswith('URIs:'):
                        candidates += line.split()[1:]
    for path in ('/etc/apt/sources.list',):
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[0] == 'deb':
                        candidates.append(parts[1] if not parts[1].startswith('[') else parts[2])
    for uri in candidates:
        if 'security' not in uri:
            return uri.rstrip('/')
    return 'http://deb.debian.org/debian'


def mounted_below(path):
    """Mount points at or below path (deepest first), from /proc/self/mountinfo."""
    path = os.path.realpath(path)
    found = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            point = line.split()[4].replace('\\040', ' ')
            if point == path or point.startswith(path + '/'):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _run(argv, what, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kw)
    if p.returncode != 0:
        raise ChrootError('%s failed (exit %d):\n%s' % (what, p.returncode, p.stdout[-4000:]))
    return p.stdout


def _run_in(tree, argv, what):
    """argv inside a tree being built; TMPDIR of this side (a test run's directory) does not exist there."""
    return _run(['chroot', tree, 'env', 'TMPDIR=/tmp'] + list(argv), what)


class DebianChroot(object):
    """One cached Debian release tree with its database servers and the engine's Python deps.

    DebianChroot(release) is the version matrix's tree of that release. A caller that needs a
    tree of its own names it (name=), lists its packages (packages= replaces the release's
    server packages; BASE_PACKAGES are always there), gives shell commands run inside once the
    packages are installed (setup=), and may leave the engine's venv out (engine_venv=False).
    All of these are part of the recipe: changing them rebuilds the tree.
    """

    def __init__(self, release, extra_packages=(), cache=CACHE, name=None, packages=None, setup=(),
                 engine_venv=True):
        if release not in RELEASES:
            raise ChrootError('unknown release %r (known: %s)' % (release, ', '.join(sorted(RELEASES))))
        self.release = release
        self.name = name or release
        self.versions = RELEASES[release]
        chosen = SERVER_PACKAGES[release] if packages is None else tuple(packages)
        self.packages = tuple(sorted(set(BASE_PACKAGES + chosen + tuple(extra_packages))))
        self.setup = tuple(setup)
        self.engine_venv = engine_venv
        self.cache = cache
        self.root = os.path.join(cache, self.name)
        self._users_dir = os.path.join(cache, '.users-' + self.name)

    # --- recipe and build ----------------------------------------------------------
    def recipe(self):
        recipe = {'release': self.release, 'packages': list(self.packages), 'format': 1}
        if self.engine_venv:
            with open(os.path.join(ROOT, 'requirements.txt'), 'rb') as f:
                recipe['requirements'] = hashlib.sha256(f.read()).hexdigest()
        if self.name != self.release or self.setup or not self.engine_venv:
            recipe.update(name=self.name, setup=list(self.setup), engine_venv=self.engine_venv)
        return recipe

    def built(self):
        try:
            with open(os.path.join(self.root, STAMP)) as f:
                return json.load(f) == self.recipe()
        except (OSError, ValueError):
            return False

    @contextlib.contextmanager
    def _lock(self):
        os.makedirs(self.cache, exist_ok=True)
        with open(os.path.join(self.cache, '.lock-' + self.name), 'w') as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def ensure(self, like=None):
        """Build the chroot unless an up-to-date one is cached; returns self.

        like: a built DebianChroot of the same release, packages and set-up under another name; it
        is copied instead of bootstrapped (seconds instead of minutes) when nothing is mounted in it.
        """
        if os.geteuid() != 0:
            raise ChrootError('building and using Debian chroots needs root (debootstrap, mount, chroot).')
        with self._lock():
            if not self.built():
                if like is not None and self._same_recipe(like) and like.built() and not mounted_below(like.root):
                    self._copy(like)
                else:
                    self._build()
        return self

    def remove(self):
        """Delete the tree (refused while something is mounted in it)."""
        with self._lock():
            self._remove_tree(self.root)

    def status(self):
        return '%s: %s' % (self.name, 'ready' if self.built() else 'missing or outdated')

    def _same_recipe(self, other):
        mine, theirs = dict(self.recipe()), dict(other.recipe())
        mine.pop('name', None)
        theirs.pop('name', None)
        return mine == theirs

    def _copy(self, other):
        tmp = self.root + '.building'
        for path in (tmp, self.root):
            self._remove_tree(path)
        t0 = time.time()
        _run(['cp', '-a', '--one-file-system', other.root, tmp], 'copy of %s' % other.name)
        with open(os.path.join(tmp, STAMP), 'w') as f:
            json.dump(self.recipe(), f)
        os.rename(tmp, self.root)
        _log('built %s as a copy of %s in %.0f s' % (self.name, other.name, time.time() - t0))

    def _build(self):
        if not shutil.which('debootstrap'):
            raise ChrootError('debootstrap is missing: apt-get install debootstrap (scripts/bootstrap.sh does).')
        tmp = self.root + '.building'
        for path in (tmp, self.root):
            self._remove_tree(path)
        t0 = time.time()
        _log('building %s (%s: %s) with debootstrap from %s'
             % (self.name, self.release, ', '.join(self.packages), mirror()))
        # Two stages, so that the second (dpkg inside the tree) runs without an fsync per file: a
        # cached test tree needs no crash safety, and that halves the time on a slow disk.
        _run(['debootstrap', '--foreign', '--variant=minbase', '--include=ca-certificates', self.release, tmp,
              mirror()], 'debootstrap %s' % self.release)
        self._unsafe_io(tmp)
        _run_in(tmp, ['/debootstrap/debootstrap', '--second-stage'], 'debootstrap --second-stage %s' % self.release)
        t1 = time.time()
        self._configure(tmp)
        self._mount_special(tmp)
        try:
            env = 'DEBIAN_FRONTEND=noninteractive'
            _run_in(tmp, [env, 'apt-get', 'update', '-q'], 'apt-get update in %s' % self.release)
            _run_in(tmp, [env, 'apt-get', 'install', '-y', '-q', '--no-install-recommends'] + list(self.packages),
                    'apt-get install in %s' % self.release)
            _run_in(tmp, ['apt-get', 'clean'], 'apt-get clean')
            t2 = time.time()
            # Debian's own clusters/services are never used: the tests start their own servers.
            if self.engine_venv:
                shutil.copy(os.path.join(ROOT, 'requirements.txt'), os.path.join(tmp, 'tmp', 'requirements.txt'))
                _run_in(tmp, ['python3', '-m', 'venv', VENV], 'python3 -m venv in %s' % self.release)
                _run_in(tmp, [VENV + '/bin/python', '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
                              '-r', '/tmp/requirements.txt'], 'pip install -r requirements.txt in %s' % self.release)
            for command in self.setup:
                _run_in(tmp, ['sh', '-ec', command], 'set-up of %s: %s' % (self.name, command))
        finally:
            self._umount(tmp)
        with open(os.path.join(tmp, STAMP), 'w') as f:
            json.dump(self.recipe(), f)
        os.rename(tmp, self.root)
        _log('built %s in %.0f s (debootstrap %.0f s, packages %.0f s, the rest %.0f s)'
             % (self.name, time.time() - t0, t1 - t0, t2 - t1, time.time() - t2))

    @staticmethod
    def _configure(tree):
        """What the packages inside need from this machine: DNS, CA bundle (a TLS proxy may sit in
        between), apt and pip settings; and no service starts while packages install."""
        shutil.copy('/etc/resolv.conf', os.path.join(tree, 'etc', 'resolv.conf'))
        shutil.copy('/etc/ssl/certs/ca-certificates.crt', os.path.join(tree, 'etc/ssl/certs/ca-certificates.crt'))
        local_ca = '/usr/local/share/ca-certificates'
        if os.path.isdir(local_ca):
            target = os.path.join(tree, local_ca.lstrip('/'))
            os.makedirs(target, exist_ok=True)
            for name in os.listdir(local_ca):
                shutil.copy(os.path.join(local_ca, name), target)
        for name in os.listdir('/etc/apt/apt.conf.d'):
            src = os.path.join('/etc/apt/apt.conf.d', name)
            if os.path.isfile(src) and not name.startswith('docker'):
                shutil.copy(src, os.path.join(tree, 'etc/apt/apt.conf.d', name))
        if os.path.exists('/etc/pip.conf'):
            shutil.copy('/etc/pip.conf', os.path.join(tree, 'etc', 'pip.conf'))
        policy = os.path.join(tree, 'usr/sbin/policy-rc.d')
        with open(policy, 'w') as f:
            f.write('#!/bin/sh\n# dbbackup test chroot: packages never start services\nexit 101\n')
        os.chmod(policy, 0o755)
        conf = os.path.join(tree, 'etc/postgresql-common/createcluster.d')
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, '50-dbbackup-tests.conf'), 'w') as f:
            f.write('create_main_cluster = false\n')

    @staticmethod
    def _unsafe_io(tree):
        """A cached test tree: dpkg need not fsync every file it unpacks (minutes on a slow disk)."""
        conf = os.path.join(tree, 'etc/dpkg/dpkg.cfg.d')
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, 'dbbackup-unsafe-io'), 'w') as f:
            f.write('# dbbackup test chroot (devtools/debian_chroot.py)\nforce-unsafe-io\n')

    def _remove_tree(self, path):
        if not os.path.lexists(path):
            return
        self._umount(path)
        if mounted_below(path):
            raise ChrootError('%s still has file systems mounted below it; not removing it.' % path)
        _run(['rm', '-rf', '--one-file-system', path], 'rm -rf %s' % path)

    # --- mounts --------------------------------------------------------------------
    @staticmethod
    def _mount_special(tree):
        def mount(argv, point):
            os.makedirs(os.path.join(tree, point), exist_ok=True)
            if os.path.join(os.path.realpath(tree), point) not in mounted_below(tree):
                _run(argv + [os.path.join(tree, point)], 'mount %s' % point)
        mount(['mount', '-t', 'proc', 'proc'], 'proc')
        mount(['mount', '-t', 'sysfs', 'sysfs'], 'sys')
        mount(['mount', '--bind', '/dev'], 'dev')
        mount(['mount', '-t', 'devpts', '-o', 'newinstance,ptmxmode=0666', 'devpts'], 'dev/pts')
        mount(['mount', '-t', 'tmpfs', '-o', 'mode=1777', 'shm'], 'dev/shm')

    @staticmethod
    def _umount(tree):
        for point in mounted_below(tree):
            if os.path.realpath(point) != os.path.realpath(tree):
                subprocess.run(['umount', '-l', point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=False)

    def acquire(self):
        """Mount what servers inside need (proc, sys, dev, SHARED at its own path); counted per pid (leave() undoes it)."""
        self.ensure()
        with self._lock():
            os.makedirs(self._users_dir, exist_ok=True)
            with open(os.path.join(self._users_dir, str(os.getpid())), 'w'):
                pass
            self._mount_special(self.root)
            os.makedirs(SHARED, mode=0o1777, exist_ok=True)
            os.chmod(SHARED, 0o1777)
            inside = os.path.join(self.root, SHARED.lstrip('/'))
            os.makedirs(inside, exist_ok=True)
            if os.path.realpath(inside) not in mounted_below(self.root):
                _run(['mount', '--bind', SHARED, inside], 'bind-mount %s' % SHARED)
        return self

    def leave(self):
        """Drop this process's use; the last user unmounts everything below the chroot."""
        with self._lock():
            try:
                os.unlink(os.path.join(self._users_dir, str(os.getpid())))
            except OSError:
                pass
            if not self._live_users():
                self._umount(self.root)

    def release_if_unused(self, before_unmount=None):
        """What a killed run leaves (devtools/sweep.py): when no live process uses the tree, call
        before_unmount(self) (to stop what still runs inside) and unmount everything below it.
        Returns whether it was unused."""
        if not os.path.isdir(self.root):
            return False
        with self._lock():
            if self._live_users():
                return False
            if before_unmount is not None:
                before_unmount(self)
            self._umount(self.root)
            return True

    def _live_users(self):
        live = []
        for name in os.listdir(self._users_dir) if os.path.isdir(self._users_dir) else ():
            try:
                os.kill(int(name), 0)
                live.append(name)
            except (ValueError, OSError):
                try:
                    os.unlink(os.path.join(self._users_dir, name))
                except OSError:
                    pass
        return live

    # --- running things inside ------------------------------------------------------
    def ids(self, user):
        """(uid, gid) of a user of the chroot (its own /etc/passwd, not this machine's)."""
        with open(os.path.join(self.root, 'etc', 'passwd')) as f:
            for line in f:
                parts = line.split(':')
                if parts[0] == user:
                    return int(parts[2]), int(parts[3])
        raise ChrootError('no user %s in the %s chroot' % (user, self.name))

    def argv(self, argv, user=None):
        """argv prefixed to run inside the chroot (as `user` of the chroot when given)."""
        prefix = ['chroot']
        if user:
            uid, gid = self.ids(user)
            prefix.append('--userspec=%d:%d' % (uid, gid))
        # TMPDIR of this side (a test run's directory) does not exist inside: the chroot's own /tmp
        return prefix + [self.root, 'env', 'LC_ALL=C.UTF-8', 'LANG=C.UTF-8', 'TMPDIR=/tmp'] + list(argv)

    def run(self, argv, user=None, check=True, **kw):
        return subprocess.run(self.argv(argv, user), check=check, **kw)

    def wrappers(self, directory, inside_dir, names, user=None):
        """Write host-side scripts in `directory` that run inside_dir/<name> in the chroot (as user).

        Callers keep using paths (server.bin('pg_dump')) and the environment passes through.
        """
        os.makedirs(directory, exist_ok=True)
        for name in names:
            path = os.path.join(directory, name)
            with open(path, 'w') as f:
                f.write('#!/bin/sh\n# %s of the %s chroot (devtools/debian_chroot.py)\n' % (name, self.name))
                f.write('exec %s "$@"\n' % ' '.join(self.argv([os.path.join(inside_dir, name)], user)))
            os.chmod(path, 0o755)
        return directory


def main(argv):
    if len(argv) < 1 or argv[0] not in ('ensure', 'status', 'remove'):
        sys.stderr.write(__doc__)
        return 2
    releases = argv[1:] or list(MATRIX_RELEASES)
    for release in releases:
        chroot = DebianChroot(release)
        if argv[0] == 'ensure':
            t0 = time.time()
            chroot.ensure()
            print('%s: ready at %s (%.0f s)' % (release, chroot.root, time.time() - t0))
        elif argv[0] == 'status':
            print(chroot.status())
        else:
            chroot.remove()
            print('%s: removed' % release)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except ChrootError as e:
        sys.stderr.write('debian_chroot: %s\n' % e)
        sys.exit(1)
