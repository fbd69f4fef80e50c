# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Foreign data wrappers, servers and user mappings (foreign tables are in tables.py).

Wrappers that an extension creates (postgres_fdw, file_fdw) come with
CREATE EXTENSION and are skipped. User mapping options may hold passwords;
they are read from pg_user_mappings, which shows them to superusers and
the server owner only, like pg_dump does.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import fetch_dicts, NOT_EXTENSION_MEMBER
from .quote import quote_literal

# ", OPTIONS (name 'value', ...)" built on the server so names and values are quoted right.
OPTIONS = ("(SELECT ' OPTIONS (' || pg_catalog.string_agg(pg_catalog.format('%%I %%L', o.option_name,"
           " o.option_value), ', ') || ')' FROM pg_catalog.pg_options_to_table(%s) o)")

WRAPPERS_SQL = """
SELECT w.oid, pg_catalog.quote_ident(w.fdwname) AS name,
       CASE WHEN w.fdwhandler <> 0 THEN w.fdwhandler::pg_catalog.regproc::text END AS handler,
       CASE WHEN w.fdwvalidator <> 0 THEN w.fdwvalidator::pg_catalog.regproc::text END AS validator,
       %s AS options
FROM pg_catalog.pg_foreign_data_wrapper w
WHERE %s
ORDER BY 2
""" % (OPTIONS % 'w.fdwoptions',
       NOT_EXTENSION_MEMBER.format(catalog='pg_foreign_data_wrapper', oid='w.oid'))

SERVERS_SQL = """
SELECT s.oid, pg_catalog.quote_ident(s.srvname) AS name, pg_catalog.quote_ident(w.fdwname) AS fdw,
       s.srvtype, s.srvversion, %s AS options
FROM pg_catalog.pg_foreign_server s JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
WHERE %s
ORDER BY 2
""" % (OPTIONS % 's.srvoptions',
       NOT_EXTENSION_MEMBER.format(catalog='pg_foreign_server', oid='s.oid'))

MAPPINGS_SQL = """
SELECT m.umid, m.srvid, pg_catalog.quote_ident(m.srvname) AS server,
       CASE WHEN m.umuser = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(m.usename) END AS usename,
       %s AS options
FROM pg_catalog.pg_user_mappings m
ORDER BY 3, 4
""" % (OPTIONS % 'm.umoptions')


def wrapper_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, WRAPPERS_SQL):
        sql = 'CREATE FOREIGN DATA WRAPPER %s' % r['name']
        sql += ' HANDLER %s' % r['handler'] if r['handler'] else ' NO HANDLER'
        sql += ' VALIDATOR %s' % r['validator'] if r['validator'] else ' NO VALIDATOR'
        items.append(DdlItem(('pg_foreign_data_wrapper', r['oid']), 'FOREIGN DATA WRAPPER', r['name'],
                             sql + (r['options'] or '') + ';'))
    return items


def server_items(cur, ctx):
    items = []
    for r in fetch_dicts(cur, SERVERS_SQL):
        sql = 'CREATE SERVER %s' % r['name']
        if r['srvtype'] is not None:
            sql += " TYPE %s" % quote_literal(r['srvtype'])
        if r['srvversion'] is not None:
            sql += " VERSION %s" % quote_literal(r['srvversion'])
        sql += ' FOREIGN DATA WRAPPER %s%s;' % (r['fdw'], r['options'] or '')
        items.append(DdlItem(('pg_foreign_server', r['oid']), 'SERVER', r['name'], sql))
    return items


def user_mapping_items(cur, ctx):
    return [DdlItem(('pg_user_mapping', r['umid']), 'USER MAPPING',
                    '%s SERVER %s' % (r['usename'], r['server']),
                    'CREATE USER MAPPING FOR %s SERVER %s%s;' % (r['usename'], r['server'], r['options'] or ''),
                    deps=[('pg_foreign_server', r['srvid'])])
            for r in fetch_dicts(cur, MAPPINGS_SQL)]


def foreign_items(cur, ctx):
    """Wrappers, servers and user mappings."""
    return wrapper_items(cur, ctx) + server_items(cur, ctx) + user_mapping_items(cur, ctx)
