"""Developer loop for the schema extractors: fixture -> extract -> apply -> diff pg_dump -s.

    python3 devtools/schema_roundtrip.py [fixture.sql ...]

Without arguments it loads tests/fixtures/rich/*.sql (00_roles.sql into the
postgres database, the rest into 'src'). Applies the extracted items to 'dst'
without data and prints the unified diff of `pg_dump -s`; exit 1 on a diff.
"""
import difflib
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from devtools.pg_temp import PgServer  # noqa: E402
from plugins.module_utils.postgres.logical.schema.extract import extract_schema, ExtractContext  # noqa: E402
from plugins.module_utils.postgres.logical.schema.model import DATABASE_TOKEN, PHASES  # noqa: E402


def load_fixture(server, files):
    server.create_database('src')
    for f in files:
        server.psql('postgres' if os.path.basename(f).startswith('00_') else 'src', file=f)


def extract(server, db):
    conn = server.connect(db, autocommit=False)
    cur = conn.cursor()
    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    cur.execute("SET search_path = ''")
    cur.execute("SHOW server_version_num")
    ctx = ExtractContext(int(cur.fetchone()[0]), db)
    pre, post = extract_schema(cur, ctx)
    conn.rollback()
    conn.close()
    return pre, post


def apply(server, db, pre, post):
    server.create_database(db)
    conn = server.connect(db)
    cur = conn.cursor()
    cur.execute("SET search_path = ''; SET check_function_bodies = false")
    quoted = '"%s"' % db
    for phase_items in [pre] + [[i for i in post if i.phase == p] for p in PHASES]:
        for item in phase_items:
            try:
                cur.execute(item.sql.replace(DATABASE_TOKEN, quoted))
            except Exception as e:
                raise SystemExit('FAILED applying %s %s:\n%s\n%s' % (item.kind, item.name, item.sql, e))
    conn.close()


def dump_schema(server, db):
    return subprocess.run(['pg_dump', '-s', '--restrict-key=dbbackup', db], env=server.env(), check=True,
                          stdout=subprocess.PIPE, text=True).stdout


def main(argv):
    files = argv or sorted(glob.glob(os.path.join(ROOT, 'tests', 'fixtures', 'rich', '*.sql')))
    with PgServer() as server:
        load_fixture(server, files)
        pre, post = extract(server, 'src')
        print('%d pre items, %d post items' % (len(pre), len(post)))
        apply(server, 'dst', pre, post)
        a, b = dump_schema(server, 'src'), dump_schema(server, 'dst')
        diff = list(difflib.unified_diff(a.splitlines(), b.splitlines(), 'src', 'dst', lineterm=''))
        print('\n'.join(diff) if diff else 'IDENTICAL pg_dump -s')
        return 1 if diff else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
