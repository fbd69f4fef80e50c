# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connecting to MySQL/MariaDB with PyMySQL, options named like the PostgreSQL side.

login_host/login_port/login_user/login_password/login_unix_socket, ssl_mode and
ca_cert mean what they mean for PostgreSQL; the defaults differ (port 3306,
user root) and are filled in by api.py. ssl_mode keeps libpq's names:

    disable            no TLS
    allow, prefer      TLS when the server offers it, certificate not checked
    require            TLS or fail, certificate not checked
    verify-ca          TLS or fail, certificate signed by ca_cert
    verify-full        verify-ca plus the host name must match the certificate

Failures become one message naming the server, the user and what to check;
the password never appears in it.

Three kinds of sessions:
  meta   text results (utf8mb4): schema extraction, control statements
  raw    SET NAMES binary, no conversions: every value arrives as the bytes the
         server stores (data dump), so nothing is re-encoded on the way
  load   raw, plus LOAD DATA LOCAL fed from an engine stream (data restore)
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ssl

from ..common.deps import require
from ..common.errors import BadInput, ConnectionFailed, NotFound
from .capabilities import Capabilities

DEFAULT_PORT = 3306
DEFAULT_USER = 'root'
SSL_MODES = ('allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full')
CONNECT_TIMEOUT = 15

# Error numbers (mysqld_error.h / errmsg.h)
ER_ACCESS_DENIED = 1045
ER_DBACCESS_DENIED = 1044
ER_BAD_DB = 1049
ER_NO_SUCH_TABLE = 1146
ER_LOCK_DEADLOCK = 1213
ER_LOCK_WAIT_TIMEOUT = 1205
CR_CONN_HOST_ERROR = 2003
CR_CONNECTION_ERROR = 2002

# What every session sets: UTC for TIMESTAMP text, quoted identifiers in SHOW CREATE,
# an sql_mode that changes no output, and no server-side timeouts on long streams.
SESSION_SQL = ("SET SESSION time_zone = '+00:00', sql_mode = '', sql_quote_show_create = 1, "
               "net_write_timeout = 3600, net_read_timeout = 3600, wait_timeout = 28800")


def describe_server(params):
    if params.get('login_unix_socket') and not params.get('login_host'):
        return 'socket %s' % params['login_unix_socket']
    return '%s:%s' % (params.get('login_host') or 'localhost', params.get('login_port') or DEFAULT_PORT)


def _ssl_kwargs(params):
    mode = params.get('ssl_mode') or 'prefer'
    if mode not in SSL_MODES:
        raise BadInput('ssl_mode must be one of %s, got %r.' % (', '.join(SSL_MODES), mode))
    if mode == 'disable':
        return {'ssl_disabled': True}
    if mode in ('allow', 'prefer'):
        return {}
    ca = params.get('ca_cert')
    if mode in ('verify-ca', 'verify-full'):
        if not ca:
            raise BadInput('ssl_mode %s needs ca_cert (the CA certificate file the server certificate '
                           'must be signed by).' % mode)
        try:
            ctx = ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError) as e:
            raise BadInput('ca_cert %s cannot be read as a CA certificate file: %s' % (ca, e))
        ctx.check_hostname = mode == 'verify-full'
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if ca:
            ctx.load_verify_locations(ca)
    return {'ssl': ctx}


_CLASSES = {}
_PREFERRED_CTX = {}


def connection_class(kind):
    """PyMySQL's Connection, or the LOAD DATA LOCAL streaming subclass for 'load', with one
    TLS context per process for ssl_mode allow/prefer.

    PyMySQL 1.2 builds a default TLS context (loading the system CA store, 30-100 ms of
    CPU) for every connection that gives no TLS option; a backup opens jobs + 2
    connections. Nothing is verified in that mode (PyMySQL sets CERT_NONE), so one context
    without a CA store serves them all.
    """
    key = 'load' if kind == 'load' else 'plain'
    if key not in _CLASSES:
        pymysql = require('pymysql')
        if kind == 'load':
            from .load_local import streaming_connection_class
            base = streaming_connection_class(pymysql)
        else:
            base = pymysql.connections.Connection

        class Connection(base):
            def _create_ssl_ctx(self, sslp):
                if isinstance(sslp, dict) and not sslp:
                    if 'ctx' not in _PREFERRED_CTX:
                        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        _PREFERRED_CTX['ctx'] = ctx
                    return _PREFERRED_CTX['ctx']
                return super(Connection, self)._create_ssl_ctx(sslp)
        _CLASSES[key] = Connection
    return _CLASSES[key]


def connect(params, database=None, kind='meta', autocommit=True, unbuffered=False):
    """Open a session (see the module docstring for kinds); database None = none selected."""
    pymysql = require('pymysql')
    kw = {
        'user': params.get('login_user') or DEFAULT_USER,
        'password': params.get('login_password') or '',
        'database': database,
        'autocommit': autocommit,
        'connect_timeout': CONNECT_TIMEOUT,
        'charset': 'utf8mb4',
        'program_name': 'dbbackup',
    }
    if params.get('login_host'):
        kw['host'] = params['login_host']
        kw['port'] = int(params.get('login_port') or DEFAULT_PORT)
    elif params.get('login_unix_socket'):
        kw['unix_socket'] = params['login_unix_socket']
    else:
        kw['host'] = 'localhost'
        kw['port'] = int(params.get('login_port') or DEFAULT_PORT)
    kw.update(_ssl_kwargs(params))
    if kind in ('raw', 'load'):
        # no decoders (values stay the bytes the server sent), encoders kept for parameters
        kw.update(use_unicode=False, conv=dict((k, v) for k, v in pymysql.converters.conversions.items()
                                               if not isinstance(k, int)))
    if kind == 'load':
        kw['local_infile'] = True
        kw['client_flag'] = pymysql.constants.CLIENT.MULTI_STATEMENTS
    if kind == 'meta':
        kw['client_flag'] = pymysql.constants.CLIENT.MULTI_STATEMENTS
    if unbuffered:
        kw['cursorclass'] = pymysql.cursors.SSCursor
    cls = connection_class(kind)
    try:
        try:
            conn = cls(**kw)
        except TypeError:        # PyMySQL < 1.1 has no program_name
            kw.pop('program_name', None)
            conn = cls(**kw)
    except pymysql.err.MySQLError as e:
        raise _connect_error(e, params, database, kw['user'])
    try:
        cur = conn.cursor()
        cur.execute(SESSION_SQL)
        if kind in ('raw', 'load'):
            cur.execute('SET NAMES binary')
        if params.get('ssl_mode') in ('require', 'verify-ca', 'verify-full'):
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            row = cur.fetchone()
            if not row or not row[1]:
                raise ConnectionFailed('The server %s did not negotiate TLS, but ssl_mode is %s.'
                                       % (describe_server(params), params['ssl_mode']),
                                       'Enable TLS on the server or choose ssl_mode prefer.')
    except Exception:
        conn.close()
        raise
    return conn


def _connect_error(e, params, database, user):
    code = e.args[0] if e.args else None
    text = error_text(e)
    where = describe_server(params)
    if password_in(text, params):
        text = '(details withheld: they contained the password)'
    if code == ER_BAD_DB:
        return NotFound('Database "%s" does not exist on %s.' % (database, where),
                        'Check the database option (names are case-sensitive on most servers).')
    if code == ER_ACCESS_DENIED:
        return ConnectionFailed('Authentication failed for user "%s" on %s.' % (user, where),
                                'Check login_user and login_password (and the host part of the account).')
    if code == ER_DBACCESS_DENIED:
        return ConnectionFailed('User "%s" may not access database "%s" on %s.' % (user, database, where),
                                'Grant the user privileges on that database.')
    return ConnectionFailed('Cannot connect to MySQL/MariaDB on %s as "%s": %s' % (where, user, text),
                            'Check login_host, login_port or login_unix_socket, and that the server is running.')


def password_in(text, params):
    pw = params.get('login_password')
    return bool(pw) and pw in text


def error_text(error):
    """'message (errno)' of a PyMySQL error, or str() of anything else."""
    args = getattr(error, 'args', ())
    if len(args) >= 2 and isinstance(args[0], int):
        msg = args[1]
        if isinstance(msg, bytes):
            msg = msg.decode('utf-8', 'replace')
        return '%s (error %d)' % (msg, args[0])
    return str(error).strip() or type(error).__name__


def error_code(error):
    args = getattr(error, 'args', ())
    return args[0] if args and isinstance(args[0], int) else None


def quote_ident(name):
    return '`%s`' % name.replace('`', '``')


def kill_query(params, conn):
    """Interrupt what another session runs (a worker blocked in a long read or load)."""
    try:
        thread_id = conn.thread_id()
    except Exception:
        return
    side = connect(params)
    try:
        side.cursor().execute('KILL QUERY %d' % int(thread_id))
    finally:
        side.close()


class ServerInfo(object):
    """Version facts of a connected server."""

    def __init__(self, conn):
        cur = conn.cursor()
        cur.execute('SELECT VERSION(), @@version_comment')
        version, comment = cur.fetchone()
        version = _text(version)
        comment = _text(comment or '')
        self.version = version
        self.is_mariadb = 'mariadb' in version.lower() or 'mariadb' in comment.lower()
        nums = []
        for part in version.split('-')[0].split('.')[:3]:
            digits = ''.join(ch for ch in part if ch.isdigit())
            nums.append(int(digits or 0))
        while len(nums) < 3:
            nums.append(0)
        self.version_num = nums[0] * 10000 + nums[1] * 100 + nums[2]
        self.flavor = 'mariadb' if self.is_mariadb else 'mysql'
        self.caps = Capabilities(self.flavor, self.version_num)

    def short(self):
        return '%s %s' % ('MariaDB' if self.is_mariadb else 'MySQL', self.version.split('-')[0])


def _text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else value


def binlog_status(conn, caps=None):
    """(file, position, gtid) of the server's binary log now; (None, None, None) when off.

    caps: the server's Capabilities (read from conn when not given), which say the statement
    of its version (binlog_status_sql) and where its GTID position is.
    """
    caps = caps or ServerInfo(conn).caps
    cur = conn.cursor()
    cur.execute(caps.binlog_status_sql)
    row = cur.fetchone()
    if not row:
        return None, None, None
    file_name, position = _text(row[0]), int(row[1])
    gtid = None
    if caps.gtid_position_sql:
        cur.execute(caps.gtid_position_sql)
        gtid = _text(cur.fetchone()[0])
    elif len(row) >= 5 and row[4]:
        gtid = _text(row[4]).replace('\n', '')          # MySQL: Executed_Gtid_Set
    return file_name, position, gtid or None
