# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connecting to PostgreSQL with options named like community.postgresql.

Connection failures become one message that names the server, the user and
what to check; the password never appears in it.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ..common.deps import require
from ..common.errors import BadInput, ConnectionFailed, IntegrityError, NotFound

SSL_MODES = ('allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full')

# Sessions talk UTF8 (statements, catalog text, messages). Table data travel in the
# database's own encoding instead, through COPY's ENCODING option, so a legacy database
# (WIN1252, LATIN1, SQL_ASCII, ...) holding bytes without a Unicode mapping can be
# copied as it is: no conversion on the server, bytes on the client.
SESSION_ENCODING = 'UTF8'

# Settings every dump session uses, as pg_dump does: stable text output.
DUMP_SESSION_SQL = ("SET search_path = ''; SET DateStyle = ISO; SET IntervalStyle = postgres; "
                    "SET extra_float_digits = 3; SET synchronize_seqscans = off; "
                    "SET statement_timeout = 0; SET lock_timeout = 0; "
                    "SET idle_in_transaction_session_timeout = 0; SET row_security = off; "
                    "SET client_encoding = 'UTF8'")  # = SESSION_ENCODING

_ENCODING_NAME = re.compile(r'^[A-Za-z0-9_]{1,32}\Z')


def copy_options(encoding, *options):
    """' (option, ...)' for a COPY: options plus ENCODING for data not in UTF8; '' when none."""
    options = list(options)
    if encoding and encoding.upper() != SESSION_ENCODING:
        if not _ENCODING_NAME.match(encoding):
            raise IntegrityError('The backup names an invalid data encoding %r.' % (encoding,))
        options.append("ENCODING '%s'" % encoding)
    return ' (%s)' % ', '.join(options) if options else ''


def describe_server(params):
    if params.get('login_unix_socket'):
        return 'socket %s' % params['login_unix_socket']
    return '%s:%s' % (params.get('login_host') or 'localhost', params.get('login_port') or 5432)


def connect(params, dbname=None, autocommit=True, application_name='dbbackup'):
    """Open a psycopg2 connection to dbname (default: params['database'])."""
    psycopg2 = require('psycopg2')
    ssl_mode = params.get('ssl_mode') or 'prefer'
    if ssl_mode not in SSL_MODES:
        raise BadInput('ssl_mode must be one of %s, got %r.' % (', '.join(SSL_MODES), ssl_mode))
    dbname = dbname or params.get('database')
    kw = {
        'dbname': dbname,
        'user': params.get('login_user') or 'postgres',
        'port': int(params.get('login_port') or 5432),
        'sslmode': ssl_mode,
        'application_name': application_name,
        'connect_timeout': 15,
        # from the start, so psycopg2 decodes with the codec the server encodes with (a later
        # SET client_encoding is not seen by psycopg2: names of a LATIN1 database came out garbled)
        'client_encoding': SESSION_ENCODING,
    }
    host = params.get('login_unix_socket') or params.get('login_host')
    if host:
        kw['host'] = host
    if params.get('login_password'):
        kw['password'] = params['login_password']
    if params.get('ca_cert'):
        kw['sslrootcert'] = params['ca_cert']
    try:
        conn = psycopg2.connect(**kw)
    except psycopg2.OperationalError as e:
        raise _connect_error(e, params, dbname, kw['user'])
    conn.autocommit = autocommit
    return conn


def _connect_error(e, params, dbname, user):
    text = str(e).strip()
    where = describe_server(params)
    if password_in(text, params):
        text = '(details withheld: they contained the password)'
    if 'does not exist' in text and 'database' in text:
        return NotFound('Database "%s" does not exist on %s.' % (dbname, where),
                        'Check the database option (names are case-sensitive).')
    if 'password authentication failed' in text or 'no password supplied' in text \
            or 'authentication failed' in text:
        return ConnectionFailed('Authentication failed for user "%s" on %s.' % (user, where),
                                'Check login_user and login_password (or .pgpass / pg_hba.conf).')
    if 'role' in text and 'does not exist' in text:
        return ConnectionFailed('Role "%s" does not exist on %s.' % (user, where),
                                'Check login_user.')
    return ConnectionFailed('Cannot connect to PostgreSQL on %s as "%s": %s' % (where, user, text),
                            'Check login_host, login_port or login_unix_socket, and that the server is running.')


def password_in(text, params):
    pw = params.get('login_password')
    return bool(pw) and pw in text


def server_version(conn):
    """(version_num, 'major.minor') of a connection."""
    num = conn.server_version
    major = num // 10000
    return num, '%d.%d' % (major, num % 10000) if major >= 10 else str(num)


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


# what libpq and psycopg2 say when the session is gone (server stopped, restarted or crashed,
# network failure), often as the only words: they name no cause a user knows
LOST_CONNECTION = ('no message from the libpq', 'server closed the connection unexpectedly', 'invalid socket',
                   'SSL SYSCALL error', 'could not receive data from server', 'could not send data to server',
                   'connection already closed', 'SSL connection has been closed unexpectedly',
                   'terminating connection due to administrator command')


def error_text(error):
    """The server's message of a psycopg2 error, without libpq's 'ERROR:' prefix.

    A lost session says so in words a user can act on instead of libpq's internals.
    """
    diag = getattr(error, 'diag', None)
    primary = getattr(diag, 'message_primary', None)
    text = primary or str(error).strip()
    lost = [p for p in LOST_CONNECTION if p in text]
    if lost:
        return ('the connection to the server was lost (%s): the server stopped, restarted or crashed, or '
                'the network failed' % lost[0])
    if primary:
        detail = getattr(diag, 'message_detail', None)
        return primary + (' (%s)' % detail if detail else '')
    return text[len('ERROR:'):].strip() if text.startswith('ERROR:') else text
