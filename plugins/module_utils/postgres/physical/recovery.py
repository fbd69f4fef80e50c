# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Recovery of a restored PostgreSQL data directory: configuration, start, wait, report.

Used by pitr.py (state=restored) once a base backup is extracted:

1. `recovery_target(p)` validates the one target (time, xid, lsn, restore point name,
   immediate, or none = end of the archive).
2. `write_recovery_config` appends a clearly marked block to postgresql.auto.conf (read
   last, so it also overrides the source's ALTER SYSTEM settings such as archive_command;
   the source's lines above it stay as they were) and creates recovery.signal. Data
   directories without postgresql.conf / pg_hba.conf / pg_ident.conf (Debian keeps them
   in /etc) get minimal ones so the server can start.
3. `start_server` runs pg_ctl as the data directory's owner without waiting, with the log
   on a file (lc_messages=C, stderr, no logging collector: the log is what we read).
4. `wait_for_recovery` decides from pg_is_in_recovery() and the server log, never from
   pg_ctl's exit status (a server that ends recovery early shuts down, pg_ctl still says 0):
   success = the target was reached and the server is promoted / paused / shut down as
   target_action asks; 'recovery ended before configured recovery target was reached', a
   FATAL/PANIC or a server that stopped otherwise is a failure naming the target and the
   last WAL file restored.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import pwd
import re
import subprocess
import time

from ...common.errors import BadInput, RestoreFailed
from ...common.times import parse_user_time
from ..capabilities import Capabilities

BLOCK_BEGIN = '# BEGIN dbbackup recovery'
BLOCK_END = '# END dbbackup recovery'
LOG_NAME = 'dbbackup_recovery.log'
TARGET_OPTIONS = ('target_time', 'target_xid', 'target_lsn', 'target_name', 'target')
TARGET_ACTIONS = ('promote', 'pause', 'shutdown')
LSN_RE = re.compile(r'^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}\Z')
# settings whose value must not come from server_settings (the block manages them)
MANAGED = ('restore_command', 'recovery_target', 'recovery_target_time', 'recovery_target_xid',
           'recovery_target_lsn', 'recovery_target_name', 'recovery_target_inclusive',
           'recovery_target_action', 'recovery_target_timeline')
MINIMAL_HBA = """# written by dbbackup_pitr: the restored data directory had no pg_hba.conf
local   all   all                 peer
host    all   all   127.0.0.1/32  scram-sha-256
host    all   all   ::1/128       scram-sha-256
"""
MINIMAL_CONF = """# written by dbbackup_pitr: the restored data directory had no postgresql.conf
# (the source keeps it elsewhere, e.g. /etc/postgresql/<major>/<cluster>); defaults apply,
# plus the settings in postgresql.auto.conf. Review before using this server for more than a drill.
"""


# --- the target ----------------------------------------------------------------------

def parse_time(value):
    """target_time -> aware UTC datetime (common.times.parse_user_time)."""
    return parse_user_time(value, 'target_time')


def recovery_target(p):
    """{'kind': time|xid|lsn|name|immediate|end, 'value': text or None, 'setting': name or None}."""
    given = [o for o in TARGET_OPTIONS if p.get(o) not in (None, '')]
    if len(given) > 1:
        raise BadInput('Give at most one recovery target, not %s.' % ' and '.join(given),
                       'Use one of target_time, target_xid, target_lsn, target_name or target: immediate '
                       '(none recovers to the end of the archive).')
    if not given:
        return {'kind': 'end', 'value': None, 'setting': None}
    option = given[0]
    value = p[option]
    if option == 'target':
        if value != 'immediate':
            raise BadInput("target can only be 'immediate' (the end of the base backup), got %r." % (value,))
        return {'kind': 'immediate', 'value': 'immediate', 'setting': 'recovery_target'}
    if option == 'target_time':
        ts = parse_time(value)
        return {'kind': 'time', 'value': ts.strftime('%Y-%m-%d %H:%M:%S.%f+00'), 'time': ts,
                'setting': 'recovery_target_time'}
    if option == 'target_xid':
        text = str(value).strip()
        if not text.isdigit() or int(text) < 3:
            raise BadInput('target_xid must be a transaction id (a number from txid_current()), got %r.'
                           % (value,))
        return {'kind': 'xid', 'value': text, 'setting': 'recovery_target_xid'}
    if option == 'target_lsn':
        text = str(value).strip()
        if not LSN_RE.match(text):
            raise BadInput('target_lsn must be a WAL location like 0/3000028 (from pg_current_wal_lsn()), '
                           'got %r.' % (value,))
        return {'kind': 'lsn', 'value': text.upper(), 'setting': 'recovery_target_lsn'}
    text = str(value)
    if len(text) > 63 or '\n' in text:
        raise BadInput('target_name must be a restore point name (at most 63 characters), got %r.' % (value,))
    return {'kind': 'name', 'value': text, 'setting': 'recovery_target_name'}


def describe_target(target):
    if target['kind'] == 'end':
        return 'the end of the archived WAL'
    if target['kind'] == 'immediate':
        return 'the end of the base backup (target immediate)'
    return '%s %s' % ({'time': 'target_time', 'xid': 'target_xid', 'lsn': 'target_lsn',
                       'name': 'target_name'}[target['kind']], target['value'])


def lsn_int(text):
    hi, lo = text.split('/')
    return (int(hi, 16) << 32) | int(lo, 16)


# --- configuration files ---------------------------------------------------------------

def conf_quote(value):
    """A postgresql.conf string literal."""
    return "'%s'" % str(value).replace('\\', '\\\\').replace("'", "''")


def recovery_settings(target, inclusive, action, timeline, restore_command, port, archive, extra=None):
    """[(name, literal)] of the recovery block."""
    s = [('restore_command', conf_quote(restore_command))]
    if target['setting']:
        s.append((target['setting'], conf_quote(target['value'])))
        if target['kind'] in ('time', 'xid', 'lsn'):
            s.append(('recovery_target_inclusive', 'on' if inclusive else 'off'))
        s.append(('recovery_target_action', conf_quote(action)))
    s.append(('recovery_target_timeline', conf_quote(timeline)))
    if port:
        s.append(('port', str(int(port))))
    if archive != 'keep':
        s.append(('archive_mode', 'off'))
    for name, value in sorted((extra or {}).items()):
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_.]*\Z', str(name)) or name in MANAGED:
            raise BadInput('server_settings cannot set %r (not a setting name, or one dbbackup_pitr manages).'
                           % (name,))
        s.append((name, conf_quote(value) if not isinstance(value, bool) else ('on' if value else 'off')))
    return s


def _chown(path, owner):
    if owner and os.geteuid() == 0:
        pw = pwd.getpwnam(owner)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _write_new(path, text, owner, mode=0o600):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    _chown(path, owner)


def write_recovery_config(data_dir, settings, header, owner):
    """Append the marked block to postgresql.auto.conf, create recovery.signal (and missing config files).

    Returns the list of files written or created.
    """
    written = []
    for name, text in (('postgresql.conf', MINIMAL_CONF), ('pg_hba.conf', MINIMAL_HBA), ('pg_ident.conf', '')):
        path = os.path.join(data_dir, name)
        if not os.path.exists(path):
            _write_new(path, text, owner)
            written.append(name)
    auto = os.path.join(data_dir, 'postgresql.auto.conf')
    existing = ''
    if os.path.exists(auto):
        with open(auto) as f:
            existing = f.read()
        if BLOCK_BEGIN in existing:
            raise BadInput('%s already holds a dbbackup recovery block.' % auto,
                           'data_directory must be a freshly extracted base backup.')
    lines = [BLOCK_BEGIN + ' (' + header + ')',
             '# Added by dbbackup_pitr state=restored; the lines above are the source server\'s.']
    lines += ['%s = %s' % (name, value) for name, value in settings]
    lines.append(BLOCK_END)
    text = ('' if not existing or existing.endswith('\n') else '\n') + '\n'.join(lines) + '\n'
    if existing:
        with open(auto, 'a') as f:
            f.write(text)
    else:
        _write_new(auto, text, owner)
    written.append('postgresql.auto.conf')
    signal = os.path.join(data_dir, 'recovery.signal')
    _write_new(signal, '', owner)
    written.append('recovery.signal')
    return written


# --- the server process ------------------------------------------------------------------

def _as_owner(argv, owner):
    if os.geteuid() == 0 and owner and owner != 'root':
        return ['runuser', '-u', owner, '--'] + argv
    return argv


START_OPTIONS = '-c logging_collector=off -c log_destination=stderr -c lc_messages=C'


def start_server(pg_bin, data_dir, owner, log_file):
    """pg_ctl start without waiting (the wait and its verdict are wait_for_recovery's)."""
    pg_ctl = os.path.join(pg_bin, 'pg_ctl')
    if not os.path.exists(pg_ctl):
        raise BadInput('%s does not exist.' % pg_ctl,
                       'Install the PostgreSQL server of the backup\'s major version or set pg_bin_dir.')
    if not os.path.exists(log_file):
        _write_new(log_file, '', owner)
    # the engine runs outside Ansible too (host CLI, archive_command): no AnsibleModule.run_command here
    # pylint: disable-next=ansible-bad-function
    proc = subprocess.run(_as_owner([pg_ctl, '-D', data_dir, '-l', log_file, '-W', '-o', START_OPTIONS,
                                     'start'], owner),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                          universal_newlines=True, cwd='/')
    if proc.returncode != 0:
        raise RestoreFailed('pg_ctl could not start the server on %s: %s' % (data_dir, proc.stdout.strip()[-2000:]),
                            'See %s.' % log_file)


def stop_server(pg_bin, data_dir, owner, mode='fast'):
    # pylint: disable-next=ansible-bad-function
    subprocess.run(_as_owner([os.path.join(pg_bin, 'pg_ctl'), '-D', data_dir, '-m', mode, '-w', '-t', '120',
                              'stop'], owner),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd='/')


def postmaster_info(data_dir):
    """postmaster.pid as {'pid', 'port', 'socket_dir', 'listen', 'status', 'alive'} or None."""
    try:
        with open(os.path.join(data_dir, 'postmaster.pid')) as f:
            lines = f.read().split('\n')
    except (IOError, OSError):
        return None
    try:
        pid = int(lines[0])
    except (ValueError, IndexError):
        return None
    alive = True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        alive = False
    except PermissionError:
        alive = True

    def line(n):
        return lines[n].strip() if len(lines) > n else ''
    return {'pid': pid, 'port': int(line(3)) if line(3).isdigit() else None, 'socket_dir': line(4) or None,
            'listen': line(5) or None, 'status': line(7) or None, 'alive': alive}


# --- the log ----------------------------------------------------------------------------------

_RESTORED_RE = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
_RESTORE_FAILED_RE = re.compile(r'could not restore file "([^"]+)" from archive')
_MSG_RE = re.compile(r'(LOG|FATAL|PANIC|ERROR|WARNING|DETAIL|HINT):\s+(.*)$')
CLI_PREFIX = 'dbbackup: '       # how the host CLI's restore_command reports a failure (one stderr line)


def parse_log(text):
    """What a recovery log says: restored files, consistency, the stop line, the end, failures.

    'fetch_errors' are the lines restore_command (wal-fetch) wrote, 'restore_failed' the file
    PostgreSQL stopped on when restore_command failed in a way that aborts recovery.
    """
    out = {'restored': [], 'consistent': None, 'stopping': None, 'paused': False, 'redo_done': None,
           'new_timeline': None, 'archive_recovery_complete': False, 'ready': False, 'not_reached': False,
           'fatal': [], 'shutdown_at_target': False, 'last_transaction': None, 'starting': None,
           'fetch_errors': [], 'restore_failed': None}
    for raw in text.splitlines():
        if raw.startswith(CLI_PREFIX) and 'is not in the archive' not in raw:
            out['fetch_errors'].append(raw[len(CLI_PREFIX):].strip())
            continue
        m = _MSG_RE.search(raw)
        if not m:
            continue
        level, msg = m.group(1), m.group(2).strip()
        r = _RESTORED_RE.search(msg)
        if r:
            out['restored'].append(r.group(1))
        elif msg.startswith('consistent recovery state reached'):
            out['consistent'] = msg
        elif msg.startswith('recovery stopping'):
            out['stopping'] = msg
        elif msg.startswith('pausing at the end of recovery'):
            out['paused'] = True
        elif msg.startswith('redo done at'):
            out['redo_done'] = msg.split(' system usage')[0]
        elif msg.startswith('last completed transaction was at log time'):
            out['last_transaction'] = msg[len('last completed transaction was at log time'):].strip()
        elif msg.startswith('selected new timeline ID:'):
            out['new_timeline'] = int(msg.split(':')[1].strip().split()[0])
        elif msg.startswith('archive recovery complete'):
            out['archive_recovery_complete'] = True
        elif msg.startswith('database system is ready to accept connections'):
            out['ready'] = True
        elif msg.startswith('shutdown at recovery target'):
            out['shutdown_at_target'] = True
        elif msg.startswith('starting point-in-time recovery') or msg.startswith('starting archive recovery'):
            out['starting'] = msg
        if 'recovery ended before configured recovery target was reached' in msg:
            out['not_reached'] = True
        if level in ('FATAL', 'PANIC'):
            out['fatal'].append(msg)
            failed = _RESTORE_FAILED_RE.search(msg)
            if failed:
                out['restore_failed'] = failed.group(1)
    return out


def read_log(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except (IOError, OSError):
        return ''


def log_tail(text, lines=15):
    return '\n'.join(text.splitlines()[-lines:])


# --- waiting for the verdict ----------------------------------------------------------------------

def query_server(conn):
    """in_recovery, timeline, LSNs, pause state and databases of the restored server."""
    cur = conn.cursor()
    cur.execute('SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, current_setting(\'server_version_num\')')
    in_recovery, replay_lsn, version_num = cur.fetchone()
    info = {'in_recovery': in_recovery, 'replay_lsn': replay_lsn, 'insert_lsn': None, 'pause_state': None}
    if in_recovery:
        cur.execute('SELECT timeline_id FROM pg_control_checkpoint()')
        info['timeline'] = cur.fetchone()[0]
        if Capabilities(version_num).replay_pause_state:
            cur.execute('SELECT pg_get_wal_replay_pause_state()')
            info['pause_state'] = cur.fetchone()[0]
    else:
        cur.execute('SELECT pg_current_wal_insert_lsn()::text, pg_walfile_name(pg_current_wal_insert_lsn())')
        info['insert_lsn'], walfile = cur.fetchone()
        info['timeline'] = int(walfile[:8], 16)
    cur.execute('SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate ORDER BY datname')
    info['databases'] = [r[0] for r in cur.fetchall()]
    return info


def wait_for_recovery(data_dir, log_file, target, action, timeout, connect_fn, describe):
    """Poll log and server until the recovery's outcome is known; returns the report dict.

    connect_fn(postmaster_info) -> an open connection, or raises (the server may not accept
    connections yet, or at all: hot_standby off). Raises RestoreFailed on failure or timeout.
    """
    start = time.time()
    deadline = start + timeout
    want_promote = target['kind'] == 'end' or action == 'promote'
    last_error = None
    seen = False
    while True:
        text = read_log(log_file)
        log = parse_log(text)
        pm = postmaster_info(data_dir)
        alive = bool(pm and pm['alive'])
        seen = seen or alive
        if not alive and (seen or log['fatal'] or time.time() - start > 30):
            if action == 'shutdown' and target['kind'] != 'end' and log['stopping'] and not log['not_reached']:
                return _report(log, None, running=False, reached=True)
            raise _failure(log, text, describe, log_file, still_running=False)
        info = None
        if alive and not log['not_reached']:
            try:
                conn = connect_fn(pm)
                try:
                    info = query_server(conn)
                finally:
                    conn.close()
            except Exception as e:   # pylint: disable=broad-except
                last_error = str(e).strip().split('\n', 1)[0]
        if info is not None:
            if want_promote and not info['in_recovery']:
                return _report(log, info, running=True, reached=True)
            if not want_promote and action == 'pause' and info['in_recovery'] and \
                    (info['pause_state'] == 'paused' or (info['pause_state'] is None and log['paused'])) \
                    and log['stopping']:
                return _report(log, info, running=True, reached=True)
        elif alive and action == 'pause' and not want_promote and log['paused'] and log['stopping']:
            # hot_standby off: no connections during recovery; the log is all there is
            return _report(log, None, running=True, reached=True, connect_error=last_error)
        if time.time() > deadline:
            raise _failure(log, text, describe, log_file, still_running=alive, timeout=timeout,
                           connect_error=last_error)
        time.sleep(0.3)


def _report(log, info, running, reached, connect_error=None):
    r = {'reached': reached, 'running': running, 'in_recovery': None, 'timeline': log['new_timeline'],
         'replay_lsn': None, 'insert_lsn': None, 'databases': [], 'pause_state': None,
         'recovery_stop': log['stopping'], 'consistent': log['consistent'], 'redo_done': log['redo_done'],
         'last_transaction': log['last_transaction'],
         'last_wal_restored': log['restored'][-1] if log['restored'] else None,
         'wal_files_restored': len(set(log['restored'])), 'connected': info is not None}
    if info:
        r.update((k, info[k]) for k in ('in_recovery', 'timeline', 'replay_lsn', 'insert_lsn', 'databases',
                                        'pause_state'))
    if connect_error and info is None:
        r['connect_error'] = connect_error
    return r


def _failure(log, text, describe, log_file, still_running, timeout=None, connect_error=None):
    last = log['restored'][-1] if log['restored'] else None
    if log['not_reached']:
        what = 'recovery ended before the configured recovery target was reached'
    elif timeout is not None:
        what = 'the outcome was not known after wait_timeout %d s%s' % (
            timeout, ' (server still running%s)' % ('; cannot connect: %s' % connect_error if connect_error else '')
            if still_running else '')
    elif log['restore_failed']:
        what = 'WAL file %s is archived but could not be restored%s' % (
            log['restore_failed'], ' (wal-fetch: %s)' % log['fetch_errors'][-1] if log['fetch_errors'] else '')
    elif log['fatal']:
        what = 'the server stopped: %s' % log['fatal'][-1]
    else:
        what = 'the server stopped during recovery'
    details = describe(log)
    msg = 'Recovery to %s failed: %s. Last WAL file restored from the archive: %s.%s' % (
        details['target'], what, last or 'none', (' ' + details['extra']) if details.get('extra') else '')
    hint = 'Server log %s ends with:\n%s' % (log_file, log_tail(text))
    err = RestoreFailed(msg, hint)
    err.log = log
    err.still_running = still_running
    return err
