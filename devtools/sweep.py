"""Stop what a test run left behind: servers, scratch directories, chroot mounts.

scripts/test.sh gives every step a run directory of its own (TMPDIR), so every throwaway
server's data directory lives below it (tempfile, pytest's tmp_path). A step killed by its
time limit, or a crashed pytest, can leave servers running there; on any exit test.sh runs

    python -m devtools.sweep DIR [DIR ...]

which stops every process whose command line names one of the directories (postgres,
mariadbd, moto, pg_ctl: SIGTERM, then SIGKILL after a grace period), removes the
directories, and unmounts Debian chroots nobody uses any more (stopping what still runs in the
SSH fleet's hosts: sshd and their servers). It prints what it stopped.
"""
import os
import shutil
import signal
import sys
import time

GRACE = 15.0


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return None


def processes_under(directories):
    """{pid: command line} of processes (not this one, nor its parents) naming one of the directories."""
    mine = set()
    pid = os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            with open('/proc/%d/stat' % pid) as f:
                pid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) in mine:
            continue
        cmd = _cmdline(int(name))
        if cmd and any(d and d in cmd for d in directories):
            found[int(name)] = cmd
    return found


def stop(directories, grace=GRACE):
    found = processes_under(directories)
    for pid in found:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + grace
    while time.time() < deadline and any(_cmdline(pid) is not None for pid in found):
        time.sleep(0.2)
    for pid in found:
        if _cmdline(pid) is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return found


def main(argv):
    directories = [os.path.realpath(d) for d in argv if d]
    if not directories:
        sys.stderr.write('usage: python -m devtools.sweep DIR [DIR ...]\n')
        return 2
    found = stop(directories)
    if found:
        print('sweep: stopped %d process(es) a test run left running:' % len(found))
        for pid, cmd in sorted(found.items()):
            print('  %d %s' % (pid, cmd[:160]))
    for d in directories:
        if os.path.isdir(d):
            shutil.rmtree(d, ignore_errors=True)
    try:
        from devtools import debian_chroot, fleet_hosts
        for release in debian_chroot.RELEASES:
            debian_chroot.DebianChroot(release).release_if_unused()
        for name in fleet_hosts.sweep():
            print('sweep: stopped the fleet host %s a test run left running' % name)
    except Exception as e:       # never hide the run's own result behind the sweep
        print('sweep: could not check the chroot mounts: %s' % e)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
