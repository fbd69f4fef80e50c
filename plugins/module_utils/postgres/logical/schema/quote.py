# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Quoting helpers for SQL text the extractors build in Python.

Object names come quoted from the server (format('%I'), regclass::text,
format_type with search_path = ''), so only literals and option lists are
quoted here; the rules follow PostgreSQL's quote_literal.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


def quote_literal(value):
    """'text' as PostgreSQL's quote_literal does (E'' when there are backslashes)."""
    text = str(value).replace("'", "''")
    if '\\' in text:
        return "E'%s'" % text.replace('\\', '\\\\')
    return "'%s'" % text


def option_list(options, prefix=''):
    """['fillfactor=80', ...] -> "fillfactor='80', ..." (reloptions/attoptions syntax)."""
    parts = []
    for opt in options or ():
        name, value = opt.split('=', 1)
        parts.append('%s%s=%s' % (prefix, name, quote_literal(value)))
    return ', '.join(parts)


def in_tablespace(sql, tablespace):
    """Wrap sql in SET default_tablespace when the relation lives outside the default one.

    Like pg_dump, so CREATE statements stay plain and the setting never leaks
    into later items of the same restore session.
    """
    if not tablespace:
        return sql
    return 'SET default_tablespace = %s;\n%s\nSET default_tablespace = \'\';' % (tablespace, sql)
