"""The engine as it runs on a database host of a given server version.

archive_command, a base backup's reading of the data directory and a recovery's pg_ctl
all belong on the database host. For this machine's own servers that is the test venv
(tests/support/pitr_cli.py gives the postgres user a launcher); for a chroot server it is
the engine inside the chroot, with that release's python3 (devtools/server_versions.EngineCli).
Both offer: .launcher (archive_command), .api(name, params), .own(path, user) (hand a file
or directory to the server's OS user) and .scratch(prefix) (a directory the host can create
data directories in).
"""
import os
import subprocess
import tempfile

from devtools import server_versions


class HostEngine(object):
    """This machine's servers: the venv's engine; the postgres/mysql users of this machine."""

    def __init__(self):
        from tests.support.pitr_cli import PostgresCli
        self.cli = PostgresCli().make()
        self.launcher = self.cli.launcher('dbbackup')

    def api(self, name, params):
        from plugins.module_utils import api
        return getattr(api, name)(params)

    def own(self, path, user='postgres'):
        subprocess.run(['chown', '-R', '%s:%s' % (user, user), path], check=True)
        return path

    def scratch(self, prefix):
        path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(path, 0o755)
        return path

    def cleanup(self):
        self.cli.cleanup()


class ChrootEngine(object):
    """A chroot's servers: the engine inside the chroot (its python3 and venv)."""

    def __init__(self, release):
        self.engine = server_versions.EngineCli(release)
        self.launcher = self.engine.launcher
        self.chroot = self.engine.chroot

    def api(self, name, params):
        return self.engine.api(name, params)

    def own(self, path, user='postgres'):
        uid, gid = self.chroot.ids(user)
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, uid, gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), uid, gid)
        if not os.path.isdir(path):
            os.chown(path, uid, gid)
        return path

    def scratch(self, prefix):
        return server_versions.shared_dir(prefix)

    def cleanup(self):
        pass


def engine_for(kind, version):
    release = server_versions.release_of(kind, version)
    return HostEngine() if release is None else ChrootEngine(release)


def shared_tmp(prefix):
    """A directory visible at the same path on this machine and in every chroot in use."""
    return server_versions.shared_dir(prefix) if os.geteuid() == 0 else tempfile.mkdtemp(prefix=prefix)
