"""The version facts of the engine, per version, and that they live in the capabilities objects only."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import re

import pytest

import plugins.module_utils as engine_package
from plugins.module_utils.common.errors import BadInput
from plugins.module_utils.mysql.capabilities import Capabilities as MyCaps, release_of
from plugins.module_utils.postgres.capabilities import CATALOG_COLUMNS, Capabilities, check_restore_target

ENGINE = os.path.dirname(os.path.abspath(engine_package.__file__))

# The catalog columns each PostgreSQL major has, of those the readers need that 13 lacks or that
# appeared since (capabilities.CATALOG_COLUMNS).
PG13 = {'pg_aggregate.aggfinalmodify', 'pg_aggregate.aggmfinalmodify', 'pg_publication.pubtruncate',
        'pg_publication.pubviaroot', 'pg_statistic_ext.stxstattarget', 'pg_trigger.tgparentid'}
PG14 = PG13 | {'pg_attribute.attcompression', 'pg_type.typsubscript', 'pg_range.rngmultitypid',
               'pg_subscription.subbinary', 'pg_subscription.substream'}
PG15 = PG14 | {'pg_subscription.subtwophasestate', 'pg_subscription.subdisableonerr', 'pg_publication_rel.prqual',
               'pg_publication_rel.prattrs', 'pg_database.datlocprovider', 'pg_collation.colliculocale'}
PG16 = PG15 | {'pg_collation.collicurules', 'pg_auth_members.inherit_option', 'pg_auth_members.set_option',
               'pg_subscription.subpasswordrequired', 'pg_subscription.subrunasowner', 'pg_subscription.suborigin'}
PG17 = PG16 - {'pg_collation.colliculocale'} | {'pg_subscription.subfailover', 'pg_collation.colllocale'}

# (version_num, columns, 13/14 trigger clones internal, TID range scans, multiranges, 16's membership
#  options, publication schemas, the ICU locale expression)
PG_FACTS = [
    (130012, PG13, True, False, False, False, False, "CASE WHEN c.collprovider = 'i' THEN c.collcollate END"),
    (140009, PG14, True, True, True, False, False, "CASE WHEN c.collprovider = 'i' THEN c.collcollate END"),
    (150004, PG15, False, True, True, False, True, 'c.colliculocale'),
    (160002, PG16, False, True, True, True, True, 'c.colliculocale'),
    (170012, PG17, False, True, True, True, True, 'c.colllocale'),
]


@pytest.mark.parametrize('num, columns, clones_internal, tid_ranges, multiranges, membership, schemas, locale',
                         PG_FACTS, ids=lambda v: str(v) if isinstance(v, int) else '')
def test_postgres_facts_per_version(num, columns, clones_internal, tid_ranges, multiranges, membership, schemas,
                                    locale):
    caps = Capabilities(num)
    assert set('%s.%s' % k for k in CATALOG_COLUMNS if caps.has_column(*k)) == columns
    assert caps.partition_trigger_clones_internal is clones_internal
    assert caps.tid_range_scans is tid_ranges and caps.multiranges is multiranges
    assert caps.membership_options is membership and caps.has_catalog('pg_publication_namespace') is schemas
    assert caps.icu_locale_column == locale
    assert caps.table_access_methods and caps.drop_database_force
    failover = 's.subfailover' if num >= 170000 else 'false'
    assert caps.column('s', 'pg_subscription', 'subfailover', 'false') == failover
    shown = caps.shown_triggers('g')
    assert ('g.tgparentid' in shown) is clones_internal and shown.startswith(('NOT g.tgisinternal', '(NOT'))


@pytest.mark.parametrize('num, functions, idle, stats_temp, pause_state, parameter_grants', [
    (130012, ('pg_start_backup', 'pg_stop_backup'), False, True, False, False),
    (140009, ('pg_start_backup', 'pg_stop_backup'), True, True, True, False),
    (150004, ('pg_backup_start', 'pg_backup_stop'), True, False, True, True),
    (170012, ('pg_backup_start', 'pg_backup_stop'), True, False, True, True),
], ids=lambda v: str(v) if isinstance(v, int) else '')
def test_physical_facts_per_version(num, functions, idle, stats_temp, pause_state, parameter_grants):
    caps = Capabilities(num)
    assert caps.backup_functions == functions
    assert caps.idle_session_timeout is idle and caps.stats_temp_directory is stats_temp
    assert caps.replay_pause_state is pause_state and caps.parameter_privileges is parameter_grants


def test_objects_a_newer_major_catalogs_by_itself():
    """PostgreSQL 17 catalogs a domain's NOT NULL as a constraint: expected only in upgrades from before 17."""
    assert Capabilities(170002).catalogued_flags(13) == {('domain constraint', 'n')}
    assert Capabilities(170002).catalogued_flags(15) == {('domain constraint', 'n')}
    assert Capabilities(170002).catalogued_flags(17) == set()
    assert Capabilities(150004).catalogued_flags(13) == set()


def test_server_set_column_options_are_left_out():
    sql = Capabilities(170012).attribute_options('a.attoptions')
    assert "<> 'pg_attver'" in sql and 'a.attoptions' in sql


@pytest.mark.parametrize('num, terms', [
    (110000, ['max_connections', 'autovacuum_max_workers', ('autovacuum launcher', 1), 'max_worker_processes']),
    (150008, ['max_connections', 'autovacuum_max_workers', ('autovacuum launcher', 1), 'max_worker_processes',
              'max_wal_senders']),
    (170002, ['max_connections', 'autovacuum_max_workers', 'max_worker_processes', 'max_wal_senders',
              ('special worker processes (autovacuum launcher, slot sync worker)', 2)]),
    (180000, ['max_connections', 'autovacuum_worker_slots', 'max_worker_processes', 'max_wal_senders',
              ('special worker processes (autovacuum launcher, slot sync worker)', 2)]),
])
def test_max_backends_terms(num, terms):
    assert Capabilities(num).max_backends_terms() == terms


def test_postgres_restore_target():
    check_restore_target(130000, 170000)
    check_restore_target(150004, 150001)        # minor versions do not matter
    check_restore_target(None, 130000)          # an old manifest without a version
    with pytest.raises(BadInput, match='older major version'):
        check_restore_target(170002, 130012)


@pytest.mark.parametrize('flavor, num, status, gtid, text_types, check_switch, role', [
    ('mariadb', 100517, 'SHOW BINLOG STATUS', 'SELECT @@GLOBAL.gtid_binlog_pos', ('uuid', 'inet4', 'inet6'), True,
     'is_role'),
    ('mariadb', 100501, 'SHOW MASTER STATUS', 'SELECT @@GLOBAL.gtid_binlog_pos', ('uuid', 'inet4', 'inet6'), True,
     'is_role'),
    ('mariadb', 110802, 'SHOW BINLOG STATUS', 'SELECT @@GLOBAL.gtid_binlog_pos', ('uuid', 'inet4', 'inet6'), True,
     'is_role'),
    ('mysql', 80036, 'SHOW MASTER STATUS', None, ('json',), False, "'N'"),
    ('mysql', 80400, 'SHOW BINARY LOG STATUS', None, ('json',), False, "'N'"),
])
def test_mysql_facts(flavor, num, status, gtid, text_types, check_switch, role):
    caps = MyCaps(flavor, num)
    assert caps.binlog_status_sql == status and caps.gtid_position_sql == gtid
    assert caps.text_input_types == text_types and caps.check_constraint_checks is check_switch
    assert caps.account_role_column == role


def test_mariadb_release():
    assert release_of(100517) == (10, 5) and release_of(110802) == (11, 8) and release_of(101106) < (11, 8)
    assert MyCaps('mariadb', 101106).release == (10, 11)


VERSION_CHECK = re.compile(r'(version|_num|\bv)\s*(>=|<=|<|>)\s*\d{5,6}\b|\bflavor\s*[!=]=|\bis_mariadb\b')


def test_version_checks_live_in_the_capabilities_objects():
    assert os.path.isfile(os.path.join(ENGINE, 'api.py')), ENGINE     # the engine, not a folder of tests
    found = []
    for folder, _dirs, files in os.walk(ENGINE):
        rel = os.path.relpath(folder, ENGINE)
        for name in files:
            if not name.endswith('.py') or name == 'capabilities.py':
                continue
            with open(os.path.join(folder, name)) as f:
                for n, line in enumerate(f, 1):
                    if VERSION_CHECK.search(line) and not line.lstrip().startswith('#'):
                        found.append('%s:%d: %s' % (os.path.join(rel, name), n, line.strip()))
    allowed = [x for x in found if x.startswith('mysql/connection.py') and 'is_mariadb' in x]   # where flavor is read
    assert sorted(set(found) - set(allowed)) == [], 'compare versions in capabilities.py:\n' + '\n'.join(found)
