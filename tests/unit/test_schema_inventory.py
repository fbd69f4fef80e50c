"""The inventory's coverage and comparison rules (schema/inventory.py), without a server."""
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
    assert [e.label for e in uncovered(entries(), items)] == [
        'operator class public.c USING btree', 'security label table public.t (selinux)']
    items.append(DdlItem(('pg_opclass', 20), 'OPERATOR CLASS', 'public.c', 'z;'))
    assert [e.label for e in uncovered(entries(), items)] == ['security label table public.t (selinux)']


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
    assert compare(form, entries()) == {'missing': [], 'different': [], 'unexpected': []}
