"""order_pre_items: dependency order, deterministic ties, cycles that never hang."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import random

from plugins.module_utils.postgres.logical.schema.model import DdlItem
from plugins.module_utils.postgres.logical.schema.order import order_pre_items


def item(kind, name, oid, deps=()):
    return DdlItem(('pg_x', oid), kind, name, 'SELECT %d;' % oid, deps=[('pg_x', d) for d in deps])


def names(items):
    return [i.name for i in items]


def test_dependencies_come_first_even_against_kind_priority():
    view = item('VIEW', 'v', 1)
    func = item('FUNCTION', 'f', 2, deps=[3])   # SQL-standard body reading table t
    table = item('TABLE', 't', 3)
    schema = item('SCHEMA', 's', 4)
    out = names(order_pre_items([view, func, table, schema]))
    assert out == ['s', 't', 'f', 'v']


def test_kind_priority_then_name_break_ties():
    items = [item('VIEW', 'a', 1), item('TABLE', 'b', 2), item('TABLE', 'a', 3),
             item('SEQUENCE', 'z', 4), item('SCHEMA', 'y', 5), item('EXTENSION', 'x', 6),
             item('TYPE', 'w', 7), item('FUNCTION', 'v', 8), item('SOMETHING ELSE', 'u', 9)]
    out = names(order_pre_items(items))
    assert out == ['y', 'x', 'w', 'v', 'z', 'a', 'b', 'a', 'u']
    assert [i.kind for i in order_pre_items(items)][5:8] == ['TABLE', 'TABLE', 'VIEW']


def test_output_does_not_depend_on_input_order():
    items = [item('TABLE', 't%d' % i, i, deps=[i - 1] if i % 3 else []) for i in range(1, 30)]
    expected = names(order_pre_items(items))
    rng = random.Random(7)
    for attempt in range(5):
        shuffled = list(items)
        rng.shuffle(shuffled)
        assert names(order_pre_items(shuffled)) == expected


def test_unknown_and_self_dependencies_are_ignored():
    a = item('TABLE', 'a', 1, deps=[1, 99])
    b = DdlItem(('pg_x', 2), 'TABLE', 'b', 'SELECT 1;', deps=[('pg_other', 1)])
    assert names(order_pre_items([b, a])) == ['a', 'b']


def test_sub_keys_depend_on_their_objects():
    seq = DdlItem(('pg_class', 1), 'SEQUENCE', 's.seq', 'CREATE SEQUENCE s.seq;')
    table = DdlItem(('pg_class', 2), 'TABLE', 's.t', 'CREATE TABLE s.t ();', deps=[('pg_class', 1)])
    owned = DdlItem(('pg_class', 1, 'owned'), 'SEQUENCE OWNED BY', 's.seq', 'ALTER ...;',
                    deps=[('pg_class', 1), ('pg_class', 2)])
    setval = DdlItem(('pg_class', 1, 'setval'), 'SEQUENCE SET', 's.seq', 'SELECT ...;',
                     deps=[('pg_class', 1, 'owned')])
    out = order_pre_items([setval, owned, table, seq])
    assert [i.kind for i in out] == ['SEQUENCE', 'TABLE', 'SEQUENCE OWNED BY', 'SEQUENCE SET']


def test_cycle_is_broken_deterministically_and_everything_is_kept():
    a = item('VIEW', 'a', 1, deps=[2])
    b = item('FUNCTION', 'b', 2, deps=[3])
    c = item('VIEW', 'c', 3, deps=[1])
    d = item('VIEW', 'd', 4, deps=[1])
    first = names(order_pre_items([a, b, c, d]))
    assert sorted(first) == ['a', 'b', 'c', 'd']
    assert first == names(order_pre_items([d, c, b, a]))
    # the cycle is entered at its smallest member (a FUNCTION beats VIEWs), the rest follow deps
    assert first == ['b', 'a', 'c', 'd']


def test_large_chain_is_fast_and_correct():
    n = 20000
    items = [item('TABLE', 't%05d' % i, i, deps=[i + 1] if i + 1 < n else []) for i in range(n)]
    out = order_pre_items(items)
    assert names(out) == ['t%05d' % i for i in reversed(range(n))]


def test_duplicate_keys_keep_all_items():
    a1 = item('TABLE', 'a', 1)
    a2 = item('TABLE', 'a2', 1)
    assert len(order_pre_items([a1, a2])) == 2
