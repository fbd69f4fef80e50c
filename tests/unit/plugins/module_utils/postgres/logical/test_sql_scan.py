"""The statement scanner a restore uses on stored schema items (postgres/logical/sql_scan.py)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from plugins.module_utils.postgres.logical.restore_guard import INSIDE_RE, OWNER_RE
from plugins.module_utils.postgres.logical.sql_scan import masked, replace_in_code, split_statements

T = '@DBBACKUP_DATABASE@'


def test_token_replaced_only_in_code():
    sql = ("COMMENT ON DATABASE %s IS 'a;%s';\nALTER DATABASE %s SET x.y TO E'\\';%s';\n"
           "GRANT CONNECT ON DATABASE %s TO \"%s\"; -- %s\n/* %s /* %s */ */ SELECT $q$%s$q$;" % ((T,) * 10))
    out = replace_in_code(sql, T, '"db"')
    assert out == ("COMMENT ON DATABASE \"db\" IS 'a;%s';\nALTER DATABASE \"db\" SET x.y TO E'\\';%s';\n"
                   "GRANT CONNECT ON DATABASE \"db\" TO \"%s\"; -- %s\n/* %s /* %s */ */ SELECT $q$%s$q$;"
                   % ((T,) * 7))


def test_statements_split_at_semicolons_in_code_only():
    sql = ("ALTER TABLE \"a;b\".t OWNER TO \"x;\";\nGRANT SELECT ON TABLE \"a;b\".t TO PUBLIC;\n"
           "CREATE FUNCTION f() RETURNS int AS $f$ SELECT 1; $f$ LANGUAGE sql;\nCOMMENT ON TABLE t IS 'x;y'")
    assert split_statements(sql) == [
        'ALTER TABLE "a;b".t OWNER TO "x;";', 'GRANT SELECT ON TABLE "a;b".t TO PUBLIC;',
        'CREATE FUNCTION f() RETURNS int AS $f$ SELECT 1; $f$ LANGUAGE sql;', "COMMENT ON TABLE t IS 'x;y'"]


def test_owner_and_inside_patterns_see_code_only():
    assert OWNER_RE.match(masked('ALTER FUNCTION public."f OWNER TO x"(integer) OWNER TO "evil";'))
    assert not OWNER_RE.match(masked('GRANT ALL ON TABLE "ALTER TABLE t OWNER TO x;" TO PUBLIC;'))
    assert INSIDE_RE.match(masked("ALTER ROLE \"r\" IN DATABASE %s SET work_mem TO '1MB';" % T))
    assert INSIDE_RE.match(masked("COMMENT ON DATABASE %s IS 'GRANT';" % T))
    assert not INSIDE_RE.match(masked('GRANT CONNECT ON DATABASE %s TO "ALTER DATABASE x SET";' % T))
    assert not INSIDE_RE.match(masked('ALTER DATABASE %s CONNECTION LIMIT 5;' % T))
