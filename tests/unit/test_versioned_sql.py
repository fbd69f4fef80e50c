"""Fixture version markers (tests/support/versioned_sql.py); the engine's version facts: test_capabilities.py."""
import pytest

from plugins.module_utils.mysql.logical.globals import grant_statement
from tests.support.versioned_sql import for_version

TEXT = 'a\n-- @since 15\nb\n-- @end\n-- @until 15\n-- | c\n-- @end\nd\n'


def test_since_and_until_blocks():
    assert for_version(TEXT, '13').splitlines()[1:-1] == ['-- @since 15', '-- @end', '-- @until 15', 'c', '-- @end']
    for version in ('15', '17'):
        assert 'b' in for_version(TEXT, version).splitlines() and 'c' not in for_version(TEXT, version).splitlines()
    assert for_version('x\n-- @since 10.10\ny\n-- @end\n', '10.5') == 'x\n-- @since 10.10\n-- @end\n'
    assert for_version('x\n-- @since 10.10\ny\n-- @end\n', '10.11') == 'x\n-- @since 10.10\ny\n-- @end\n'


@pytest.mark.parametrize('text', ['-- @since 15\nb\n', '-- @end\n', '-- @until 15\nplain\n-- @end\n',
                                  '-- @since 15\n-- @since 16\n-- @end\n'])
def test_malformed_markers_are_refused(text):
    with pytest.raises(ValueError):
        for_version(text, '13')


def test_proxy_grants_of_mariadb_10_5():
    line = "GRANT PROXY ON ''@'%' TO 'root'@'127.0.0.1' WITH GRANT OPTION"
    assert grant_statement(line, '`root`@`127.0.0.1`') == line
    assert grant_statement(line, '`root`@`localhost`') is None
