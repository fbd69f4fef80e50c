# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Listing archived binlog transactions (dbbackup_pitr state=events, CLI binlog-events).

Finding the position of a mistaken `DROP TABLE` used to need SHOW BINLOG EVENTS
on the server or decompressing the archive by hand. This reads the archive
(verified, decrypted, as replay does) and lists transactions around a time
and/or touching a table: time, GTID, position, and per event the statement (or
the table and operation of row events). A listed transaction's `position` in
`file` is the stop point that recovers everything before it and nothing of it
(stop_binlog_file / stop_position of dbbackup_pitr).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

from ...common.errors import BadInput, NotFound
from ...common.times import isoformat, parse_iso, parse_max_age, parse_user_time
from ...format.keys import key_source
from ...storage.factory import open_repository
from . import events as ev
from .archive import archive_path, chain_key, list_archive
from .replay import chain_files
from .replay_filter import StatementText, preview
from .statements import LexError, names, tokens

DEFAULT_LIMIT = 100
DEFAULT_WINDOW = 600


class _Transaction(object):
    def __init__(self, event, gtid):
        self.file = event.file
        self.position = event.pos
        self.end = event.end
        self.ts = event.ts
        self.gtid = gtid
        self.items = []
        self.rows = {}

    def add_rows(self, event, op, db, table):
        key = (op, db, table)
        if key in self.rows:
            self.rows[key]['row_events'] += 1
            return
        item = {'position': event.pos, 'kind': op, 'database': db, 'table': table, 'row_events': 1}
        self.rows[key] = item
        self.items.append(item)

    def record(self):
        return {'file': self.file, 'position': self.position, 'end_position': self.end, 'gtid': self.gtid,
                'time': isoformat(datetime.datetime.fromtimestamp(self.ts, datetime.timezone.utc)),
                'stop_binlog_file': self.file, 'stop_position': self.position, 'events': self.items}


def transactions(files, charsets):
    """Yield _Transaction for each transaction (or lone statement) of files, in binlog order."""
    tables = {}
    current = None
    for name, reader in files:
        for event, fde in ev.read_events(reader, name):
            t = event.type
            if t in (ev.GTID, ev.MYSQL_GTID, ev.MYSQL_ANONYMOUS_GTID):
                if current is not None:
                    yield current
                gtid = ev.gtid_of(event)[0] if t == ev.GTID else ev.mysql_gtid_of(event)
                current = _Transaction(event, gtid)
                continue
            if t == ev.TABLE_MAP:
                tm = ev.TableMap(event, fde)
                tables[tm.table_id] = (tm.db, tm.table)
            elif t in ev.ROWS_EVENTS:
                db, table = tables.get(ev.rows_table(event, fde)[0], ('?', '?'))
                current = current or _Transaction(event, None)
                current.add_rows(event, ev.ROWS_EVENTS[t], db, table)
            elif t in (ev.QUERY, ev.QUERY_COMPRESSED):
                q = ev.Query(event, fde)
                try:
                    text = StatementText(q.statement, charsets.get(q.charset_id)).text
                except UnicodeDecodeError:
                    text = q.statement.decode('latin-1')
                word = text.lstrip().split(None, 1)[0].upper() if text.strip() else ''
                if word in ('BEGIN', 'COMMIT', 'ROLLBACK'):
                    continue
                current = current or _Transaction(event, None)
                current.items.append({'position': event.pos, 'kind': 'statement', 'database': q.db or None,
                                      'statement': preview(text), '_text': text, '_mode': q.sql_mode})
            end = event.end
            if current is not None:
                current.end = end
    if current is not None:
        yield current


def _mentions(item, database, table):
    """Whether an event item belongs to database (None: any) and table (None: any)."""
    if item['kind'] != 'statement':
        return (database is None or item['database'] == database) and (table is None or item['table'] == table)
    try:
        chains = names(tokens(item['_text'], item['_mode']))
    except LexError:
        text = item['_text']
        return (database is None or database in text or item['database'] == database) and \
            (table is None or table in text)
    if database is not None:
        heads = set(c.head.value for c in chains if len(c.parts) >= 2)
        if item['database'] != database and database not in heads:
            return False
    if table is not None:
        return any(part.value == table for c in chains for part in c.parts)
    return True


def list_events(p):
    """Transactions of the binlog archive matching p's filters; JSON-clean result (changes nothing)."""
    table = p.get('events_table') or None
    database = p.get('database') or None
    limit = int(p.get('events_limit') or DEFAULT_LIMIT)
    if limit < 1:
        raise BadInput('events_limit must be at least 1, got %d.' % limit)
    around = p.get('events_around')
    window = parse_max_age(p.get('events_window')) if p.get('events_window') not in (None, '') else DEFAULT_WINDOW
    lo = hi = None
    if around not in (None, ''):
        center = parse_user_time(around, 'events_around')
        lo, hi = center - datetime.timedelta(seconds=window), center + datetime.timedelta(seconds=window)
    repo = open_repository(p)
    archive = list_archive(repo, p['server_name'])
    if not archive:
        raise NotFound('No binlog file is archived in %s.' % repo.location(archive_path(p['server_name'])),
                       'Archive the binary logs with dbbackup binlog-push first.')
    files = [m for m in archive if lo is None or _overlaps(m, lo, hi)]
    data_key = chain_key(repo, p['server_name'], files, key_source(p), bool(p.get('allow_unencrypted'))) \
        if files else None
    found, matched = [], 0
    charsets = {}
    for tx in transactions(chain_files(repo, p['server_name'], files, data_key), charsets):
        when = datetime.datetime.fromtimestamp(tx.ts, datetime.timezone.utc)
        if lo is not None and not lo <= when <= hi:
            continue
        items = [i for i in tx.items if _mentions(i, database, table)]
        if not items:
            continue
        matched += 1
        for item in tx.items:
            item.pop('_text', None)
            item.pop('_mode', None)
        found.append(tx.record())
        if len(found) > limit:
            found.pop(0)            # keep the newest `limit`
    return {'changed': False, 'server_name': p['server_name'], 'database': database, 'table': table,
            'from': isoformat(lo) if lo else None, 'to': isoformat(hi) if hi else None,
            'files': [m['file'] for m in files], 'transactions': found, 'matched': matched,
            'truncated': matched > len(found),
            'msg': '%d transaction(s) found%s.' % (matched, ' (the newest %d listed)' % len(found)
                                                   if matched > len(found) else '')}


def _overlaps(meta, lo, hi):
    first, last = meta.get('first_event_time'), meta.get('last_event_time')
    if not first or not last:
        return True
    return parse_iso(first) <= hi and parse_iso(last) >= lo
