"""Dependency loops and post-data needs broken as pg_dump breaks them (order.py, postpone.py)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from plugins.module_utils.postgres.logical.schema.model import (
    DdlItem, POST, PHASE_CONSTRAINT, PHASE_INDEX, PHASE_POSTPONED)
from plugins.module_utils.postgres.logical.schema.order import order_pre_items
from plugins.module_utils.postgres.logical.schema.postpone import postpone


def view(oid, deps=()):
    return DdlItem(('pg_class', oid), 'VIEW', 'v%d' % oid, 'CREATE VIEW v%d;' % oid, deps=deps,
                   split=('CREATE VIEW v%d AS SELECT NULL::int AS a;' % oid, 'CREATE OR REPLACE VIEW v%d;' % oid))


def test_a_view_in_a_loop_is_split_into_placeholder_and_definition():
    table = DdlItem(('pg_class', 1), 'TABLE', 't', 'CREATE TABLE t;')
    func = DdlItem(('pg_proc', 2), 'FUNCTION', 'f', 'CREATE FUNCTION f;', deps=[('pg_class', 3)])
    v = view(3, deps=[('pg_proc', 2), ('pg_class', 1)])
    out = order_pre_items([v, func, table])
    assert [(i.kind, i.name) for i in out] == [('TABLE', 't'), ('VIEW', 'v3'), ('FUNCTION', 'f'),
                                               ('VIEW DEFINITION', 'v3')]
    assert out[1].sql.startswith('CREATE VIEW v3 AS SELECT NULL') and out[3].sql.startswith('CREATE OR REPLACE')


def test_views_outside_loops_stay_whole():
    out = order_pre_items([view(3, deps=[('pg_class', 1)]), DdlItem(('pg_class', 1), 'TABLE', 't', 'x;')])
    assert [i.kind for i in out] == ['TABLE', 'VIEW']


def test_objects_needing_a_post_data_constraint_are_postponed():
    pk = DdlItem(('pg_constraint', 9), 'CONSTRAINT', 't_pkey', 'ALTER TABLE t ADD PRIMARY KEY;',
                 section=POST, phase=PHASE_INDEX)
    table = DdlItem(('pg_class', 1), 'TABLE', 't', 'CREATE TABLE t;')
    v = view(3, deps=[('pg_constraint', 9), ('pg_class', 1)])
    mv = DdlItem(('pg_class', 4), 'MATERIALIZED VIEW', 'mv', 'CREATE MATERIALIZED VIEW mv;',
                 deps=[('pg_constraint', 9)])
    func = DdlItem(('pg_proc', 5), 'FUNCTION', 'f', 'CREATE FUNCTION f;', deps=[('pg_class', 4)])
    reader = view(6, deps=[('pg_class', 3)])
    mv_index = DdlItem(('pg_class', 7), 'INDEX', 'mv_idx', 'CREATE INDEX;', section=POST, phase=PHASE_INDEX,
                       deps=[('pg_class', 4)])
    pre, post = postpone([table, v, mv, func, reader], [pk, mv_index])
    assert [i.name for i in pre] == ['t', 'v3', 'v6']            # v3 as a placeholder, v6 unchanged
    assert pre[1].sql.startswith('CREATE VIEW v3 AS SELECT NULL') and ('pg_constraint', 9) not in pre[1].deps
    late = [i for i in post if i.phase == PHASE_POSTPONED]
    assert [(i.kind, i.name) for i in late] == [('VIEW DEFINITION', 'v3'), ('MATERIALIZED VIEW', 'mv'),
                                                ('FUNCTION', 'f')]
    assert mv_index.phase == PHASE_CONSTRAINT and pk.phase == PHASE_INDEX


def test_nothing_moves_without_a_need():
    table = DdlItem(('pg_class', 1), 'TABLE', 't', 'CREATE TABLE t;')
    pre, post = postpone([table, view(3, deps=[('pg_class', 1)])], [])
    assert [i.kind for i in pre] == ['TABLE', 'VIEW'] and post == []
