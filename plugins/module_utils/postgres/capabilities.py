# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a PostgreSQL server of a given version offers: the one place for version differences.

The engine supports PostgreSQL 13 and newer (tested: 13, 15, 17; docs/versions.md). Code
that reads the system catalogs or uses a server feature asks a Capabilities object built
from server_version_num instead of comparing version numbers itself: catalog columns by
the major version that added (or dropped) them (CATALOG_COLUMNS), behaviour by name below.
tests/unit/plugins/module_utils/test_capabilities.py lists the facts per version.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput

MIN_VERSION_NUM = 130000

# (catalog, column) -> (first major that has it, last major that has it or None). Columns a
# reader needs that every supported version has are not listed.
CATALOG_COLUMNS = {
    ('pg_aggregate', 'aggfinalmodify'): (11, None),
    ('pg_aggregate', 'aggmfinalmodify'): (11, None),
    ('pg_publication', 'pubtruncate'): (11, None),
    ('pg_publication', 'pubviaroot'): (13, None),
    ('pg_statistic_ext', 'stxstattarget'): (13, None),
    ('pg_trigger', 'tgparentid'): (13, None),
    ('pg_attribute', 'attcompression'): (14, None),
    ('pg_type', 'typsubscript'): (14, None),
    ('pg_range', 'rngmultitypid'): (14, None),
    ('pg_subscription', 'subbinary'): (14, None),
    ('pg_subscription', 'substream'): (14, None),       # boolean in 14 and 15, "char" ('f', 't', 'p') since 16
    ('pg_subscription', 'subtwophasestate'): (15, None),
    ('pg_subscription', 'subdisableonerr'): (15, None),
    ('pg_publication_rel', 'prqual'): (15, None),
    ('pg_publication_rel', 'prattrs'): (15, None),
    ('pg_database', 'datlocprovider'): (15, None),
    ('pg_collation', 'colliculocale'): (15, 16),        # renamed colllocale in 17
    ('pg_collation', 'collicurules'): (16, None),
    ('pg_auth_members', 'inherit_option'): (16, None),
    ('pg_auth_members', 'set_option'): (16, None),
    ('pg_subscription', 'subpasswordrequired'): (16, None),
    ('pg_subscription', 'subrunasowner'): (16, None),
    ('pg_subscription', 'suborigin'): (16, None),
    ('pg_subscription', 'subfailover'): (17, None),
    ('pg_collation', 'colllocale'): (17, None),
}
# Whole catalogs a reader needs that older versions lack.
CATALOGS = {'pg_publication_namespace': 15}

# Column options the server sets on its own (pg_attribute.attoptions): PostgreSQL 17.12 stamps
# every column with pg_attver=<WAL position of its last type change>, which no DDL can set and a
# restore cannot reproduce. pg_dump leaves them out of the column's options; so does the engine,
# on every version (which minor releases of other majors carry them is not known here).
SERVER_ATTRIBUTE_OPTIONS = ('pg_attver',)

# Objects a newer major catalogs for what older ones keep as a flag of another object, created by
# the same DDL: (first major, inventory type, constraint kind). PostgreSQL 17 records a domain's
# NOT NULL as a pg_constraint row named <domain>_not_null (older: only pg_type.typnotnull).
CATALOGUED_FLAGS = ((17, 'domain constraint', 'n'),)


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
    def has_column(self, catalog, column):
        first, last = CATALOG_COLUMNS[(catalog, column)]
        return self.major >= first and (last is None or self.major <= last)

    def column(self, alias, catalog, column, absent='NULL'):
        """SQL for alias.column of catalog when this version has it, else the SQL `absent`."""
        return '%s.%s' % (alias, column) if self.has_column(catalog, column) else absent

    def has_catalog(self, catalog):
        return self.major >= CATALOGS[catalog]

    def attribute_options(self, expr):
        """SQL for the options array expr (pg_attribute.attoptions) without the server's own options
        (SERVER_ATTRIBUTE_OPTIONS); NULL when nothing is left, as for a column without options."""
        cond = ' AND '.join("pg_catalog.split_part(o, '=', 1) <> '%s'" % name for name in SERVER_ATTRIBUTE_OPTIONS)
        return ('(SELECT pg_catalog.array_agg(o ORDER BY n) FROM pg_catalog.unnest(%s) WITH ORDINALITY u(o, n)'
                ' WHERE %s)' % (expr, cond))

    @property
    def icu_locale_column(self):
        """SQL for an ICU collation's locale (pg_collation c): colllocale (17+), colliculocale (15, 16);
        before 15 an ICU collation keeps its locale in collcollate."""
        if self.has_column('pg_collation', 'colllocale'):
            return 'c.colllocale'
        if self.has_column('pg_collation', 'colliculocale'):
            return 'c.colliculocale'
        return "CASE WHEN c.collprovider = 'i' THEN c.collcollate END"

    @property
    def partition_trigger_clones_internal(self):
        """13 and 14 mark the clones of a partitioned table's trigger tgisinternal (15 does not), so
        a clone whose enabled state was changed on a partition is found among internal triggers."""
        return self.major < 15

    def shown_triggers(self, alias):
        """SQL: the triggers of pg_trigger alias that a dump shows: those not internal, and on 13 and
        14 also the partition clones of a user trigger (partition_trigger_clones_internal), so every
        version lists the same triggers."""
        if self.partition_trigger_clones_internal:
            return '(NOT {0}.tgisinternal OR ({0}.tgparentid <> 0 AND {0}.tgconstraint = 0))'.format(alias)
        return 'NOT %s.tgisinternal' % alias

    @property
    def table_access_methods(self):
        """pg_class.relam names a table's access method (12+; before, tables had none)."""
        return self.major >= 12

    @property
    def multiranges(self):
        """Every range type has a multirange type (14+)."""
        return self.has_column('pg_range', 'rngmultitypid')

    @property
    def tid_range_scans(self):
        """WHERE ctid >= ... AND ctid < ... reads only those blocks (TID Range Scan, 14+): what lets
        one large table's COPY split into block ranges."""
        return self.major >= 14

    @property
    def membership_options(self):
        """GRANT role TO member WITH ADMIN/INHERIT/SET TRUE|FALSE (16+); before, only WITH ADMIN OPTION."""
        return self.has_column('pg_auth_members', 'inherit_option')

    @property
    def drop_database_force(self):
        """DROP DATABASE ... WITH (FORCE) ends the sessions still connected (13+)."""
        return self.major >= 13

    def max_backends_terms(self, has_worker_slots=True):
        """What InitializeMaxBackends adds up, in its order: setting names, or (label, count) for
        fixed numbers of processes. has_worker_slots: autovacuum_worker_slots is among the settings
        read (18+ sizes autovacuum by it)."""
        autovacuum = 'autovacuum_worker_slots' if self.major >= 18 and has_worker_slots else 'autovacuum_max_workers'
        if self.major >= 17:
            return ['max_connections', autovacuum, 'max_worker_processes', 'max_wal_senders',
                    ('special worker processes (autovacuum launcher, slot sync worker)', 2)]
        terms = ['max_connections', autovacuum, ('autovacuum launcher', 1), 'max_worker_processes']
        if self.major >= 12:       # before 12, WAL senders were counted inside max_connections
            terms.append('max_wal_senders')
        return terms

    # --- physical backup and recovery ---------------------------------------------
    @property
    def backup_functions(self):
        """(start, stop) of the non-exclusive low-level backup API: pg_backup_start/pg_backup_stop
        (15+), before pg_start_backup/pg_stop_backup with an exclusive flag."""
        if self.major >= 15:
            return 'pg_backup_start', 'pg_backup_stop'
        return 'pg_start_backup', 'pg_stop_backup'

    @property
    def idle_session_timeout(self):
        """The idle_session_timeout setting exists (14+); a long base backup session turns it off."""
        return self.major >= 14

    @property
    def stats_temp_directory(self):
        """The stats_temp_directory setting exists (before 15, which keeps statistics in shared
        memory): a base backup leaves its contents out."""
        return self.major < 15

    @property
    def replay_pause_state(self):
        """pg_get_wal_replay_pause_state() tells a requested pause from a reached one (14+)."""
        return self.major >= 14

    @property
    def parameter_privileges(self):
        """GRANT ALTER SYSTEM ON PARAMETER lets a non-superuser set archiving (15+)."""
        return self.major >= 15

    def catalogued_flags(self, source_major):
        """{(inventory type, kind)} this server creates on its own for DDL a backup of PostgreSQL
        source_major recorded as a flag of another object (CATALOGUED_FLAGS): an upgrade restore
        finds them without the backup having them."""
        return set((type_, kind) for since, type_, kind in CATALOGUED_FLAGS if source_major < since <= self.major)


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
