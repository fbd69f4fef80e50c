"""Fixture version markers (tests/support/versioned_sql.py) and the version facts of the engine."""
import pytest

from plugins.module_utils.common.errors import BadInput
from plugins.module_utils.mysql.capabilities import release_of
from plugins.module_utils.mysql.logical.globals import grant_statement
from plugins.module_utils.postgres.capabilities import Capabilities, check_restore_target
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


def test_postgres_capabilities():
    assert Capabilities(130012).icu_locale_column.startswith('CASE')
    assert Capabilities(150004).icu_locale_column == 'c.colliculocale'
    assert Capabilities(170002).icu_locale_column == 'c.colllocale'
    assert Capabilities(140000).partition_trigger_clones_internal
    assert not Capabilities(150000).partition_trigger_clones_internal
    check_restore_target(130000, 170000)
    check_restore_target(150004, 150001)        # minor versions do not matter
    check_restore_target(None, 130000)          # an old manifest without a version
    with pytest.raises(BadInput, match='older major version'):
        check_restore_target(170002, 130012)


def test_mariadb_release_and_proxy_grants_of_10_5():
    assert release_of(100517) == (10, 5) and release_of(110802) == (11, 8) and release_of(101106) < (11, 8)
    line = "GRANT PROXY ON ''@'%' TO 'root'@'127.0.0.1' WITH GRANT OPTION"
    assert grant_statement(line, '`root`@`127.0.0.1`') == line
    assert grant_statement(line, '`root`@`localhost`') is None
