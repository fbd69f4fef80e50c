# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the statements of a stored schema item without being fooled by its literals.

A restore must touch item SQL only where the dumper wrote something on
purpose: the database-name token and the statements it splits off (owners,
database privileges) sit outside literals and quoted names, while comment
text, function bodies and identifiers are the source owner's to choose. This
scanner knows PostgreSQL's lexical quoting: '...' (with ''), E'...' (with
backslash escapes), "..." (with ""), $tag$...$tag$, -- and /* */ comments.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

_DOLLAR_TAG = re.compile(r'\$([A-Za-z_\x80-\uffff][A-Za-z_0-9\x80-\uffff]*)?\$')


def _skip_quoted(sql, i, quote, backslashes):
    """Index after the closing quote of the literal/identifier opening at i."""
    n = len(sql)
    i += 1
    while i < n:
        ch = sql[i]
        if backslashes and ch == '\\':
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(sql, i):
    depth, n = 0, len(sql)
    while i < n:
        if sql.startswith('/*', i):
            depth += 1
            i += 2
        elif sql.startswith('*/', i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def segments(sql):
    """[(text, is_code)]: sql cut into code and quoted/comment parts, in order."""
    out, i, start, n = [], 0, 0, len(sql)

    def flush(end, code):
        if end > start:
            out.append((sql[start:end], code))

    while i < n:
        ch = sql[i]
        end = None
        if ch in '\'"':
            backslashes = ch == "'" and i > 0 and sql[i - 1] in 'eE' and \
                (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == '_'))
            begin = i - 1 if backslashes else i
            end = _skip_quoted(sql, i, ch, backslashes)
        elif ch == '-' and sql.startswith('--', i):
            begin = i
            nl = sql.find('\n', i)
            end = n if nl < 0 else nl
        elif ch == '/' and sql.startswith('/*', i):
            begin = i
            end = _skip_block_comment(sql, i)
        elif ch == '$' and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == '_')):
            m = _DOLLAR_TAG.match(sql, i)
            if m:
                begin = i
                close = sql.find(m.group(0), m.end())
                end = n if close < 0 else close + len(m.group(0))
        if end is None:
            i += 1
            continue
        flush(begin, True)
        start = begin
        flush(end, False)
        start = i = end
    flush(n, True)
    return out


def replace_in_code(sql, token, value):
    """sql with token replaced by value only outside literals, quoted names and comments."""
    return ''.join(text.replace(token, value) if code else text for text, code in segments(sql))


def split_statements(sql):
    """The statements of sql (each with its ';'), split only at semicolons in code."""
    statements, current = [], []
    for text, code in segments(sql):
        if not code:
            current.append(text)
            continue
        parts = text.split(';')
        for part in parts[:-1]:
            current.append(part + ';')
            statement = ''.join(current).strip()
            if statement != ';':
                statements.append(statement)
            current = []
        current.append(parts[-1])
    rest = ''.join(current).strip()
    if rest:
        statements.append(rest)
    return statements


def masked(statement):
    """The statement's code with every literal and quoted name replaced by '?', comments by ' '.

    Patterns matched against it see only what the dumper wrote itself.
    """
    return ''.join(text if code else (' ' if text[:2] in ('--', '/*') else '?')
                   for text, code in segments(statement)).strip()
