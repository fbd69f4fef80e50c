"""The collection as users run it: a controller, and managed nodes reached over SSH.

One session, in the order an operator works (tests/fleet/conftest.py starts the hosts):
install the agent, metrics and schedule roles with site.yml --tags install; the modules on the
system Python (fail, naming the agent role) and on the agent's venv (work); site.yml backing up
every database of every host into the shared directory and into S3, with one host failing alone;
dr_drill.yml proving every backup; pitr.yml enabling archiving on the PITR host (restart
included) and dr_drill.yml -e dr_drill_mode=pitr recovering it; a timer's command run on a host.
"""
import json
import os
import re
import shlex

import pytest

from devtools.drill import ROOT
from devtools.fleet_hosts import free_port
from tests.fleet.controller import AGENT_PYTHON, recap
from tests.fleet.layout import (BROKEN_HOST, MARIADB_DATABASES, MARIADB_SERVER, METRICS_DIR, PG_DATABASES, PG_MAJOR,
                                PITR_HOST, PYTHON)

# The first test starts the fleet and installs the roles: minutes on a cold cache (pytest.ini's
# 600 s is for single tests of the core suite); scripts/test.sh bounds the whole step.
pytestmark = pytest.mark.timeout(1800)
PLAYBOOKS = os.path.join(ROOT, 'playbooks')
HERE_PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')
GOOD = sorted(h for h in PG_DATABASES if h != BROKEN_HOST)


def servers_of(host):
    """{server_name: {database: rows}} of a host."""
    out = {host: PG_DATABASES[host]}
    if host == 'db-bullseye':
        out[MARIADB_SERVER] = MARIADB_DATABASES
    return out


def assert_recap(out, failed=()):
    hosts = recap(out)
    assert sorted(hosts) == sorted(PG_DATABASES), out[-4000:]
    for host, counts in hosts.items():
        assert counts['unreachable'] == 0, (host, counts)
        assert counts['failed'] == (1 if host in failed else 0), (host, counts, out[-6000:])
    return hosts


def test_install_roles_over_ssh_with_each_hosts_python(fleet, installed):
    rc, out = installed
    assert rc == 0, out[-6000:]
    hosts = assert_recap(out)
    for name, host in fleet.hosts.items():
        assert hosts[name]['changed'] > 0, hosts[name]
        # the venv is built by that host's own system Python
        with open(host.path('/opt/dbbackup/venv/pyvenv.cfg')) as f:
            cfg = f.read()
        assert re.search(r'^version(_info)? = %s\.' % re.escape(PYTHON[name]), cfg, re.M), (name, cfg)
        assert os.access(host.path('/usr/local/bin/dbbackup'), os.X_OK)
        conf = host.path('/etc/dbbackup/dbbackup.conf')
        st = os.stat(conf)
        user = 'postgres' if name == PITR_HOST else 'dbbackup'
        assert oct(st.st_mode & 0o777) == '0o600' and st.st_uid == host.chroot.ids(user)[0], (name, st)
        with open(conf) as f:
            text = f.read()
        assert 'repository = %s' % fleet.repository in text and 'server_name = %s' % name in text
        # metrics: the textfile directory, group-writable for the backup user's group
        st = os.stat(host.path(METRICS_DIR))
        assert oct(st.st_mode & 0o7777) == '0o2775' and st.st_gid == host.chroot.ids(user)[1], (name, st)
        # schedule: one verified service + timer per database (systemd does not run these hosts)
        for db in PG_DATABASES[name]:
            for unit in ('service', 'timer'):
                assert os.path.exists(host.path('/etc/systemd/system/dbbackup-%s.%s' % (db, unit))), (name, db)
        # every host was reached over SSH with the suite's key
        with open(os.path.join(host.workdir, 'sshd.log')) as f:
            assert re.search(r'Accepted publickey for ops from 127\.0\.0\.1', f.read()), name
    assert out.count('systemd does not run this host') >= 2 * len(fleet.hosts), out[-3000:]


def test_modules_need_the_agents_interpreter(fleet, installed, tmp_path):
    results_file = str(tmp_path / 'interpreters.json')
    rc, out = fleet.controller.playbook(os.path.join(HERE_PLAYBOOKS, 'interpreter.yml'), {'results_file': results_file})
    assert rc == 0, out[-6000:]
    with open(results_file) as f:
        results = json.load(f)
    assert sorted(results) == GOOD
    for host in GOOD:
        bare, venv = results[host]['on_system_python'], results[host]['on_agent_venv']
        # discovery picks the host's system Python, which lacks the engine's libraries
        assert bare['failed'] is True, bare
        msg = bare['msg']
        assert 'psycopg2' in msg and '/usr/bin/python%s' % PYTHON[host] in msg, msg
        assert 'dbbackup.dbbackup.agent' in msg and 'ansible_python_interpreter' in msg and AGENT_PYTHON in msg, msg
        # the interpreter the docs name works, on that host's own Python version
        assert not venv.get('failed') and sorted(venv['databases']) == sorted(['postgres'] + list(PG_DATABASES[host])), venv
        assert venv['server_version'].startswith(PG_MAJOR[host] + '.'), venv


def check_repository_listing(fleet, listing):
    """listing(server_name, db) -> [backup ids]: one backup per database of every good host."""
    for host in GOOD:
        for server, databases in servers_of(host).items():
            for db in databases:
                assert len(listing(server, db)) == 1, (server, db)
    assert not listing(BROKEN_HOST, 'app')


def test_site_backs_up_every_host_into_the_shared_directory(fleet, installed):
    rc, out = fleet.controller.playbook(os.path.join(PLAYBOOKS, 'site.yml'), {
        'dbbackup_repository': fleet.repository, 'dbbackup_metrics_dir': METRICS_DIR})
    assert rc != 0, out[-4000:]                      # the broken host failed ...
    assert_recap(out, failed=[BROKEN_HOST])          # ... alone; the others completed
    assert re.search(r'fatal: \[%s\]: FAILED! .*Authentication failed for user \\"postgres\\" on 127\.0\.0\.14:\d+\. '
                     r'Check login_user and login_password' % BROKEN_HOST, out), out[-4000:]
    for host in fleet.hosts.values():
        assert host.pg_password not in out and host.mariadb_password not in out
    # per-host results in the output
    for host in GOOD:
        total = sum(len(dbs) for dbs in servers_of(host).values())
        assert re.search(r'"msg": "%s: %d new, 0 recent enough;' % (host, total), out), (host, out[-3000:])
    assert re.search(r'%s \(mysql 10\.5\.[^)]*\): crm, shop' % MARIADB_SERVER, out), out[-3000:]

    def listing(server, db):
        path = os.path.join(fleet.repository, server, 'logical', db)
        return os.listdir(path) if os.path.isdir(path) else []
    check_repository_listing(fleet, listing)
    for host in GOOD:
        for server, databases in servers_of(host).items():
            for db, rows in databases.items():
                (backup_id,) = listing(server, db)
                with open(os.path.join(fleet.repository, server, 'logical', db, backup_id, 'manifest.json')) as f:
                    manifest = json.load(f)
                assert manifest['server_name'] == server and manifest['totals']['rows'] == rows, manifest['totals']
                major = '10.5' if server == MARIADB_SERVER else PG_MAJOR[host]
                assert manifest['server_version'].startswith(major + '.'), manifest['server_version']
        # each host wrote its own metrics, as its backup user, into node_exporter's directory
        with open(fleet.host_path(host, METRICS_DIR + '/dbbackup.prom')) as f:
            prom = f.read()
        for server, databases in servers_of(host).items():
            for db in databases:
                assert re.search(r'dbbackup_backups_total\{database="%s",db_type="\w+",kind="logical",server="%s",'
                                 r'status="success"\} 1\.0' % (db, server), prom), (host, db, prom[:2000])
    # the PITR host's backups belong to postgres (archive_command writes there too), the others' to dbbackup
    for host in GOOD:
        owner = os.stat(os.path.join(fleet.repository, host)).st_uid
        assert owner == fleet.hosts[host].chroot.ids('postgres' if host == PITR_HOST else 'dbbackup')[0], host


def test_site_backs_up_every_host_into_s3(fleet, installed):
    # Each host's backup user has its own AWS credentials file, as the modules expect (never variables).
    for name, host in fleet.hosts.items():
        user = 'postgres' if name == PITR_HOST else 'dbbackup'
        home = '/var/lib/postgresql' if user == 'postgres' else '/var/lib/dbbackup'
        host.write_file(home + '/.aws/credentials', '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n'
                        % (fleet.s3.access_key, fleet.s3.secret_key), user=user, mode=0o600)
    rc, out = fleet.controller.playbook(os.path.join(PLAYBOOKS, 'site.yml'), {
        'dbbackup_repository': 's3://%s/backups' % fleet.bucket, 'dbbackup_s3_endpoint_url': fleet.s3.endpoint,
        'dbbackup_s3_region': 'us-east-1', 'dbbackup_s3_addressing_style': 'path'})
    assert rc != 0, out[-4000:]
    assert_recap(out, failed=[BROKEN_HOST])
    assert fleet.s3.secret_key not in out
    keys = []
    for page in fleet.s3.client().get_paginator('list_objects_v2').paginate(Bucket=fleet.bucket, Prefix='backups/'):
        keys += [o['Key'] for o in page.get('Contents', [])]

    def listing(server, db):
        prefix = 'backups/%s/logical/%s/' % (server, db)
        return sorted(set(k[len(prefix):].split('/')[0] for k in keys if k.startswith(prefix) and k.endswith('/manifest.json')))
    check_repository_listing(fleet, listing)


def test_dr_drill_proves_every_host(fleet, installed, tmp_path):
    report_file = str(tmp_path / 'drill.json')
    rc, out = fleet.controller.playbook(os.path.join(PLAYBOOKS, 'dr_drill.yml'), {
        'dr_drill_repository': fleet.repository, 'dr_drill_report_file': report_file})
    assert rc != 0, out[-4000:]
    assert_recap(out, failed=[BROKEN_HOST])
    with open(report_file) as f:
        report = json.load(f)
    assert report['failed_hosts'] == [BROKEN_HOST], report
    by_host = dict((r['host'], r) for r in report['hosts'])
    assert sorted(by_host) == GOOD
    for host in GOOD:
        r = by_host[host]
        assert r['proven'] is True and r['cleaned_up'] is True, r
        proven = dict(((d['server_name'], d['database']), d['rows']) for d in r['databases'])
        expected = dict(((server, db), rows) for server, dbs in servers_of(host).items() for db, rows in dbs.items())
        assert proven == expected, (host, proven)
        assert re.search(r'"msg": "%s \(logical\): RTO [\d.]+ s, RPO \d+ s' % host, out), out[-3000:]
    # no scratch database is left behind, on either server of db-bullseye
    for host in GOOD:
        names = fleet.hosts[host].psql_value("SELECT string_agg(datname, ',') FROM pg_database")
        assert '_drill' not in names, (host, names)
    assert '_drill' not in fleet.hosts['db-bullseye'].mysql('SHOW DATABASES')


def test_pitr_enables_archiving_restarts_and_recovers(fleet, installed, tmp_path):
    host = fleet.hosts[PITR_HOST]
    rc, out = fleet.controller.playbook(os.path.join(PLAYBOOKS, 'pitr.yml'), {
        'dbbackup_repository': fleet.repository})
    assert rc == 0, out[-6000:]
    hosts = recap(out)
    assert sorted(hosts) == [PITR_HOST], hosts
    assert 'TASK [Restart PostgreSQL for archive_mode]' in out and 'changed: [%s]' % PITR_HOST in out, out[-4000:]
    assert re.search(r'%s: archiving on \(restarted\), base backup \d{8}T\d{6}Z' % PITR_HOST, out), out[-3000:]
    assert host.psql_value('SHOW archive_mode') == 'on'
    # a second run changes nothing and needs no restart
    rc, out = fleet.controller.playbook(os.path.join(PLAYBOOKS, 'pitr.yml'), {
        'dbbackup_repository': fleet.repository})
    assert rc == 0, out[-6000:]
    assert re.search(r'%s: archiving on \(no restart needed\)' % PITR_HOST, out), out[-3000:]
    # write after the base backups, then recover everything the archive holds into scratch space
    host.psql('CREATE TABLE public.after_base AS SELECT g FROM generate_series(1, 25) g; SELECT pg_switch_wal()',
              'inventory')
    report_file = str(tmp_path / 'pitr-drill.json')
    drill = {'dr_drill_mode': 'pitr', 'dr_drill_repository': fleet.repository, 'dr_drill_report_file': report_file,
             'dr_drill_cli_config': '/etc/dbbackup/dbbackup.conf', 'dr_drill_port': free_port('127.0.0.1'),
             'dr_drill_hosts': 'pitr_servers'}
    rc, out = fleet.controller.playbook(os.path.join(PLAYBOOKS, 'dr_drill.yml'), drill, check=True)
    assert rc == 0, out[-6000:]
    assert re.search(r'Check mode, nothing changed: %s would recover base backup \d{8}T\d{6}Z' % PITR_HOST, out), out[-3000:]
    assert not os.path.exists(report_file) and not os.path.exists(host.path('/var/tmp/dbbackup-drill/%s' % PITR_HOST))
    rc, out = fleet.controller.playbook(os.path.join(PLAYBOOKS, 'dr_drill.yml'), drill)
    assert rc == 0, out[-6000:]
    with open(report_file) as f:
        report = json.load(f)
    (r,) = report['hosts']
    assert r['host'] == PITR_HOST and r['mode'] == 'pitr' and r['proven'] is True, r
    assert 'inventory' in r['databases'] and r['wal_files_restored'] >= 1, r
    assert not os.path.exists(host.path('/var/tmp/dbbackup-drill/%s/data' % PITR_HOST))


def test_a_timer_command_runs_on_the_oldest_host(fleet, installed):
    """What the schedule role's service runs, as its user, on Debian 11's Python 3.9."""
    host = fleet.hosts['db-bullseye']
    with open(host.path('/etc/systemd/system/dbbackup-legacy.service')) as f:
        unit = f.read()
    exec_start = shlex.split(re.search(r'^ExecStart=(.*)$', unit, re.M).group(1))
    user = re.search(r'^User=(.*)$', unit, re.M).group(1)
    p = host.run(exec_start, user=user, check=False)
    assert p.returncode == 0, p.stdout
    ids = os.listdir(os.path.join(fleet.repository, 'db-bullseye', 'logical', 'legacy'))
    assert len(ids) == 2, ids                     # site.yml's and the timer's
