"""A restore run by a superuser must not hand the source database's roles its rights.

The owner of a database (not a superuser) plants code that makes roles superusers
when it runs as one (docs/security.md). Each path tries hard: RESET ROLE and RESET
SESSION AUTHORIZATION first (a SET ROLE boundary does not hold), then ALTER ROLE.

- an index expression (built after the data: runs as the table's owner only if the
  owner was set before),
- a CHECK constraint and a domain CHECK (run by COPY as the session's user),
- a built-in that runs SQL (query_to_xml) in a CHECK, reading a server file
  (lo_import) when it runs as a superuser,
- a SECURITY DEFINER function the owner calls in a loop against the temporary
  restore database (superuser-owned until its owner is set).

After the restore no role became superuser, no file was read, the owner never got
into the restore database, and the restored database is identical to the source.
"""
import os
import threading
import time

import psycopg2
import pytest

from plugins.module_utils import api
from tests.support import compare
from tests.support.params import engine_params
from tests.support.sessions import query as _exec

PASSWORD = 'evil-owner-pw'


def _attack_sql(pwn):
    """The owner's database: every path calls pwn(<role>) wherever the restore lets it run."""
    return """
CREATE FUNCTION public.pwn(target text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
  BEGIN RESET ROLE; EXCEPTION WHEN others THEN NULL; END;
  BEGIN RESET SESSION AUTHORIZATION; EXCEPTION WHEN others THEN NULL; END;
  IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
    EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', target);
  END IF;
  RETURN true;
END $f$;
CREATE FUNCTION public.f_idx(x integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN PERFORM public.pwn('{idx}'); RETURN x; END $f$;
CREATE FUNCTION public.f_chk(x integer) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN RETURN public.pwn('{chk}'); END $f$;
CREATE FUNCTION public.f_dom(x integer) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN RETURN public.pwn('{dom}'); END $f$;
CREATE FUNCTION public.sd() RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN RETURN public.pwn('{sd}'); END $f$;
CREATE FUNCTION public.f_slow(x integer) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF pg_catalog.current_setting('application_name') LIKE 'dbbackup%' THEN PERFORM pg_catalog.pg_sleep(0.3); END IF;
  RETURN true;
END $f$;
CREATE DOMAIN public.d_evil AS integer CHECK (public.f_dom(VALUE));

CREATE TABLE public.t_idx (x integer);
INSERT INTO public.t_idx SELECT g FROM pg_catalog.generate_series(1, 50) g;
CREATE INDEX t_idx_f ON public.t_idx (public.f_idx(x));
CREATE TABLE public.t_chk (x integer CHECK (public.f_chk(x)));
INSERT INTO public.t_chk SELECT g FROM pg_catalog.generate_series(1, 50) g;
CREATE TABLE public.t_dom (x public.d_evil);
INSERT INTO public.t_dom SELECT g FROM pg_catalog.generate_series(1, 50) g;
CREATE TABLE public.t_builtin (x integer CHECK (CASE
  WHEN pg_catalog.has_function_privilege('pg_catalog.lo_import(text)', 'EXECUTE')
  THEN pg_catalog.query_to_xml('SELECT pg_catalog.lo_import(''/etc/hostname'')', false, false, '') IS NOT NULL
  ELSE true END));
INSERT INTO public.t_builtin SELECT g FROM pg_catalog.generate_series(1, 20) g;
CREATE TABLE public.t_slow (x integer CHECK (public.f_slow(x)));
INSERT INTO public.t_slow SELECT g FROM pg_catalog.generate_series(1, 5) g;
""".format(**pwn)


class Attacker(threading.Thread):
    """The owner, calling sd() in every _dbbackup_restore_* database it can reach, until stopped."""

    def __init__(self, server, user):
        threading.Thread.__init__(self, daemon=True)
        self.server, self.user = server, user
        self.stop = threading.Event()
        self.seen, self.connected, self.refusals = set(), 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                rows = _exec(self.server, 'postgres',
                             "SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE '\\_dbbackup\\_restore\\_%'")
            except psycopg2.Error:
                rows = []
            for (name,) in rows:
                self.seen.add(name)
                try:
                    conn = psycopg2.connect(host=self.server.host, port=self.server.port, dbname=name,
                                            user=self.user, password=PASSWORD)
                except psycopg2.Error as e:
                    self.refusals.append(str(e).strip().splitlines()[0])
                    continue
                self.connected += 1
                try:
                    conn.autocommit = True
                    for dummy in range(50):
                        try:
                            conn.cursor().execute('SELECT public.sd()')
                        except psycopg2.Error:
                            pass
                        time.sleep(0.01)
                finally:
                    conn.close()
            time.sleep(0.005)


@pytest.fixture
def owner_db(pg_server, unique_db_name):
    tag = '%d_%d' % (os.getpid(), int(time.time() * 1000) % 100000)
    roles = dict((path, 'sec_%s_%s' % (path, tag)) for path in ('owner', 'idx', 'chk', 'dom', 'sd'))
    db = unique_db_name('sec_src')
    for name in roles.values():
        pg_server.psql('postgres', 'CREATE ROLE %s' % name)
    pg_server.psql('postgres', "ALTER ROLE %s LOGIN PASSWORD '%s'" % (roles['owner'], PASSWORD))
    pg_server.psql('postgres', 'CREATE DATABASE %s OWNER %s' % (db, roles['owner']))
    _exec(pg_server, db, _attack_sql(roles), user=roles['owner'], password=PASSWORD)
    yield db, roles
    for name in roles.values():
        pg_server.psql('postgres', 'DROP OWNED BY %s CASCADE' % name, check=False)
    for name in roles.values():
        pg_server.psql('postgres', 'DROP ROLE IF EXISTS %s' % name, check=False)


def test_restore_runs_no_owner_code_with_superuser_rights(pg_server, owner_db, repository, unique_db_name):
    db, roles = owner_db
    api.run_backup(engine_params(pg_server, db, repository))
    target = unique_db_name('sec_restored')
    before_los = _exec(pg_server, db, 'SELECT count(*) FROM pg_catalog.pg_largeobject_metadata')[0][0]
    attacker = Attacker(pg_server, roles['owner'])
    attacker.start()
    outcome = None
    try:
        outcome = api.run_restore(engine_params(pg_server, db, repository, target_database=target))
    finally:
        attacker.stop.set()
        attacker.join(10)
    supers = _exec(pg_server, 'postgres', 'SELECT rolname FROM pg_catalog.pg_roles WHERE rolsuper AND rolname = ANY(ARRAY[%s])'
                   % ', '.join("'%s'" % r for r in roles.values()))
    assert supers == [], 'the restore made %s superuser' % ', '.join(r[0] for r in supers)
    assert attacker.seen, 'the attacker never saw the restore database (the test proves nothing)'
    assert attacker.connected == 0, 'the owner connected to the restore database %d time(s)' % attacker.connected
    assert attacker.refusals, 'no connection attempt was refused'
    after_los = _exec(pg_server, target, 'SELECT count(*) FROM pg_catalog.pg_largeobject_metadata')[0][0]
    assert after_los == before_los, 'a server file was read into the restored database as a superuser'
    assert outcome['changed']
    compare.assert_same_database(pg_server, db, target)
    # the restored database is open to its owner again, as the source was
    assert _exec(pg_server, target, 'SELECT current_user', user=roles['owner'], password=PASSWORD)
    assert not _exec(pg_server, target, 'SELECT count(*) FROM pg_catalog.pg_proc WHERE prosecdef '
                                        "AND proname <> 'sd' AND pronamespace = 'public'::regnamespace")[0][0]


# --- the database-name token: only where the dumper wrote it ------------------------------

def test_database_token_in_names_comments_and_bodies_round_trips(pg_server, repository, unique_db_name):
    """'@DBBACKUP_DATABASE@' written by the source (a table name, comments, a function body, a
    database setting's value) stays as it is; the database's own settings reach the target."""
    db = unique_db_name('sec_token')
    pg_server.psql('postgres', 'CREATE DATABASE %s' % db)
    token = '@DBBACKUP_DATABASE@'
    _exec(pg_server, db, """
CREATE TABLE public."tab{t}" (v text);
INSERT INTO public."tab{t}" VALUES ('{t}');
COMMENT ON TABLE public."tab{t}" IS 'see {t}';
CREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $$ SELECT '{t}'::text $$;
COMMENT ON DATABASE {db} IS 'db {t} comment';
ALTER DATABASE {db} SET application_name = '{t}';
""".format(t=token, db=db))
    api.run_backup(engine_params(pg_server, db, repository))
    target = unique_db_name('sec_token_restored')
    api.run_restore(engine_params(pg_server, db, repository, target_database=target))
    compare.assert_same_database(pg_server, db, target)
    assert _exec(pg_server, target, 'SELECT public.f()')[0][0] == token
    assert _exec(pg_server, 'postgres', "SELECT pg_catalog.shobj_description(oid, 'pg_database') "
                                        "FROM pg_catalog.pg_database WHERE datname = '%s'" % target)[0][0] \
        == 'db %s comment' % token


# --- if_exists: replace swaps in one transaction ---------------------------------------------

class _KillAfterFirstRename(object):
    """An admin connection whose session dies right after it renamed the old target away."""

    def __init__(self, conn, server):
        self._conn, self._server = conn, server

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def cursor(self):
        conn, server = self._conn, self._server

        class Cursor(object):
            def __init__(self):
                self._cur = conn.cursor()

            def __getattr__(self, name):
                return getattr(self._cur, name)

            def execute(self, sql, args=None):
                result = self._cur.execute(sql, args)
                if 'RENAME TO "_dbbackup_old_' in sql:
                    _exec(server, 'postgres', 'SELECT pg_catalog.pg_terminate_backend(%d)' % conn.get_backend_pid())
                return result
        return Cursor()


def test_replace_losing_the_session_between_the_renames_keeps_the_target(
        pg_server, repository, unique_db_name, monkeypatch):
    from plugins.module_utils.common.errors import RestoreFailed
    from plugins.module_utils.postgres import connection
    src = unique_db_name('sec_swap_src')
    target = unique_db_name('sec_swap_target')
    for name, value in ((src, 'new'), (target, 'old')):
        pg_server.psql('postgres', 'CREATE DATABASE %s' % name)
        _exec(pg_server, name, "CREATE TABLE t (v text); INSERT INTO t VALUES ('%s')" % value)
    api.run_backup(engine_params(pg_server, src, repository))
    real_connect = connection.connect

    def connect(params, dbname=None, **kw):
        conn = real_connect(params, dbname=dbname, **kw)
        return _KillAfterFirstRename(conn, pg_server) if dbname == 'postgres' else conn
    monkeypatch.setattr(connection, 'connect', connect)
    with pytest.raises(RestoreFailed) as err:
        api.run_restore(engine_params(pg_server, src, repository, target_database=target, if_exists='replace'))
    monkeypatch.undo()
    assert 'left unchanged' in str(err.value)
    assert _exec(pg_server, target, 'SELECT v FROM t') == [('old',)]
    leftovers = _exec(pg_server, 'postgres', "SELECT datname FROM pg_catalog.pg_database "
                                             "WHERE datname LIKE '\\_dbbackup\\_%'")
    assert not [n for (n,) in leftovers if n.startswith('_dbbackup_old_')]
    for (name,) in leftovers:       # the restore database stays when its session is gone
        pg_server.psql('postgres', 'DROP DATABASE "%s"' % name, check=False)
