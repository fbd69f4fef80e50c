# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Schemas and extensions: the containers every other pre-data item needs.

'public' exists in every new database, so it gets no CREATE (its owner, ACL
and comment are decorations done in post-data); when the source has no
'public' schema, it is dropped so both sides match. Extensions are created
without VERSION (as pg_dump) so the target installs its default
version; their member objects are never dumped.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem
from .pre_common import user_object


SCHEMAS_SQL = """
SELECT n.oid, pg_catalog.quote_ident(n.nspname) AS name
FROM pg_catalog.pg_namespace n
WHERE %s
ORDER BY n.nspname
""" % user_object('n', 'pg_namespace', 'n.oid')

# Built-in extensions (plpgsql, oid below 16384) come with every database.
EXTENSIONS_SQL = """
SELECT e.oid, pg_catalog.quote_ident(e.extname), pg_catalog.quote_ident(n.nspname), e.extversion
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE e.oid >= 16384
ORDER BY e.extname
"""


def schema_items(cur, ctx):
    cur.execute(SCHEMAS_SQL)
    rows = cur.fetchall()
    items = [DdlItem(('pg_namespace', oid), 'SCHEMA', name, 'CREATE SCHEMA %s;' % name)
             for oid, name in rows if name != 'public']
    if 'public' not in [row[1] for row in rows]:
        items.append(DdlItem(('pg_namespace', 0, 'drop-public'), 'SCHEMA', 'public',
                             'DROP SCHEMA IF EXISTS public;'))
    return items


def extension_items(cur, ctx):
    cur.execute(EXTENSIONS_SQL)
    return [DdlItem(('pg_extension', oid), 'EXTENSION', name,
                    # No VERSION, as pg_dump: the target installs its default version,
                    # so a backup restores onto a server shipping a newer one.
                    '-- source version %s\nCREATE EXTENSION IF NOT EXISTS %s WITH SCHEMA %s;'
                    % (version, name, schema))
            for oid, name, schema, version in cur.fetchall()]
