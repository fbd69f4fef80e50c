# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The schema items a PostgreSQL dump is made of, and how they are ordered.

Catalog extractors return DdlItem objects. Pre-data items are ordered by
their dependencies (order_pre_items in order.py); post-data items run
phase by phase on restore, items of one phase in parallel worker sessions.
Items are stored in pre-data.sql / post-data.sql as plain SQL, each preceded
by one header comment line (see sql_file.py), so files stay readable and
the restorer can split them again.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

PRE = 'pre'
POST = 'post'

# Post-data phases, restored in this order. Items within one phase are run
# in parallel (jobs sessions), so an item may depend only on earlier phases.
PHASE_INDEX = 10         # CREATE INDEX, ADD PRIMARY KEY / UNIQUE / EXCLUDE
# Pre-data objects that need a post-data one (a view or function grouping by a primary
# key, ...), as pg_dump postpones them (postpone.py). Serial, in dependency order. A backup
# holding such items has manifest format_version 2: older engines would skip this phase.
PHASE_POSTPONED = 12
PHASE_INDEX_ATTACH = 15  # ALTER INDEX parent ATTACH PARTITION child
PHASE_CONSTRAINT = 20    # constraints that must follow data/indexes (NOT VALID checks, ...)
PHASE_FK = 30            # FOREIGN KEY constraints
# PHASE_TRIGGER: triggers (+ DISABLE), rules, RLS enable/force + policies,
# extended statistics, replica identity, CLUSTER ON
PHASE_TRIGGER = 40
# PHASE_DECORATION: comments, owners, grants (incl. columns, large objects),
# default privileges, database-level settings
PHASE_DECORATION = 60
# After owners and grants, so a refresh runs as the matview's owner with the
# owner's privileges, as it did on the source. Serial, in list order.
PHASE_REFRESH = 70
# Last: event triggers would otherwise fire on the DDL of the phases above.
PHASE_EVENT_TRIGGER = 80
PHASES = (PHASE_INDEX, PHASE_POSTPONED, PHASE_INDEX_ATTACH, PHASE_CONSTRAINT, PHASE_FK,
          PHASE_TRIGGER, PHASE_DECORATION, PHASE_REFRESH, PHASE_EVENT_TRIGGER)
SERIAL_PHASES = (PHASE_POSTPONED, PHASE_REFRESH)

# Token used in SQL that names the database being restored; the restorer
# replaces it with the quoted target database name (target_database renames).
DATABASE_TOKEN = '@DBBACKUP_DATABASE@'


class DdlItem(object):
    """One schema object: the SQL that recreates it and what it needs first.

    key:     unique identity, a tuple (catalog, oid[, subid]) such as
             ('pg_class', 16384) or ('pg_proc', 2200); deps use the same keys.
    kind:    upper-case kind, e.g. 'SCHEMA', 'TABLE', 'INDEX', 'FK', 'ACL'.
    name:    human-readable qualified name, for messages and listings.
    sql:     complete statements, each ending with ';' and a newline.
    section: PRE or POST.
    phase:   for POST items, one of PHASES; 0 for PRE items.
    deps:    keys of items that must be created before this one (PRE items;
             keys that match no item are ignored).
    split:   for a view, (placeholder_sql, definition_sql): how pg_dump breaks a
             dependency loop through it, a view with NULL columns of the right
             types first and CREATE OR REPLACE VIEW later (order.py, postpone.py).
             Extraction-time only; not stored.
    lossy:   {(type, identity): reason} of inventory objects this item makes but
             cannot make exactly as they are (inventory.uncovered reports them).
             Extraction-time only; not stored.
    """

    __slots__ = ('key', 'kind', 'name', 'sql', 'section', 'phase', 'deps', 'split', 'lossy')

    def __init__(self, key, kind, name, sql, section=PRE, phase=0, deps=(), split=None, lossy=None):
        self.key = tuple(key)
        self.kind = kind
        self.name = name
        self.sql = sql if sql.endswith('\n') else sql + '\n'
        self.section = section
        self.phase = phase
        self.deps = set(tuple(d) for d in deps)
        self.split = split
        self.lossy = lossy or {}

    def __repr__(self):
        return 'DdlItem(%r, %r, %r)' % (self.kind, self.name, self.key)
