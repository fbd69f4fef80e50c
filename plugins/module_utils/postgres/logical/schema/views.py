# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Views and materialized views (the latter WITH NO DATA; refreshing is post-data).

The query text comes from pg_get_viewdef; check_option is written as the
WITH ... CHECK OPTION clause, the other reloptions as WITH (...). Column
defaults of views (ALTER VIEW ... SET DEFAULT) go into the same item. Each view
item also carries its split form (DdlItem.split: a placeholder with NULL columns
of the right types, and CREATE OR REPLACE VIEW), used when a dependency loop or
a post-data object it needs makes pg_dump split a view too. Materialized views
get their column settings (statistics target, storage, compression) as tables do.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts
from .quote import option_list, in_tablespace
from .tables import TABLE_AM, column_settings

VIEWS_SQL = """
SELECT c.oid, c.oid::pg_catalog.regclass::text AS name, c.relkind, c.reloptions,
       pg_catalog.pg_get_viewdef(c.oid) AS def, %(am)s AS am,
       (SELECT pg_catalog.quote_ident(ts.spcname) FROM pg_catalog.pg_tablespace ts
         WHERE ts.oid = c.reltablespace) AS tablespace,
       (SELECT pg_catalog.string_agg(pg_catalog.format(
                 E'\\nALTER VIEW %%s ALTER COLUMN %%I SET DEFAULT %%s;', c.oid::pg_catalog.regclass,
                 a.attname, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)), '' ORDER BY a.attnum)
          FROM pg_catalog.pg_attrdef ad
          JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
         WHERE ad.adrelid = c.oid) AS defaults,
       ARRAY(SELECT pg_catalog.format('NULL::%%s%%s AS %%I', pg_catalog.format_type(a.atttypid, a.atttypmod),
                                      CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE '
                                           || pg_catalog.quote_ident(cn.nspname) || '.'
                                           || pg_catalog.quote_ident(co.collname) ELSE '' END, a.attname)
               FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
               LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS nulls,
       (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
                 'attname', pg_catalog.quote_ident(a.attname), 'stattarget', COALESCE(a.attstattarget::integer, -1),
                 'attstorage', a.attstorage, 'typstorage', t.typstorage, 'compression', %(compression)s,
                 'attoptions', %(attoptions)s) ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         WHERE c.relkind = 'm' AND a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS settings
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND %(filter)s
ORDER BY 2
"""


def view_items(cur, ctx):
    caps = ctx.caps
    am = TABLE_AM if caps.table_access_methods else 'NULL::name'
    compression = ("NULLIF(a.attcompression, '')::text" if caps.has_column('pg_attribute', 'attcompression')
                   else 'NULL::text')
    rows = fetch_dicts(cur, VIEWS_SQL % {'am': am, 'filter': user_object('n', 'pg_class', 'c.oid'),
                                         'compression': compression,
                                         'attoptions': caps.attribute_options('a.attoptions')})
    items = []
    for r in rows:
        query = r['def'].rstrip().rstrip(';')
        options = [o for o in (r['reloptions'] or []) if not o.startswith('check_option=')]
        check = [o.split('=', 1)[1] for o in (r['reloptions'] or []) if o.startswith('check_option=')]
        with_opts = ' WITH (%s)' % option_list(options) if options else ''
        if r['relkind'] == 'm':
            using = ' USING %s' % r['am'] if r['am'] else ''
            sql = 'CREATE MATERIALIZED VIEW %s%s%s AS\n%s\n  WITH NO DATA;' % (
                r['name'], using, with_opts, query)
            sql = '\n'.join([in_tablespace(sql, r['tablespace'])] + _matview_settings(r))
            items.append(DdlItem(('pg_class', r['oid']), 'MATERIALIZED VIEW', r['name'], sql))
            continue
        body = '%s%s AS\n%s' % (r['name'], with_opts, query)
        if check:
            body += '\n  WITH %s CHECK OPTION' % check[0].upper()
        body += ';' + (r['defaults'] or '')
        placeholder = 'CREATE VIEW %s AS\nSELECT\n    %s;' % (r['name'], ',\n    '.join(r['nulls']))
        items.append(DdlItem(('pg_class', r['oid']), 'VIEW', r['name'], 'CREATE VIEW ' + body,
                             split=(placeholder, 'CREATE OR REPLACE VIEW ' + body)))
    return items


def _matview_settings(r):
    """ALTER MATERIALIZED VIEW ... ALTER COLUMN for statistics targets, storage, compression, options."""
    out = []
    for col in r['settings'] or ():
        out += column_settings(r['name'], col, 'ALTER MATERIALIZED VIEW')
    return out
