"""The SSH fleet: four managed nodes and a controller, started once for tests/fleet.

    db-bookworm   127.0.0.11  Debian 12, Python 3.11, PostgreSQL 15
    db-trixie     127.0.0.12  Debian 13, Python 3.13, PostgreSQL 17 (the PITR host: pitr_servers)
    db-bullseye   127.0.0.13  Debian 11, Python 3.9,  PostgreSQL 13 and MariaDB 10.5 (two servers)
    db-broken     127.0.0.14  Debian 12, Python 3.11, PostgreSQL 15; its inventory password is wrong

Each is a Debian tree of its own with its own sshd (devtools/fleet_hosts.py); the repository is
one directory under debian_chroot.SHARED, bind-mounted at the same path in every host (like an
NFS mount), plus a bucket on moto's S3 server on 127.0.0.1. Trees that are missing are built
first (a set-up failure, never a skip, when they cannot be). `bash scripts/test.sh` runs it as its
own step (SKIP_FLEET=1 leaves it out); alone: `python -m pytest tests/fleet` (as root: chroot, mount).
One fleet runs at a time on a machine (a lock); the hosts' trees stay cached between runs.
"""
import concurrent.futures
import os
import shutil

import pytest

from devtools import fleet_hosts
from devtools.drill import ROOT
from devtools.server_versions import shared_dir
from tests.fleet.controller import AGENT_PYTHON, Controller
from tests.fleet.layout import (BROKEN_HOST, MARIADB_DATABASES, MARIADB_SERVER, METRICS_DIR, PG_DATABASES,
                                PITR_HOST)
from tests.support.s3 import start_moto


class Fleet(object):
    """Started hosts, the controller, the shared repository and the S3 bucket."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.controller = Controller(workdir)
        self.hosts = {}
        self.base = shared_dir('fleet-')
        self.repository = os.path.join(self.base, 'repo')
        os.makedirs(self.repository)
        os.chmod(self.repository, 0o1777)      # each host's backup user writes its own server's subtree
        self.s3 = None
        self.bucket = 'fleet'

    def start(self):
        if os.geteuid() != 0:
            pytest.fail('the fleet test builds and enters Debian chroots: run it as root.', pytrace=False)
        try:
            fleet_hosts.ensure_trees()
        except Exception as e:
            pytest.fail('could not build the fleet host trees: %s' % e, pytrace=False)
        with concurrent.futures.ThreadPoolExecutor(len(fleet_hosts.HOSTS)) as pool:
            futures = {}
            for spec in fleet_hosts.HOSTS:
                host = fleet_hosts.FleetHost(spec, self.workdir)
                self.hosts[spec.name] = host
                futures[spec.name] = pool.submit(host.start, self.controller.public_key)
            for name, future in futures.items():
                try:
                    future.result()
                except Exception as e:
                    pytest.fail('could not start fleet host %s: %s' % (name, e), pytrace=False)
        for name, host in self.hosts.items():
            for db, rows in PG_DATABASES[name].items():
                host.psql('CREATE DATABASE %s' % db)
                host.psql('CREATE TABLE public.items (id integer PRIMARY KEY, v text NOT NULL); '
                          'INSERT INTO public.items SELECT g, md5(g::text) FROM generate_series(1, %d) g' % rows, db)
        bullseye = self.hosts['db-bullseye']
        for db, rows in MARIADB_DATABASES.items():
            bullseye.mysql('CREATE DATABASE %s; CREATE TABLE %s.items (id INT PRIMARY KEY, v VARCHAR(40) NOT NULL); '
                           'INSERT INTO %s.items WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s '
                           'WHERE n < %d) SELECT n, md5(n) FROM s' % (db, db, db, rows))
        self.s3 = start_moto(os.path.join(self.workdir, 'moto.log'))
        self.s3.client().create_bucket(Bucket=self.bucket)
        self.controller.configure(list(self.hosts.values()))
        self.controller.write_inventory(self.inventory())
        return self

    def stop(self):
        if self.s3 is not None:
            self.s3.stop()
        for host in self.hosts.values():
            try:
                host.stop()
            except Exception:       # keep stopping the others; the next start cleans up too
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    # --- the inventory ------------------------------------------------------------------
    def inventory(self):
        hosts = {}
        for name, host in self.hosts.items():
            v = self.controller.host_vars(host)
            v.update(dbbackup_login_host=host.address, dbbackup_login_port=host.pg_port, dbbackup_login_user='postgres',
                     dbbackup_login_password=host.pg_password, dbbackup_databases=sorted(PG_DATABASES[name]))
            hosts[name] = v
        hosts[BROKEN_HOST]['dbbackup_login_password'] = 'not-' + self.hosts[BROKEN_HOST].pg_password
        bullseye = self.hosts['db-bullseye']
        hosts['db-bullseye']['dbbackup_servers'] = [
            {},     # the host's own dbbackup_login_* (PostgreSQL 13)
            {'db_type': 'mysql', 'server_name': MARIADB_SERVER, 'login_host': bullseye.address,
             'login_port': bullseye.mariadb_port, 'login_user': 'backup', 'login_password': bullseye.mariadb_password}]
        # archive_command runs as postgres: on the PITR host the agent, the timers and the modules use it
        hosts[PITR_HOST].update(agent_user='postgres', agent_group='postgres', agent_create_user=False,
                                schedule_user='postgres', schedule_group='postgres', metrics_group='postgres',
                                dbbackup_become_user='postgres', dbbackup_pg_cluster='17/main')
        return {'all': {'children': {
            'db_servers': {'hosts': hosts, 'vars': {
                'ansible_python_interpreter': AGENT_PYTHON,
                'dbbackup_become_user': 'dbbackup',
                'agent_create_repository': False,
                'schedule_read_write_paths': [self.repository, '-' + METRICS_DIR]}},
            'pitr_servers': {'hosts': {PITR_HOST: {}}}}}}

    def host_path(self, host, inside):
        return self.hosts[host].path(inside)


@pytest.fixture(scope='session')
def fleet(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('fleet'))
    os.chmod(workdir, 0o700)
    with fleet_hosts.fleet_lock():
        f = Fleet(workdir)
        try:
            yield f.start()
        finally:
            f.stop()


@pytest.fixture(scope='session')
def installed(fleet):
    """The fleet after `site.yml --tags install` (agent, metrics, schedule) over SSH: (rc, output)."""
    rc, out = fleet.controller.playbook((os.path.join(ROOT, 'playbooks', 'site.yml'), 'install'),
                                        {'dbbackup_repository': fleet.repository, 'dbbackup_metrics_dir': METRICS_DIR})
    return rc, out
