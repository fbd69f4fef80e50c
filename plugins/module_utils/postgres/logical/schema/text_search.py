# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Text search parsers, templates, dictionaries and configurations.

A configuration is created with its parser and then given its mapping, one
ALTER ... ADD MAPPING per token type with the dictionaries in order (token type
names come from the parser's ts_token_type). Parsers and templates have no
owner; dictionaries and configurations get theirs with the other decorations.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts

PARSERS_SQL = """
SELECT p.oid, pg_catalog.format('%%I.%%I', n.nspname, p.prsname) AS name,
       p.prsstart::pg_catalog.regproc::text AS start, p.prstoken::pg_catalog.regproc::text AS gettoken,
       p.prsend::pg_catalog.regproc::text AS "end", p.prslextype::pg_catalog.regproc::text AS lextypes,
       CASE WHEN p.prsheadline <> 0 THEN p.prsheadline::pg_catalog.regproc::text END AS headline
  FROM pg_catalog.pg_ts_parser p JOIN pg_catalog.pg_namespace n ON n.oid = p.prsnamespace
 WHERE %s
 ORDER BY 2
""" % user_object('n', 'pg_ts_parser', 'p.oid')

TEMPLATES_SQL = """
SELECT t.oid, pg_catalog.format('%%I.%%I', n.nspname, t.tmplname) AS name,
       CASE WHEN t.tmplinit <> 0 THEN t.tmplinit::pg_catalog.regproc::text END AS init,
       t.tmpllexize::pg_catalog.regproc::text AS lexize
  FROM pg_catalog.pg_ts_template t JOIN pg_catalog.pg_namespace n ON n.oid = t.tmplnamespace
 WHERE %s
 ORDER BY 2
""" % user_object('n', 'pg_ts_template', 't.oid')

DICTIONARIES_SQL = """
SELECT d.oid, pg_catalog.format('%%I.%%I', n.nspname, d.dictname) AS name,
       pg_catalog.format('%%I.%%I', tn.nspname, t.tmplname) AS template, d.dictinitoption AS options
  FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace
  JOIN pg_catalog.pg_ts_template t ON t.oid = d.dicttemplate
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace
 WHERE %s
 ORDER BY 2
""" % user_object('n', 'pg_ts_dict', 'd.oid')

CONFIGURATIONS_SQL = """
SELECT c.oid, pg_catalog.format('%%I.%%I', n.nspname, c.cfgname) AS name,
       pg_catalog.format('%%I.%%I', pn.nspname, p.prsname) AS parser,
       ARRAY(SELECT pg_catalog.format('%%s %%s', m.maptokentype,
                                      pg_catalog.string_agg(pg_catalog.format('%%I.%%I', dn.nspname, d.dictname),
                                                            ', ' ORDER BY m.mapseqno))
               FROM pg_catalog.pg_ts_config_map m
               JOIN pg_catalog.pg_ts_dict d ON d.oid = m.mapdict
               JOIN pg_catalog.pg_namespace dn ON dn.oid = d.dictnamespace
              WHERE m.mapcfg = c.oid GROUP BY m.maptokentype ORDER BY m.maptokentype) AS mapping,
       (SELECT pg_catalog.array_agg(t.tokid || ' ' || t.alias) FROM pg_catalog.ts_token_type(c.cfgparser) t) AS tokens
  FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace
  JOIN pg_catalog.pg_ts_parser p ON p.oid = c.cfgparser
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace
 WHERE %s
 ORDER BY 2
""" % user_object('n', 'pg_ts_config', 'c.oid')


def _options(pairs):
    return '(\n    %s\n)' % ',\n    '.join('%s = %s' % p for p in pairs if p[1])


def text_search_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, PARSERS_SQL):
        items.append(DdlItem(('pg_ts_parser', r['oid']), 'TEXT SEARCH PARSER', r['name'],
                             'CREATE TEXT SEARCH PARSER %s %s;' % (r['name'], _options([
                                 ('START', r['start']), ('GETTOKEN', r['gettoken']), ('END', r['end']),
                                 ('LEXTYPES', r['lextypes']), ('HEADLINE', r['headline'])]))))
    for r in fetch_dicts(cur, TEMPLATES_SQL):
        items.append(DdlItem(('pg_ts_template', r['oid']), 'TEXT SEARCH TEMPLATE', r['name'],
                             'CREATE TEXT SEARCH TEMPLATE %s %s;' % (r['name'], _options([
                                 ('INIT', r['init']), ('LEXIZE', r['lexize'])]))))
    for r in fetch_dicts(cur, DICTIONARIES_SQL):
        sql = 'CREATE TEXT SEARCH DICTIONARY %s (\n    TEMPLATE = %s%s\n);' % (
            r['name'], r['template'], ',\n    ' + r['options'] if r['options'] else '')
        items.append(DdlItem(('pg_ts_dict', r['oid']), 'TEXT SEARCH DICTIONARY', r['name'], sql))
    for r in fetch_dicts(cur, CONFIGURATIONS_SQL):
        aliases = dict(t.split(' ', 1) for t in r['tokens'] or ())
        lines = ['CREATE TEXT SEARCH CONFIGURATION %s (\n    PARSER = %s\n);' % (r['name'], r['parser'])]
        for entry in r['mapping'] or ():
            token, dicts = entry.split(' ', 1)
            lines.append('ALTER TEXT SEARCH CONFIGURATION %s\n    ADD MAPPING FOR %s WITH %s;' % (
                r['name'], aliases.get(token, token), dicts))
        items.append(DdlItem(('pg_ts_config', r['oid']), 'TEXT SEARCH CONFIGURATION', r['name'], '\n'.join(lines)))
    return items
