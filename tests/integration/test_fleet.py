"""One play against several hosts at once: playbooks/site.yml over a small fleet.

Three PostgreSQL servers on loopback are three inventory hosts (connection
local, per-host connection variables), run with --forks 3 so the hosts work
in parallel. Asserted per host: the play recap lists it without failures, its
databases (and only its own) are in the repository under its inventory name,
and node_exporter metrics of all three servers merged into one file although
they were written concurrently.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from devtools.drill import ROOT, ansible_env, ansible_playbook_bin, collection_dir
from devtools.pg_temp import PgServer

HOSTS = ('db1', 'db2', 'db3')


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """{host: (PgServer, [databases])}: three servers, each with its own databases."""
    servers = {}
    try:
        for n, host in enumerate(HOSTS, 1):
            server = PgServer(extra_conf={'shared_buffers': "'32MB'", 'max_connections': '20'})
            server.start()
            dbs = ['%s_app' % host] + (['%s_extra' % host] if n != 2 else [])
            for db in dbs:
                server.create_database(db)
                server.psql(db, 'CREATE TABLE public.items AS SELECT g AS id, md5(g::text) AS v '
                                'FROM generate_series(1, %d) g' % (100 * n))
            servers[host] = (server, dbs)
        yield servers
    finally:
        for server, _dbs in servers.values():
            server.stop()


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    return path


def test_site_playbook_backs_up_every_host_in_parallel(fleet, tmp_path):
    repo = str(tmp_path / 'repo')
    metrics_dir = str(tmp_path / 'textfile')
    os.makedirs(metrics_dir)
    inventory = {'db_servers': {'hosts': {}, 'vars': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}
    for host, (server, _dbs) in fleet.items():
        inventory['db_servers']['hosts'][host] = {
            'dbbackup_login_host': server.host, 'dbbackup_login_port': server.port,
            'dbbackup_login_user': server.user, 'dbbackup_login_password': server.password}
    inv = write_private(str(tmp_path / 'inventory.json'), json.dumps(inventory))
    extra = write_private(str(tmp_path / 'extra.json'), json.dumps({
        'dbbackup_repository': repo, 'dbbackup_metrics_dir': metrics_dir}))
    collections = collection_dir(str(tmp_path / 'collections'))
    proc = subprocess.run([ansible_playbook_bin(), '-i', inv, '-e', '@' + extra, '--forks', '3',
                           os.path.join(ROOT, 'playbooks', 'site.yml')],
                          env=ansible_env(collections), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    password = fleet['db1'][0].password
    assert password not in out

    recap = dict((m.group(1), m.group(2)) for m in re.finditer(r'^(db\d)\s+:\s+(ok=.*)$', out, re.M))
    assert sorted(recap) == list(HOSTS), out[-3000:]
    for host, line in recap.items():
        counts = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', line))
        assert counts['failed'] == 0 and counts['unreachable'] == 0, line
        assert counts['changed'] >= 1, line          # it took at least one backup

    for host, (server, dbs) in fleet.items():
        base = os.path.join(repo, host, 'logical')
        assert sorted(os.listdir(base)) == sorted(dbs), 'host %s has %r' % (host, os.listdir(base))
        for db in dbs:
            ids = os.listdir(os.path.join(base, db))
            assert len(ids) == 1, ids
            manifest = json.load(open(os.path.join(base, db, ids[0], 'manifest.json')))
            assert manifest['server_name'] == host and manifest['database'] == db
            assert manifest['totals']['rows'] == 100 * (HOSTS.index(host) + 1)
            assert manifest['consistent_position']['lsn']
        assert ('%s: %d new' % (host, len(dbs))) in out

    prom = open(os.path.join(metrics_dir, 'dbbackup.prom')).read()
    for host, (_server, dbs) in fleet.items():
        for db in dbs:
            assert ('dbbackup_backups_total{database="%s",db_type="postgresql",kind="logical",server="%s",'
                    'status="success"} 1.0' % (db, host)) in prom, prom


def test_dr_drill_restores_proves_and_cleans_up_every_host(fleet, tmp_path):
    from plugins.module_utils import api
    repo = str(tmp_path / 'repo')
    for host, (server, dbs) in fleet.items():
        for db in dbs:
            params = server.conn_params(db)
            params.update(repository=repo, server_name=host)
            api.run_backup(params)
    # db3's newest backup is damaged: its drill must fail, the others must pass
    bad = os.path.join(repo, 'db3', 'logical', 'db3_app')
    bad_id = os.listdir(bad)[0]
    data = [f for f in json.load(open(os.path.join(bad, bad_id, 'manifest.json')))['files'] if f['role'] == 'data'][0]
    with open(os.path.join(bad, bad_id, data['path']), 'r+b') as f:
        f.seek(data['stored_bytes'] // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 1]))
    inventory = {'db_servers': {'hosts': {}, 'vars': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}
    for host, (server, _dbs) in fleet.items():
        inventory['db_servers']['hosts'][host] = {
            'dbbackup_login_host': server.host, 'dbbackup_login_port': server.port,
            'dbbackup_login_user': server.user, 'dbbackup_login_password': server.password}
    inv = write_private(str(tmp_path / 'inventory.json'), json.dumps(inventory))
    report_file = str(tmp_path / 'report.json')
    extra = write_private(str(tmp_path / 'extra.json'), json.dumps({
        'dr_drill_repository': repo, 'dr_drill_report_file': report_file}))
    collections = collection_dir(str(tmp_path / 'collections'))
    proc = subprocess.run([ansible_playbook_bin(), '-i', inv, '-e', '@' + extra, '--forks', '3',
                           os.path.join(ROOT, 'playbooks', 'dr_drill.yml')],
                          env=ansible_env(collections), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False)
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]            # db3 failed
    assert re.search(r'db3.*sha-?256', out, re.I | re.S), out[-4000:]
    assert fleet['db1'][0].password not in out
    report = json.load(open(report_file))
    assert report['failed_hosts'] == ['db3'], report
    by_host = dict((r['host'], r) for r in report['hosts'])
    assert sorted(by_host) == ['db1', 'db2']
    for host in ('db1', 'db2'):
        server, dbs = fleet[host]
        r = by_host[host]
        assert r['proven'] is True and r['cleaned_up'] is True
        assert sorted(d['database'] for d in r['databases']) == sorted(dbs)
        n = 100 * (HOSTS.index(host) + 1)
        assert all(d['rows'] == n and d['tables'] == 1 for d in r['databases']), r
        assert all(d['objects'] > 3 for d in r['databases']), r   # every object compared, not only rows
        assert float(r['rto_seconds']) > 0 and 0 <= int(r['rpo_seconds']) < 600
    # no scratch database is left on any host, also not on the one that failed
    for host, (server, dbs) in fleet.items():
        names = server.scalar('postgres', "SELECT string_agg(datname, ',') FROM pg_database").split(',')
        assert not [n for n in names if n.endswith('_drill')], (host, names)
