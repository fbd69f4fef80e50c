# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Retention policy: which backups of one series to keep, and why (pure: no I/O).

A series is the backups of one server + kind (+ database for logical backups);
retention is never applied across series. Rules, on complete backups only:

- keep_last N:    the N newest.
- keep_daily N:   the newest backup of each of the N most recent UTC days that have a backup
                  (days without a backup do not count); keep_weekly N: of ISO weeks (UTC);
                  keep_monthly N: of calendar months (UTC).
- max_age:        a cap: a backup that started longer ago than max_age is never kept by the
                  rules above. With no keep_* rule, every backup younger than max_age is kept.
- min_keep N:     the N newest complete backups are kept whatever the other rules say
                  (at least 1: the newest complete backup is never deleted, so pruning never
                  leaves a series without a complete backup).

A backup is kept when any rule keeps it; every decision lists its reasons.
Incomplete backups (no manifest) are not counted by any rule: one whose writer holds
its lease (format/lease.py: renewed within the lease time) is running and always kept;
of the others, those older than the grace period are deleted (an interrupted or failed
backup), younger ones are kept (the backup may still be starting). A policy without keep_last, keep_daily,
keep_weekly, keep_monthly and max_age is an error, never "delete everything".
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

from ..common.errors import BadInput
from ..common.times import parse_max_age
from ..format.lease import is_running

RULES = ('keep_last', 'keep_daily', 'keep_weekly', 'keep_monthly')
DEFAULT_GRACE = 86400


def _count(value, name, minimum=0):
    if value in (None, ''):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        raise BadInput('%s must be a whole number, got %r.' % (name, value))
    if number < minimum or number > 100000:
        raise BadInput('%s must be between %d and 100000, got %r.' % (name, minimum, value))
    return number


def _duration(value, name):
    try:
        return parse_max_age(value.strip() if isinstance(value, str) else value)
    except BadInput:
        raise BadInput('%s must be a number of seconds or a number with s, m, h, d or w (for example 24h), '
                       'got %r.' % (name, value))


def make_policy(keep_last=None, keep_daily=None, keep_weekly=None, keep_monthly=None, min_keep=1,
                max_age=None, grace_period=None):
    """Validate the options into a policy dict; BadInput when nothing is set or a value is wrong."""
    policy = {'keep_last': _count(keep_last, 'keep_last'), 'keep_daily': _count(keep_daily, 'keep_daily'),
              'keep_weekly': _count(keep_weekly, 'keep_weekly'),
              'keep_monthly': _count(keep_monthly, 'keep_monthly'),
              'min_keep': _count(1 if min_keep in (None, '') else min_keep, 'min_keep', minimum=1),
              'max_age': _duration(max_age, 'max_age'),
              'grace_period': DEFAULT_GRACE if grace_period in (None, '') else _duration(grace_period, 'grace_period')}
    if not any(policy[k] for k in RULES) and not policy['max_age']:
        raise BadInput('The retention policy keeps nothing: set at least one of keep_last, keep_daily, '
                       'keep_weekly, keep_monthly (above 0) or max_age.',
                       'Pruning never falls back to "delete everything"; for example keep_daily: 7, '
                       'keep_weekly: 4, keep_monthly: 6.')
    return policy


def _buckets(backups, key, count, label, reasons):
    """Keep the newest backup of each of the `count` newest periods that have one."""
    seen = []
    for b in backups:                      # newest first
        period = key(b['started_at'])
        if period in seen:
            continue
        if len(seen) == count:
            break
        seen.append(period)
        reasons[b['backup_id']].append('%s %s' % (label, _label(period)))


def _label(period):
    if period[0] == 'w':
        return '%04d-W%02d' % period[1:]
    if len(period) == 3:
        return '%04d-%02d-%02d' % period
    return '%04d-%02d' % period


def _utc(ts):
    return ts.astimezone(datetime.timezone.utc)


def _day(ts):
    ts = _utc(ts)
    return (ts.year, ts.month, ts.day)


def _week(ts):
    iso = _utc(ts).isocalendar()
    return ('w', iso[0], iso[1])


def _month(ts):
    ts = _utc(ts)
    return (ts.year, ts.month)


def decide(backups, policy, now, prune_incomplete=True):
    """Decide keep/delete for one series.

    backups: iterable of dicts (or tuples) backup_id, started_at (aware datetime), complete (bool);
    an incomplete backup's dict may carry lease_age (seconds since its lease was renewed, None: no lease).
    Returns one dict per backup, newest first: backup_id, started_at, complete, keep (bool), reasons ([str]).
    """
    items = []
    for b in backups:
        if not isinstance(b, dict):
            b = dict(zip(('backup_id', 'started_at', 'complete'), b))
        items.append({'backup_id': b['backup_id'], 'started_at': b['started_at'], 'complete': bool(b['complete']),
                      'lease_age': b.get('lease_age')})
    items.sort(key=lambda b: (b['started_at'], b['backup_id']), reverse=True)
    complete = [b for b in items if b['complete']]
    reasons = dict((b['backup_id'], []) for b in items)
    if policy['keep_last']:
        for n, b in enumerate(complete[:policy['keep_last']]):
            reasons[b['backup_id']].append('keep_last %d of %d' % (n + 1, policy['keep_last']))
    for rule, key, label in (('keep_daily', _day, 'daily'), ('keep_weekly', _week, 'weekly'),
                             ('keep_monthly', _month, 'monthly')):
        if policy[rule]:
            _buckets(complete, key, policy[rule], label, reasons)
    cutoff = now - datetime.timedelta(seconds=policy['max_age']) if policy['max_age'] else None
    any_rule = any(policy[k] for k in RULES)
    out = []
    index = 0
    for b in items:
        why = reasons[b['backup_id']]
        if not b['complete']:
            age = (now - b['started_at']).total_seconds()
            if is_running(b['lease_age']):
                keep, why = True, ['running (its lease was renewed %s ago)' % _span(b['lease_age'])]
            elif not prune_incomplete:
                keep, why = True, ['incomplete (prune_incomplete is off)']
            elif age > policy['grace_period']:
                keep, why = False, ['incomplete, started %s ago (grace period %s)'
                                    % (_span(age), _span(policy['grace_period']))]
            else:
                keep, why = True, ['incomplete, within the grace period (may still be running)']
            out.append(dict(b, keep=keep, reasons=why))
            continue
        index += 1
        too_old = cutoff is not None and b['started_at'] < cutoff
        if too_old:
            why = ['older than max_age %s' % _span(policy['max_age'])]
            keep = False
        elif not any_rule:
            why = ['younger than max_age %s' % _span(policy['max_age'])]
            keep = True
        else:
            keep = bool(why)
            if not keep:
                why = ['not selected by any keep rule']
        if index <= policy['min_keep']:
            if not keep:
                why = why + ['kept: min_keep %d (newest complete backups)' % policy['min_keep']]
            keep = True
        out.append(dict(b, keep=keep, reasons=why))
    return out


def _span(seconds):
    seconds = int(seconds)
    for unit, size in (('w', 604800), ('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size and seconds % size == 0:
            return '%d%s' % (seconds // size, unit)
    if seconds >= 86400:
        return '%.1fd' % (seconds / 86400.0)
    if seconds >= 3600:
        return '%.1fh' % (seconds / 3600.0)
    return '%ds' % seconds
