# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drop a database that a restore created from a backup (state=absent): DR-drill clean-up.

With leftovers: true, drop instead what killed restores left (_dbbackup_restore_* and
_dbbackup_old_* databases that no running restore uses).

Only a database that carries dbbackup's restore marker for a backup of the
named source database (server/database/...) is dropped, and never the source
database itself, so a typo cannot drop a production database. A database
that does not exist is already absent (changed false).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput


def _check_marker(p, target, marker):
    prefix = '%s/%s/' % (p['server_name'], p['database'])
    if marker is None or not marker.startswith(prefix):
        raise BadInput('Database %s was not restored by dbbackup from a backup of %s (server %s)%s; it was '
                       'not dropped.' % (target, p['database'], p['server_name'],
                                         '' if marker is None else ' (it holds %s)' % marker),
                       'state=absent only removes scratch copies made by dbbackup_restore; drop other '
                       'databases yourself.')


def _drop_postgres(p, target, check_mode):
    from ..postgres.capabilities import Capabilities
    from ..postgres.connection import connect, quote_ident
    from ..postgres.logical.restore import MAINTENANCE_DB, target_state
    admin = connect(p, dbname=MAINTENANCE_DB, autocommit=True)
    try:
        exists, marker = target_state(admin, target)
        if not exists:
            return False, None
        _check_marker(p, target, marker)
        if not check_mode:
            force = ' WITH (FORCE)' if Capabilities(admin.server_version).drop_database_force else ''
            admin.cursor().execute('DROP DATABASE %s%s' % (quote_ident(target), force))
        return True, marker
    finally:
        admin.close()


def _drop_mysql(p, target, check_mode):
    from ..mysql.connection import connect, quote_ident
    from ..mysql.logical.restore import MARKER_SCHEMA, MARKER_TABLE, target_state
    admin = connect(p)
    try:
        exists, marker = target_state(admin, target)
        if not exists:
            return False, None
        _check_marker(p, target, marker)
        if not check_mode:
            cur = admin.cursor()
            cur.execute('DROP DATABASE %s' % quote_ident(target))
            cur.execute('DELETE FROM %s.%s WHERE database_name = %%s'
                        % (quote_ident(MARKER_SCHEMA), quote_ident(MARKER_TABLE)), (target,))
        return True, marker
    finally:
        admin.close()


def drop_leftovers(p, check_mode=False):
    """leftovers: true: drop the databases killed restores left (postgres/logical/leftovers.py)."""
    if p['db_type'] != 'postgresql':
        raise BadInput('leftovers applies to PostgreSQL; MySQL/MariaDB restores keep their temporary tables '
                       'in the _dbbackup database.')
    if p.get('target_database'):
        raise BadInput('leftovers drops the databases killed restores left; it does not take target_database.')
    from ..postgres.connection import connect
    from ..postgres.logical.leftovers import drop_leftovers as drop
    from ..postgres.logical.restore import MAINTENANCE_DB
    admin = connect(p, dbname=MAINTENANCE_DB, autocommit=True)
    try:
        dropped, busy = drop(admin, check_mode)
    finally:
        admin.close()
    msg = '%d leftover database(s) of killed restores %sdropped' % (len(dropped), 'would be ' if check_mode else '')
    if busy:
        msg += '; %d in use by a running restore (or a session) left alone: %s' % (
            len(busy), ', '.join(b['database'] for b in busy))
    return {'changed': bool(dropped), 'dropped': [d['database'] for d in dropped],
            'in_use': [b['database'] for b in busy], 'msg': msg + '.'}


def drop_restored(p, check_mode=False):
    if p.get('leftovers'):
        return drop_leftovers(p, check_mode)
    target = p.get('target_database')
    if not target:
        raise BadInput('state=absent needs target_database: the scratch copy to drop.')
    if target == p['database']:
        raise BadInput('state=absent never drops the source database %s itself.' % target,
                       'Name the scratch copy in target_database.')
    drop = _drop_mysql if p['db_type'] == 'mysql' else _drop_postgres
    changed, marker = drop(p, target, check_mode)
    if not changed:
        msg = 'Database %s does not exist.' % target
    else:
        msg = 'Database %s (restored from %s) %s dropped.' % (target, marker, 'would be' if check_mode else 'was')
    return {'changed': changed, 'target_database': target, 'database': p['database'], 'restored_from': marker,
            'msg': msg}
