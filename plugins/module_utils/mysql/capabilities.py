"""What a MySQL/MariaDB server of a given version offers: the one place for version differences.

Tested: MariaDB 10.5, 10.11 and 11.8 (docs/versions.md). MySQL 8.x is not tested here
(Debian does not ship it). A MariaDB release is major.minor (10.5, 10.11, 11.8); a logical
backup restores into the same or a newer release, never an older one.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput


def release_of(version_num):
    """(major, minor) of a version_num such as 101106 (10.11.6)."""
    version_num = int(version_num)
    return version_num // 10000, (version_num // 100) % 100


def _name(flavor, version_num):
    return '%s %d.%d' % (('MySQL' if flavor == 'mysql' else 'MariaDB',) + release_of(version_num))


def check_restore_target(manifest, info):
    """Refuse a restore into an older release of the same flavor before anything is touched.

    manifest: the backup's (server_version_num, database_info.flavor); info: connection.ServerInfo
    of the target. Raises BadInput.
    """
    source_num = manifest.get('server_version_num')
    flavor = (manifest.get('database_info') or {}).get('flavor')
    if not source_num or flavor != info.flavor:
        return
    if release_of(info.version_num) < release_of(source_num):
        raise BadInput('The backup was taken on %s; the target server runs %s, an older release. Nothing was '
                       'changed on the target.' % (_name(flavor, source_num), _name(flavor, info.version_num)),
                       'Restore into %s or newer (a logical backup is the way up, not down).'
                       % _name(flavor, source_num))
