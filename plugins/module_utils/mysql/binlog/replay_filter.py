# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The events of one database, renamed, as a new binary log (what replay hands to mariadb-binlog).

mariadb-binlog's own --database/--rewrite-db filter by the session's default
database and rename only the `use` line and table maps: a statement that names
the database explicitly (`TRUNCATE TABLE shop.staging` run in `shop`) reached
the live database, and one run without a default database (`ALTER TABLE
shop.t ...`) was skipped. So the engine filters and rewrites itself, event by
event, and gives mariadb-binlog a binary log holding only what to apply:

  row events     kept when their table map names the source database; the table
                 map is re-written with the target name (rows are never decoded)
  statements     statements.decide(): kept with `source`. qualifiers re-written and
                 the target as default database, skipped, or refused
  transactions   GTID/BEGIN ... XID/COMMIT kept around kept events; a transaction
                 with nothing of the database is left out whole; the end-of-statement
                 flag of a left-out row event moves to the last kept one
  stop           the first event at/after stop_datetime or stop position ends the
                 replay, and the transaction it belongs to is not applied at all

The same pass runs twice: once before anything is restored (check=True: every
refusal is raised then, naming the event's position and statement, and the
transaction the stop point cuts is found), then streaming into mariadb-binlog.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import IntegrityError, RestoreFailed
from ...common.times import isoformat
from . import events as ev
from .statements import decide

PREVIEW = 300
# collation ids of these character sets can hold `\\` or backquote bytes inside characters
MULTIBYTE_CODECS = {'sjis': 'shift_jis', 'cp932': 'cp932', 'big5': 'big5', 'gbk': 'gbk', 'gb18030': 'gb18030'}
UTF8 = ('utf8', 'utf8mb3', 'utf8mb4')


class Refused(RestoreFailed):
    """An event of the database that cannot be replayed under another name."""


def _time(ts):
    import datetime
    return isoformat(datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)) if ts else None


def preview(statement):
    text = ' '.join(statement.split())
    return text if len(text) <= PREVIEW else text[:PREVIEW] + '...'


class _Rebuilt(object):
    """An event already re-written (header fields and body), waiting in a transaction's head."""

    __slots__ = ('header', 'body')

    def __init__(self, header, body):
        self.header = header
        self.body = body


class StatementText(object):
    """A statement's bytes as text for the lexer, and back, in its client character set."""

    def __init__(self, raw, charset):
        self.charset = charset or 'utf8mb4'
        if self.charset in UTF8:
            self.text = raw.decode('utf-8', 'surrogateescape')
            self._encode = lambda s: s.encode('utf-8', 'surrogateescape')
        elif self.charset in MULTIBYTE_CODECS:
            codec = MULTIBYTE_CODECS[self.charset]
            self.text = raw.decode(codec)            # UnicodeDecodeError: the caller refuses
            self._encode = lambda s: s.encode(codec)
        else:     # single-byte character sets and binary: ASCII syntax, bytes kept one to one
            self.text = raw.decode('latin-1')
            self._encode = lambda s: s.encode('latin-1')

    def name(self, name):
        """A database name (utf-8) as it appears in this text."""
        if self.charset in UTF8 or self.charset in MULTIBYTE_CODECS:
            return name
        from ..logical.restore import CHARSET_CODECS
        try:
            return name.encode(CHARSET_CODECS.get(self.charset, 'utf-8')).decode('latin-1')
        except (UnicodeEncodeError, LookupError):
            return name.encode('utf-8').decode('latin-1')

    def encode(self, text):
        return self._encode(text)


class ReplayFilter(object):
    """One pass over a binlog chain; see the module docstring.

    charsets: collation id -> character set name (from the target server).
    others: databases of the target server that must not be touched.
    """

    def __init__(self, source, target, others, charsets, start, stop_time=None, stop=None, cut=None):
        self.source = source
        self.target = target
        self.others = set(others) - {source, target, 'information_schema'}    # read-only: naming it is harmless
        self.charsets = charsets
        self.start = start                  # (file, position): the backup's binlog position
        self.stop_time = stop_time          # aware datetime or None
        self.stop = stop                    # (file, position) or None
        self.cut = cut                      # (file, position) of the first transaction not applied
        self.out = None
        self.out_pos = 0
        self.tables = {}
        self.stats = {'transactions': 0, 'row_events': 0, 'statements': 0, 'rewritten': 0,
                      'skipped_statements': 0}
        self.last_ts = 0
        self.stopped = None
        self._reset_group()

    def _reset_group(self):
        self.group_start = None             # the first event of the transaction (GTID or BEGIN)
        self.group_gtid = None
        self.group_standalone = False
        self.head = []                      # events to write before the first kept one
        self.kept = False
        self.context = []                   # INTVAR/RAND/USER_VAR before a statement
        self.maps = []                      # our table maps of the statement, written with its first row event
        self.pending = None                 # the last kept row event, written when the next arrives

    # --- output -------------------------------------------------------------------
    def _write(self, raw):
        if self.out is not None:
            self.out.write(raw)
        self.out_pos += len(raw)

    def _emit(self, header, body, checksum):
        self._write(ev.encode_event(header, body, self.out_pos, checksum))

    def _emit_event(self, event, fde, flags=None):
        if isinstance(event, _Rebuilt):
            self._emit(event.header, event.body, fde.checksum == ev.CHECKSUM_CRC32)
            return
        self._write(ev.copy_event(event, self.out_pos, fde.checksum == ev.CHECKSUM_CRC32, flags))

    def _flush_pending(self, end_statement=False):
        if self.pending is not None:
            event, fde, flags = self.pending
            self.pending = None
            if end_statement:
                flags |= ev.STMT_END_F
            header, body = ev.with_rows_flags(event, fde, flags)
            self._emit(header, body, fde.checksum == ev.CHECKSUM_CRC32)

    def _keep_started(self):
        """Write the transaction's head before its first kept event."""
        if not self.kept:
            self.kept = True
            for event, fde in self.head:
                self._emit_event(event, fde)
            self.head = []

    def _end_group(self, event=None, fde=None):
        self._flush_pending(end_statement=True)
        if self.kept:
            if event is not None:
                self._emit_event(event, fde)
            self.stats['transactions'] += 1
        self._reset_group()

    # --- the pass -----------------------------------------------------------------
    def run(self, files, out=None):
        """files: iterable of (name, readable of the whole file). Returns self.stats."""
        try:
            return self._run(files, out)
        finally:
            close = getattr(files, 'close', None)
            if close is not None:
                close()
            self.stats['last_event_time'] = _time(self.last_ts)

    def _run(self, files, out):
        self.out = out
        first = True
        for name, reader in files:
            for event, fde in ev.read_events(reader, name):
                if event.type == ev.FORMAT_DESCRIPTION:
                    if first:
                        self._write(ev.MAGIC)
                        first = False
                    self._write(ev.format_description_bytes(event, fde, self.out_pos))
                    continue
                if name == self.start[0] and event.pos < self.start[1]:
                    continue
                if self._stop_here(event):
                    return self.stats
                self._event(event, fde)
            if self.group_start is not None and not self.group_standalone:
                raise IntegrityError('The transaction starting at %s:%d does not end in %s.'
                                     % (self.group_start[0], self.group_start[1], name))
        self._flush_pending(end_statement=True)
        return self.stats

    def _stop_here(self, event):
        if self.cut is not None:
            if (event.file, event.pos) == self.cut:
                self.stopped = self._stop_info(event)
                return True
            return False
        reached = (self.stop_time is not None and event.ts >= self.stop_time.timestamp()) or \
            (self.stop is not None and event.file == self.stop[0] and event.pos >= self.stop[1])
        if not reached:
            return False
        first = self.group_start or (event.file, event.pos)
        self.cut = first
        self.stopped = self._stop_info(event)
        self.stopped.update(transaction_file=first[0], transaction_position=first[1])
        return True

    def _stop_info(self, event):
        return {'file': event.file, 'position': event.pos, 'time': _time(event.ts), 'gtid': self.group_gtid}

    def _event(self, event, fde):
        t = event.type
        if t in ev.NO_CONTENT:
            return
        if t == ev.GTID:
            self._end_group()
            gtid, flags = ev.gtid_of(event)
            self.group_start, self.group_gtid = (event.file, event.pos), gtid
            self.group_standalone = bool(flags & ev.GTID_STANDALONE)
            if flags & (ev.GTID_PREPARED_XA | ev.GTID_COMPLETED_XA):
                self.group_gtid += ' (XA)'
            self.head = [(event, fde)]
            return
        if t in (ev.MYSQL_GTID, ev.MYSQL_ANONYMOUS_GTID):
            self._end_group()
            self.group_start, self.group_gtid = (event.file, event.pos), ev.mysql_gtid_of(event)
            self.group_standalone = True       # until a BEGIN says otherwise
            self.head = [(event, fde)]
            return
        self.last_ts = event.ts
        if t == ev.TABLE_MAP:
            self._table_map(event, fde)
        elif t in ev.ROWS_EVENTS:
            self._rows(event, fde)
        elif t in ev.STATEMENT_CONTEXT:
            self.context.append((event, fde))
        elif t in (ev.QUERY, ev.QUERY_COMPRESSED, ev.EXECUTE_LOAD_QUERY):
            self._query(event, fde)
        elif t == ev.XID or t == ev.XA_PREPARE:
            if t == ev.XA_PREPARE and self.kept:
                self._refuse(event, 'XA transactions are not replayed', None)
            self._end_group(event, fde)
        elif t in (ev.BEGIN_LOAD_QUERY, ev.APPEND_BLOCK, ev.DELETE_FILE):
            return                              # LOAD DATA's data: judged with its EXECUTE_LOAD_QUERY
        elif t == ev.START_ENCRYPTION:
            raise RestoreFailed('%s is encrypted by the server (encrypt_binlog); it cannot be replayed '
                                'from the archive.' % event.file, 'Recover with the server\'s own tools.')
        elif t == ev.TRANSACTION_PAYLOAD:
            raise RestoreFailed('%s holds compressed transactions (MySQL binlog_transaction_compression), '
                                'which this engine does not read.' % event.where(),
                                'Turn binlog_transaction_compression off on the source server.')
        elif t == ev.INCIDENT:
            self._refuse(event, 'the source server logged an incident here (events may be missing)', None)
        elif event.flags & ev.LOG_EVENT_IGNORABLE_F:
            return
        else:
            self._refuse(event, 'event type %d is not known to this engine' % t, None)

    def _table_map(self, event, fde):
        tm = ev.TableMap(event, fde)
        ours = tm.db == self.source
        self.tables[tm.table_id] = ours
        if ours:
            header, body = tm.rebuild(event, self.target)
            self.maps.append((header, body, fde.checksum == ev.CHECKSUM_CRC32))

    def _rows(self, event, fde):
        table_id, flags = ev.rows_table(event, fde)
        ours = self.tables.get(table_id)
        if ours is None:
            raise IntegrityError('%s: a row event for table id %d without its table map.' % (event.where(), table_id))
        if ours:
            self._flush_pending()
            self._keep_started()
            for header, body, checksum in self.maps:
                self._emit(header, body, checksum)
            self.maps = []
            self.pending = (event, fde, flags)
            self.stats['row_events'] += 1
        if flags & ev.STMT_END_F:
            self._flush_pending(end_statement=True)
            self.maps = []          # maps of a statement without rows of the database: not needed

    def _query(self, event, fde):
        q = ev.Query(event, fde)
        charset = self.charsets.get(q.charset_id) if q.charset_id is not None else None
        try:
            text = StatementText(q.statement, charset)
        except UnicodeDecodeError:
            if q.db == self.source or self.source.encode('utf-8') in q.statement:
                self._refuse(event, 'its text is not valid %s' % charset, q.statement.decode('latin-1'))
            self.context = []
            return
        upper = text.text.lstrip().upper()
        if self.group_start is None:       # a statement outside any transaction (no GTID): its own group
            self.group_start, self.group_standalone = (event.file, event.pos), True
        if upper.startswith('BEGIN') or upper.startswith('XA START') or upper.startswith('XA BEGIN'):
            self.group_standalone = False
            if self.group_start is None:
                self.group_start = (event.file, event.pos)
            if upper.startswith('XA'):
                self.group_gtid = (self.group_gtid or '') + ' (XA)'
            self.head.append((event, fde))
            return
        if upper.startswith('COMMIT') or upper.startswith('ROLLBACK') and 'TO' not in upper.split()[:3]:
            self._end_group(event, fde)
            return
        source = text.name(self.source)
        decision = decide(text.text, q.sql_mode, q.db, source, self.target, self.others)
        context, self.context = self.context, []
        if decision.action == 'control':
            if upper.startswith('XA'):
                if self.kept:
                    self._refuse(event, 'XA transactions are not replayed', text.text)
                return
            # SAVEPOINT, ROLLBACK TO, RELEASE: part of the transaction, kept with it
            header, body = q.rebuild(event, self.target, q.statement)
            if self.kept:
                self._flush_pending(end_statement=True)
                self._emit(header, body, fde.checksum == ev.CHECKSUM_CRC32)
            else:
                self.head.append((_Rebuilt(header, body), fde))
            return
        if decision.action == 'skip':
            self.stats['skipped_statements'] += 1
            self._after_statement()
            return
        if decision.action == 'refuse':
            self._refuse(event, decision.reason, text.text)
        if event.type == ev.EXECUTE_LOAD_QUERY:
            self._refuse(event, 'LOAD DATA logged as a statement is not replayed', text.text)
        if q.error_code:
            self._refuse(event, 'the statement failed on the source (error %d) and was logged half-done'
                         % q.error_code, text.text)
        self._flush_pending(end_statement=True)
        self._keep_started()
        for c_event, c_fde in context:
            self._emit_event(c_event, c_fde)
        header, body = q.rebuild(event, self.target, text.encode(decision.statement))
        self._emit(header, body, fde.checksum == ev.CHECKSUM_CRC32)
        self.stats['statements'] += 1
        if decision.statement != text.text:
            self.stats['rewritten'] += 1
        self._after_statement()

    def _after_statement(self):
        if self.group_standalone:
            self._end_group()

    def _refuse(self, event, reason, statement):
        where = event.where()
        stmt = (' Statement: %s' % preview(statement)) if statement else ''
        gtid = (', GTID %s' % self.group_gtid) if self.group_gtid else ''
        raise Refused('The binlog event at %s (%s%s) cannot be replayed safely into the recovered copy of %s: '
                      '%s.%s' % (where, _time(event.ts), gtid, self.source, reason, stmt),
                      'Nothing was restored. Recover to a point before it (stop_binlog_file: %s, stop_position: %d),'
                      ' or into the database\'s own name on a server without the databases it names.'
                      % (self.group_start or (event.file, event.pos)))
