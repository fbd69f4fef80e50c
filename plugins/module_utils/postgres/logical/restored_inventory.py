"""Compare a restored database with the inventory its backup recorded.

Run by the restore on the temporary database before it is renamed into place (a
difference fails the restore and leaves the target as it was), and by
dbbackup_verify restored_database on a live copy. Definitions are compared when
source and target run the same major version; across major versions PostgreSQL
prints some definitions differently (view text, for one), so only the presence
of every object is compared then. Backups older than the inventory have none:
nothing is compared and the result says so.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import RestoreFailed
from ..connection import connect, server_version
from .schema.inventory import compare, describe, read_inventory

SESSION_SQL = "SET search_path = ''"


def major(version_num):
    return int(version_num or 0) // 10000


def inventory_report(params, dbname, manifest):
    """(report, differences): what was compared, and compare()'s lists (None without an inventory)."""
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
    diff = compare(expected, entries, definitions=same, skip=manifest.get('unsupported_objects') or ())
    report = {'compared': 'definitions' if same else 'presence', 'objects': expected.get('count', 0)}
    if not same:
        report['reason'] = 'the backup comes from PostgreSQL %d, this server runs %d' % (
            major(manifest.get('server_version_num')), major(version_num))
    return report, diff


def check_restored(params, dbname, manifest):
    """The report of inventory_report; raises RestoreFailed when the copy differs."""
    report, diff = inventory_report(params, dbname, manifest)
    if diff and any(diff.values()):
        raise RestoreFailed(
            'The restored copy of backup %s differs from the objects the backup recorded (%s).'
            % (manifest['backup_id'], describe(diff)),
            'Cause: the backup does not reproduce these objects exactly (a limit of this tool, not of '
            'the target server). The target was left unchanged; restore another backup, or report '
            'the objects named here.')
    return report
