# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Triggers (with their enabled state), rules and event triggers.

Internal triggers (foreign keys) come with their constraints. A trigger on a
partitioned table is cloned onto every partition by its CREATE TRIGGER, so
clones are not created again; only a clone whose state differs from the
default gets its own ALTER TABLE ONLY ... in the parent trigger's item. States
use ONLY everywhere, so it does not matter whether the server recurses.
Event triggers are created in PHASE_DECORATION, after everything else that
is DDL, together with their owner and comment.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, POST, PHASE_TRIGGER, PHASE_EVENT_TRIGGER
from .post_common import user_table, fetch_dicts, quote_literal, role_quoter

TRIGGERS_SQL = """
SELECT tg.oid, pg_catalog.quote_ident(tg.tgname) AS name, tg.tgrelid::pg_catalog.regclass::text AS tab,
       pg_catalog.pg_get_triggerdef(tg.oid) AS def, tg.tgenabled AS state, {parent} AS parent
  FROM pg_catalog.pg_trigger tg
  JOIN pg_catalog.pg_class t ON t.oid = tg.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE {visible} AND {user}
 ORDER BY tg.tgrelid, tg.tgname
"""

RULES_SQL = """
SELECT r.oid, pg_catalog.quote_ident(r.rulename) AS name, r.ev_class::pg_catalog.regclass::text AS tab,
       t.relkind, pg_catalog.pg_get_ruledef(r.oid) AS def, r.ev_enabled AS state
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class t ON t.oid = r.ev_class
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
 WHERE r.rulename <> '_RETURN' AND {user}
 ORDER BY r.ev_class, r.rulename
"""

EVENT_TRIGGERS_SQL = """
SELECT e.oid, pg_catalog.quote_ident(e.evtname) AS name, e.evtevent AS event,
       pg_catalog.pg_get_userbyid(e.evtowner) AS owner, e.evtenabled AS state, e.evttags AS tags,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) AS func,
       pg_catalog.obj_description(e.oid, 'pg_event_trigger') AS comment
  FROM pg_catalog.pg_event_trigger e
  JOIN pg_catalog.pg_proc p ON p.oid = e.evtfoid
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_event_trigger'::regclass
                      AND d.objid = e.oid AND d.deptype = 'e')
 ORDER BY e.evtname
"""

STATE_WORDS = {'D': 'DISABLE', 'R': 'ENABLE REPLICA', 'A': 'ENABLE ALWAYS', 'O': 'ENABLE'}


def _state_sql(what, row):
    return 'ALTER TABLE ONLY %s %s %s %s;' % (row['tab'], STATE_WORDS[row['state']], what, row['name'])


def trigger_items(cur, ctx):
    """CREATE TRIGGER (+ states of it and of its partition clones)."""
    # tgparentid marks clones; 13 and 14 also mark them internal (capabilities.py)
    rows = fetch_dicts(cur, TRIGGERS_SQL.format(parent='tg.tgparentid', visible=ctx.caps.shown_triggers('tg'),
                                                user=user_table('n', 't.oid')))
    by_oid = dict((r['oid'], r) for r in rows)

    def root(r):
        while r['parent'] in by_oid:
            r = by_oid[r['parent']]
        return r['oid']

    clones = {}
    for r in rows:
        if r['parent']:
            clones.setdefault(root(r), []).append(r)
    items = []
    for r in rows:
        if r['parent']:
            continue
        lines = [r['def'] + ';']
        if r['state'] != 'O':
            lines.append(_state_sql('TRIGGER', r))
        lines.extend(_state_sql('TRIGGER', c) for c in clones.get(r['oid'], ()) if c['state'] != 'O')
        items.append(DdlItem(('pg_trigger', r['oid']), 'TRIGGER', '%s on %s' % (r['name'], r['tab']),
                             '\n'.join(lines) + '\n', section=POST, phase=PHASE_TRIGGER))
    return items


def rule_items(cur, ctx):
    """CREATE RULE (not the _RETURN rules of views) and DISABLE/ENABLE states."""
    items = []
    for r in fetch_dicts(cur, RULES_SQL.format(user=user_table('n', 't.oid'))):
        sql = r['def'].rstrip()
        if not sql.endswith(';'):
            sql += ';'
        if r['state'] != 'O':
            sql += '\n' + _state_sql('RULE', r)
        items.append(DdlItem(('pg_rewrite', r['oid']), 'RULE', '%s on %s' % (r['name'], r['tab']), sql,
                             section=POST, phase=PHASE_TRIGGER))
    return items


def event_trigger_items(cur, ctx):
    """CREATE EVENT TRIGGER with state, owner and comment (PHASE_EVENT_TRIGGER: last)."""
    quote = role_quoter(cur)
    items = []
    for r in fetch_dicts(cur, EVENT_TRIGGERS_SQL):
        when = ''
        if r['tags']:
            when = ' WHEN TAG IN (%s)' % ', '.join(quote_literal(t) for t in r['tags'])
        lines = ['CREATE EVENT TRIGGER %s ON %s%s EXECUTE FUNCTION %s();' % (
            r['name'], r['event'], when, r['func'])]
        if r['state'] != 'O':
            lines.append('ALTER EVENT TRIGGER %s %s;' % (r['name'], STATE_WORDS[r['state']]))
        lines.append('ALTER EVENT TRIGGER %s OWNER TO %s;' % (r['name'], quote(r['owner'])))
        if r['comment'] is not None:
            lines.append('COMMENT ON EVENT TRIGGER %s IS %s;' % (r['name'], quote_literal(r['comment'])))
        items.append(DdlItem(('pg_event_trigger', r['oid']), 'EVENT TRIGGER', r['name'],
                             '\n'.join(lines) + '\n', section=POST, phase=PHASE_EVENT_TRIGGER))
    return items
