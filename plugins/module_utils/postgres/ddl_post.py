"""Post-data half of the schema extraction, plus decorations and large objects.

Everything that should be built after the table data (indexes, constraints,
foreign keys, triggers, rules, policies, statistics, publications, matview refreshes) and
the decorations of every dumped object (owners, ACLs, comments, default
privileges, database-level properties). Large-object metadata are PRE items.
Each concern lives in its own catalog_* module; this only collects them.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from . import (catalog_indexes, catalog_constraints, catalog_triggers, catalog_policies,
               catalog_statistics, catalog_matviews, catalog_privileges, catalog_comments,
               catalog_default_acl, catalog_database, catalog_largeobjects, catalog_publications)

EXTRACTORS = (
    catalog_largeobjects.large_object_items,
    catalog_indexes.index_items,
    catalog_constraints.constraint_items,
    catalog_triggers.trigger_items,
    catalog_triggers.rule_items,
    catalog_policies.policy_items,
    catalog_statistics.statistics_items,
    catalog_publications.publication_items,
    catalog_matviews.refresh_items,
    catalog_privileges.privilege_items,
    catalog_comments.comment_items,
    catalog_default_acl.default_acl_items,
    catalog_database.database_items,
    catalog_triggers.event_trigger_items,
)


def extract_post(cur, ctx):
    """All POST items (and the BLOB pre items) of the database cur is connected to."""
    items = []
    for extract in EXTRACTORS:
        items.extend(extract(cur, ctx))
    return items
