"""A throwaway PostgreSQL that outlives this process, for molecule scenarios and shell use.

    python devtools/pg_fixture.py start DIR [--conf key=value ...] [--database NAME --tables N]
    python devtools/pg_fixture.py stop DIR

`start` initializes and starts a server under DIR (devtools.pg_temp.PgServer) unless one
runs there already, optionally creates a database with N small tables, and prints (and
writes to DIR/server.json, mode 0600) host, port, user, password and data directory.
`stop` stops it and removes DIR.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from devtools.pg_temp import PgServer  # noqa: E402


def _info(server):
    return {'host': server.host, 'port': server.port, 'user': server.user, 'password': server.password,
            'datadir': server.datadir, 'pg_bin': server.pg_bin, 'base': server.base}


def _write_info(path, info):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(info, f)


def _running(server):
    """pg_ctl status: 0 when a server runs in the data directory (a stale postmaster.pid is not one)."""
    argv = server.postgres_argv([server.bin('pg_ctl'), '-D', server.datadir, 'status'])
    return subprocess.run(argv, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0


def start(args):
    base = os.path.abspath(args.dir)
    info_path = os.path.join(base, 'server.json')
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        server = PgServer(base_dir=base, port=info['port'])
        if not _running(server):        # a postmaster.pid may outlive a killed server; pg_ctl checks the pid
            server.start()
    else:
        os.makedirs(base, exist_ok=True)
        conf = dict(kv.split('=', 1) for kv in args.conf)
        server = PgServer(base_dir=base, extra_conf=conf)
        server.start()
        info = _info(server)
        _write_info(info_path, info)
        if args.database:
            server.create_database(args.database)
            sql = os.path.join(base, 'tables.sql')
            with open(sql, 'w') as f:
                for i in range(args.tables):
                    f.write('CREATE TABLE public.t%d (id int PRIMARY KEY, v text);\n' % i)
                    f.write("INSERT INTO public.t%d SELECT g, md5(g::text) FROM generate_series(1, 50) g;\n" % i)
            os.chmod(sql, 0o644)
            server.psql(args.database, file=sql)
    server.started = True
    print(json.dumps(info))


def stop(args):
    base = os.path.abspath(args.dir)
    info_path = os.path.join(base, 'server.json')
    if not os.path.exists(info_path):
        return
    with open(info_path) as f:
        info = json.load(f)
    server = PgServer(base_dir=base, port=info['port'])
    server.started = True
    server.stop(remove=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    sub = p.add_subparsers(dest='command', required=True)
    s = sub.add_parser('start')
    s.add_argument('dir')
    s.add_argument('--conf', action='append', default=[], metavar='KEY=VALUE')
    s.add_argument('--database')
    s.add_argument('--tables', type=int, default=1)
    t = sub.add_parser('stop')
    t.add_argument('dir')
    args = p.parse_args()
    if args.command == 'start':
        start(args)
    else:
        stop(args)


if __name__ == '__main__':
    main()
