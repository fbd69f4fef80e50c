"""The inventory's coverage and comparison rules (schema/inventory.py), without a server."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from plugins.module_utils.postgres.logical.schema.inventory import Entry, compare, describe, manifest_form, uncovered
from plugins.module_utils.postgres.logical.schema.model import DdlItem


def entries():
    return [Entry('table', 'public.t', 'a' * 32, [('pg_class', 10)]),
            Entry('table column', 'public.t.x', 'b' * 32, [('pg_class', 10), ('pg_type', 11)]),
            Entry('operator class', 'public.c USING btree', 'c' * 32, [('pg_opclass', 20)]),
            Entry('schema', 'public', 'd' * 32, []),
            Entry('security label', 'table public.t (selinux)', 'e' * 32, [('unsupported', 0)])]


def test_objects_no_item_creates_are_uncovered():
    items = [DdlItem(('pg_class', 10), 'TABLE', 'public.t', 'x;'),
             DdlItem(('pg_class', 10, 'owner_acl'), 'ACL', 'public.t', 'y;')]
    assert [(e.label, why) for e, why in uncovered(entries(), items)] == [
        ('operator class public.c USING btree', None), ('security label table public.t (selinux)', None)]
    items.append(DdlItem(('pg_opclass', 20), 'OPERATOR CLASS', 'public.c', 'z;'))
    assert [e.label for e, why in uncovered(entries(), items)] == ['security label table public.t (selinux)']
    # an item that makes an object, but not exactly as it is, says so
    items[0].lossy = {('table column', 'public.t.x'): 'its position'}
    assert [(e.label, why) for e, why in uncovered(entries(), items)] == [
        ('table column public.t.x', 'its position'), ('security label table public.t (selinux)', None)]


def test_compare_names_missing_different_and_unexpected():
    form = manifest_form(entries())
    assert form['count'] == 5 and form['objects']['table'] == {'public.t': 'a' * 32}
    live = entries()[:2] + [Entry('operator class', 'public.c USING btree', 'f' * 32, []),
                            Entry('view', 'public.extra', '0' * 32, [])]
    diff = compare(form, live, skip=[['security label', 'table public.t (selinux)']])
    assert diff == {'missing': ['schema public'], 'different': ['operator class public.c USING btree'],
                    'unexpected': ['view public.extra']}
    assert describe(diff) == ('1 missing: schema public; 1 with another definition: operator class '
                              'public.c USING btree; 1 not in the backup: view public.extra')
    assert compare(form, live, definitions=False)['different'] == []
    assert compare(form, live, skip=[['operator class', 'public.c USING btree'], ['view', 'public.extra']]) == {
        'missing': ['schema public', 'security label table public.t (selinux)'], 'different': [], 'unexpected': []}
    assert compare(form, entries()) == {'missing': [], 'different': [], 'unexpected': []}
