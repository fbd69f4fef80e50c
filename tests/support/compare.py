"""Compare two databases the way a DBA would check a restore.

The round-trip definition of "correct": plain `pg_dump -s` output (pg_dump is a
test oracle only), per-table data hashes, sequence positions, large objects and
database-level settings must all be identical between source and restored
database. Each helper returns plain data so a failing assert shows the diff.
"""
import difflib
import subprocess

# Ordinary tables and partition leaves that belong to the user (not to an
# extension, not in system schemas). Partitioned parents hold no rows themselves.
USER_TABLES_SQL = """
SELECT n.nspname, c.relname
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
   AND n.nspname NOT LIKE 'pg\\_temp%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1, 2
"""

USER_SEQUENCES_SQL = """
SELECT n.nspname, c.relname
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1, 2
"""

LARGE_OBJECTS_SQL = """
SELECT m.oid::bigint,
       pg_catalog.pg_get_userbyid(m.lomowner),
       pg_catalog.md5(pg_catalog.lo_get(m.oid)),
       m.lomacl::text,
       pg_catalog.obj_description(m.oid, 'pg_largeobject')
  FROM pg_catalog.pg_largeobject_metadata m
 ORDER BY 1
"""

DB_SETTINGS_SQL = """
SELECT COALESCE(r.rolname, ''), s.setting
  FROM pg_catalog.pg_db_role_setting rs
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = rs.setrole
  CROSS JOIN LATERAL pg_catalog.unnest(rs.setconfig) AS s(setting)
 WHERE rs.setdatabase = (SELECT oid FROM pg_catalog.pg_database
                          WHERE datname = pg_catalog.current_database())
   AND s.setting NOT LIKE 'dbbackup.%'
 ORDER BY 1, 2
"""

DB_PROPERTIES_SQL = """
SELECT pg_catalog.pg_get_userbyid(d.datdba),
       pg_catalog.pg_encoding_to_char(d.encoding),
       d.datcollate, d.datctype,
       pg_catalog.shobj_description(d.oid, 'pg_database'),
       d.datconnlimit,
       ARRAY(SELECT a::text FROM pg_catalog.unnest(d.datacl) a ORDER BY 1)
  FROM pg_catalog.pg_database d
 WHERE d.datname = pg_catalog.current_database()
"""


def _quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def _query(server, db, sql, args=None):
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        conn.close()


def schema_dump(server, db):
    """`pg_dump -s` text, minus the per-run random \\restrict key lines."""
    p = subprocess.run([server.bin('pg_dump'), '--schema-only', '--no-sync', db],
                       env=server.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, check=False)
    if p.returncode != 0:
        raise AssertionError('pg_dump -s %s failed: %s' % (db, p.stderr))
    return '\n'.join(line for line in p.stdout.splitlines()
                     if not line.startswith(('\\restrict ', '\\unrestrict ')))


def user_tables(server, db):
    """[(schema, table)] of user tables with their own rows (partition leaves included)."""
    return [tuple(r) for r in _query(server, db, USER_TABLES_SQL)]


def table_hashes(server, db):
    """{'schema.table': (row_count, md5 of the rows' text ordered by that text)}."""
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute(USER_TABLES_SQL)
        out = {}
        for nsp, rel in cur.fetchall():
            q = '%s.%s' % (_quote_ident(nsp), _quote_ident(rel))
            cur.execute("SELECT count(*), pg_catalog.md5(COALESCE(pg_catalog.string_agg("
                        "t::text, E'\\n' ORDER BY t::text COLLATE \"C\"), '')) FROM ONLY %s t" % q)
            count, digest = cur.fetchone()
            out['%s.%s' % (nsp, rel)] = (count, digest)
        return out
    finally:
        conn.close()


def total_rows(server, db):
    """Sum of rows over user tables (what a backup's `rows` should report)."""
    return sum(count for count, dummy in table_hashes(server, db).values())


def sequence_values(server, db):
    """{'schema.seq': (last_value, is_called)}."""
    conn = server.connect(db)
    try:
        cur = conn.cursor()
        cur.execute(USER_SEQUENCES_SQL)
        out = {}
        for nsp, rel in cur.fetchall():
            cur.execute('SELECT last_value, is_called FROM %s.%s'
                        % (_quote_ident(nsp), _quote_ident(rel)))
            out['%s.%s' % (nsp, rel)] = tuple(cur.fetchone())
        return out
    finally:
        conn.close()


def large_objects(server, db):
    """[(oid, owner, md5 of contents, acl, comment)] ordered by oid."""
    return [tuple(r) for r in _query(server, db, LARGE_OBJECTS_SQL)]


def database_settings(server, db):
    """[(role or '', 'name=value')] of ALTER DATABASE ... SET, minus dbbackup.* markers."""
    return [tuple(r) for r in _query(server, db, DB_SETTINGS_SQL)]


def database_properties(server, db):
    """Owner, encoding, collation, comment, connection limit and ACL of the database.

    The ACL is compared as text; grants name roles, not the database, so the same
    grants on a differently named database compare equal.
    """
    row = _query(server, db, DB_PROPERTIES_SQL)[0]
    keys = ('owner', 'encoding', 'collate', 'ctype', 'comment', 'connlimit', 'acl')
    return dict(zip(keys, row))


def snapshot(server, db):
    """Everything the round trip must preserve, as one comparable dict."""
    return {
        'schema': schema_dump(server, db),
        'tables': table_hashes(server, db),
        'sequences': sequence_values(server, db),
        'large_objects': large_objects(server, db),
        'settings': database_settings(server, db),
    }


def _diff_text(a, b, src, dst, limit=200):
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), src, dst, lineterm=''))
    if len(lines) > limit:
        lines = lines[:limit] + ['... (%d more diff lines)' % (len(lines) - limit)]
    return '\n'.join(lines)


def _diff_dict(a, b):
    out = []
    for key in sorted(set(a) | set(b), key=str):
        left, right = a.get(key, '<missing>'), b.get(key, '<missing>')
        if left != right:
            out.append('  %s: source=%r restored=%r' % (key, left, right))
    return '\n'.join(out)


def differences(source, restored, src_name='source', dst_name='restored'):
    """Human-readable list of what differs between two snapshot() dicts ([] if none)."""
    problems = []
    if source['schema'] != restored['schema']:
        problems.append('pg_dump -s differs:\n' + _diff_text(source['schema'], restored['schema'],
                                                             src_name, dst_name))
    if source['tables'] != restored['tables']:
        problems.append('table data differs (rows, md5):\n'
                        + _diff_dict(source['tables'], restored['tables']))
    if source['sequences'] != restored['sequences']:
        problems.append('sequence values differ (last_value, is_called):\n'
                        + _diff_dict(source['sequences'], restored['sequences']))
    if source['large_objects'] != restored['large_objects']:
        problems.append('large objects differ:\n  source=%r\n  restored=%r'
                        % (source['large_objects'], restored['large_objects']))
    if source['settings'] != restored['settings']:
        problems.append('database-level settings differ:\n  source=%r\n  restored=%r'
                        % (source['settings'], restored['settings']))
    return problems


def assert_same_database(server, src, dst, src_snapshot=None):
    """Fail with every difference at once if dst is not an exact copy of src."""
    a = src_snapshot or snapshot(server, src)
    b = snapshot(server, dst)
    problems = differences(a, b, src, dst)
    assert not problems, '%s and %s differ:\n%s' % (src, dst, '\n\n'.join(problems))
