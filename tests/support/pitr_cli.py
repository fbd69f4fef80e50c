"""The checkout's host CLI as the postgres OS user runs it (archive_command / restore_command).

PostgreSQL runs archive_command and restore_command as its own OS user. The test
venv's python may live where that user cannot go (a pyenv under /root, mode 0700):
then the launcher runs the system python3 of the same major.minor version with a
hard-linked copy of the venv's site-packages (no bytes copied; same file system) on
PYTHONPATH (a plain copy when /tmp is another file system). The checkout itself may
be unreadable for postgres too (a clone under /root): then the engine package
(plugins/) is copied next to the launcher. The launcher, the copies and the config
files it is given live in a directory the postgres user can read.
"""
import os
import pwd
import shutil
import site
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMPORT_CHECK = 'import zstandard, cryptography, boto3'


def _chown_postgres(path):
    if os.geteuid() == 0:
        pw = pwd.getpwnam('postgres')
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _as_postgres(argv):
    return (['runuser', '-u', 'postgres', '--'] + argv) if os.geteuid() == 0 else argv


def _works_as_postgres(python, pythonpath):
    env = dict(os.environ, PYTHONPATH=pythonpath)
    proc = subprocess.run(_as_postgres([python, '-s', '-c', IMPORT_CHECK + '; import plugins.module_utils.cli']),
                          env=env, cwd='/', stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    return proc.returncode == 0


class PostgresCli(object):
    """make() -> self; .launcher(name, env) -> path of a shell script; .write_config(name, values) -> path."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='dbbackup-pgcli-')
        os.chmod(self.dir, 0o755)
        self.python = None
        self.pythonpath = ROOT

    def make(self):
        root = ROOT
        if not _works_as_postgres(sys.executable, root):
            root = os.path.join(self.dir, 'engine')       # the checkout may be out of postgres' reach
            os.makedirs(root)
            shutil.copytree(os.path.join(ROOT, 'plugins'), os.path.join(root, 'plugins'),
                            ignore=shutil.ignore_patterns('__pycache__'))
            subprocess.run(['chmod', '-R', 'a+rX', root], check=True)
        self.pythonpath = root
        if _works_as_postgres(sys.executable, root):
            self.python = sys.executable
            return self
        system = '/usr/bin/python%d.%d' % sys.version_info[:2]
        if not os.path.exists(system):
            raise RuntimeError('the postgres user cannot run %s and there is no %s to run the CLI with'
                               % (sys.executable, system))
        linked = os.path.join(self.dir, 'site-packages')
        src = [d for d in site.getsitepackages() if os.path.isdir(d)][0]
        if subprocess.run(['cp', '-al', src, linked], check=False, stderr=subprocess.DEVNULL).returncode != 0:
            shutil.rmtree(linked, ignore_errors=True)     # another file system: copy the bytes
            subprocess.run(['cp', '-a', src, linked], check=True)
        self.python = system
        self.pythonpath = '%s:%s' % (root, linked)
        if not _works_as_postgres(system, self.pythonpath):
            raise RuntimeError('the postgres user cannot import the CLI with %s and %s' % (system, linked))
        return self

    def launcher(self, name='dbbackup', env=None):
        path = os.path.join(self.dir, name)
        lines = ['#!/bin/sh']
        for k, v in sorted((env or {}).items()):
            lines.append("export %s='%s'" % (k, v.replace("'", "'\\''")))
        lines.append('PYTHONPATH=%s exec %s -s -m plugins.module_utils.cli "$@"' % (self.pythonpath, self.python))
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.chmod(path, 0o700)
        _chown_postgres(path)
        return path

    def write_config(self, name, values):
        """An INI config file (section [dbbackup]) readable by postgres only."""
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write('[dbbackup]\n')
            for k, v in values.items():
                f.write('%s = %s\n' % (k, v))
        os.chmod(path, 0o600)
        _chown_postgres(path)
        return path

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_dir(prefix):
    """A new directory owned by postgres (mode 0700) outside any root-only tree."""
    path = tempfile.mkdtemp(prefix=prefix)
    _chown_postgres(path)
    return path


def scratch_parent(prefix='dbbackup-pitr-'):
    """A root-owned directory (0755) in which data directories for postgres can be created."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path
