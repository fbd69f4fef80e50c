"""Dependency order for pre-data items.

A topological sort over DdlItem.deps (keys that match no item are ignored);
among items that are ready, a kind priority (schemas first, views last),
then the name and key decide, so the output is deterministic. A cycle never
hangs the sort: the smallest remaining item is emitted as if its missing
dependencies were met, and sorting goes on.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import heapq

KIND_PRIORITY = {
    'SCHEMA': 0,
    'EXTENSION': 1,
    'COLLATION': 2,
    'TYPE': 3,
    'DOMAIN': 3,
    'FUNCTION': 4,
    'PROCEDURE': 4,
    'AGGREGATE': 5,
    'CAST': 6,
    'OPERATOR': 6,
    'FOREIGN DATA WRAPPER': 6,
    'SERVER': 6,
    'USER MAPPING': 7,
    'SEQUENCE': 7,
    'TABLE': 8,
    'TABLE ATTACH': 9,
    'SEQUENCE OWNED BY': 10,
    'SEQUENCE SET': 11,
    'VIEW': 12,
    'MATERIALIZED VIEW': 13,
}
OTHER_PRIORITY = 50


def _sort_key(index, item):
    return (KIND_PRIORITY.get(item.kind, OTHER_PRIORITY), item.name or '', repr(item.key), index)


def order_pre_items(items):
    """Items sorted so each comes after the items its deps name."""
    items = list(items)
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
