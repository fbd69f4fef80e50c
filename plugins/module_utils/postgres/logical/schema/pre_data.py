# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pre-data extraction: every object that must exist before table data is loaded.

Schemas, extensions, access methods, procedural languages, collations, base,
shell, enum, composite and range types and domains, functions, procedures and
aggregates, operators, operator families and classes, casts, transforms,
conversions, text search parsers/templates/dictionaries/configurations,
sequences (with OWNED BY and current values), tables (typed, inherited,
partitioned; inline valid CHECK constraints; partitions attached afterwards),
foreign data wrappers, servers, user mappings and foreign tables, and
(materialized) views. Tables and materialized views outside the default
tablespace are created under SET default_tablespace (the tablespace must exist
on the target). Dependencies come from pg_depend (deps.py) so order_pre_items
can sort; the loops pg_dump breaks are broken the same way: shell types before
base types, defaults and checks that call user functions added after the table
(tables.py, types.py), views split into a placeholder and their definition
(order.py), objects that need a post-data constraint postponed (postpone.py).
Owners, comments and privileges are post-data decorations (post_data.py).
Whether every object of the database is covered is proven by the inventory
(inventory.py): an object no item creates fails the backup.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .access_methods import access_method_items, operator_class_items
from .deps import DependencyMap
from .foreign import foreign_items
from .pre_common import calling_user_functions
from .functions import function_items, aggregate_items
from .languages import conversion_items, language_items, transform_items
from .operators import operator_items, cast_items
from .schemas import schema_items, extension_items
from .sequences import read_sequences, sequence_items
from .tables import table_items
from .text_search import text_search_items
from .types import type_items
from .views import view_items


def extract_pre(cur, ctx):
    """All PRE DdlItems of the database cur is connected to, deps filled in, unordered."""
    seqs = read_sequences(cur, ctx)
    split = calling_user_functions(cur)
    types, io_redirects = type_items(cur, ctx, split)
    items = (schema_items(cur, ctx) + extension_items(cur, ctx) + access_method_items(cur, ctx)
             + language_items(cur, ctx) + types + function_items(cur, ctx) + aggregate_items(cur, ctx)
             + operator_items(cur, ctx) + operator_class_items(cur, ctx) + cast_items(cur, ctx)
             + transform_items(cur, ctx) + conversion_items(cur, ctx) + text_search_items(cur, ctx)
             + foreign_items(cur, ctx)
             + sequence_items(cur, ctx, seqs) + table_items(cur, ctx, seqs, split) + view_items(cur, ctx))
    depmap = DependencyMap(cur, ctx, own=split)
    for item in items:
        if len(item.key) == 2:
            item.deps |= depmap.deps_of(item.key)
        if item.key in io_redirects:   # a base type's functions need only its shell
            full, shell = io_redirects[item.key]
            if full in item.deps:
                item.deps.discard(full)
                item.deps.add(shell)
        item.deps.discard(item.key)
    return items
