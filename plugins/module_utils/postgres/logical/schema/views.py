"""Views and materialized views (the latter WITH NO DATA; refreshing is post-data).

The query text comes from pg_get_viewdef; check_option is written as the
WITH ... CHECK OPTION clause, the other reloptions as WITH (...). Column
defaults of views (ALTER VIEW ... SET DEFAULT) go into the same item.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object, fetch_dicts
from .quote import option_list, in_tablespace

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
         WHERE ad.adrelid = c.oid) AS defaults
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND %(filter)s
ORDER BY 2
"""


def view_items(cur, ctx):
    am = ("(SELECT am.amname FROM pg_catalog.pg_am am WHERE am.oid = c.relam AND am.amname <> 'heap')"
          if ctx.server_version_num >= 120000 else 'NULL::name')
    rows = fetch_dicts(cur, VIEWS_SQL % {'am': am, 'filter': user_object('n', 'pg_class', 'c.oid')})
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
            items.append(DdlItem(('pg_class', r['oid']), 'MATERIALIZED VIEW', r['name'],
                                 in_tablespace(sql, r['tablespace'])))
            continue
        sql = 'CREATE VIEW %s%s AS\n%s' % (r['name'], with_opts, query)
        if check:
            sql += '\n  WITH %s CHECK OPTION' % check[0].upper()
        sql += ';' + (r['defaults'] or '')
        items.append(DdlItem(('pg_class', r['oid']), 'VIEW', r['name'], sql))
    return items
