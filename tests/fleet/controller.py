"""The Ansible controller of the fleet test: its SSH key, known_hosts, ansible.cfg and inventory.

The controller is the test venv's ansible-core. It reaches every managed node over SSH as the
login user `ops` with an ed25519 key generated for this run, checks host keys against a
known_hosts file made from the hosts' own public keys (no host-key checking is switched off),
and runs with one fork per host and pipelining on (modules then run as an unprivileged become
user without temporary files, which otherwise needs setfacl on the hosts). docs/fleet.md shows
the same ansible.cfg and inventory.
"""
import json
import os
import re
import subprocess
import time

from devtools.drill import ansible_env, ansible_playbook_bin, collection_dir
from devtools.fleet_hosts import LOGIN_USER

AGENT_PYTHON = '/opt/dbbackup/venv/bin/python'     # the agent role's venv: what docs/fleet.md tells users to set


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    return path


class Controller(object):
    def __init__(self, workdir):
        self.workdir = workdir
        self.key = os.path.join(workdir, 'id_ed25519')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'dbbackup-fleet-test', '-f', self.key],
                       check=True)
        with open(self.key + '.pub') as f:
            self.public_key = f.read()
        self.known_hosts = os.path.join(workdir, 'known_hosts')
        self.control_dir = os.path.join(workdir, 'cp')
        os.makedirs(self.control_dir, mode=0o700)
        self.collections = collection_dir(os.path.join(workdir, 'collections'))
        self.config = os.path.join(workdir, 'ansible.cfg')
        self.inventory = os.path.join(workdir, 'inventory.json')
        self.forks = 0
        self.runs = 0

    def configure(self, hosts):
        """known_hosts and ansible.cfg for these started hosts (fleet_hosts.FleetHost)."""
        with open(self.known_hosts, 'w') as f:
            for host in hosts:
                f.write('[%s]:%d %s\n' % (host.address, host.ssh_port, host.host_key))
        self.forks = len(hosts)
        with open(self.config, 'w') as f:
            f.write('\n'.join([
                '[defaults]',
                'forks = %d' % self.forks,
                'host_key_checking = True',
                'nocolor = True',
                'retry_files_enabled = False',
                '[ssh_connection]',
                'pipelining = True',
                'control_path_dir = %s' % self.control_dir,
                'ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes '
                '-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes' % self.known_hosts, '']))

    def write_inventory(self, inventory):
        write_private(self.inventory, json.dumps(inventory, indent=1, sort_keys=True))

    def host_vars(self, host):
        """The connection variables of one managed node."""
        return {'ansible_host': host.address, 'ansible_port': host.ssh_port, 'ansible_user': LOGIN_USER,
                'ansible_ssh_private_key_file': self.key}

    def playbook(self, playbook, extra_vars=None, limit=None, check=False, timeout=1200):
        """ansible-playbook against the fleet inventory; (returncode, output). Extra vars go through
        a 0600 file, never argv; the output is also kept in the work directory."""
        self.runs += 1
        argv = [ansible_playbook_bin(), '-i', self.inventory, '--forks', str(self.forks)] + (['--check'] if check else [])
        if extra_vars:
            path = os.path.join(self.workdir, 'extra-%d.json' % self.runs)
            argv += ['-e', '@' + write_private(path, json.dumps(extra_vars))]
        if limit:
            argv += ['--limit', limit]
        argv += [playbook[0], '--tags', playbook[1]] if isinstance(playbook, tuple) else [playbook]
        env = ansible_env(self.collections)
        env.pop('ANSIBLE_HOST_KEY_CHECKING', None)          # the cfg checks host keys
        env['ANSIBLE_CONFIG'] = self.config
        t0 = time.time()
        p = subprocess.run(argv, env=env, cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout, check=False)
        name = os.path.basename(playbook[0] if isinstance(playbook, tuple) else playbook)
        with open(os.path.join(self.workdir, 'run-%02d-%s.log' % (self.runs, name)), 'w') as f:
            f.write('$ %s\n(%.1f s, exit %d)\n%s' % (' '.join(argv), time.time() - t0, p.returncode, p.stdout))
        return p.returncode, p.stdout


def recap(out):
    """{host: {ok: n, changed: n, failed: n, unreachable: n, ...}} from the PLAY RECAP."""
    hosts = {}
    for m in re.finditer(r'^([\w.-]+)\s+:\s+(ok=.*)$', out, re.M):
        hosts[m.group(1)] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2)))
    return hosts
