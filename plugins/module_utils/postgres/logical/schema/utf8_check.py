# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Schema text that cannot be represented in UTF8: find the objects and say so.

Schema files are UTF8 (catalog sessions use client_encoding UTF8), while table
data keep the database's own encoding (see connection.copy_options). A legacy
database can hold schema text that has no UTF8 form: in SQL_ASCII any bytes
that are not valid UTF-8 (the server does not convert, psycopg2 cannot decode),
in WIN1252 and similar the bytes without a Unicode mapping (the server refuses
to convert). Such a backup fails with one message that names the objects, read
from the catalog as raw bytes in a separate session (the snapshot session may
be in an aborted transaction).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ....common.errors import BackupFailed
from ...connection import connect

# untranslatable_character (no mapping), character_not_in_repertoire (SQL_ASCII bytes invalid in UTF8)
UNCONVERTIBLE = ('22P05', '22021')
MAX_NAMED = 5

# Python codecs of server encodings whose bytes can lack a Unicode mapping (the
# LATINn/ISO 8859 and KOI8 tables map every byte; multi-byte ones are validated on input).
_CODECS = {'SQL_ASCII': 'utf-8', 'WIN874': 'cp874', 'WIN1250': 'cp1250', 'WIN1251': 'cp1251',
           'WIN1252': 'cp1252', 'WIN1253': 'cp1253', 'WIN1254': 'cp1254', 'WIN1255': 'cp1255',
           'WIN1256': 'cp1256', 'WIN1257': 'cp1257', 'WIN1258': 'cp1258'}

# (what, name, text) as raw bytes (textsend, the session in the database encoding) of user objects' schema text.
_TEXT_SQL = """
SELECT 'schema', pg_catalog.textsend(n.nspname::text), pg_catalog.textsend(n.nspname::text)
FROM pg_catalog.pg_namespace n WHERE n.oid >= 16384 OR n.nspname = 'public'
UNION ALL
SELECT 'relation', pg_catalog.textsend(n.nspname || '.' || c.relname), pg_catalog.textsend(c.relname::text)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid >= 16384
UNION ALL
SELECT 'column', pg_catalog.textsend(n.nspname || '.' || c.relname || '.' || a.attname),
       pg_catalog.textsend(a.attname::text)
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid >= 16384 AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'column default', pg_catalog.textsend(n.nspname || '.' || c.relname || '.' || a.attname),
       pg_catalog.textsend(pg_catalog.pg_get_expr(d.adbin, d.adrelid))
FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
JOIN pg_catalog.pg_class c ON c.oid = d.adrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
UNION ALL
SELECT 'constraint', pg_catalog.textsend(n.nspname || '.' || o.conname),
       pg_catalog.textsend(o.conname || ' ' || pg_catalog.pg_get_constraintdef(o.oid))
FROM pg_catalog.pg_constraint o JOIN pg_catalog.pg_namespace n ON n.oid = o.connamespace WHERE o.oid >= 16384
UNION ALL
SELECT 'view', pg_catalog.textsend(n.nspname || '.' || c.relname), pg_catalog.textsend(pg_catalog.pg_get_viewdef(c.oid))
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid >= 16384 AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'function', pg_catalog.textsend(n.nspname || '.' || p.proname),
       pg_catalog.textsend(p.proname || ' ' || coalesce(p.prosrc, ''))
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid >= 16384
UNION ALL
SELECT 'type', pg_catalog.textsend(n.nspname || '.' || t.typname), pg_catalog.textsend(t.typname::text)
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid >= 16384 AND t.typrelid = 0 AND t.typcategory <> 'A'
UNION ALL
SELECT 'enum label', pg_catalog.textsend(n.nspname || '.' || t.typname), pg_catalog.textsend(e.enumlabel::text)
FROM pg_catalog.pg_enum e JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
UNION ALL
SELECT 'comment on', pg_catalog.textsend(pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid)),
       pg_catalog.textsend(d.description)
FROM pg_catalog.pg_description d WHERE d.objoid >= 16384
UNION ALL
SELECT 'role', pg_catalog.textsend(r.rolname::text), pg_catalog.textsend(r.rolname::text) FROM pg_catalog.pg_roles r
"""


def _show(raw):
    """Bytes as readable text: undecodable bytes as \\xNN."""
    return bytes(raw).decode('utf-8', 'backslashreplace')


def find_unconvertible(params, encoding):
    """['<what> <name>', ...] whose schema text has no UTF8 form in encoding (best effort)."""
    codec = _CODECS.get((encoding or '').upper())
    if codec is None:
        return []
    conn = connect(params, autocommit=True, application_name='dbbackup-diagnostics')
    try:
        cur = conn.cursor()
        cur.execute("SET search_path = ''")  # object descriptions name their schema
        # textsend converts to the client encoding: make that the database's (no conversion;
        # every column of the result is bytea or ASCII)
        cur.execute("SELECT pg_catalog.set_config('client_encoding', "
                    "pg_catalog.current_setting('server_encoding'), false)")
        cur.execute(_TEXT_SQL)
        found = []
        for what, name, text in cur:
            try:
                bytes(text).decode(codec)
            except UnicodeDecodeError:
                label = '%s %s' % (what, _show(name))
                if label not in found:
                    found.append(label)
        return found
    finally:
        conn.close()


def schema_text_error(params, encoding, detail):
    """The BackupFailed to raise when schema text of the database has no UTF8 form."""
    try:
        found = find_unconvertible(params, encoding)
    except Exception:  # a diagnosis must not hide the real problem
        found = []
    named = ''
    if found:
        more = len(found) - MAX_NAMED
        named = ' It is in: %s%s.' % ('; '.join(found[:MAX_NAMED]), ' and %d more' % more if more > 0 else '')
    return BackupFailed('Database %s (encoding %s) has schema text (names, comments, definitions) that cannot '
                        'be converted to UTF8: %s.%s' % (params['database'], encoding, detail, named),
                        'Backups store the schema as UTF8 (table data keep the database encoding). No backup '
                        'was recorded; rename the object or rewrite the text with characters that have a '
                        'Unicode form, then run the backup again.')
