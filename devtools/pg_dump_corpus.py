"""Regenerate tests/fixtures/pg_dump_corpus/ from PostgreSQL's own pg_dump tests.

    python3 devtools/pg_dump_corpus.py                 # fetch the Debian source package with apt-get
    python3 devtools/pg_dump_corpus.py --source FILE   # a 002_pg_dump.pl, or the .orig.tar.bz2 holding it

PostgreSQL tests pg_dump with the `create_sql` entries of src/bin/pg_dump/t/002_pg_dump.pl:
SQL that creates every kind of object pg_dump handles, run in order of `create_order`.
This script takes them from Debian's postgresql-15 source package (the version pinned
below: the server of the test suite), evaluates the test table with perl (JSON::PP, part
of Debian's perl) so no Perl quoting is parsed by hand, and writes

    00_roles.sql                 roles the entries need (run in the postgres database)
    10_postgres.sql              the entries of the postgres database, in create_order
    20_regress_public_owner.sql  the entries of the regress_public_owner database
    30_regress_pg_dump_test.sql  the entries of the regress_pg_dump_test database

each entry preceded by a comment with its test name. Entries left out are listed at the
top of 10_postgres.sql with the reason. Nothing in the fixture is edited by hand: run
this again to check or refresh it (apt needs a deb-src line for the Debian mirror, e.g.
/etc/apt/sources.list.d/debian-src.sources with Types: deb-src and the deb lines' URIs).
The SQL is PostgreSQL's, under the PostgreSQL License (SOURCE.md in the fixture).
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'tests', 'fixtures', 'pg_dump_corpus')
PACKAGE = 'postgresql-15'
VERSION = '15.18-0+deb12u1'
MEMBER = 'src/bin/pg_dump/t/002_pg_dump.pl'

# Evaluate the %tests table of 002_pg_dump.pl (the code between the first "my $tempdir ="
# and the creation of the test cluster defines only data) and print its create_sql entries.
PERL = r'''
use strict; use warnings; use JSON::PP;
my ($file) = @ARGV;
open(my $fh, '<', $file) or die "$file: $!";
my @lines = <$fh>; close $fh;
my ($start, $end);
for my $i (0..$#lines) {
  $start = $i + 1 if !defined $start && $lines[$i] =~ /^my \$tempdir = /;
  if ($lines[$i] =~ /^my \$node = PostgreSQL::Test::Cluster->new/) { $end = $i; last; }
}
die "layout of $file not recognised\n" unless defined $start && defined $end;
no warnings;
my $tests = eval("my \$tempdir = '/nonexistent';\n" . join('', @lines[$start .. $end - 1]) . "\n\\%tests;\n");
die $@ if $@;
my @out;
for my $name (sort keys %$tests) {
  my $t = $tests->{$name};
  next unless defined $t->{create_sql};
  push @out, {name => $name, create_order => $t->{create_order}, database => $t->{database} // 'postgres',
              create_sql => $t->{create_sql}};
}
print JSON::PP->new->canonical->pretty->encode(\@out);
'''

# Entries about other databases than the one dumped: a database backup does not hold them
# (cluster backups do, docs/cluster.md).
OTHER_DATABASES = {
    'CREATE DATABASE regression_invalid...': 'creates and breaks another database',
    'CREATE DATABASE dump_test': 'creates another database',
    "CREATE DATABASE dump_test2 LOCALE = 'C'": 'creates another database',
    'GRANT CREATE ON DATABASE dump_test': 'a privilege on another database',
    'REVOKE CONNECT ON DATABASE dump_test FROM public': 'a privilege on another database',
}
# Entries that create or change roles (cluster-wide): they go to 00_roles.sql. The last one
# mixes roles and tables: its role statements (no $$ bodies in it) are split off.
ROLE_ENTRIES = ('CREATE ROLE regress_dump_test_role', 'CREATE ROLE regress_quoted...')
MIXED_ENTRIES = ('newline of role or table name in comment',)
ROLE_PREFIXES = ('CREATE ROLE', 'ALTER ROLE')
DATABASE_FILES = (('postgres', '10_postgres.sql'), ('regress_public_owner', '20_regress_public_owner.sql'),
                  ('regress_pg_dump_test', '30_regress_pg_dump_test.sql'))


def fetch_source(workdir):
    """The orig tarball of the pinned Debian source package, downloaded with apt-get."""
    p = subprocess.run(['apt-get', 'source', '--download-only', '%s=%s' % (PACKAGE, VERSION)],
                       cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit('apt-get source %s=%s failed (is there a deb-src line for the Debian mirror?):\n%s'
                         % (PACKAGE, VERSION, p.stdout[-2000:]))
    tarballs = [f for f in os.listdir(workdir) if f.endswith('.orig.tar.bz2')]
    if not tarballs:
        raise SystemExit('apt-get source downloaded no .orig.tar.bz2 into %s' % workdir)
    return os.path.join(workdir, tarballs[0])


def test_script(source, workdir):
    """Path of 002_pg_dump.pl: source itself, or extracted from the tarball source."""
    if not source.endswith(('.tar.bz2', '.tar.gz', '.tar.xz')):
        return source
    with tarfile.open(source) as tar:
        for member in tar.getmembers():
            if member.name.endswith('/' + MEMBER):
                with tar.extractfile(member) as src, open(os.path.join(workdir, '002_pg_dump.pl'), 'wb') as dst:
                    dst.write(src.read())
                return os.path.join(workdir, '002_pg_dump.pl')
    raise SystemExit('%s holds no %s' % (source, MEMBER))


def entries(script):
    p = subprocess.run(['perl', '-e', PERL, script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       check=False)
    if p.returncode != 0:
        raise SystemExit('perl could not read %s: %s' % (script, p.stderr))
    found = json.loads(p.stdout)
    # create_order first (as the test does), entries without one last, then by name: deterministic
    return sorted(found, key=lambda e: (e['create_order'] is None, e['create_order'] or 0, e['name']))


def split_roles(sql):
    """(role statements, other statements) of an entry without $$ bodies."""
    roles, rest = [], []
    for stmt in sql.split(';'):
        if not stmt.strip():
            continue
        body = '\n'.join(line for line in stmt.strip().splitlines() if not line.strip().startswith('--'))
        (roles if body.lstrip().upper().startswith(ROLE_PREFIXES) else rest).append(stmt.strip() + ';')
    return '\n'.join(roles), '\n'.join(rest)


def entry_text(e, sql):
    return '-- %s (create_order %s)\n%s\n' % (e['name'].replace('\n', ' '), e['create_order'], sql.strip().rstrip(';') + ';')


def build(found, origin):
    files = dict((name, []) for dummy, name in DATABASE_FILES)
    roles, left_out = [], []
    by_database = dict(DATABASE_FILES)
    for e in found:
        if e['name'] in OTHER_DATABASES:
            left_out.append('--   %s: %s' % (e['name'], OTHER_DATABASES[e['name']]))
        elif e['name'] in ROLE_ENTRIES:
            roles.append(entry_text(e, e['create_sql']))
        elif e['name'] in MIXED_ENTRIES:
            role_sql, rest = split_roles(e['create_sql'])
            roles.append(entry_text(e, role_sql))
            files[by_database[e['database']]].append(entry_text(e, rest))
        elif e['database'] in by_database:
            files[by_database[e['database']]].append(entry_text(e, e['create_sql']))
        else:
            raise SystemExit('entry %r is for database %r, which this script does not know' % (e['name'], e['database']))
    head = ('-- Generated by devtools/pg_dump_corpus.py from %s (%s %s); do not edit.\n'
            '-- PostgreSQL Global Development Group, PostgreSQL License: see SOURCE.md.\n' % (MEMBER, PACKAGE, VERSION))
    out = {'00_roles.sql': head + '\n'.join(roles)}
    for database, name in DATABASE_FILES:
        text = head + '-- Entries of database %s.\n' % database
        if name == '10_postgres.sql':
            text += '-- Left out (%d): about other databases than this one, which a database backup does not hold:\n%s\n' % (
                len(left_out), '\n'.join(left_out))
        out[name] = text + '\n'.join(files[name])
    out['SOURCE.md'] = SOURCE_MD % {'package': PACKAGE, 'version': VERSION, 'member': MEMBER, 'origin': origin,
                                    'count': sum(len(v) for v in files.values()), 'left': len(left_out)}
    return out


SOURCE_MD = """# pg_dump's own test corpus

The SQL files here are the `create_sql` entries of `%(member)s` from Debian's
`%(package)s` source package, version `%(version)s` (%(origin)s): the objects PostgreSQL
itself creates to test pg_dump, one entry per test, in the tests' `create_order`.
%(count)d entries are loaded; %(left)d are left out (listed with the reason at the top of
`10_postgres.sql`: they concern other databases, which a database backup does not hold).
Role statements go to `00_roles.sql`, run in the `postgres` database first.

Generated by `devtools/pg_dump_corpus.py` (it fetches the package with `apt-get source`,
evaluates the test table with perl and writes these files); do not edit them by hand.
`tests/integration/test_pg_dump_corpus.py` loads them and round-trips each database through
a backup and a restore, compared with `pg_dump -s` and the data.

License: the SQL comes from PostgreSQL, (c) 1996-2022 The PostgreSQL Global Development Group,
(c) 1994 The Regents of the University of California, under the PostgreSQL License
(https://www.postgresql.org/about/licence/):

> Permission to use, copy, modify, and distribute this software and its documentation for any
> purpose, without fee, and without a written agreement is hereby granted, provided that the above
> copyright notice and this paragraph and the following two paragraphs appear in all copies.
>
> IN NO EVENT SHALL THE UNIVERSITY OF CALIFORNIA BE LIABLE TO ANY PARTY FOR DIRECT, INDIRECT,
> SPECIAL, INCIDENTAL, OR CONSEQUENTIAL DAMAGES, INCLUDING LOST PROFITS, ARISING OUT OF THE USE OF
> THIS SOFTWARE AND ITS DOCUMENTATION, EVEN IF THE UNIVERSITY OF CALIFORNIA HAS BEEN ADVISED OF THE
> POSSIBILITY OF SUCH DAMAGE.
>
> THE UNIVERSITY OF CALIFORNIA SPECIFICALLY DISCLAIMS ANY WARRANTIES, INCLUDING, BUT NOT LIMITED TO,
> THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE. THE SOFTWARE
> PROVIDED HEREUNDER IS ON AN "AS IS" BASIS, AND THE UNIVERSITY OF CALIFORNIA HAS NO OBLIGATIONS TO
> PROVIDE MAINTENANCE, SUPPORT, UPDATES, ENHANCEMENTS, OR MODIFICATIONS.
"""


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--source', help='002_pg_dump.pl, or the .orig.tar.bz2 that holds it (default: apt-get source)')
    parser.add_argument('--check', action='store_true', help='only compare with the files in the fixture')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='pg_dump_corpus-') as workdir:
        source = args.source or fetch_source(workdir)
        files = build(entries(test_script(source, workdir)), '`apt-get source %s=%s`' % (PACKAGE, VERSION))
    if args.check:
        stale = [n for n, text in sorted(files.items())
                 if not os.path.exists(os.path.join(OUT, n)) or open(os.path.join(OUT, n)).read() != text]
        print('fixture is up to date' if not stale else 'differs: %s' % ', '.join(stale))
        return 1 if stale else 0
    os.makedirs(OUT, exist_ok=True)
    for name, text in sorted(files.items()):
        with open(os.path.join(OUT, name), 'w') as f:
            f.write(text)
    print('wrote %s (%d files)' % (OUT, len(files)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
