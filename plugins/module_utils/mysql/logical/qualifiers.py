# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Names inside SHOW CREATE text: backquoted identifiers, and removing the database's own qualifier.

MariaDB prints every name of a view fully qualified (`db`.`table`, `db`.`table`.`column`)
and the sequence of a column default as nextval(`db`.`seq`), even when they are in the
view's or table's own database. A copy restored under another name must refer to its own
objects, so those qualifiers are removed. Only a qualifier that starts a chain is one: in
`r4`.`r4`.`id` (database r4, table r4) the second `r4` is the table and stays. When the
database's name is also used on its own (a table alias, a column), a two-part name
`db`.`x` may mean alias.column; it is then treated as database.object only when x is a
table, view or sequence of the database.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


def _skip_string(sql, i):
    """Index after the string literal starting at sql[i] (' or ")."""
    quote = sql[i]
    i += 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == '\\':
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _read_ident(sql, i):
    """(name, index after) of the backquoted identifier starting at sql[i]."""
    out = []
    i += 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == '`':
            if i + 1 < n and sql[i + 1] == '`':
                out.append('`')
                i += 2
                continue
            return ''.join(out), i + 1
        out.append(ch)
        i += 1
    return ''.join(out), n


def _identifiers(sql):
    """(name, begin, end) of the backquoted identifiers of sql, outside string literals."""
    i, n, found = 0, len(sql), []
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            i = _skip_string(sql, i)
        elif ch == '`':
            begin = i
            name, i = _read_ident(sql, i)
            found.append((name, begin, i))
        else:
            i += 1
    return found


def identifiers(sql):
    """Backquoted identifiers of sql, outside string literals."""
    return [name for name, _b, _e in _identifiers(sql)]


def chains(sql):
    """Dotted names `a`.`b`[.`c`] of sql as lists of (name, begin, end)."""
    out = []
    for ident in _identifiers(sql):
        if out and out[-1][-1][2] + 1 == ident[1] and sql[out[-1][-1][2]] == '.':
            out[-1].append(ident)
        else:
            out.append([ident])
    return out


def strip_qualifier(sql, database, names=None, replacement=None):
    """Remove `database`. where it qualifies a name (see the module docstring), or put
    `replacement`. in its place.

    names: the database's tables, views and sequences, used when the database's name
    also stands alone in sql.
    """
    found = chains(sql)
    alone = any(len(c) == 1 and c[0][0] == database for c in found)
    cuts = []
    for c in found:
        if len(c) < 2 or c[0][0] != database:
            continue
        if len(c) == 2 and alone and (names is None or c[1][0] not in names):
            continue
        cuts.append((c[0][1], c[0][2] + 1))          # the qualifier and its dot
    out, last = [], 0
    new = '' if replacement is None else '`%s`.' % replacement.replace('`', '``')
    for begin, end in cuts:
        out.append(sql[last:begin])
        out.append(new)
        last = end
    out.append(sql[last:])
    return ''.join(out)
