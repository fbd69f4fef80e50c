# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GRANT/REVOKE statements that turn one ACL into another, item order included.

A freshly created object has the default ACL (acldefault(kind, owner)); the
source object has its stored ACL. pg_dump prints aclitems in array order, so
a restore is only identical when the array order matches too: aclupdate keeps
an entry's position when its privileges change and appends new entries, so we
first try the minimal edit and fall back to "revoke everything, grant all in
order" when the minimal edit would leave the entries in another order.
Grants whose grantor is not the owner run under SET ROLE grantor.

Across major versions the set of privileges of a kind can grow (MAINTAIN on tables in 17):
an owner holding every privilege of its default entry gets GRANT ALL, so it holds every
privilege of the target version too; other grantees keep their named privileges (pg_dump
does the same). Objects that come with
the database (the public schema) differ in their initial ACL between versions: their ACL
is always reset and granted in full, so the result does not depend on the target's template.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

PRIVILEGES = {
    'r': 'SELECT', 'w': 'UPDATE', 'a': 'INSERT', 'd': 'DELETE', 'D': 'TRUNCATE',
    'x': 'REFERENCES', 't': 'TRIGGER', 'X': 'EXECUTE', 'U': 'USAGE', 'C': 'CREATE',
    'c': 'CONNECT', 'T': 'TEMPORARY', 'm': 'MAINTAIN', 's': 'SET', 'A': 'ALTER SYSTEM',
}
# Output order inside one statement (PostgreSQL's ACL_ALL_RIGHTS_STR order).
LETTER_ORDER = 'arwdDxtmXUCTcsA'


def _read_name(text, pos):
    """Role name at pos (putid syntax, maybe double-quoted); returns (name, next_pos)."""
    if pos < len(text) and text[pos] == '"':
        out = []
        pos += 1
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                if pos + 1 < len(text) and text[pos + 1] == '"':
                    out.append('"')
                    pos += 2
                    continue
                return ''.join(out), pos + 1
            out.append(ch)
            pos += 1
        return ''.join(out), pos
    end = pos
    while end < len(text) and text[end] not in '=/':
        end += 1
    return text[pos:end], end


class AclItem(object):
    """One parsed aclitem: grantee ('' = PUBLIC), grantor, {letter: grantable}."""

    __slots__ = ('grantee', 'grantor', 'privs')

    def __init__(self, grantee, grantor, privs):
        self.grantee = grantee
        self.grantor = grantor
        self.privs = privs

    @property
    def key(self):
        return (self.grantee, self.grantor)

    @classmethod
    def parse(cls, text):
        grantee, pos = _read_name(text, 0)
        if text[pos:pos + 1] != '=':
            raise ValueError('unexpected aclitem %r' % text)
        pos += 1
        privs = {}
        while pos < len(text) and text[pos] != '/':
            letter = text[pos]
            pos += 1
            grantable = pos < len(text) and text[pos] == '*'
            if grantable:
                pos += 1
            privs[letter] = grantable
        grantor = _read_name(text, pos + 1)[0]
        return cls(grantee, grantor, privs)


def parse_acl(items):
    """aclitem texts (text[] from the server) -> [AclItem]; None stays None."""
    if items is None:
        return None
    return [AclItem.parse(i) for i in items]


class AclTarget(object):
    """How to spell statements for one object (or default-privilege entry).

    on:      what follows ON, e.g. 'TABLE public.t', 'SEQUENCES'.
    prefix:  text before GRANT/REVOKE ('ALTER DEFAULT PRIVILEGES FOR ROLE r ').
    column:  quoted column name for column privileges, else None.
    owner:   owner role name (grants by other grantors run under SET ROLE).
    quote:   function quoting a role name.
    """

    def __init__(self, on, owner, quote, prefix='', column=None):
        self.on = on
        self.owner = owner
        self.quote = quote
        self.prefix = prefix
        self.column = column
        self.all_letters = None      # every privilege of the object's kind on the source, when known

    def _privs(self, letters, grantee=None):
        if self.all_letters and grantee == self.owner and set(letters) == self.all_letters:
            return 'ALL'
        letters = sorted(letters, key=LETTER_ORDER.find)
        names = [PRIVILEGES.get(ch, ch) for ch in letters]
        if self.column:
            return ','.join('%s(%s)' % (n, self.column) for n in names)
        return ','.join(names)

    def _role(self, name):
        return 'PUBLIC' if name == '' else self.quote(name)

    def grant(self, letters, grantee, with_option):
        return '%sGRANT %s ON %s TO %s%s;' % (
            self.prefix, self._privs(letters, grantee), self.on, self._role(grantee),
            ' WITH GRANT OPTION' if with_option else '')

    def revoke(self, letters, grantee, option_only=False):
        if letters is None:
            privs = 'ALL(%s)' % self.column if self.column else 'ALL'
        else:
            privs = self._privs(letters)
        return '%sREVOKE %s%s ON %s FROM %s;' % (
            self.prefix, 'GRANT OPTION FOR ' if option_only else '', privs, self.on,
            self._role(grantee))

    def as_grantor(self, grantor, lines):
        if not lines or grantor == self.owner or not grantor:
            return lines
        return ['SET ROLE %s;' % self.quote(grantor)] + lines + ['RESET ROLE;']


def _grant_item(target, item, base_privs=None):
    base_privs = base_privs or {}
    plain = [ch for ch, g in item.privs.items() if not g and ch not in base_privs]
    with_opt = [ch for ch, g in item.privs.items() if g and not base_privs.get(ch)]
    lines = []
    if plain:
        lines.append(target.grant(plain, item.grantee, False))
    if with_opt:
        lines.append(target.grant(with_opt, item.grantee, True))
    return target.as_grantor(item.grantor, lines)


def _minimal(target, acl, base):
    tkeys = set(i.key for i in acl)
    bmap = dict((i.key, i) for i in base)
    lines = []
    for b in base:
        if b.key not in tkeys:
            lines.append(target.revoke(None, b.grantee))
    for t in acl:
        b = bmap.get(t.key)
        if b is None:
            lines.extend(_grant_item(target, t))
            continue
        gone = [ch for ch in b.privs if ch not in t.privs]
        if gone:
            lines.append(target.revoke(gone, t.grantee))
        opt_gone = [ch for ch, g in b.privs.items() if g and ch in t.privs and not t.privs[ch]]
        if opt_gone:
            lines.append(target.revoke(opt_gone, t.grantee, option_only=True))
        lines.extend(_grant_item(target, t, b.privs))
    order = [b.key for b in base if b.key in tkeys] + [t.key for t in acl if t.key not in bmap]
    return lines, order == [t.key for t in acl]


def acl_statements(target, acl, base, reset=False):
    """SQL lines turning ACL base into acl (both lists of aclitem text).

    acl None means "default": nothing to do. reset: always revoke everything and grant
    in order (for objects whose initial ACL depends on the server version).
    """
    acl, base = parse_acl(acl), parse_acl(base) or []
    if acl is None:
        return []
    owner_default = [b for b in base if b.grantee == target.owner and b.grantor == target.owner]
    if owner_default and not target.column:
        target.all_letters = set(owner_default[0].privs)
    lines, ordered = _minimal(target, acl, base)
    if ordered and not reset:
        return lines
    lines = [target.revoke(None, b.grantee) for b in base]
    for t in acl:
        lines.extend(_grant_item(target, t))
    return lines


def rename_owner(items, old, new):
    """aclitem texts with role old replaced by new, as ALTER ... OWNER does."""
    out = []
    for it in parse_acl(items) or []:
        grantee = new if it.grantee == old else it.grantee
        grantor = new if it.grantor == old else it.grantor
        out.append(AclItem(grantee, grantor, it.privs))
    return [_unparse(i) for i in out]


def _unparse(item):
    def q(name):
        if name == '' or all(c.isalnum() or c == '_' for c in name):
            return name
        return '"%s"' % name.replace('"', '""')
    privs = ''.join(ch + ('*' if g else '') for ch, g in item.privs.items())
    return '%s=%s/%s' % (q(item.grantee), privs, q(item.grantor))
