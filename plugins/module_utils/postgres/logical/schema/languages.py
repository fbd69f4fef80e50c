# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Procedural languages, transforms and conversions.

Languages that come with an extension (plpgsql, plperl, ...) are made by CREATE
EXTENSION and skipped; a language created directly names its handler, inline
and validator functions, which are items of their own before it. Transforms
connect a type and a language through two functions; conversions connect two
encodings through one.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts, NOT_EXTENSION_MEMBER
from .quote import quote_literal

LANGUAGES_SQL = """
SELECT l.oid, pg_catalog.quote_ident(l.lanname) AS name, l.lanpltrusted AS trusted,
       CASE WHEN l.lanplcallfoid <> 0 THEN l.lanplcallfoid::pg_catalog.regproc::text END AS handler,
       CASE WHEN l.laninline <> 0 THEN l.laninline::pg_catalog.regproc::text END AS inline,
       CASE WHEN l.lanvalidator <> 0 THEN l.lanvalidator::pg_catalog.regproc::text END AS validator
  FROM pg_catalog.pg_language l
 WHERE l.oid >= 16384 AND %s
 ORDER BY 2
""" % NOT_EXTENSION_MEMBER.format(catalog='pg_language', oid='l.oid')

TRANSFORMS_SQL = """
SELECT t.oid, pg_catalog.format_type(t.trftype, NULL) AS type, pg_catalog.quote_ident(l.lanname) AS language,
       CASE WHEN t.trffromsql <> 0 THEN t.trffromsql::pg_catalog.regprocedure::text END AS fromsql,
       CASE WHEN t.trftosql <> 0 THEN t.trftosql::pg_catalog.regprocedure::text END AS tosql
  FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang
 WHERE t.oid >= 16384 AND %s
 ORDER BY 2, 3
""" % NOT_EXTENSION_MEMBER.format(catalog='pg_transform', oid='t.oid')

CONVERSIONS_SQL = """
SELECT c.oid, pg_catalog.format('%%I.%%I', n.nspname, c.conname) AS name, c.condefault,
       pg_catalog.pg_encoding_to_char(c.conforencoding) AS source,
       pg_catalog.pg_encoding_to_char(c.contoencoding) AS target,
       c.conproc::pg_catalog.regproc::text AS func
  FROM pg_catalog.pg_conversion c JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
 WHERE %s
 ORDER BY 2
""" % user_object('n', 'pg_conversion', 'c.oid')


def language_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, LANGUAGES_SQL):
        sql = 'CREATE %sPROCEDURAL LANGUAGE %s' % ('TRUSTED ' if r['trusted'] else '', r['name'])
        if r['handler']:
            sql += ' HANDLER %s' % r['handler']
            if r['inline']:
                sql += ' INLINE %s' % r['inline']
            if r['validator']:
                sql += ' VALIDATOR %s' % r['validator']
        items.append(DdlItem(('pg_language', r['oid']), 'PROCEDURAL LANGUAGE', r['name'], sql + ';'))
    return items


def transform_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, TRANSFORMS_SQL):
        parts = []
        if r['fromsql']:
            parts.append('FROM SQL WITH FUNCTION %s' % r['fromsql'])
        if r['tosql']:
            parts.append('TO SQL WITH FUNCTION %s' % r['tosql'])
        name = 'FOR %s LANGUAGE %s' % (r['type'], r['language'])
        items.append(DdlItem(('pg_transform', r['oid']), 'TRANSFORM', name,
                             'CREATE TRANSFORM %s (%s);' % (name, ', '.join(parts))))
    return items


def conversion_items(cur, ctx):
    return [DdlItem(('pg_conversion', r['oid']), 'CONVERSION', r['name'],
                    'CREATE %sCONVERSION %s FOR %s TO %s FROM %s;' % (
                        'DEFAULT ' if r['condefault'] else '', r['name'], quote_literal(r['source']),
                        quote_literal(r['target']), r['func']))
            for r in fetch_dicts(cur, CONVERSIONS_SQL)]
