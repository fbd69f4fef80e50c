"""Managed nodes for the SSH fleet test: Debian root file systems with their own sshd and servers.

Each host is a Debian tree of its own (devtools/debian_chroot.py, cached; rebuilt when missing
or when its recipe changes) with openssh-server, sudo, python3 and the database servers of its
release, and a login user `ops` (uid 2000 on every host, passwordless sudo, like a deploy user).
At start a host gets a fresh configuration: the controller's public key, an sshd listening
only on the host's own loopback address (127.0.0.11, 127.0.0.12, ...) on a free port, and new
database clusters made and started the Debian way (pg_createcluster / pg_ctlcluster, MariaDB's
init script), listening on that address too. No systemd runs (nor is PID 1 here): services are
started by their Debian scripts, which fall back to direct control when systemd is absent.

    python -m devtools.fleet_hosts ensure     # build the host trees that are missing (CI step)
    python -m devtools.fleet_hosts status
    python -m devtools.fleet_hosts remove

What stays between runs: the trees, with whatever the roles installed into them (the agent's
virtualenv, node_exporter), so a warm run needs no package index. What a start resets: the role
outputs besides the virtualenv (engine, launcher, config, units), the database clusters, and
the host's key and sshd configuration. Nothing here is part of the engine.
"""
import concurrent.futures
import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

from devtools.debian_chroot import CACHE, ChrootError, DebianChroot, mounted_below

LOGIN_USER = 'ops'
LOGIN_UID = 2000
# Run once inside a new tree, after its packages are installed (part of the tree's recipe).
SETUP = (
    'useradd --create-home --shell /bin/bash --uid %d --user-group %s' % (LOGIN_UID, LOGIN_USER),
    "usermod -p '*' %s" % LOGIN_USER,                      # no password, but not a locked account
    "printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/%s && chmod 0440 /etc/sudoers.d/%s"
    % (LOGIN_USER, LOGIN_USER, LOGIN_USER),
    'install -d -m 0700 -o %s -g %s /home/%s/.ssh' % (LOGIN_USER, LOGIN_USER, LOGIN_USER),
    'ssh-keygen -A',
)
HOST_PACKAGES = ('openssh-server', 'sudo', 'python3-apt', 'systemd')
# Outputs of the roles removed at every start, so each run installs for real; the agent's
# virtualenv (/opt/dbbackup/venv) stays: it is the per-host cache of the package index.
ROLE_OUTPUTS = ('/opt/dbbackup/lib', '/opt/dbbackup/engine.tar.gz', '/opt/dbbackup/requirements.txt',
                '/usr/local/bin/dbbackup', '/etc/dbbackup', '/var/lib/dbbackup', '/var/tmp/dbbackup-drill',
                '/etc/default/prometheus-node-exporter', '/var/lib/prometheus/node-exporter')
UNIT_GLOB_DIR = '/etc/systemd/system'


class HostSpec(object):
    """One managed node: inventory name, Debian release, loopback address, servers."""

    def __init__(self, name, release, address, postgresql, mariadb=None):
        self.name, self.release, self.address = name, release, address
        self.postgresql, self.mariadb = postgresql, mariadb

    def tree(self):
        packages = ['postgresql-%s' % self.postgresql] + (['mariadb-server', 'mariadb-client'] if self.mariadb else [])
        return DebianChroot(self.release, name='fleet-' + self.name, packages=tuple(packages) + HOST_PACKAGES,
                            setup=SETUP, engine_venv=False)


HOSTS = (
    HostSpec('db-bookworm', 'bookworm', '127.0.0.11', postgresql='15'),
    HostSpec('db-trixie', 'trixie', '127.0.0.12', postgresql='17'),
    HostSpec('db-bullseye', 'bullseye', '127.0.0.13', postgresql='13', mariadb='10.5'),
    HostSpec('db-broken', 'bookworm', '127.0.0.14', postgresql='15'),
)


def free_port(address):
    s = socket.socket()
    try:
        s.bind((address, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def ensure_trees(specs=HOSTS, workers=2):
    """Build the missing trees, two at a time (downloads and dpkg overlap on two cores); a host of
    the same recipe as an earlier one (db-broken: db-bookworm's) is then copied from it."""
    first, copies = {}, []
    for spec in specs:
        key = (spec.release, spec.postgresql, spec.mariadb)
        if key in first:
            copies.append((spec, first[key]))
        else:
            first[key] = spec
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(spec.tree().ensure) for spec in first.values()]:
            future.result()
    for spec, model in copies:
        spec.tree().ensure(like=model.tree())


@contextlib.contextmanager
def fleet_lock():
    """One fleet at a time on a machine (the hosts' trees, addresses and processes are shared)."""
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, '.lock-fleet'), 'w') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            sys.stderr.write('fleet_hosts: waiting for another fleet run on this machine\n')
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def sweep():
    """Stop and unmount the hosts no live run uses (after a killed run); returns their names."""
    stopped = []
    for spec in HOSTS:
        def stop_inside(tree, name=spec.name):
            if _processes_in(tree.root):
                _stop_processes_in(tree.root)
                stopped.append(name)
        spec.tree().release_if_unused(stop_inside)
    return stopped


def _processes_in(root):
    """pids of processes whose root directory is this tree (a previous run's leftovers)."""
    root = os.path.realpath(root)
    found = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                if os.readlink('/proc/%s/root' % name) == root:
                    found.append(int(name))
            except OSError:
                pass
    return found


def _stop_processes_in(root, timeout=15):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _processes_in(root):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + timeout
        while _processes_in(root) and time.time() < deadline:
            time.sleep(0.2)
        if not _processes_in(root):
            return


class FleetHost(object):
    """A started managed node: sshd and its database servers inside its own tree."""

    def __init__(self, spec, workdir):
        self.spec = spec
        self.name, self.address = spec.name, spec.address
        self.chroot = spec.tree()
        self.root = self.chroot.root
        self.workdir = os.path.join(workdir, spec.name)
        os.makedirs(self.workdir, exist_ok=True)
        self.ssh_port = None
        self.sshd = None
        self.pg_port = self.mariadb_port = None
        self.pg_password = secrets.token_urlsafe(18)
        self.mariadb_password = secrets.token_urlsafe(18)
        self.host_key = None

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip('/'))

    def run(self, argv, user=None, check=True, **kw):
        """argv inside the host (as root, or as a user of the host)."""
        kw.setdefault('stdout', subprocess.PIPE)
        kw.setdefault('stderr', subprocess.STDOUT)
        p = subprocess.run(self.chroot.argv(argv, user), text=True, check=False, cwd='/', **kw)
        if check and p.returncode != 0:
            raise ChrootError('%s on %s failed (exit %d):\n%s'
                              % (' '.join(argv), self.name, p.returncode, (p.stdout or '')[-3000:]))
        return p

    # --- start / stop ----------------------------------------------------------------
    def start(self, public_key):
        self.chroot.acquire()
        self._mount_cgroups()
        _stop_processes_in(self.root)
        self._reset_role_outputs()
        self._authorize(public_key)
        self._start_postgresql()
        if self.spec.mariadb:
            self._start_mariadb()
        self._start_sshd()
        return self

    def stop(self):
        if self.spec.mariadb:
            self.run(['/etc/init.d/mariadb', 'stop'], check=False)
        self.run(['pg_ctlcluster', self.spec.postgresql, 'main', 'stop', '-m', 'fast'], check=False)
        if self.sshd is not None:
            self.sshd.terminate()
            try:
                self.sshd.wait(10)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait()
        _stop_processes_in(self.root)     # sessions, scratch servers a failed drill left
        self.chroot.leave()

    def _mount_cgroups(self):
        """The machine's cgroup file systems at /sys/fs/cgroup: systemd-analyze verify (the schedule
        role) of bullseye's systemd 247 cannot start without them (a fresh sysfs has none)."""
        inside = self.path('/sys/fs/cgroup')
        if os.path.isdir('/sys/fs/cgroup') and os.path.realpath(inside) not in mounted_below(self.root):
            os.makedirs(inside, exist_ok=True)
            subprocess.run(['mount', '--rbind', '/sys/fs/cgroup', inside], check=True)

    def _reset_role_outputs(self):
        for inside in ROLE_OUTPUTS:
            path = self.path(inside)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
        units = self.path(UNIT_GLOB_DIR)
        for name in os.listdir(units) if os.path.isdir(units) else ():
            if name.startswith('dbbackup-'):
                os.unlink(os.path.join(units, name))

    def _authorize(self, public_key):
        ssh_dir = self.path('/home/%s/.ssh' % LOGIN_USER)
        keys = os.path.join(ssh_dir, 'authorized_keys')
        with open(keys, 'w') as f:
            f.write(public_key.strip() + '\n')
        os.chmod(keys, 0o600)
        os.chown(keys, LOGIN_UID, LOGIN_UID)
        with open(self.path('/etc/ssh/ssh_host_ed25519_key.pub')) as f:
            self.host_key = ' '.join(f.read().split()[:2])

    def _start_sshd(self):
        self.ssh_port = free_port(self.address)
        config = self.path('/etc/ssh/sshd_config_fleet')
        with open(config, 'w') as f:
            f.write('\n'.join([
                '# devtools/fleet_hosts.py: this host listens on its own loopback address only',
                'ListenAddress %s:%d' % (self.address, self.ssh_port),
                'HostKey /etc/ssh/ssh_host_ed25519_key',
                'PubkeyAuthentication yes',
                'AuthorizedKeysFile .ssh/authorized_keys',
                'PasswordAuthentication no',
                'KbdInteractiveAuthentication no',
                'PermitRootLogin no',
                'AllowUsers %s' % LOGIN_USER,
                'UsePAM no',                      # no PAM session (pam_loginuid cannot work in a chroot)
                'MaxStartups 30',
                'MaxSessions 30',
                'Subsystem sftp /usr/lib/openssh/sftp-server',
                'PidFile /run/sshd-fleet.pid', '']))
        os.makedirs(self.path('/run/sshd'), mode=0o755, exist_ok=True)
        log = open(os.path.join(self.workdir, 'sshd.log'), 'ab')
        self.sshd = subprocess.Popen(self.chroot.argv(['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config_fleet']),
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd='/')
        log.close()
        _wait_listening(self.address, self.ssh_port, 'sshd of %s' % self.name, self.sshd,
                        os.path.join(self.workdir, 'sshd.log'))

    def _start_postgresql(self):
        version = self.spec.postgresql
        self.run(['pg_dropcluster', '--stop', version, 'main'], check=False)
        self.pg_port = free_port(self.address)
        self.run(['pg_createcluster', version, 'main', '--port', str(self.pg_port), '--',
                  '--auth-local=peer', '--auth-host=scram-sha-256'])
        with open(self.path('/etc/postgresql/%s/main/conf.d/50-fleet.conf' % version), 'w') as f:
            f.write("# devtools/fleet_hosts.py\nlisten_addresses = '%s'\nmax_connections = 40\n"
                    "shared_buffers = '32MB'\n" % self.address)
        with open(self.path('/etc/postgresql/%s/main/pg_hba.conf' % version), 'a') as f:
            f.write('# devtools/fleet_hosts.py: the hosts reach each other only on loopback\n'
                    'host all all 127.0.0.0/8 scram-sha-256\n')
        self.run(['pg_ctlcluster', version, 'main', 'start'])
        self.psql("ALTER ROLE postgres PASSWORD '%s'" % self.pg_password)

    def psql(self, sql, database='postgres'):
        """SQL as the host's postgres user over its socket (set-up and checks)."""
        return self.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql],
                        user='postgres').stdout

    def psql_value(self, sql, database='postgres'):
        return self.run(['psql', '-X', '-A', '-t', '-d', database, '-c', sql], user='postgres').stdout.strip()

    def write_file(self, inside, text, user, mode=0o600):
        """A file of `user` (and its missing parent directories) inside the host."""
        uid, gid = self.chroot.ids(user)
        path = self.path(inside)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700)
            os.chown(parent, uid, gid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.chown(path, uid, gid)
        return path

    def _start_mariadb(self):
        self.run(['/etc/init.d/mariadb', 'stop'], check=False)
        datadir = self.path('/var/lib/mysql')
        if os.path.isdir(datadir):
            shutil.rmtree(datadir)
        os.makedirs(datadir)
        os.chown(datadir, *self.chroot.ids('mysql'))
        self.run(['mysql_install_db', '--user=mysql', '--datadir=/var/lib/mysql', '--skip-test-db'])
        self.mariadb_port = free_port(self.address)
        with open(self.path('/etc/mysql/mariadb.conf.d/90-fleet.cnf'), 'w') as f:
            f.write('# devtools/fleet_hosts.py\n[mysqld]\nbind-address = %s\nport = %d\n'
                    'innodb_buffer_pool_size = 64M\nlog_bin = /var/lib/mysql/binlog\nserver_id = 13\n'
                    % (self.address, self.mariadb_port))
        self.run(['/etc/init.d/mariadb', 'start'])
        self.mysql("CREATE USER 'backup'@'%%' IDENTIFIED BY '%s'; GRANT ALL PRIVILEGES ON *.* TO 'backup'@'%%' "
                   "WITH GRANT OPTION;" % self.mariadb_password)

    def mysql(self, sql, database=None):
        """SQL as MariaDB's root over its socket (set-up and checks)."""
        return self.run(['mysql', '-N', '-B'] + ([database] if database else []) + ['-e', sql]).stdout


def _wait_listening(address, port, what, proc, logfile, timeout=30):
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise ChrootError('%s exited (status %s):\n%s' % (what, proc.returncode, _tail(logfile)))
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise ChrootError('%s did not listen on %s:%d within %d s:\n%s'
                                  % (what, address, port, timeout, _tail(logfile)))
            time.sleep(0.1)


def _tail(path, size=3000):
    try:
        with open(path, 'rb') as f:
            return f.read()[-size:].decode('utf-8', 'replace')
    except OSError:
        return ''


def main(argv):
    if len(argv) != 1 or argv[0] not in ('ensure', 'status', 'remove'):
        sys.stderr.write(__doc__)
        return 2
    if argv[0] == 'ensure':
        t0 = time.time()
        ensure_trees()
        print('fleet host trees ready (%.0f s): %s' % (time.time() - t0, ', '.join(s.tree().root for s in HOSTS)))
        return 0
    for spec in HOSTS:
        if argv[0] == 'status':
            print(spec.tree().status())
        else:
            spec.tree().remove()
            print('%s: removed' % spec.name)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except ChrootError as e:
        sys.stderr.write('fleet_hosts: %s\n' % e)
        sys.exit(1)
