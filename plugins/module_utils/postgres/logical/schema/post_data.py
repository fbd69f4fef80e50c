# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Post-data half of the schema extraction, plus decorations and large objects.

Everything that should be built after the table data (indexes, constraints,
foreign keys, triggers, rules, policies, statistics, publications, matview refreshes) and
the decorations of every dumped object (owners, ACLs, comments, default
privileges, database-level properties). Large-object metadata are PRE items.
Each concern lives in its own module of this package; this only collects them.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .comments import comment_items
from .constraints import constraint_items
from .database import database_items
from .default_acl import default_acl_items
from .indexes import index_items
from .lo_metadata import large_object_items
from .matviews import refresh_items
from .policies import policy_items
from .privileges import privilege_items
from .publications import publication_items, subscription_items
from .statistics import statistics_items
from .triggers import event_trigger_items, rule_items, trigger_items

EXTRACTORS = (
    large_object_items,
    index_items,
    constraint_items,
    trigger_items,
    rule_items,
    policy_items,
    statistics_items,
    publication_items,
    subscription_items,
    refresh_items,
    privilege_items,
    comment_items,
    default_acl_items,
    database_items,
    event_trigger_items,
)


def extract_post(cur, ctx):
    """All POST items (and the BLOB pre items) of the database cur is connected to."""
    items = []
    for extract in EXTRACTORS:
        items.extend(extract(cur, ctx))
    return items
