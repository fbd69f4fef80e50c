# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pre-data objects that need a post-data one, moved after it as pg_dump does.

A view, materialized view or SQL-standard function whose query groups by a
primary key depends on that constraint, which is built after the data
(PHASE_INDEX). pg_dump creates such a view as a placeholder with NULL columns of
the right types and replaces it with its real query once the constraint exists;
a materialized view or function is created then as a whole, and so is every
pre-data object that needs one of those (a default calling the function, ...).
Here they become items of PHASE_POSTPONED (serial, in dependency order), and the
indexes of a postponed materialized view move to PHASE_CONSTRAINT, after it.
A table is never postponed (its data must be loaded before post-data); if one
would have to be, it stays where it was and the restore names it if that fails.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_CONSTRAINT, PHASE_INDEX, PHASE_POSTPONED
from .order import order_pre_items, split_view

KEEP = ('TABLE', 'TABLE ATTACH', 'SEQUENCE', 'SEQUENCE OWNED BY', 'SEQUENCE SET', 'SCHEMA', 'EXTENSION')


def postpone(pre, post):
    """(pre, post) with the pre items that need post items moved into PHASE_POSTPONED."""
    post_keys = set(i.key for i in post if len(i.key) == 2)
    if not any(i.deps & post_keys for i in pre):
        return pre, post
    dependents = {}
    for item in pre:
        for dep in item.deps:
            dependents.setdefault(dep, []).append(item)
    moved, split, queue = set(), {}, [i for i in pre if i.deps & post_keys]
    while queue:
        item = queue.pop()
        if item.key in moved or item.key in split or item.kind in KEEP:
            continue
        if item.split is not None and item.kind == 'VIEW':
            split[item.key] = item   # its placeholder stays; nothing else has to wait for it
            continue
        moved.add(item.key)
        queue.extend(dependents.get(item.key, ()))
    new_pre, late = [], []
    for item in pre:
        if item.key in split:
            placeholder, definition = split_view(item, post_keys | moved)
            new_pre.append(placeholder)
            late.append(definition)
        elif item.key in moved:
            late.append(item)
        else:
            new_pre.append(item)
    # dependency order among the postponed items; their deps on pre items are met by then
    late_keys = set(i.key for i in late)
    for item in late:
        item.deps = set(d for d in item.deps if d in late_keys)
    postponed = [DdlItem(i.key, i.kind, i.name, i.sql, section=POST, phase=PHASE_POSTPONED)
                 for i in order_pre_items(late)]
    relations = set(k[:2] for k in moved if k[0] == 'pg_class')
    for item in post:
        if item.phase == PHASE_INDEX and item.deps & relations:   # index items name their relation in deps
            item.phase = PHASE_CONSTRAINT
    return new_pre, post + postponed
