# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a logged SQL statement touches, and the same statement for another database name.

A binary log holds DDL (and, with binlog_format STATEMENT or MIXED, DML) as SQL
text with the session's default database beside it. Replaying the events of
one database into another name must rewrite the names that point at it and
must never run a statement that may touch another database. This module does
that with a lexer of MySQL/MariaDB SQL (strings, quoted identifiers, comments,
executable comments /*! */ and /*M! */, user and system variables; sql_mode's
ANSI_QUOTES and NO_BACKSLASH_ESCAPES) and a small recogniser of the DDL forms
whose target objects can be named exactly. It never guesses: a statement it
cannot place is refused, and the caller stops before touching anything.

Decisions (decide()):
  skip     the statement does not change the database (another database's DDL, accounts
           and privileges, table maintenance)
  keep     it changes the database: database qualifiers rewritten to the new name
  refuse   it cannot be replayed safely: it names another database that exists on the
           target server, its qualifiers are ambiguous (a table named like the database),
           its unqualified names would resolve in another database, it drops or alters the
           database itself, or it cannot be decoded
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from .events import MODE_ANSI_QUOTES, MODE_NO_BACKSLASH_ESCAPES

IDENT, WORD, STRING, NUMBER, VARIABLE, PUNCT = 'ident', 'word', 'string', 'number', 'var', 'punct'
_WORD = re.compile(r'[0-9A-Za-z$_\u0080-\uffff]+')
_SPACE = re.compile(r'\s+')
_NUMBER = re.compile(r'0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')
_DIGITS = re.compile(r'\d+')
_EXECUTABLE = re.compile(r'/\*M?!\d*')          # /*!50001 ... */ and MariaDB's /*M!100101 ... */: code
# statements that never change a database's content: accounts, privileges, maintenance
ACCOUNT_OR_ADMIN = ('GRANT', 'REVOKE', 'FLUSH', 'INSTALL', 'UNINSTALL', 'ANALYZE', 'OPTIMIZE', 'REPAIR',
                    'CHECK', 'RESET', 'PURGE', 'KILL', 'SHUTDOWN', 'CACHE')
ACCOUNT_OBJECTS = ('USER', 'ROLE', 'SERVER')
CONTROL = ('BEGIN', 'COMMIT', 'ROLLBACK', 'XA', 'SAVEPOINT', 'RELEASE', 'START')
SYSTEM_SCHEMAS = ('mysql', 'performance_schema', 'sys')
# the object keywords of CREATE/ALTER/DROP
OBJECT_KINDS = ('TABLE', 'VIEW', 'INDEX', 'TRIGGER', 'PROCEDURE', 'FUNCTION', 'EVENT', 'SEQUENCE', 'PACKAGE',
                'DATABASE', 'SCHEMA')
# rest-of-statement keywords that bring in more table names (resolved in the default database)
TABLE_REFERENCES = ('REFERENCES', 'LIKE', 'SELECT', 'AS', 'FROM', 'JOIN', 'UNION')


class Token(object):
    __slots__ = ('kind', 'text', 'start', 'end', 'value')

    def __init__(self, kind, text, start, end, value=None):
        self.kind = kind
        self.text = text
        self.start = start
        self.end = end
        self.value = text if value is None else value     # identifier name without quotes

    def upper(self):
        return self.value.upper() if self.kind == WORD else None

    def __repr__(self):
        return 'Token(%s, %r)' % (self.kind, self.text)


class LexError(Exception):
    pass


def tokens(sql, sql_mode=0):
    """Significant tokens of sql (comments and spaces dropped; executable comments are code)."""
    ansi = bool(sql_mode & MODE_ANSI_QUOTES)
    backslash = not sql_mode & MODE_NO_BACKSLASH_ESCAPES
    out = []
    i, n = 0, len(sql)
    in_exec = False
    while i < n:
        ch = sql[i]
        m = _SPACE.match(sql, i)
        if m:
            i = m.end()
            continue
        if sql.startswith('/*', i):
            m = _EXECUTABLE.match(sql, i)
            if m:
                if in_exec:
                    raise LexError('nested executable comment')
                in_exec = True
                i = m.end()
                continue
            end = sql.find('*/', i + 2)
            if end < 0:
                raise LexError('unterminated comment')
            i = end + 2
            continue
        if in_exec and sql.startswith('*/', i):
            in_exec = False
            i += 2
            continue
        if ch == '#' or (sql.startswith('--', i) and (i + 2 >= n or sql[i + 2] in ' \t\r\n\f\v')):
            end = sql.find('\n', i)
            i = n if end < 0 else end + 1
            continue
        if ch == '`' or (ch == '"' and ansi):
            end, value = _quoted(sql, i, ch, False)
            out.append(Token(IDENT, sql[i:end], i, end, value))
            i = end
            continue
        if ch in ("'", '"'):
            end, value = _quoted(sql, i, ch, backslash)
            out.append(Token(STRING, sql[i:end], i, end, value))
            i = end
            continue
        if ch == '@':
            end = _variable_end(sql, i, ansi, backslash)
            out.append(Token(VARIABLE, sql[i:end], i, end))
            i = end
            continue
        after_dot = bool(out) and out[-1].kind == PUNCT and out[-1].text == '.'
        if ch.isdigit() or (ch == '.' and i + 1 < n and sql[i + 1].isdigit() and not _ends_name(out)):
            word = _WORD.match(sql, i)
            num = _NUMBER.match(sql, i)
            if word and (after_dot or not _DIGITS.fullmatch(word.group()) and
                         (not num or word.end() > num.end())):
                out.append(Token(WORD, word.group(), i, word.end()))
                i = word.end()
                continue
            if num:
                out.append(Token(NUMBER, num.group(), i, num.end()))
                i = num.end()
                continue
        m = _WORD.match(sql, i)
        if m:
            out.append(Token(WORD, m.group(), i, m.end()))
            i = m.end()
            continue
        out.append(Token(PUNCT, ch, i, i + 1))
        i += 1
    if in_exec:
        raise LexError('unterminated executable comment')
    return out


def _ends_name(out):
    return bool(out) and out[-1].kind in (WORD, IDENT) or (bool(out) and out[-1].text == ')')


def _quoted(sql, i, quote, backslash):
    """(end index, unquoted value) of the quoted token at sql[i]."""
    n = len(sql)
    j = i + 1
    parts = []
    while j < n:
        ch = sql[j]
        if backslash and ch == '\\' and quote != '`':
            parts.append(sql[j:j + 2])
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and sql[j + 1] == quote:
                parts.append(quote)
                j += 2
                continue
            return j + 1, ''.join(parts)
        parts.append(ch)
        j += 1
    raise LexError('unterminated %s' % ('identifier' if quote == '`' else 'string'))


def _variable_end(sql, i, ansi, backslash):
    """End of @name, @'name', @@scope.name (one token, so its dots are not qualifiers)."""
    n = len(sql)
    j = i + 1
    if j < n and sql[j] == '@':
        j += 1
    while j < n:
        ch = sql[j]
        if ch in '`\'"':
            j, _v = _quoted(sql, j, ch, backslash and ch != '`')
        else:
            m = _WORD.match(sql, j)
            if not m:
                break
            j = m.end()
        if j < n and sql[j] == '.' and sql[i:i + 2] == '@@':
            j += 1
            continue
        break
    return j


# --- names -------------------------------------------------------------------------
class Name(object):
    """A dotted name a.b[.c]: its parts (tokens) and where it starts in the token list."""

    __slots__ = ('parts', 'index')

    def __init__(self, parts, index):
        self.parts = parts
        self.index = index

    @property
    def head(self):
        return self.parts[0]


def names(toks):
    """Every identifier chain (a, a.b, a.b.c, a.*) of a token list."""
    found = []
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if t.kind in (WORD, IDENT):
            parts = [t]
            j = i + 1
            while j + 1 < n and toks[j].text == '.' and toks[j].kind == PUNCT and \
                    (toks[j + 1].kind in (WORD, IDENT) or toks[j + 1].text == '*'):
                parts.append(toks[j + 1])
                j += 2
            found.append(Name(parts, i))
            i = j
        else:
            i += 1
    return found


class Decision(object):
    __slots__ = ('action', 'statement', 'reason')

    def __init__(self, action, statement=None, reason=None):
        self.action = action          # 'skip' | 'keep' | 'refuse' | 'control'
        self.statement = statement    # the rewritten text (keep)
        self.reason = reason


def _words(toks, k=4):
    return [t.upper() for t in toks[:k]]


def statement_kind(toks):
    """'control', 'admin', 'database', 'ddl', or 'dml' (anything else)."""
    if not toks:
        return 'empty'
    first = toks[0].upper()
    words = _words(toks, 6)
    if first in CONTROL and not (first == 'START' and 'TRANSACTION' not in words):
        return 'control'
    if first in ('CREATE', 'DROP', 'ALTER', 'RENAME') and any(w in ACCOUNT_OBJECTS for w in words[1:3]):
        return 'admin'
    if first in ACCOUNT_OR_ADMIN or (first == 'SET' and len(toks) > 1 and toks[1].upper() in
                                     ('PASSWORD', 'DEFAULT', 'ROLE')):
        return 'admin'
    if first in ('CREATE', 'DROP', 'ALTER') and _object_kind(toks) in ('DATABASE', 'SCHEMA'):
        return 'database'
    if first in ('CREATE', 'DROP', 'ALTER', 'RENAME', 'TRUNCATE'):
        return 'ddl'
    return 'dml'


def _object_kind(toks):
    """The object keyword of a CREATE/ALTER/DROP statement (TABLE, VIEW, INDEX, ...)."""
    return _object_index(toks)[1]


def _object_index(toks):
    """(index, keyword) of the object keyword, looked for among the first words."""
    for i, t in enumerate(toks[1:16], 1):
        if t.upper() in OBJECT_KINDS:
            return i, t.upper()
    return None, None


def ddl_objects(toks, chains):
    """Names of the objects a DDL statement creates, changes or drops, or None when not recognised."""
    first = toks[0].upper()
    by_index = dict((c.index, c) for c in chains)
    if first == 'TRUNCATE':
        i = 2 if len(toks) > 1 and toks[1].upper() == 'TABLE' else 1
        return [by_index[i]] if i in by_index else None
    if first == 'RENAME':
        if len(toks) < 2 or toks[1].upper() != 'TABLE':
            return None
        out, i = [], 2
        while i < len(toks):
            c = by_index.get(i)
            if c is None:
                return None
            out.append(c)
            i = c.index + 2 * len(c.parts) - 1
            if i < len(toks) and toks[i].upper() in ('TO', ','):
                i += 1
            else:
                break
        return out or None
    i, kind = _object_index(toks)
    if kind is None:
        return None
    j = i + 1
    while j < len(toks) and toks[j].upper() in ('IF', 'NOT', 'EXISTS', 'BODY'):
        j += 1
    if kind == 'INDEX':
        # CREATE ... INDEX [IF NOT EXISTS] name [USING ..] ON table / DROP INDEX name ON table
        for k in range(j, len(toks)):
            if toks[k].upper() == 'ON' and (k + 1) in by_index:
                return [by_index[k + 1]]
        return None
    if kind == 'TRIGGER' and first == 'CREATE':
        # CREATE TRIGGER name BEFORE|AFTER event ON table: the trigger lives with its table
        for k in range(j, len(toks)):
            if toks[k].upper() == 'ON' and (k + 1) in by_index:
                return [by_index[k + 1]]
        return None
    c = by_index.get(j)
    if c is None:
        return None
    out = [c]
    if first == 'DROP':
        k = c.index + 2 * len(c.parts) - 1
        while k < len(toks) and toks[k].text == ',' and (k + 1) in by_index:
            c = by_index[k + 1]
            out.append(c)
            k = c.index + 2 * len(c.parts) - 1
    return out


def _db_of(chain, default_db):
    """Database a name belongs to: its qualifier, or the default database."""
    if len(chain.parts) >= 2:
        return chain.parts[0].value
    return default_db


def decide(sql, sql_mode, default_db, source, target, others):
    """A Decision for one statement (see the module docstring).

    sql: the statement text (str); default_db: the session's database ('' for none);
    source: the database being recovered; target: the name it is replayed into;
    others: names of databases on the target server that must never be touched.
    """
    try:
        toks = tokens(sql, sql_mode)
    except LexError as e:
        if default_db == source or source in sql:
            return Decision('refuse', reason='the statement cannot be read (%s)' % e)
        return Decision('skip')
    kind = statement_kind(toks)
    if kind == 'control':
        return Decision('control')
    if kind in ('admin', 'empty'):
        return Decision('skip')
    chains = names(toks)
    if kind == 'database':
        return _database_statement(toks, chains, default_db, source)
    objects = ddl_objects(toks, chains) if kind == 'ddl' else None
    if objects is not None:
        dbs = set(_db_of(c, default_db) for c in objects)
        if source not in dbs:
            return Decision('skip')
        if dbs != {source}:
            return Decision('refuse', reason='it names objects of %s and of another database (%s)'
                            % (source, ', '.join(sorted(d or '(none)' for d in dbs - {source}))))
        if default_db not in ('', source) and _brings_tables(toks, objects):
            return Decision('refuse', reason='it ran with default database %s, in which its unqualified names '
                            'would be looked up' % default_db)
        if _object_kind(toks) == 'EVENT':
            return Decision('refuse', reason='scheduled events are not replayed (they would run in the copy)')
        return _rewrite(sql, toks, chains, source, target, others)
    mentions = any(len(c.parts) >= 2 and c.head.value.lower() == source.lower() for c in chains)
    if default_db != source and not mentions:
        return Decision('skip')
    if default_db not in ('', source):
        return Decision('refuse', reason='it ran with default database %s and names %s: its unqualified names '
                        'would be looked up in %s' % (default_db, source, default_db))
    return _rewrite(sql, toks, chains, source, target, others)


def _brings_tables(toks, objects):
    """Whether a DDL statement names more tables than its objects (REFERENCES, LIKE, SELECT, ...)."""
    if toks[0].upper() in ('TRUNCATE', 'RENAME', 'DROP'):
        return False
    if _object_kind(toks) in ('TRIGGER', 'PROCEDURE', 'FUNCTION', 'EVENT', 'PACKAGE'):
        return False         # bodies are resolved in the object's own database when they run
    return any(t.upper() in TABLE_REFERENCES for t in toks)


def _database_statement(toks, chains, default_db, source):
    i, _kind = _object_index(toks)
    j = i + 1
    while j < len(toks) and toks[j].upper() in ('IF', 'NOT', 'EXISTS'):
        j += 1
    named = toks[j].value if j < len(toks) and toks[j].kind in (WORD, IDENT) and \
        toks[j].upper() not in ('DEFAULT', 'CHARACTER', 'CHARSET', 'COLLATE', 'COMMENT') else default_db
    if named != source:
        return Decision('skip')
    first = toks[0].upper()
    if first == 'DROP':
        return Decision('refuse', reason='it drops the database itself; recover to a point before it')
    if first == 'CREATE' and any(t.upper() == 'EXISTS' for t in toks[:j]):
        return Decision('skip')      # CREATE DATABASE IF NOT EXISTS of an existing database: no change
    return Decision('refuse', reason='it %ss the database itself (its options are taken from the backup)'
                    % first.lower())


def _rewrite(sql, toks, chains, source, target, others):
    """keep, with every `source`. qualifier replaced by `target`., or refuse."""
    heads = []
    ambiguous = False
    bare = set(c.head.value for c in chains if len(c.parts) == 1)     # tables and aliases named alone
    for c in chains:
        first = c.head.value
        if len(c.parts) >= 2 and c.parts[1].text != '*' or len(c.parts) >= 3:
            if first == source:
                heads.append(c.head)
            elif (first in others or first.lower() in SYSTEM_SCHEMAS) and (len(c.parts) >= 3 or first not in bare):
                return Decision('refuse', reason='it names database %s, which this recovery must not touch' % first)
            elif first.lower() == source.lower() and first != source:
                return Decision('refuse', reason='it names %s, which differs from %s only in letter case' % (
                    first, source))
        elif len(c.parts) == 2 and c.parts[1].text == '*':
            if first in others or first.lower() in SYSTEM_SCHEMAS:
                return Decision('refuse', reason='it names database %s, which this recovery must not touch' % first)
            if first == source:
                heads.append(c.head)
        for part in c.parts[1:]:
            if part.value == source:
                ambiguous = True
        if len(c.parts) == 1 and first == source:
            ambiguous = True
    if heads and ambiguous:
        return Decision('refuse', reason='%s is both the database and the name of a table or alias in it, so '
                        '"%s.x" cannot be told apart' % (source, source))
    if not heads:
        return Decision('keep', sql)
    out, last = [], 0
    quoted = '`%s`' % target.replace('`', '``')
    for t in heads:
        out.append(sql[last:t.start])
        out.append(quoted)
        last = t.end
    out.append(sql[last:])
    return Decision('keep', ''.join(out))
