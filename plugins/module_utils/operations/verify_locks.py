# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""dbbackup_verify_locks: is the server's lock table large enough for dumps and restores?

Reads the settings that size the shared lock table, computes its nominal
capacity (postgres/locks.py has the formula per version), estimates what a
backup or a restore of the given databases (or backups, from their manifests)
needs, and returns a verdict with the exact remediation. With
apply_remediation it sets max_locks_per_transaction with ALTER SYSTEM (a
restart is still needed: the server sizes the table at start).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput
from .params import COMMON_DEFAULTS, prepare

DEFAULTS = dict(COMMON_DEFAULTS, databases=None, maintenance_db='postgres', backup_id='latest',
                operation='both', headroom_percent=25, simultaneous=False, fail_on_insufficient=False,
                apply_remediation=False)


def _prepare(params):
    p = prepare(params, DEFAULTS, need_database=False)
    if p['db_type'] != 'postgresql':
        raise BadInput('dbbackup_verify_locks checks PostgreSQL servers only; db_type must be postgresql, '
                       'got %r.' % (p['db_type'],))
    databases = p.get('databases') or []
    if isinstance(databases, str):
        databases = [d.strip() for d in databases.split(',') if d.strip()]
    if p.get('database'):
        databases = [p['database']] + [d for d in databases if d != p['database']]
    p['databases'] = list(databases)
    # repository counts only with database(s) to look up: a repository set for the whole module
    # group (module_defaults) must not turn a live check into an error
    p['from_backups'] = bool(p.get('repository') and p['databases'])
    return p


def _manifest_needs(p, jobs):
    from ..format.backups import backups_path, find_backup
    from ..postgres.locks import manifest_need
    from ..storage.factory import open_repository
    repo = open_repository(p)
    server = p['server_name']
    out = {}
    for name in p['databases']:
        manifest = find_backup(repo, backups_path(server, 'logical', name), p.get('backup_id'))
        out[name] = manifest_need(manifest, jobs)
    return out


def run_verify_locks(params, check_mode=False):
    from ..postgres.connection import connect
    from ..postgres import locks
    p = _prepare(params)
    operation, headroom = locks.check_options(p)
    admin = connect(p, dbname=p['maintenance_db'], autocommit=True,
                    application_name='dbbackup-verify-locks')
    try:
        facts = locks.server_facts(admin)
        if p['from_backups']:
            per_db = _manifest_needs(p, p['jobs'])
        else:
            per_db = locks.live_needs(p, admin, p['databases'], p['jobs'])
        needs = [locks.need_of(e, operation) for e in per_db.values()]
        if not needs:
            need = locks.CATALOG_LOCKS
        elif p.get('simultaneous'):
            # several dumps at once: catalog locks are shared, the rest adds up
            need = sum(needs) - locks.CATALOG_LOCKS * (len(needs) - 1)
        else:
            need = max(needs)
        current = facts['settings'][locks.SETTING]
        verdict = locks.verdict(need, facts['capacity'], headroom, facts['locks_in_use'])
        required = locks.recommended_value(need, facts['lock_slots'], headroom, current)
        pending = facts['pending_max_locks_per_transaction']
        result = dict(facts)
        result.update({
            'changed': False, 'operation': operation, 'jobs': p['jobs'], 'headroom_percent': headroom,
            'databases': per_db, 'need': need, 'verdict': verdict,
            'required_max_locks_per_transaction': required if verdict != 'ok' else current,
            'restart_required': bool(facts['pending_restart']
                                     or (pending is not None and pending != current)),
            'remediation': None,
        })
        if verdict != 'ok':
            new_cap = locks.lock_capacity(dict((k, str(v)) for k, v in facts['settings'].items()),
                                          facts['server_version_num'], required)['capacity']
            already = pending is not None and pending >= required
            result['remediation'] = {
                'setting': locks.SETTING, 'value': required, 'restart_required': True,
                'sql': 'ALTER SYSTEM SET %s = %d;' % (locks.SETTING, required),
                'new_capacity': new_cap, 'already_pending': already,
                'note': ('%s is read only at server start: restart PostgreSQL after setting it%s. Hot standbys '
                         'need at least the same value (set it there first).'
                         % (locks.SETTING, ' (it is already set and waits for that restart)' if already else '')),
            }
            if p.get('apply_remediation') and not already:
                result['changed'] = True
                if not check_mode:
                    locks.apply_setting(admin, required)
                    result['pending_max_locks_per_transaction'] = required
                    result['pending_restart'] = True
                result['restart_required'] = True
                result['remediation']['already_pending'] = not check_mode
    finally:
        admin.close()
    result['msg'] = _message(result, check_mode)
    if p.get('fail_on_insufficient') and verdict == 'insufficient':
        # the running server cannot do it, whether or not the fix is configured already
        result['failed'] = True
    return result


def _message(r, check_mode):
    head = ('Lock table: capacity %d (%s), %s needs %d: %s.'
            % (r['capacity'], r['capacity_formula'], r['operation'], r['need'], r['verdict']))
    rem = r.get('remediation')
    if not rem:
        return head
    if r['changed']:
        return head + (' %s %s = %d (effective after a restart).'
                       % ('Would set' if check_mode else 'Set', rem['setting'], rem['value']))
    if rem['already_pending']:
        return head + ' %s = %d is already configured and waits for a restart.' % (rem['setting'],
                                                                                   r['pending_max_locks_per_transaction'])
    return head + ' Set %s = %d (%s) and restart the server.' % (rem['setting'], rem['value'], rem['sql'])
