"""What a PostgreSQL server of a given version offers: the one place for version differences.

The engine supports PostgreSQL 13 and newer (tested: 13, 15, 17; docs/versions.md). Code
that reads the system catalogs or uses a server feature asks a Capabilities object built
from server_version_num instead of comparing version numbers itself.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput

MIN_VERSION_NUM = 130000


def major_of(version_num):
    return int(version_num) // 10000


class Capabilities(object):
    """Facts about one server version (server_version_num, e.g. 150004)."""

    def __init__(self, version_num):
        self.version_num = int(version_num)
        self.major = major_of(self.version_num)

    def at_least(self, major):
        return self.major >= major

    # --- system catalogs ----------------------------------------------------------
    @property
    def icu_locale_column(self):
        """SQL for an ICU collation's locale (pg_collation c): colllocale (17+), colliculocale (15, 16);
        before 15 an ICU collation keeps its locale in collcollate."""
        if self.major >= 17:
            return 'c.colllocale'
        if self.major >= 15:
            return 'c.colliculocale'
        return "CASE WHEN c.collprovider = 'i' THEN c.collcollate END"

    @property
    def partition_trigger_clones_internal(self):
        """13 and 14 mark the clones of a partitioned table's trigger tgisinternal (15 does not), so
        a clone whose enabled state was changed on a partition is found among internal triggers."""
        return self.major < 15


def check_restore_target(source_version_num, target_version_num, source_version=None, target_version=None):
    """A logical backup restores into the same or a newer major version, never an older one.

    pg_dump's output is not promised to load into an older major either: objects and syntax of
    the newer version (and catalog defaults) have no older form. Raises BadInput before anything
    on the target is touched.
    """
    if not source_version_num:
        return
    source, target = major_of(source_version_num), major_of(target_version_num)
    if target < source:
        raise BadInput('The backup was taken on PostgreSQL %s; the target server runs PostgreSQL %s, an older major '
                       'version. Nothing was changed on the target.'
                       % (source_version or source, target_version or target),
                       'Restore into PostgreSQL %d or newer (a logical backup is the way up, not down).' % source)
