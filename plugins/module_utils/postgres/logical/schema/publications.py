# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Logical replication: publications (with their tables/schemas) and subscriptions.

Post-data as in pg_dump; one item per publication, so its members are added
in one session. Owners and comments of publications are generic decorations.
Subscriptions are created as pg_dump creates them: WITH (connect = false), so
the restore neither connects to the publisher nor creates a slot, and the
subscription stays disabled until someone enables and refreshes it. Reading
their connection string needs a superuser; a backup by another role cannot
reproduce them (the inventory then names them).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_TRIGGER
from .post_common import user_table, fetch_dicts, quote_literal, role_quoter

PUBLICATIONS_SQL = """
SELECT p.oid, pg_catalog.quote_ident(p.pubname) AS name, p.puballtables, p.pubinsert, p.pubupdate,
       p.pubdelete, {truncate} AS pubtruncate, {viaroot} AS pubviaroot
  FROM pg_catalog.pg_publication p
 ORDER BY p.pubname
"""

PUBLICATION_TABLES_SQL = """
SELECT r.prpubid AS pub, t.oid::pg_catalog.regclass::text AS tab, {qual} AS qual,
       {cols} AS cols
  FROM pg_catalog.pg_publication_rel r
  JOIN pg_catalog.pg_class t ON t.oid = r.prrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE {user}
 ORDER BY r.prpubid, 2
"""

PUBLICATION_SCHEMAS_SQL = """
SELECT s.pnpubid AS pub, pg_catalog.quote_ident(n.nspname) AS schema
  FROM pg_catalog.pg_publication_namespace s
  JOIN pg_catalog.pg_namespace n ON n.oid = s.pnnspid
 ORDER BY s.pnpubid, n.nspname
"""

COLUMNS_EXPR = """CASE WHEN r.prattrs IS NULL THEN NULL ELSE ARRAY(
         SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = r.prrelid AND a.attnum = ANY (r.prattrs::int2[]) ORDER BY a.attnum) END"""


def _create_sql(p):
    publish = [w for w in ('insert', 'update', 'delete', 'truncate') if p['pub' + w]]
    sql = 'CREATE PUBLICATION %s' % p['name']
    if p['puballtables']:
        sql += ' FOR ALL TABLES'
    sql += ' WITH (publish = %s' % quote_literal(', '.join(publish))
    if p['pubviaroot']:
        sql += ', publish_via_partition_root = true'
    return sql + ');'


def publication_items(cur, ctx):
    """One PHASE_TRIGGER item per publication."""
    caps = ctx.caps
    pubs = fetch_dicts(cur, PUBLICATIONS_SQL.format(
        truncate=caps.column('p', 'pg_publication', 'pubtruncate', 'false'),
        viaroot=caps.column('p', 'pg_publication', 'pubviaroot', 'false')))
    if not pubs:
        return []
    members = {}
    for r in fetch_dicts(cur, PUBLICATION_TABLES_SQL.format(
            qual='pg_catalog.pg_get_expr(r.prqual, r.prrelid)' if caps.has_column('pg_publication_rel', 'prqual')
            else 'NULL::text',
            cols=COLUMNS_EXPR if caps.has_column('pg_publication_rel', 'prattrs') else 'NULL::text[]',
            user=user_table('n', 't.oid'))):
        line = 'ALTER PUBLICATION %%s ADD TABLE ONLY %s' % r['tab']
        if r['cols'] is not None:
            line += ' (%s)' % ', '.join(r['cols'])
        if r['qual'] is not None:
            line += ' WHERE (%s)' % r['qual']
        members.setdefault(r['pub'], []).append(line + ';')
    if caps.has_catalog('pg_publication_namespace'):
        for r in fetch_dicts(cur, PUBLICATION_SCHEMAS_SQL):
            members.setdefault(r['pub'], []).append('ALTER PUBLICATION %%s ADD TABLES IN SCHEMA %s;' % r['schema'])
    items = []
    for p in pubs:
        lines = [_create_sql(p)] + [m % p['name'] for m in members.get(p['oid'], ())]
        items.append(DdlItem(('pg_publication', p['oid']), 'PUBLICATION', p['name'], '\n'.join(lines) + '\n',
                             section=POST, phase=PHASE_TRIGGER))
    return items


SUBSCRIPTIONS_SQL = """
SELECT s.oid, pg_catalog.quote_ident(s.subname) AS name, s.subconninfo AS conninfo, s.subslotname AS slot,
       s.subpublications AS publications, s.subsynccommit AS synccommit, {options}
       pg_catalog.pg_get_userbyid(s.subowner) AS owner,
       pg_catalog.obj_description(s.oid, 'pg_subscription') AS comment
  FROM pg_catalog.pg_subscription s
 WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
 ORDER BY s.subname
"""
STREAMING = {'t': 'on', 'true': 'on', 'p': 'parallel'}
# (column, alias, SQL when the column is missing: what versions before it did, cast); text ones are
# cast (substream is boolean in 14 and 15, "char" since 16)
SUBSCRIPTION_OPTIONS = (('subbinary', 'binary', 'false', ''), ('substream', 'streaming', "'f'", '::text'),
                        ('subtwophasestate', 'twophase', "'d'", '::text'),
                        ('subdisableonerr', 'disableonerr', 'false', ''),
                        ('subpasswordrequired', 'passwordrequired', 'true', ''),
                        ('subrunasowner', 'runasowner', 'false', ''), ('suborigin', 'origin', "'any'", '::text'),
                        ('subfailover', 'failover', 'false', ''))


def _subscription_sql(r, quote):
    opts = ['connect = false', 'slot_name = %s' % (quote_literal(r['slot']) if r['slot'] else 'NONE')]
    if r['binary']:
        opts.append('binary = true')
    if r['streaming'] in STREAMING:
        opts.append('streaming = %s' % STREAMING[r['streaming']])
    if r['twophase'] != 'd':
        opts.append('two_phase = on')
    if r['disableonerr']:
        opts.append('disable_on_error = true')
    if not r['passwordrequired']:
        opts.append('password_required = false')
    if r['runasowner']:
        opts.append('run_as_owner = true')
    if r['origin'].lower() != 'any':
        opts.append('origin = %s' % quote_literal(r['origin']))
    if r['failover']:
        opts.append('failover = true')
    if r['synccommit'] != 'off':
        opts.append('synchronous_commit = %s' % quote_literal(r['synccommit']))
    lines = ['CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s WITH (%s);' % (
        r['name'], quote_literal(r['conninfo']), ', '.join(quote(p) for p in r['publications']), ', '.join(opts)),
        'ALTER SUBSCRIPTION %s OWNER TO %s;' % (r['name'], quote(r['owner']))]
    if r['comment'] is not None:
        lines.append('COMMENT ON SUBSCRIPTION %s IS %s;' % (r['name'], quote_literal(r['comment'])))
    return '\n'.join(lines) + '\n'


def subscription_items(cur, ctx):
    """One PHASE_TRIGGER item per subscription of this database (superuser backups only)."""
    if not ctx.is_superuser:
        return []
    options = ''.join('%s%s AS %s, ' % (ctx.caps.column('s', 'pg_subscription', col, absent), cast, alias)
                      for col, alias, absent, cast in SUBSCRIPTION_OPTIONS)
    quote = role_quoter(cur)
    return [DdlItem(('pg_subscription', r['oid']), 'SUBSCRIPTION', r['name'], _subscription_sql(r, quote),
                    section=POST, phase=PHASE_TRIGGER)
            for r in fetch_dicts(cur, SUBSCRIPTIONS_SQL.format(options=options))]
