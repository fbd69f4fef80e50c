"""Retention decisions (plugins/module_utils/operations/retention.py) against tables derived by hand.

The 90-day data set and its expected kept sets are in tests/support/retention_tables.py
(with the derivation); the edge cases spell their expectation out inline.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime

import pytest

from plugins.module_utils.common.errors import BadInput
from plugins.module_utils.operations.retention import decide, make_policy
from tests.support import retention_tables as T

UTC = datetime.timezone.utc


def _at(text):
    return datetime.datetime.strptime(text, '%Y%m%dT%H%M%SZ').replace(tzinfo=UTC)


def _kept(decisions, complete=True):
    return sorted(d['backup_id'] for d in decisions if d['keep'] and d['complete'] == complete)


def test_app_90_days():
    backups = [(T.backup_id(t), t, True) for t in T.app_times()]
    assert len(backups) == 84 + 16      # 90 days - 6 without backups; 14:00 extras: 6 Jan, 4 Feb, 6 Mar
    decisions = decide(backups, make_policy(**T.APP_POLICY), T.NOW)
    assert _kept(decisions) == T.APP_KEPT
    reasons = dict((d['backup_id'], d['reasons']) for d in decisions)
    assert reasons['20260331T020000Z'] == ['keep_last 1 of 3', 'daily 2026-03-31', 'weekly 2026-W14',
                                           'monthly 2026-03']
    assert reasons['20260315T140000Z'] == ['weekly 2026-W11']
    assert reasons['20260131T020000Z'] == ['monthly 2026-01']
    assert reasons['20260315T020000Z'] == ['not selected by any keep rule']
    assert [d['backup_id'] for d in decisions][:2] == ['20260331T020000Z', '20260330T140000Z']  # newest first


def test_crm_90_days_with_max_age_and_incomplete():
    backups = [(T.backup_id(t), t, True) for t in T.crm_times()]
    backups += [(T.backup_id(t), t, False) for t in T.crm_incomplete_times()]
    decisions = decide(backups, make_policy(**T.CRM_POLICY), T.NOW)
    assert _kept(decisions) == T.CRM_KEPT_COMPLETE
    assert _kept(decisions, complete=False) == [T.CRM_INCOMPLETE_YOUNG]
    by_id = dict((d['backup_id'], d) for d in decisions)
    assert by_id[T.CRM_INCOMPLETE_OLD]['keep'] is False
    assert 'incomplete' in by_id[T.CRM_INCOMPLETE_OLD]['reasons'][0]
    assert by_id['20260131T033000Z']['reasons'] == ['older than max_age 50d']
    assert by_id['20260228T033000Z']['reasons'] == ['monthly 2026-02']


def test_same_policy_per_series_is_independent():
    """The app policy on crm's data keeps crm's own newest backups (series never mix)."""
    backups = [(T.backup_id(t), t, True) for t in T.crm_times()]
    kept = _kept(decide(backups, make_policy(**T.APP_POLICY), T.NOW))
    # last 3: 0330 0328 0326; daily 7: 0330 .. 0318 (every other day);
    # weekly 4: W14 0330 (Mon), W13 0328 (Sat), W12 0322 (Sun), W11 0314 (Sat); monthly 3: 0330, 0228, 0131
    assert kept == sorted(['20260330T033000Z', '20260328T033000Z', '20260326T033000Z', '20260324T033000Z',
                           '20260322T033000Z', '20260320T033000Z', '20260318T033000Z', '20260314T033000Z',
                           '20260228T033000Z', '20260131T033000Z'])


def test_only_one_complete_backup_is_never_deleted():
    old = _at('20250101T000000Z')
    decisions = decide([('20250101T000000Z', old, True)], make_policy(max_age='1d'), T.NOW)
    assert decisions[0]['keep'] is True
    assert decisions[0]['reasons'] == ['older than max_age 1d', 'kept: min_keep 1 (newest complete backups)']


def test_incomplete_newest_does_not_count():
    backups = [('20260331T100000Z', _at('20260331T100000Z'), False),     # running (2 h old)
               ('20260330T100000Z', _at('20260330T100000Z'), True),
               ('20260329T100000Z', _at('20260329T100000Z'), True)]
    decisions = decide(backups, make_policy(keep_last=1), T.NOW)
    keep = dict((d['backup_id'], d['keep']) for d in decisions)
    assert keep == {'20260331T100000Z': True, '20260330T100000Z': True, '20260329T100000Z': False}
    # prune_incomplete off: incomplete ones are kept whatever their age
    backups[0] = ('20260301T100000Z', _at('20260301T100000Z'), False)
    decisions = decide(backups, make_policy(keep_last=1), T.NOW, prune_incomplete=False)
    assert [d['keep'] for d in decisions if not d['complete']] == [True]
    decisions = decide(backups, make_policy(keep_last=1, grace_period='40d'), T.NOW)
    assert [d['keep'] for d in decisions if not d['complete']] == [True]
    decisions = decide(backups, make_policy(keep_last=1, grace_period='29d'), T.NOW)
    assert [d['keep'] for d in decisions if not d['complete']] == [False]


def test_max_age_against_min_keep():
    ids = ['202603%02dT000000Z' % d for d in (1, 2, 3, 4, 5)]
    backups = [(i, _at(i), True) for i in ids]
    decisions = decide(backups, make_policy(max_age='7d', min_keep=2), T.NOW)
    assert _kept(decisions) == ids[3:]
    # with a keep rule, max_age caps it: keep_last 5 keeps only what is younger than max_age
    decisions = decide(backups, make_policy(keep_last=5, max_age='28d', min_keep=1), T.NOW)
    assert _kept(decisions) == ids[3:]          # Mar 4 and 5 are younger than 28 days (cutoff Mar 3 12:00)
    # max_age alone keeps everything younger
    decisions = decide(backups, make_policy(max_age='30d'), T.NOW)
    assert _kept(decisions) == ids[1:]
    assert [d['reasons'] for d in decisions][0] == ['younger than max_age 30d']


def test_gfs_counts_periods_with_backups_only():
    ids = ['20260101T000000Z', '20260201T000000Z', '20260215T000000Z', '20260310T000000Z']
    decisions = decide([(i, _at(i), True) for i in ids], make_policy(keep_daily=3), T.NOW)
    assert _kept(decisions) == ids[1:]          # 3 days that have a backup, however far apart
    decisions = decide([(i, _at(i), True) for i in ids], make_policy(keep_monthly=2), T.NOW)
    assert _kept(decisions) == ['20260215T000000Z', '20260310T000000Z']   # newest of Feb, newest of Mar


def test_week_boundary_is_iso_and_utc():
    # Sunday 2026-01-04 23:30 UTC is ISO week 1, Monday 2026-01-05 00:10 UTC is week 2
    ids = ['20260104T233000Z', '20260105T001000Z', '20260103T100000Z']
    decisions = decide([(i, _at(i), True) for i in ids], make_policy(keep_weekly=2), T.NOW)
    assert _kept(decisions) == ['20260104T233000Z', '20260105T001000Z']
    aware = datetime.datetime(2026, 1, 5, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    decisions = decide([('x', aware, True), ('y', _at('20260104T100000Z'), True)], make_policy(keep_weekly=1),
                       T.NOW)
    # 00:30 at +02:00 is Sunday 22:30 UTC: same ISO week as y, and newer -> only x kept
    assert [d['backup_id'] for d in decisions if d['keep']] == ['x']


@pytest.mark.parametrize('options,words', [
    ({}, 'keeps nothing'),
    ({'keep_last': 0}, 'keeps nothing'),
    ({'keep_last': 3, 'min_keep': 0}, 'min_keep must be between 1'),
    ({'keep_daily': -1}, 'keep_daily must be between 0'),
    ({'keep_weekly': 'many'}, 'keep_weekly must be a whole number'),
    ({'keep_last': True}, 'keep_last must be a whole number'),
    ({'max_age': '3 parsecs'}, 'max_age must be'),
    ({'keep_last': 1, 'grace_period': 'soon'}, 'grace_period must be'),
])
def test_bad_policies(options, words):
    with pytest.raises(BadInput) as e:
        make_policy(**options)
    assert words in str(e.value)
