# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a failed restore says: the object, the statement, and whose fault it is.

A schema item may hold several statements (a table and its column settings, an
object's owner and grants), sent in one round trip. When it fails, the statement
that failed is found by running the item's statements again one by one inside a
transaction that is rolled back (the restore database is dropped anyway). The
cause is read from the SQLSTATE: what the target server lacks or refuses (a role,
a tablespace, an extension or library, a locale, privileges, resources) is the
target's; anything else means the backup's SQL does not fit an empty database,
a limit of this tool.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ...common.errors import RestoreFailed
from ..connection import error_text

SHOWN = 400   # characters of a statement shown in a message

# SQLSTATE classes and codes that point at the target server (or the login role on it).
TARGET_CLASSES = ('08', '53', '54', '55', '57', '58', 'F0', 'XX')
TARGET_CODES = ('42501', '0A000', '22023', '42939')
# undefined_object (42704) and undefined_file are the target's when they name a global
# object or something installed there, not an object the backup should have made.
GLOBAL_OBJECT = re.compile(r'\b(role|tablespace|extension|language|collation|locale|control file|library)\b', re.I)
CAUSE_TARGET = ('Cause: the target server (it lacks or refuses something the backup needs: a role, a tablespace, '
                'an extension or library, a locale, privileges of the login role or resources); fix the target '
                'and run the restore again.')
CAUSE_BACKUP = ('Cause: the backup (its SQL does not fit an empty database; a limit of this tool, not of the '
                'target server): restore another backup, or report the object and statement named here.')


def target_is_cause(error):
    """True when error (a psycopg2 error) comes from the target server's setup, not the backup."""
    code = getattr(error, 'pgcode', None) or ''
    if code[:2] in TARGET_CLASSES or code in TARGET_CODES:
        return True
    return code == '42704' and bool(GLOBAL_OBJECT.search(error_text(error)))


def cause_text(error):
    return CAUSE_TARGET if target_is_cause(error) else CAUSE_BACKUP


def split_statements(sql):
    """The statements of sql, split at top-level semicolons.

    Knows quoted strings and identifiers, dollar quotes, comments, and the bodies of
    BEGIN ATOMIC functions (BEGIN/CASE ... END nesting), which hold semicolons of their own.
    """
    out, start, i, n, depth, atomic = [], 0, 0, len(sql), 0, False
    while i < n:
        ch = sql[i]
        if ch in '\'"':
            i = _closing(sql, i, ch)
        elif ch == '$' and re.match(r'\$[A-Za-z_]\w*\$|\$\$', sql[i:]):
            tag = re.match(r'\$[A-Za-z_]\w*\$|\$\$', sql[i:]).group(0)
            end = sql.find(tag, i + len(tag))
            i = n if end < 0 else end + len(tag)
        elif sql.startswith('--', i):
            end = sql.find('\n', i)
            i = n if end < 0 else end + 1
        elif sql.startswith('/*', i):
            end = sql.find('*/', i + 2)
            i = n if end < 0 else end + 2
        elif ch.isalpha() or ch == '_':
            word = re.match(r'\w+', sql[i:]).group(0)
            upper = word.upper()
            if upper == 'ATOMIC' and sql[:i].rstrip().upper().endswith('BEGIN'):
                atomic, depth = True, 1
            elif atomic and upper in ('BEGIN', 'CASE'):
                depth += 1
            elif atomic and upper == 'END':
                depth -= 1
            i += len(word)
        elif ch == ';' and not (atomic and depth > 0):
            out.append(sql[start:i + 1].strip())
            start, atomic = i + 1, False
            i += 1
        else:
            i += 1
    if sql[start:].strip():
        out.append(sql[start:].strip())
    return [s for s in out if s.strip(';').strip()]


def _closing(sql, i, quote):
    """Index after the string or identifier quoted with quote that starts at i."""
    escape = quote == "'" and i > 0 and sql[i - 1] in 'eE'
    j = i + 1
    while j < len(sql):
        if escape and sql[j] == '\\':
            j += 2
            continue
        if sql[j] == quote:
            if j + 1 < len(sql) and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return j


def failing_statement(conn, sql):
    """The first statement of sql that fails, run one by one in a transaction rolled back; None if none does."""
    statements = split_statements(sql)
    if len(statements) <= 1:
        return statements[0] if statements else sql.strip()
    cur = conn.cursor()
    try:
        cur.execute('BEGIN')
        for statement in statements:
            try:
                cur.execute(statement)
            except Exception:
                return statement
        return None
    except Exception:
        return None
    finally:
        try:
            cur.execute('ROLLBACK')
        except Exception:
            pass


def shorten(text, limit=SHOWN):
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def item_failed(item, sql, error, conn):
    """The RestoreFailed for schema item `item` (its SQL as run: sql) failing with `error` on conn."""
    statement = failing_statement(conn, sql)
    where = ' Statement: %s' % shorten(statement).rstrip(';') if statement else ''
    return RestoreFailed('Restoring %s %s failed: %s.%s' % (item.kind, item.name, error_text(error).rstrip('.'), where),
                         '%s The target was left unchanged.' % cause_text(error))
