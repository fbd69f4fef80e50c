# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Accounts of a MySQL/MariaDB server for cluster backups: users, roles, grants, default roles.

dump_globals() reads every account (mysql.user) except those the server
manages itself (SYSTEM_ACCOUNTS), through SHOW CREATE USER (authentication
plugin, password hash, TLS requirements, resource limits, password expiry,
lock state) and SHOW GRANTS FOR (privileges, role grants, SET DEFAULT ROLE),
into records for item_file.write_framed: one statement per record, with the
account it concerns in the record's metadata. MariaDB roles become
CREATE ROLE; MySQL roles are accounts and come back as what SHOW CREATE USER
says. The MariaDB role PUBLIC (10.11+) is never created, only granted to.

Password hashes are in the file only when the backup was asked for them and
is encrypted (operations/cluster.py refuses include_passwords otherwise). Without them,
an account whose authentication carries a secret is stored without its
IDENTIFIED clause and with ACCOUNT LOCK: created on restore, it cannot log in
(an account without a password would accept an empty one) until an
administrator sets a password and unlocks it. Accounts that authenticate
without a secret (unix_socket, no password at all) are stored as they are.

GlobalsRestore applies the records in two phases around the databases of a
cluster restore: before, CREATE USER/ROLE IF NOT EXISTS for accounts the
target lacks (existing accounts are never dropped, their passwords and
options never changed); after, the grants and default roles that the target
does not show yet (tables and routines exist by then). GRANT only adds: extra
privileges on the target stay. The login account of the restore is left
alone. A grant on a table or routine the target does not have (its database
was not restored) is skipped and listed. MySQL account statements cannot be
rolled back; running the restore again completes what a failure left.
Whether anything changed is decided by comparing SHOW CREATE USER and
SHOW GRANTS of the backup's accounts before and after.

This module is also the MySQL engine of operations/cluster.py (the interface is listed
there; postgres/logical/globals.py is the PostgreSQL one).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ...common.deps import require
from ...common.errors import BackupFailed, BadInput, RestoreFailed
from ..connection import ServerInfo, connect, error_code, error_text, quote_ident
from .dump import MysqlLogicalDump
from .restore import MysqlLogicalRestore

# the engine interface of operations/cluster.py (listed there), besides the functions at the end
DB_TYPE = 'mysql'
Dump = MysqlLogicalDump
Restore = MysqlLogicalRestore

PREAMBLE = ('-- dbbackup cluster globals (MySQL/MariaDB): accounts, roles, grants, default roles.\n'
            '-- Restore with dbbackup_restore kind=cluster (it creates only accounts that do not exist).\n')

SYSTEM_DATABASES = ('information_schema', 'mysql', 'performance_schema', 'sys')
# the restore engine's own: the idempotence marker and temporary databases (restore.py)
ENGINE_DATABASE = re.compile(r'^_dbbackup(_(restore|old)_[0-9a-f]+)?$')
# accounts the server manages itself (MariaDB 10.4+, MySQL 5.7/8): any host
SYSTEM_ACCOUNTS = ('mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema')
PUBLIC = 'PUBLIC'

ER_NONEXISTING_GRANT = 1141
ER_PASSWORD_NO_MATCH = 1133
ER_TABLEACCESS_DENIED = 1142
ER_SPECIFIC_ACCESS_DENIED = 1227
ER_NO_SUCH_TABLE = 1146
ER_SP_DOES_NOT_EXIST = 1305
ER_NONEXISTING_PROC_GRANT = 1403

# A token: a run of non-blank text in which quoted parts may hold blanks.
TOKEN_RE = re.compile(r"""(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|[^\s`'"])+""")
CLAUSE_WORDS = ('IDENTIFIED', 'REQUIRE', 'WITH', 'ACCOUNT', 'COMMENT', 'ATTRIBUTE', 'FAILED_LOGIN_ATTEMPTS',
                'PASSWORD_LOCK_TIME')
PASSWORD_OPTIONS = ('EXPIRE', 'HISTORY', 'REUSE', 'REQUIRE')


def _text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


def account_name(user, host, is_role):
    """The account as SQL (`u`@`h`, `role`, PUBLIC), the way SHOW GRANTS prints it."""
    if is_role:
        return PUBLIC if user == PUBLIC else quote_ident(user)
    return '%s@%s' % (quote_ident(user), quote_ident(host))


def label(user, host, is_role):
    return user if is_role else '%s@%s' % (user, host)


def _tokens(sql):
    """[(text, start, end, WORD or None)]: WORD is the upper-cased text of an unquoted word."""
    out = []
    for m in TOKEN_RE.finditer(sql):
        text = m.group()
        word = text.upper() if re.match(r'^[A-Za-z_]+$', text) else None
        out.append((text, m.start(), m.end(), word))
    return out


_PART_RE = re.compile(r"""`((?:[^`]|``)*)`|'((?:[^'\\]|\\.|'')*)'|"((?:[^"\\]|\\.)*)"|([^@`'"]+)""")


def _same_account(token, account):
    """Whether a SHOW GRANTS account token names `account` (as account_name spells it): MariaDB
    10.5 prints PROXY grants as 'u'@'h', newer releases `u`@`h`."""
    def parts(text):
        out = []
        for m in _PART_RE.finditer(text):
            if m.group(1) is not None:
                out.append(m.group(1).replace('``', '`'))
            elif m.group(2) is not None:
                out.append(m.group(2).replace("''", "'").replace("\\'", "'"))
            elif m.group(3) is not None:
                out.append(m.group(3))
            else:
                out.append(m.group(4))
        return out
    return token == account or parts(token) == parts(account)


def _starts_clause(words, i):
    w = words[i]
    prev = words[i - 1] if i else None
    nxt = words[i + 1] if i + 1 < len(words) else None
    if w == 'REQUIRE':
        return prev != 'PASSWORD'
    if w == 'WITH':
        return prev != 'IDENTIFIED'
    if w == 'PASSWORD':
        return nxt in PASSWORD_OPTIONS
    if w == 'DEFAULT':
        return nxt == 'ROLE'
    return w in CLAUSE_WORDS


def split_create_user(sql):
    """SHOW CREATE USER text -> (account text, [(clause word, clause text)])."""
    toks = _tokens(sql)
    words = [t[3] for t in toks]
    if words[:2] != ['CREATE', 'USER'] or len(toks) < 3:
        raise BackupFailed('Unexpected SHOW CREATE USER output: %r' % sql[:200])
    account = toks[2][0]
    clauses = []
    for i in range(3, len(toks)):
        if _starts_clause(words, i):
            clauses.append([words[i], toks[i][1], toks[i][2]])
        elif clauses:
            clauses[-1][2] = toks[i][2]
        else:
            raise BackupFailed('Unexpected SHOW CREATE USER output: %r' % sql[:200])
    return account, [(word, sql[start:end]) for word, start, end in clauses]


def _has_secret(clause):
    """True when an IDENTIFIED clause carries a hash (BY PASSWORD '...', USING '...', AS '...')."""
    toks = _tokens(clause)
    for i in range(1, len(toks)):
        if toks[i][0].startswith("'") and toks[i][0] != "''" and toks[i - 1][3] in ('PASSWORD', 'USING', 'AS'):
            return True
    return False


def create_statement(sql, include_passwords):
    """(CREATE USER IF NOT EXISTS ..., default roles text or None, has secret, locked for want of it)."""
    account, clauses = split_create_user(sql)
    secret = any(w == 'IDENTIFIED' and _has_secret(text) for w, text in clauses)
    defaults = [text[len('DEFAULT ROLE'):].strip() for w, text in clauses if w == 'DEFAULT']
    kept = [text for w, text in clauses if w != 'DEFAULT']
    locked = secret and not include_passwords
    if locked:
        kept = [text for w, text in clauses if w not in ('DEFAULT', 'IDENTIFIED', 'ACCOUNT')] + ['ACCOUNT LOCK']
    stmt = ' '.join(['CREATE USER IF NOT EXISTS', account] + kept)
    return stmt, (defaults[0] if defaults else None), secret and include_passwords, locked


def grant_statement(line, grantee):
    """A SHOW GRANTS line as a GRANT that only adds privileges (None when it is not grantee's own).

    IDENTIFIED, REQUIRE and resource limits are dropped (MariaDB prints them in the
    GRANT USAGE line; they would change an existing account); WITH GRANT/ADMIN OPTION stays.
    """
    toks = _tokens(line)
    words = [t[3] for t in toks]
    if words[:1] != ['GRANT'] or 'TO' not in words:
        return None
    to = words.index('TO')
    if to + 1 >= len(toks) or not _same_account(toks[to + 1][0], grantee):
        return None
    rest = ' '.join(w or '' for w in words[to + 2:])
    sql = line[:toks[to + 1][2]]
    for option in ('GRANT OPTION', 'ADMIN OPTION'):
        if 'WITH' in words[to + 2:] and option in rest:
            sql += ' WITH ' + option
    return sql


def _default_role_line(line, grantee):
    """MariaDB's SET DEFAULT ROLE `r` FOR `u`@`h` line of SHOW GRANTS, if it is grantee's."""
    toks = _tokens(line)
    words = [t[3] for t in toks]
    if words[:3] == ['SET', 'DEFAULT', 'ROLE'] and words[-2:-1] == ['FOR'] and _same_account(toks[-1][0], grantee):
        return line
    return None


def _rows(cur, sql, args=None):
    cur.execute(sql, args)
    return [tuple(_text(v) for v in row) for row in cur.fetchall()]


def list_accounts(cur, info):
    """[(user, host, is_role)] of mysql.user, roles first, system accounts left out."""
    rows = _rows(cur, 'SELECT User, Host, %s FROM mysql.user ORDER BY 3 DESC, 1, 2' % info.caps.account_role_column)
    return [(u, h, r == 'Y') for u, h, r in rows if u not in SYSTEM_ACCOUNTS]


def check_readable(cur):
    """BadInput unless the login user may read the accounts (mysql.user)."""
    pymysql = require('pymysql')
    try:
        cur.execute('SELECT COUNT(*) FROM mysql.user')
        cur.fetchall()
    except pymysql.err.MySQLError as e:
        if error_code(e) in (ER_TABLEACCESS_DENIED, ER_SPECIFIC_ACCESS_DENIED, 1044):
            raise BadInput('kind=cluster needs a login user that can read the accounts (SELECT on the mysql '
                           'database): %s' % error_text(e),
                           'Grant it SELECT ON mysql.*, or back up each database with kind=logical.')
        raise


def dump_globals(conn, include_passwords):
    """(records, info) of the accounts; records are (meta, sql) for item_file.write_framed."""
    pymysql = require('pymysql')
    cur = conn.cursor()
    info = ServerInfo(conn)
    creates, grants, defaults = [], [], []
    skipped, locked = [], []
    users = roles = passwords = 0
    for user, host, is_role in list_accounts(cur, info):
        name = account_name(user, host, is_role)
        meta = {'user': user, 'host': host, 'role': is_role, 'name': label(user, host, is_role)}
        try:
            if is_role and user != PUBLIC:
                creates.append((dict(meta, kind='ROLE'), 'CREATE ROLE IF NOT EXISTS %s;' % name))
                roles += 1
            elif not is_role:
                cur.execute('SHOW CREATE USER %s' % name)
                stmt, default_roles, secret, lock = create_statement(_text(cur.fetchone()[0]), include_passwords)
                creates.append((dict(meta, kind='ACCOUNT', password=secret, locked=lock), stmt + ';'))
                users += 1
                passwords += int(secret)
                if lock:
                    locked.append(meta['name'])
                if default_roles:      # MySQL: DEFAULT ROLE clause of CREATE USER
                    defaults.append((dict(meta, kind='DEFAULT ROLE'),
                                     'SET DEFAULT ROLE %s TO %s;' % (default_roles, name)))
            lines = [r[0] for r in _rows(cur, 'SHOW GRANTS FOR %s' % name)]
        except pymysql.err.MySQLError as e:
            if error_code(e) not in (ER_PASSWORD_NO_MATCH, ER_NONEXISTING_GRANT):
                raise BackupFailed('Reading account %s failed: %s' % (meta['name'], error_text(e)),
                                   'The login user needs SELECT on the mysql database.')
            # e.g. a host-name account the server ignores (skip-name-resolve)
            skipped.append('%s: %s' % (meta['name'], error_text(e)))
            continue
        for line in lines:
            sql = grant_statement(line, name)
            if sql:
                grants.append((dict(meta, kind='GRANT'), sql + ';'))
                continue
            sql = _default_role_line(line, name)
            if sql:
                defaults.append((dict(meta, kind='DEFAULT ROLE'), sql + ';'))
            elif not is_role:   # a role's SHOW GRANTS also lists the grants of the roles it holds
                raise BackupFailed('Unexpected SHOW GRANTS line for %s: %r' % (meta['name'], line[:200]))
    info = {'accounts': users, 'roles': roles, 'grants': len(grants), 'default_roles': len(defaults),
            'passwords': passwords, 'locked': locked, 'skipped': skipped, 'source': 'mysql.user',
            'flavor': info.flavor}
    return creates + grants + defaults, info


def _current_user(cur):
    user, sep, host = _text(_rows(cur, 'SELECT CURRENT_USER()')[0][0]).rpartition('@')
    return (user, host) if sep else (host, '')


class GlobalsRestore(object):
    """Applies the records of a globals.sql to a server (see the module docstring)."""

    def __init__(self, records, options=None):
        self.records = records
        self.summary = None
        self.before_state = None
        self.me = None
        self.created = []

    @staticmethod
    def _key(meta):
        return (meta['user'], meta['host'] if not meta['role'] else '')

    def _state(self, cur):
        """SHOW CREATE USER and SHOW GRANTS of the backup's accounts that exist."""
        present = set((u, h) for u, h in _rows(cur, 'SELECT User, Host FROM mysql.user'))
        state = {}
        for meta, sql in self.records:
            key = self._key(meta)
            if key in state or key not in present:
                continue
            name = account_name(key[0], key[1], meta['role'])
            text = [] if meta['role'] else _rows(cur, 'SHOW CREATE USER %s' % name)
            state[key] = (text, sorted(_rows(cur, 'SHOW GRANTS FOR %s' % name)))
        return state

    def _execute(self, cur, meta, sql):
        pymysql = require('pymysql')
        try:
            cur.execute(sql)
        except pymysql.err.MySQLError as e:
            if meta['kind'] == 'GRANT' and error_code(e) in (ER_NO_SUCH_TABLE, ER_SP_DOES_NOT_EXIST,
                                                             ER_NONEXISTING_PROC_GRANT):
                return 'grant to %s: %s' % (meta['name'], error_text(e))
            raise RestoreFailed('Restoring %s %s of the cluster globals failed: %s'
                                % (meta['kind'].lower(), meta['name'], error_text(e)),
                                'The login user needs CREATE USER and every privilege it grants (WITH GRANT '
                                'OPTION). Account changes made so far stay (MySQL cannot roll them back); '
                                'run the restore again after fixing the cause.')
        return None

    def before(self, conn, check_mode=False):
        """Phase 1, before the databases: create the accounts and roles the server lacks."""
        cur = conn.cursor()
        self.me = _current_user(cur)
        self.before_state = self._state(cur)
        skipped = []
        for meta, sql in self.records:
            if meta['kind'] not in ('ROLE', 'ACCOUNT'):
                continue
            key = self._key(meta)
            if key == self.me:
                skipped.append('%s (the login account of the restore)' % meta['name'])
            elif key not in self.before_state:
                self.created.append(meta)
                if not check_mode:
                    self._execute(cur, meta, sql)
        self.summary = {
            'changed': bool(self.created),
            'roles_created': [m['name'] for m in self.created if m['kind'] == 'ROLE'],
            'accounts_created': [m['name'] for m in self.created if m['kind'] == 'ACCOUNT'],
            'created_locked': [m['name'] for m in self.created if m.get('locked')],
            'passwords': sum(1 for m in self.created if m.get('password')),
            'statements': len(self.records), 'grants': 0, 'skipped': skipped,
        }
        return self.summary

    def _present_grants(self, cur, meta, cache):
        key = self._key(meta)
        if key not in cache:
            name = account_name(key[0], key[1], meta['role'])
            try:
                lines = [r[0] for r in _rows(cur, 'SHOW GRANTS FOR %s' % name)]
            except require('pymysql').err.MySQLError:
                lines = []    # not created (check mode)
            cache[key] = set(filter(None, [grant_statement(x, name) or _default_role_line(x, name)
                                           for x in lines]))
        return cache[key]

    def after(self, conn, check_mode=False):
        """Phase 2, after the databases: grants and default roles the server does not show yet."""
        cur = conn.cursor()
        cache = {}
        applied = 0
        for meta, sql in self.records:
            if meta['kind'] not in ('GRANT', 'DEFAULT ROLE') or self._key(meta) == self.me:
                continue
            if sql.rstrip(';') in self._present_grants(cur, meta, cache):
                continue
            applied += 1
            if not check_mode:
                problem = self._execute(cur, meta, sql)
                if problem:
                    applied -= 1
                    self.summary['skipped'].append(problem)
        self.summary['grants'] = applied
        if check_mode:
            self.summary['changed'] = bool(self.created) or applied > 0
        else:
            self.summary['changed'] = self._state(cur) != self.before_state
        return self.summary


# --- the rest of the engine interface of operations/cluster.py ---------------------------------

def admin_connect(p, avoid=()):
    """A session with no database selected (avoid: PostgreSQL's concern only)."""
    return connect(p)


def list_databases(admin):
    """Every database but the system ones and the restore engine's own."""
    names = [r[0] for r in _rows(admin.cursor(), 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA '
                                                 'ORDER BY SCHEMA_NAME')]
    return [d for d in names if d not in SYSTEM_DATABASES and not ENGINE_DATABASE.match(d)
            and not d.startswith('#mysql50#')]


def check_globals(admin, include_passwords):
    """Reading the accounts needs SELECT on mysql.* with or without passwords."""
    check_readable(admin.cursor())


def server_version(admin):
    info = ServerInfo(admin)
    return info.version_num, info.version


def restore_options(p, restore_globals):
    if p.get('tablespace_locations'):
        raise BadInput('tablespace_locations is not used with db_type mysql (MySQL cluster backups hold '
                       'no tablespaces).')
    return None


def adjust(p, restores):
    """Nothing to adjust: a fresh MySQL server has no user database to replace."""
