# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dependency order for pre-data items.

A topological sort over DdlItem.deps (keys that match no item are ignored);
among items that are ready, a kind priority (schemas first, views last),
then the name and key decide, so the output is deterministic. A view inside a
dependency cycle (a function reading the view that the view calls) is split
first, as pg_dump does: a placeholder view with NULL columns of the right types,
and its definition (CREATE OR REPLACE VIEW) once what it reads exists. A cycle
that is still left never hangs the sort: the smallest remaining item is emitted
as if its missing dependencies were met, and sorting goes on.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import heapq

from .model import DdlItem

KIND_PRIORITY = {
    'SCHEMA': 0,
    'EXTENSION': 1,
    'ACCESS METHOD': 2,
    'COLLATION': 2,
    'SHELL TYPE': 3,
    'TYPE': 3,
    'DOMAIN': 3,
    'FUNCTION': 4,
    'PROCEDURE': 4,
    'PROCEDURAL LANGUAGE': 4,
    'AGGREGATE': 5,
    'CAST': 6,
    'OPERATOR': 6,
    'OPERATOR FAMILY': 6,
    'OPERATOR CLASS': 6,
    'TRANSFORM': 6,
    'CONVERSION': 6,
    'TEXT SEARCH PARSER': 6,
    'TEXT SEARCH TEMPLATE': 6,
    'TEXT SEARCH DICTIONARY': 6,
    'TEXT SEARCH CONFIGURATION': 6,
    'FOREIGN DATA WRAPPER': 6,
    'SERVER': 6,
    'USER MAPPING': 7,
    'SEQUENCE': 7,
    'TABLE': 8,
    'TABLE ATTACH': 9,
    'SEQUENCE OWNED BY': 10,
    'SEQUENCE SET': 11,
    'VIEW': 12,
    'VIEW DEFINITION': 12,
    'MATERIALIZED VIEW': 13,
}
OTHER_PRIORITY = 50


def _sort_key(index, item):
    return (KIND_PRIORITY.get(item.kind, OTHER_PRIORITY), item.name or '', repr(item.key), index)


def _cycles(items):
    """Strongly connected groups of more than one item (Tarjan, iterative), as index lists."""
    index_of = {}
    for i, item in enumerate(items):
        index_of.setdefault(item.key, i)
    edges = [sorted(set(index_of[d] for d in item.deps if d in index_of)) for item in items]
    number, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]
    for root in range(len(items)):
        if root in number:
            continue
        work = [(root, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                number[node] = low[node] = counter[0]
                counter[0] += 1
                stack.append(node)
                on_stack.add(node)
            for k in range(pos, len(edges[node])):
                nxt = edges[node][k]
                if nxt not in number:
                    work.append((node, k + 1))
                    work.append((nxt, 0))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], number[nxt])
            else:
                if low[node] == number[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return groups


def split_view(item, drop_deps=()):
    """(placeholder, definition) items for a view with item.split (see DdlItem)."""
    placeholder_sql, definition_sql = item.split
    placeholder = DdlItem(item.key, item.kind, item.name, placeholder_sql,
                          deps=[d for d in item.deps if d not in drop_deps])
    definition = DdlItem(item.key + ('definition',), 'VIEW DEFINITION', item.name, definition_sql,
                         deps=list(item.deps) + [item.key])
    return placeholder, definition


def split_view_cycles(items):
    """items with one view of every dependency cycle that holds a splittable view split in two."""
    items = list(items)
    while True:
        done = True
        for group in _cycles(items):
            views = [i for i in group if items[i].split is not None and items[i].kind == 'VIEW']
            if views:
                i = min(views, key=lambda n: _sort_key(n, items[n]))
                keys = set(items[n].key for n in group)
                items[i:i + 1] = split_view(items[i], keys)
                done = False
                break
        if done:
            return items


def order_pre_items(items):
    """Items sorted so each comes after the items its deps name."""
    items = split_view_cycles(items)
    index_of = {}
    for i, item in enumerate(items):
        index_of.setdefault(item.key, i)
    waiting = {}     # index -> number of unmet deps
    dependents = {}  # index -> indexes that wait for it
    for i, item in enumerate(items):
        deps = set(index_of[d] for d in item.deps if d in index_of and index_of[d] != i)
        waiting[i] = len(deps)
        for d in deps:
            dependents.setdefault(d, []).append(i)
    keys = [_sort_key(i, item) for i, item in enumerate(items)]
    ready = [keys[i] for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    done = [False] * len(items)
    out = []
    while len(out) < len(items):
        if not ready:  # cycle: release the smallest waiting item
            i = min((keys[i] for i in range(len(items)) if not done[i]))[-1]
            waiting[i] = 0
            heapq.heappush(ready, keys[i])
        i = heapq.heappop(ready)[-1]
        if done[i]:
            continue
        done[i] = True
        out.append(items[i])
        for j in dependents.get(i, ()):
            waiting[j] -= 1
            if waiting[j] == 0 and not done[j]:
                heapq.heappush(ready, keys[j])
    return out
