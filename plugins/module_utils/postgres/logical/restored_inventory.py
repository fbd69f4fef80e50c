# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compare a restored database with the inventory its backup recorded.

Run by the restore on the temporary database before it is renamed into place (a
difference fails the restore and leaves the target as it was), and by
dbbackup_verify restored_database on a live copy. Definitions are compared when
source and target run the same major version; across major versions PostgreSQL
prints some definitions differently (view text, for one), so only the presence
of every object is compared then, and objects the newer server creates on its own
for the same DDL (Capabilities.catalogued_flags) are not counted as unexpected. Backups older than the inventory have none:
nothing is compared and the result says so.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import RestoreFailed
from ..capabilities import Capabilities, major_of
from ..connection import connect, server_version
from .schema.inventory import compare, database_entry_digest, describe, read_inventory

SESSION_SQL = "SET search_path = ''"


def major(version_num):
    return major_of(version_num or 0)


DATABASE_KEY = ('database', '')


def inventory_report(params, dbname, manifest, database_later=False):
    """(report, differences): what was compared, and compare()'s lists (None without an inventory).

    database_later: leave out the database's own entry (its privileges are set by the swap that
    renames the copy into place; check_database_in_swap checks it there).
    """
    expected = manifest.get('inventory')
    if not expected:
        return {'compared': 'nothing', 'objects': 0,
                'reason': 'the backup has no inventory (taken by an older version)'}, None
    conn = connect(params, dbname=dbname, autocommit=False)
    try:
        version_num = server_version(conn)[0]
        cur = conn.cursor()
        cur.execute(SESSION_SQL)
        entries = read_inventory(cur, version_num)
        conn.rollback()
    finally:
        conn.close()
    same = major(version_num) == major(manifest.get('server_version_num'))
    skip = list(manifest.get('unsupported_objects') or ())
    if database_later:
        skip.append(DATABASE_KEY)
    implicit = () if same else Capabilities(version_num).catalogued_flags(major(manifest.get('server_version_num')))
    diff = compare(expected, entries, definitions=same, skip=skip, implicit=implicit)
    report = {'compared': 'definitions' if same else 'presence', 'objects': expected.get('count', 0)}
    if not same:
        report['reason'] = 'the backup comes from PostgreSQL %d, this server runs %d' % (
            major(manifest.get('server_version_num')), major(version_num))
    return report, diff


def check_restored(params, dbname, manifest, database_later=False):
    """The report of inventory_report; raises RestoreFailed when the copy differs."""
    report, diff = inventory_report(params, dbname, manifest, database_later)
    if diff and any(diff.values()):
        raise RestoreFailed(
            'The restored copy of backup %s differs from the objects the backup recorded (%s).'
            % (manifest['backup_id'], describe(diff)),
            'Cause: the backup does not reproduce these objects exactly (a limit of this tool, not of '
            'the target server). The target was left unchanged; restore another backup, or report '
            'the objects named here.')
    return report


def check_database_in_swap(cur, target, manifest):
    """Inside the swap transaction, after the rename and the database's privileges: the database's own
    entry must be the backup's (same major version only, as for the rest). Raises RestoreFailed, so
    the caller rolls the swap back and the target keeps what it had."""
    expected = (manifest.get('inventory') or {}).get('objects', {}).get('database', {}).get('')
    if not expected or major(manifest.get('server_version_num')) != major(cur.connection.server_version):
        return
    literal = "'%s'" % target.replace("'", "''")
    if database_entry_digest(cur, literal) != expected:
        raise RestoreFailed('The restored database %s does not have the settings, privileges or comment backup %s '
                            'recorded for it.' % (target, manifest['backup_id']),
                            'Cause: the backup does not reproduce them (a limit of this tool, not of the target '
                            'server). The target was left unchanged.')
