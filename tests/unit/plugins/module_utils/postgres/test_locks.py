"""Lock-table capacity per PostgreSQL version, verdicts and recommended values (no server)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from plugins.module_utils.common.errors import BadInput
from plugins.module_utils.postgres import locks

DEFAULTS = {'max_locks_per_transaction': '64', 'max_connections': '100', 'max_prepared_transactions': '0',
            'autovacuum_max_workers': '3', 'max_worker_processes': '8', 'max_wal_senders': '10'}


@pytest.mark.parametrize('version_num, backends', [
    (110000, 100 + 3 + 1 + 8),            # WAL senders counted inside max_connections
    (120000, 100 + 3 + 1 + 8 + 10),       # PG 12-16: + autovacuum launcher
    (150008, 100 + 3 + 1 + 8 + 10),
    (160004, 100 + 3 + 1 + 8 + 10),
    (170002, 100 + 3 + 8 + 10 + 2),       # PG 17: NUM_SPECIAL_WORKER_PROCS = 2
])
def test_max_backends_follows_initialize_max_backends(version_num, backends):
    assert locks.max_backends(DEFAULTS, version_num)[0] == backends


def test_pg18_uses_autovacuum_worker_slots():
    settings = dict(DEFAULTS, autovacuum_worker_slots='16')
    assert locks.max_backends(settings, 180000)[0] == 100 + 16 + 8 + 10 + 2


def test_capacity_includes_prepared_transactions_and_shows_the_formula():
    settings = dict(DEFAULTS, max_prepared_transactions='20')
    cap = locks.lock_capacity(settings, 150000)
    assert cap['lock_slots'] == 122 + 20
    assert cap['capacity'] == 64 * 142
    assert cap['formula'].endswith('= %d' % (64 * 142))
    assert '20 max_prepared_transactions' in cap['formula']
    assert locks.lock_capacity(settings, 150000, max_locks=128)['capacity'] == 128 * 142


@pytest.mark.parametrize('need, in_use, expected', [
    (1000, 0, 'ok'), (7000, 0, 'warning'), (6000, 2000, 'warning'), (7809, 0, 'insufficient'),
])
def test_verdict(need, in_use, expected):
    assert locks.verdict(need, 7808, 25, in_use) == expected


def test_recommended_value_restores_headroom_and_never_lowers():
    value = locks.recommended_value(20000, 122, 25, 64)
    assert value % 32 == 0
    assert value * 122 * 0.75 >= 20000
    assert (value - 32) * 122 * 0.75 < 20000
    assert locks.recommended_value(10, 122, 25, 256) == 256
    assert locks.recommended_value(10, 122, 25, 10) == 64


def test_manifest_need_is_an_upper_bound_from_counts():
    manifest = {'backup_id': 'x', 'totals': {'large_objects': 7}, 'files': [
        {'role': 'pre-data', 'items': 30}, {'role': 'post-data', 'items': 40},
        {'role': 'data', 'schema': 'public', 'name': 'a'},
        {'role': 'data', 'schema': 'public', 'name': 'b', 'chunk': 0, 'chunks': 2},
        {'role': 'data', 'schema': 'public', 'name': 'b', 'chunk': 1, 'chunks': 2},
        {'role': 'blobs', 'count': 7}]}
    need = locks.manifest_need(manifest, 2)
    assert need['relations'] == {'tables': 2, 'pre_data_items': 30, 'post_data_items': 40, 'large_objects': 7}
    assert need['restore_need'] == locks.CATALOG_LOCKS + 2 * locks.SESSION_LOCKS + 2 * 2 + 40
    assert need['source'] == 'manifest'


@pytest.mark.parametrize('params', [{'operation': 'dump'}, {'headroom_percent': 95}, {'headroom_percent': 'x'}])
def test_bad_options(params):
    with pytest.raises(BadInput):
        locks.check_options(params)
