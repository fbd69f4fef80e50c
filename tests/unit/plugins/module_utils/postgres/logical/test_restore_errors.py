"""Restore error messages: the statement that failed, and whether the backup or the target is the cause."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from plugins.module_utils.postgres.logical.restore_errors import split_statements, target_is_cause


class FakeError(Exception):
    def __init__(self, pgcode, message):
        super(FakeError, self).__init__(message)
        self.pgcode = pgcode
        self.pgerror = 'ERROR:  %s\n' % message


def test_statements_split_at_top_level_semicolons_only():
    sql = ("CREATE TABLE t (a text DEFAULT 'x;y', \"b;c\" int);\n"
           "COMMENT ON TABLE t IS E'it''s; \\\\'';' -- a comment; with a semicolon\n"
           ";\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$BEGIN RETURN 1; END$body$;\n"
           "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; "
           "SELECT 2; END;\n/* a; comment */ ALTER TABLE t OWNER TO r;")
    out = split_statements(sql)
    assert len(out) == 5, out
    assert out[0].startswith('CREATE TABLE t') and out[0].endswith(');')
    assert out[1].startswith('COMMENT ON TABLE t') and out[1].endswith(';')
    assert out[2].endswith('END$body$;')
    assert out[3].startswith('CREATE FUNCTION g()') and out[3].endswith('SELECT 2; END;')
    assert out[4].endswith('ALTER TABLE t OWNER TO r;')


def test_cause_is_the_target_for_what_it_lacks_or_refuses():
    assert target_is_cause(FakeError('42704', 'role "app_owner" does not exist'))
    assert target_is_cause(FakeError('42704', 'tablespace "fast" does not exist'))
    assert target_is_cause(FakeError('58P01', 'could not open extension control file "x.control"'))
    assert target_is_cause(FakeError('42501', 'permission denied for schema public'))
    assert target_is_cause(FakeError('53100', 'could not extend file: No space left on device'))
    assert target_is_cause(FakeError('0A000', 'compression method lz4 not supported'))


def test_cause_is_the_backup_for_sql_that_does_not_fit():
    assert not target_is_cause(FakeError('42P01', 'relation "public.t" does not exist'))
    assert not target_is_cause(FakeError('42704', 'type "public.mytext" does not exist'))
    assert not target_is_cause(FakeError('42601', 'syntax error at or near "("'))
    assert not target_is_cause(FakeError('42P07', 'relation "t" already exists'))
    assert not target_is_cause(FakeError('23514', 'check constraint "c" is violated by some row'))
