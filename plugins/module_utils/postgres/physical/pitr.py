# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL point-in-time recovery (module dbbackup_pitr, db_type postgresql): three states.

- enabled: WAL archiving through the host CLI. ALTER SYSTEM sets archive_mode=on,
  archive_command (`<cli_path> wal-push --config <cli_config> %p %f`, wal_archive.py),
  wal_level=replica when it is minimal and optionally archive_timeout, then
  pg_reload_conf(). Settings are compared with what the configuration files hold
  (pg_file_settings), so a second run changes nothing even before the restart that
  archive_mode needs; restart_required says honestly whether one is still pending.
- status: archiving health (pg_stat_archiver, current WAL file, lag), the base backups
  in the repository, the WAL chain from the oldest base backup (wal_chain.check_chain:
  gaps, timelines) and the recovery window. Reports, never fails on an unhealthy archive;
  without a reachable server it reports what the repository holds (healthy is then false).
- restored: a base backup (base_restore.py) extracted into data_directory, the
  recovery block appended to postgresql.auto.conf, recovery.signal, the server started
  as the data directory's owner and watched until the target is reached
  (recovery.py). A marker file (dbbackup_pitr.json) in the data directory
  records the recovery: the same request again reports changed=false.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import pwd
import re
import time

from ...common.errors import BadInput, DbBackupError, NotFound, RestoreFailed, TargetExists
from ...common.times import isoformat, parse_iso, utcnow
from ...format.backups import find_backup, kind_path, list_backups, wal_path
from ...format.keys import backup_data_key, key_source
from ...storage.factory import open_repository
from ..capabilities import Capabilities
from ..connection import connect, error_text
from . import recovery

PG_PITR_DEFAULTS = {
    'cli_path': '/usr/local/bin/dbbackup', 'cli_config': '/etc/dbbackup/dbbackup.conf',
    'archive_timeout': None, 'data_directory': None, 'target_time': None, 'target_xid': None,
    'target_lsn': None, 'target_name': None, 'target': None, 'target_inclusive': True,
    'target_action': 'promote', 'target_timeline': 'latest', 'port': None, 'archive': 'disabled',
    'pg_bin_dir': None, 'owner': None, 'wait_timeout': 300, 'server_settings': None,
    'tablespace_mapping': None, 'backup_id': 'latest', 'verify': 'none',
}
STATES = ('enabled', 'status', 'restored', 'absent')
MARKER = 'dbbackup_pitr.json'
ARCHIVE_SETTINGS = ('archive_mode', 'archive_command', 'wal_level', 'archive_timeout', 'archive_library')
DEFAULT_SEGMENT_SIZE = 16 << 20


def check_request(p):
    """Fill this engine's defaults into p (prepared with PITR_DEFAULTS, no database needed), refuse
    options of the other engine or state, and return the state (operations/pitr.py runs it)."""
    for key, value in PG_PITR_DEFAULTS.items():
        if p.get(key) is None:
            p[key] = value
    state = p.get('state') or 'restored'
    mysql_only = [o for o in ('stop_datetime', 'stop_binlog_file', 'stop_position', 'target_database', 'events_around',
                              'events_window', 'events_table', 'events_limit')
                  if p.get(o) not in (None, '')]
    if mysql_only:
        raise BadInput('%s: MySQL/MariaDB option(s), not used with db_type postgresql.' % ', '.join(mysql_only),
                       'PostgreSQL recovers the whole server into data_directory, to target_time, target_xid, '
                       'target_lsn, target_name or target: immediate.')
    if state not in STATES:
        raise BadInput('state must be one of %s for db_type postgresql, got %r.' % (', '.join(STATES), state))
    if p['verify'] not in ('none', 'quick', 'deep'):
        raise BadInput('verify must be none, quick or deep, got %r.' % (p['verify'],))
    if p['verify'] != 'none' and state != 'status':
        raise BadInput('verify is used with state=status only (got state=%s).' % state,
                       'state=restored checks every WAL file it restores anyway.')
    if p.get('metrics_dir') and state != 'status':
        raise BadInput('metrics_dir is used with state=status only (got state=%s).' % state,
                       'Backups and restores record their own metrics (metrics_dir of dbbackup_backup/_restore).')
    return state


def _wal_archive():
    from . import wal_archive
    return wal_archive


def _maintenance_conn(p):
    return connect(p, dbname=p.get('database') or 'postgres', autocommit=True)


# --- state=enabled ------------------------------------------------------------------------------

_UNIT_SECONDS = {'': 1, 's': 1, 'min': 60, 'h': 3600, 'd': 86400, 'ms': 0.001}


def _seconds(value):
    """archive_timeout text ('60', '60s', '1min') -> seconds (int), or None when unreadable."""
    m = re.match(r'^\s*(\d+)\s*(ms|s|min|h|d|)\s*$', str(value if value is not None else ''))
    if not m:
        return None
    return int(int(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def _archive_timeout(value):
    if value in (None, ''):
        return None
    seconds = _seconds(value)
    if seconds is None or not 0 <= seconds <= 1073741823:
        raise BadInput('archive_timeout must be a number of seconds (0 switches it off), got %r.' % (value,))
    return seconds


def _current_settings(cur):
    cur.execute('SELECT name, setting, context, pending_restart FROM pg_catalog.pg_settings '
                'WHERE name = ANY(%s)', (list(ARCHIVE_SETTINGS),))
    return dict((r[0], {'setting': r[1], 'context': r[2], 'pending_restart': r[3]}) for r in cur.fetchall())


def _file_settings(cur):
    """What the configuration files say (last entry wins), or None when pg_file_settings is not readable."""
    try:
        cur.execute('SELECT name, setting FROM pg_catalog.pg_file_settings WHERE name = ANY(%s) '
                    'AND error IS NULL ORDER BY seqno', (list(ARCHIVE_SETTINGS),))
    except Exception:   # pylint: disable=broad-except
        return None     # insufficient privilege (needs superuser or pg_read_all_settings)
    return dict((r[0], r[1]) for r in cur.fetchall())


def _configured(current, files, name):
    if files is not None and name in files:
        return files[name]
    return (current.get(name) or {}).get('setting')


def _check_privileges(cur, names, version_num):
    cur.execute('SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user')
    row = cur.fetchone()
    if row and row[0]:
        return
    missing = []
    if Capabilities(version_num).parameter_privileges:
        for name in names:
            cur.execute("SELECT has_parameter_privilege(%s, 'ALTER SYSTEM')", (name,))
            if not cur.fetchone()[0]:
                missing.append('ALTER SYSTEM ON PARAMETER %s' % name)
    else:
        missing.append('superuser (ALTER SYSTEM needs it before PostgreSQL 15)')
    cur.execute("SELECT has_function_privilege('pg_catalog.pg_reload_conf()', 'EXECUTE')")
    if not cur.fetchone()[0]:
        missing.append('EXECUTE ON FUNCTION pg_reload_conf()')
    if missing:
        cur.execute('SELECT current_user')
        user = cur.fetchone()[0]
        raise BadInput('User "%s" may not change the archiving settings: missing %s.' % (user, ', '.join(missing)),
                       'Log in as a superuser (login_user: postgres), or as a superuser run GRANT ALTER SYSTEM '
                       'ON PARAMETER %s TO "%s" and GRANT EXECUTE ON FUNCTION pg_reload_conf() TO "%s" '
                       '(PostgreSQL 15+).' % (', '.join(names), user, user))


def enable_archiving(p, check_mode):
    command = _wal_archive().archive_command(p['cli_path'], p['cli_config'])
    timeout = _archive_timeout(p.get('archive_timeout'))
    conn = _maintenance_conn(p)
    try:
        cur = conn.cursor()
        version_num = conn.server_version
        current = _current_settings(cur)
        files = _file_settings(cur)
        library = _configured(current, files, 'archive_library')
        if library:
            raise BadInput('archive_library is set to %r; PostgreSQL then ignores archive_command.' % library,
                           'Reset it first (ALTER SYSTEM RESET archive_library) so that archiving goes through '
                           'the dbbackup CLI.')
        wanted = []
        if _configured(current, files, 'archive_mode') not in ('on', 'always'):
            wanted.append(('archive_mode', 'on'))
        if _configured(current, files, 'wal_level') == 'minimal':
            wanted.append(('wal_level', 'replica'))
        if _configured(current, files, 'archive_command') != command:
            wanted.append(('archive_command', command))
        if timeout is not None and _seconds(_configured(current, files, 'archive_timeout')) != timeout:
            wanted.append(('archive_timeout', str(timeout)))
        changes = [{'name': n, 'from': _configured(current, files, n), 'to': v} for n, v in wanted]
        if wanted:
            _check_privileges(cur, [n for n, v in wanted], version_num)
        if wanted and not check_mode:
            try:
                for name, value in wanted:
                    cur.execute('ALTER SYSTEM SET %s = %%s' % name, (value,))
                cur.execute('SELECT pg_catalog.pg_reload_conf()')
            except Exception as e:   # pylint: disable=broad-except
                raise BadInput('Could not change the archiving settings: %s.' % error_text(e))
            _wait_reload(cur, command, timeout)
            current = _current_settings(cur)
        pending = sorted(n for n, s in current.items() if s['pending_restart'])
        if check_mode:
            pending = sorted(set(pending) | set(n for n, v in wanted
                                                if (current.get(n) or {}).get('context') == 'postmaster'))
        now_mode = current['archive_mode']['setting']
        restart = bool(pending) or now_mode not in ('on', 'always') or current['wal_level']['setting'] == 'minimal'
    finally:
        conn.close()
    names = ', '.join(c['name'] for c in changes)
    if not changes:
        msg = 'WAL archiving is configured already (archive_command runs %s).' % p['cli_path']
    elif check_mode:
        msg = 'Would set %s with ALTER SYSTEM and reload.' % names
    else:
        msg = 'Set %s with ALTER SYSTEM and reloaded.' % names
    if restart:
        msg += ' A server restart is %s for archiving to start (archive_mode or wal_level).' % (
            'needed' if not check_mode else 'would be needed')
    return {'changed': bool(changes), 'msg': msg, 'changes': changes, 'archive_command': command,
            'archive_mode': current['archive_mode']['setting'], 'wal_level': current['wal_level']['setting'],
            'archive_timeout': _seconds(current['archive_timeout']['setting']), 'restart_required': restart,
            'pending_restart': pending}


def _wait_reload(cur, command, timeout, limit=10.0):
    """pg_reload_conf() only signals: wait until this session sees the new archive_command."""
    end = time.time() + limit
    while time.time() < end:
        cur.execute("SELECT current_setting('archive_command'), current_setting('archive_timeout')")
        cmd, tmo = cur.fetchone()
        if cmd == command and (timeout is None or _seconds(tmo) == timeout):
            return
        time.sleep(0.1)


# --- state=status ---------------------------------------------------------------------------------

def _segment_position(name, seg_size):
    """(tli, segno) of a WAL name (a segment, or the segment a .partial/.backup file belongs to), or None."""
    from .wal_names import segment_of
    if not name or len(name) < 24:
        return None
    try:
        return segment_of(name[:24], seg_size)
    except BadInput:
        return None


def _server_facts(p):
    """What the server says about archiving; raises DbBackupError when it cannot be reached."""
    conn = _maintenance_conn(p)
    try:
        cur = conn.cursor()
        cur.execute('SELECT archived_count, last_archived_wal, last_archived_time, failed_count, '
                    'last_failed_wal, last_failed_time, stats_reset FROM pg_catalog.pg_stat_archiver')
        row = cur.fetchone()
        archiver = dict(zip(('archived_count', 'last_archived_wal', 'last_archived_time', 'failed_count',
                             'last_failed_wal', 'last_failed_time', 'stats_reset'), row))
        for k in ('last_archived_time', 'last_failed_time', 'stats_reset'):
            if archiver[k] is not None:
                archiver[k] = isoformat(archiver[k].astimezone(utcnow().tzinfo))
        cur.execute("SELECT pg_is_in_recovery(), current_setting('archive_mode'), "
                    "current_setting('archive_command'), current_setting('wal_level'), "
                    "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'), "
                    "(SELECT system_identifier::text FROM pg_catalog.pg_control_system())")
        in_recovery, mode, command, level, seg, sysid = cur.fetchone()
        facts = {'in_recovery': in_recovery, 'archive_mode': mode, 'archive_command': command, 'wal_level': level,
                 'wal_segment_size': int(seg), 'system_identifier': sysid, 'archiver': archiver,
                 'server_version': conn.server_version}
        if in_recovery:
            cur.execute('SELECT pg_last_wal_replay_lsn()::text, timeline_id FROM pg_catalog.pg_control_checkpoint()')
            facts['current_lsn'], facts['timeline'] = cur.fetchone()
            facts['current_wal_file'] = None
        else:
            cur.execute('SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn())')
            facts['current_lsn'], facts['current_wal_file'] = cur.fetchone()
            facts['timeline'] = int(facts['current_wal_file'][:8], 16)
        return facts
    finally:
        conn.close()


def archive_status(p):
    from .wal_chain import check_chain, list_archive
    from .wal_names import parse_lsn
    repo = open_repository(p)
    server = p['server_name']
    problems = []
    facts = None
    server_error = None
    try:
        facts = _server_facts(p)
    except DbBackupError as e:
        server_error = str(e)
        problems.append('server not reachable: %s' % server_error)
    backups = [m for dummy, m in list_backups(repo, kind_path(server, 'base'))]
    backups = [m for m in backups if m.get('kind') == 'base' and m.get('start_wal_file')]
    archive = list_archive(repo, server)
    seg_size = (facts or {}).get('wal_segment_size') or \
        (backups[0].get('wal_segment_size') if backups else None) or DEFAULT_SEGMENT_SIZE
    chain = None
    verification = None
    usable = archive
    if p.get('verify') not in (None, 'none'):
        # damaged files end a recovery as missing ones do: the chain is checked without them
        from .wal_verify import usable_archive, verify_archive
        verification = verify_archive(repo, p, archive, p['verify'], [m.get('system_identifier') for m in backups],
                                      p.get('jobs'))
        problems.extend('damaged WAL file %s: %s' % (d['wal_name'], d['error']) for d in verification['damaged'])
        usable = usable_archive(archive, verification)
    if not backups:
        problems.append('no base backup of %s in the repository' % server)
    elif not archive:
        problems.append('the WAL archive %s is empty' % repo.location(wal_path(server)))
    else:
        try:
            chain = check_chain(repo, server, backups[0]['start_wal_file'], backups[0]['wal_segment_size'],
                                encryption=key_source(p), archive=usable)
        except DbBackupError as e:
            problems.append('the WAL chain could not be checked: %s' % e)
        if chain is not None:
            for gap in chain['gaps']:
                problems.append('WAL gap: %s to %s %s (after %s)'
                                % (gap['missing_from'], gap['missing_to'],
                                   'missing or damaged' if verification and verification['damaged'] else 'missing',
                                   gap['after']))
            problems.extend(chain['problems'])
    archived_segments = sum(len([n for n in names if len(n) == 24]) for names in archive.values())
    last_in_repo = None
    for tli in sorted(archive):
        segs = [n for n in archive[tli] if len(n) == 24]
        if segs:
            last_in_repo = segs[-1] if last_in_repo is None or segs[-1][8:] >= last_in_repo[8:] else last_in_repo
    result = {
        'changed': False, 'server_name': server, 'server_reachable': facts is not None,
        'server_error': server_error, 'repository': repo.location(server),
        'base_backups': [_backup_entry(m) for m in backups],
        'wal_archive': {'timelines': sorted(archive), 'segments': archived_segments, 'last_segment': last_in_repo},
        'chain': _chain_entry(chain),
        'verification': verification,
    }
    # --- archiving on the server
    archiving = None
    if facts:
        arch = facts['archiver']
        archiving = dict(arch, archive_mode=facts['archive_mode'], archive_command=facts['archive_command'],
                         wal_level=facts['wal_level'], in_recovery=facts['in_recovery'],
                         timeline=facts['timeline'], current_lsn=facts['current_lsn'],
                         current_wal_file=facts['current_wal_file'], lag_segments=None, lag_bytes=None)
        if facts['archive_mode'] not in ('on', 'always'):
            problems.append('archive_mode is %s (run state=enabled and restart the server)' % facts['archive_mode'])
        if not facts['archive_command'] or facts['archive_command'] == '(disabled)':
            problems.append('archive_command is not set')
        if arch['last_failed_time'] and (not arch['last_archived_time']
                                         or arch['last_failed_time'] > arch['last_archived_time']):
            problems.append('archiving is failing: the last attempt for %s failed at %s (%d failures)'
                            % (arch['last_failed_wal'], arch['last_failed_time'], arch['failed_count']))
        last_pos = _segment_position(arch['last_archived_wal'], seg_size) \
            if arch['last_archived_wal'] and len(arch['last_archived_wal']) == 24 else None
        if last_pos is None and last_in_repo:
            last_pos = _segment_position(last_in_repo, seg_size)
        if last_pos and facts['current_lsn']:
            current = parse_lsn(facts['current_lsn'])
            cur_segno = current // seg_size
            archiving['lag_segments'] = max(0, cur_segno - last_pos[1] - 1)
            archiving['lag_bytes'] = max(0, current - (last_pos[1] + 1) * seg_size)
        for m in backups[-1:]:
            if m.get('system_identifier') and str(m['system_identifier']) != str(facts['system_identifier']):
                problems.append('the newest base backup %s is of another cluster (system identifier %s, the '
                                'server has %s): check server_name'
                                % (m['backup_id'], m['system_identifier'], facts['system_identifier']))
    result['archiving'] = archiving
    result['recovery_window'] = _recovery_window(backups, chain, seg_size, archiving)
    if result['recovery_window'] is None and backups and chain is not None:
        problems.append('no base backup is usable: the WAL it needs is not all archived')
    result['problems'] = problems
    result['healthy'] = not problems
    result['msg'] = ('Archive of %s is healthy.' % server) if not problems else \
        ('Archive of %s is not healthy: %s.' % (server, '; '.join(problems)))
    return result


def _backup_entry(m):
    entry = dict((k, m.get(k)) for k in ('backup_id', 'started_at', 'stop_time', 'finished_at', 'start_lsn', 'stop_lsn',
                                         'timeline', 'start_wal_file', 'stop_wal_file', 'server_version_num'))
    entry.update(encrypted=bool(m.get('encryption')), size_bytes=(m.get('totals') or {}).get('stored_bytes'))
    return entry


def _chain_entry(chain):
    if chain is None:
        return None
    return dict((k, chain.get(k)) for k in ('ok', 'timeline', 'first', 'last', 'last_archived', 'gaps',
                                            'segments', 'problems', 'timelines'))


def _recovery_window(backups, chain, seg_size, archiving):
    """earliest = stop of the oldest base backup whose WAL is complete; latest = end of the contiguous chain."""
    if not backups or chain is None or not chain.get('last'):
        return None
    last_segno = _segment_position(chain['last'], seg_size)[1]
    usable = [m for m in backups
              if _segment_position(m['stop_wal_file'], seg_size)[1] <= last_segno
              and _segment_position(m['start_wal_file'], seg_size)[1]
              >= _segment_position(backups[0]['start_wal_file'], seg_size)[1]]
    if not usable:
        return None
    oldest = usable[0]
    latest_time = None
    if archiving and archiving.get('last_archived_wal') == chain['last']:
        latest_time = archiving.get('last_archived_time')
    return {'earliest_backup_id': oldest['backup_id'], 'earliest_lsn': oldest['stop_lsn'],
            'earliest_time': stop_time(oldest), 'latest_wal_file': chain['last'],
            'latest_lsn': _segment_end_lsn(chain['last'], seg_size), 'latest_time': latest_time,
            'usable_backups': [m['backup_id'] for m in usable]}


def _segment_end_lsn(name, seg_size):
    from .wal_names import format_lsn
    pos = _segment_position(name, seg_size)
    return format_lsn((pos[1] + 1) * seg_size) if pos else None


# --- state=restored -------------------------------------------------------------------------------

def _options(p):
    target = recovery.recovery_target(p)
    action = p['target_action']
    if action not in recovery.TARGET_ACTIONS:
        raise BadInput('target_action must be promote, pause or shutdown, got %r.' % (action,))
    timeline = str(p['target_timeline']).strip()
    if timeline not in ('latest', 'current') and not timeline.isdigit():
        raise BadInput('target_timeline must be latest, current or a timeline number, got %r.' % (timeline,))
    if p['archive'] in ('off', False):   # YAML reads an unquoted off as false
        p['archive'] = 'disabled'
    if p['archive'] not in ('disabled', 'keep'):
        raise BadInput('archive must be disabled or keep, got %r.' % (p['archive'],))
    if p.get('port') is not None:
        try:
            p['port'] = int(p['port'])
        except (TypeError, ValueError):
            raise BadInput('port must be a number, got %r.' % (p['port'],))
        if not 1 <= p['port'] <= 65535:
            raise BadInput('port must be from 1 to 65535, got %d.' % p['port'])
    try:
        wait = int(p['wait_timeout'])
    except (TypeError, ValueError):
        raise BadInput('wait_timeout must be a number of seconds, got %r.' % (p['wait_timeout'],))
    if not 1 <= wait <= 7 * 86400:
        raise BadInput('wait_timeout must be from 1 second to 7 days, got %d.' % wait)
    if p.get('server_settings') is not None and not isinstance(p['server_settings'], dict):
        raise BadInput('server_settings must be a dictionary of setting names and values.')
    data_dir = p.get('data_directory')
    if not data_dir:
        raise BadInput('data_directory is required for state=restored (a new or empty directory).')
    if not os.path.isabs(data_dir):
        raise BadInput('data_directory must be an absolute path, got %r.' % (data_dir,))
    inclusive = p['target_inclusive']
    if isinstance(inclusive, str):
        inclusive = inclusive.lower() in ('1', 'true', 'yes', 'on')
    return target, action, timeline, wait, os.path.normpath(data_dir), bool(inclusive)


def _request(p, target, action, timeline, inclusive):
    """What identifies a recovery request (the marker compares it)."""
    return {'server_name': p['server_name'], 'backup_id': p.get('backup_id') or 'latest',
            'target': {'kind': target['kind'], 'value': target['value']},
            'target_inclusive': inclusive if target['kind'] in ('time', 'xid', 'lsn') else None,
            'target_action': action if target['kind'] != 'end' else None, 'target_timeline': timeline}


def _read_marker(data_dir):
    try:
        with open(os.path.join(data_dir, MARKER)) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def _write_marker(data_dir, doc, owner):
    path = os.path.join(data_dir, MARKER)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    if owner and os.geteuid() == 0:
        pw = pwd.getpwnam(owner)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.rename(tmp, path)


def _owner(p, data_dir):
    if p.get('owner'):
        try:
            pwd.getpwnam(p['owner'])
        except KeyError:
            raise BadInput('owner %r is not a user on this host.' % (p['owner'],))
        if os.geteuid() != 0 and pwd.getpwnam(p['owner']).pw_uid != os.geteuid():
            raise BadInput('owner %s: only root can restore a data directory for another user.' % p['owner'])
        return p['owner']
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    if os.path.isdir(data_dir):
        st = os.stat(data_dir)
        if st.st_uid != 0:
            return pwd.getpwuid(st.st_uid).pw_name
    try:
        pwd.getpwnam('postgres')
    except KeyError:
        raise BadInput('Running as root and there is no user postgres to own the restored data directory.',
                       'Set owner to the operating-system user that runs PostgreSQL.')
    return 'postgres'


def _pg_bin_dir(p, manifest):
    if p.get('pg_bin_dir'):
        path = p['pg_bin_dir']
    else:
        num = int(manifest.get('server_version_num') or 0)
        if not num:
            raise BadInput('Base backup %s does not say its server version; set pg_bin_dir.' % manifest['backup_id'])
        path = '/usr/lib/postgresql/%d/bin' % (num // 10000)
    if not os.path.exists(os.path.join(path, 'pg_ctl')):
        raise BadInput('No pg_ctl in %s: the PostgreSQL %s server binaries are needed to recover backup %s.'
                       % (path, manifest.get('server_version') or '', manifest['backup_id']),
                       'Install the server package of that major version (e.g. postgresql-%d) or set pg_bin_dir.'
                       % (int(manifest.get('server_version_num') or 0) // 10000))
    return path


def stop_time(manifest):
    """When the backup's stop point was written (stop_time); finished_at for backups that did not record it."""
    return manifest.get('stop_time') or manifest['finished_at']


def choose_base_backup(repo, base, backup_id, target, timeline):
    """The base backup to start from: backup_id, or for latest the newest that ends before the target."""
    from .wal_names import parse_lsn
    if backup_id not in (None, '', 'latest'):
        manifest = find_backup(repo, base, backup_id)
        candidates = [manifest]
    else:
        candidates = [m for dummy, m in list_backups(repo, base) if m.get('kind') == 'base']
        if not candidates:
            raise NotFound('No complete base backup in %s.' % repo.location(base),
                           'Take one first (dbbackup_backup kind: base) with WAL archiving enabled.')
    if timeline.isdigit():
        candidates = [m for m in candidates if int(m.get('timeline') or 1) <= int(timeline)]
    if target['kind'] == 'time':
        fits = [m for m in candidates if parse_iso(stop_time(m)) <= target['time']]
        why = 'stopped at or before %s' % isoformat(target['time'])
    elif target['kind'] == 'lsn':
        fits = [m for m in candidates if parse_lsn(m['stop_lsn']) <= parse_lsn(target['value'])]
        why = 'ending at or before %s' % target['value']
    else:
        fits = candidates
        why = 'on timeline %s or before' % timeline
    if not fits:
        if backup_id not in (None, '', 'latest'):
            first = candidates[0]
            raise BadInput('Base backup %s is not %s: PostgreSQL cannot recover to a point before the end of '
                           'the backup (its stop point %s at %s).'
                           % (first['backup_id'], why, first['stop_lsn'], stop_time(first)),
                           'Choose an older backup_id (or backup_id: latest).')
        raise NotFound('No complete base backup %s in %s.' % (why, repo.location(base)),
                       'The recovery target lies before the oldest base backup; it cannot be recovered.')
    return fits[-1]


def _chain_precheck(repo, p, manifest, target, timeline):
    """Refuse early what cannot work: the backup's own WAL incomplete, a gap before an LSN or end target."""
    from .wal_chain import check_chain
    from .wal_names import parse_lsn
    seg = int(manifest['wal_segment_size'])
    tli = int(timeline) if timeline.isdigit() else (int(manifest['timeline']) if timeline == 'current' else None)
    chain = check_chain(repo, p['server_name'], manifest['start_wal_file'], seg, timeline=tli,
                        encryption=key_source(p))
    stop_segno = _segment_position(manifest['stop_wal_file'], seg)[1]
    if not chain['last'] or _segment_position(chain['last'], seg)[1] < stop_segno:
        missing = chain['gaps'][0]['missing_from'] if chain['gaps'] else manifest['start_wal_file']
        raise NotFound('The WAL of base backup %s (%s to %s) is not all archived: %s is missing.'
                       % (manifest['backup_id'], manifest['start_wal_file'], manifest['stop_wal_file'], missing),
                       'Check archiving (state=status) or choose another backup_id.')
    gap = chain['gaps'][0] if chain['gaps'] else None
    if gap and target['kind'] == 'end':
        raise NotFound('The WAL archive has a gap after %s (%s to %s missing): recovery to the end of the archive '
                       'would silently stop there.' % (gap['after'], gap['missing_from'], gap['missing_to']),
                       'Give a recovery target before the gap (target_lsn, target_time, ...) to accept that.')
    if gap and target['kind'] == 'lsn' and \
            parse_lsn(target['value']) // seg >= _segment_position(gap['missing_from'], seg)[1]:
        raise NotFound('target_lsn %s lies beyond a gap in the WAL archive: %s to %s are missing (after %s).'
                       % (target['value'], gap['missing_from'], gap['missing_to'], gap['after']),
                       'The newest point that can be recovered is the end of %s.' % gap['after'])
    return chain


def _restored_connect(p):
    """connect_fn for recovery.wait_for_recovery: the login options against the restored server."""
    def connect_fn(pm):
        params = dict(p)
        params['login_port'] = pm['port'] or p.get('port') or 5432
        candidates = []
        if p.get('login_unix_socket') and pm['socket_dir']:
            candidates.append({'login_unix_socket': pm['socket_dir'], 'login_host': None})
        listen = pm['listen'] or ''
        if listen:
            host = '127.0.0.1' if listen in ('*', '0.0.0.0') else ('::1' if listen == '::' else listen)
            candidates.append({'login_host': host, 'login_unix_socket': None})
        if pm['socket_dir'] and not p.get('login_unix_socket'):
            candidates.append({'login_unix_socket': pm['socket_dir'], 'login_host': None})
        error = None
        for c in candidates:
            params.update(c)
            try:
                return connect(params, dbname=p.get('database') or 'postgres', autocommit=True,
                               application_name='dbbackup_pitr')
            except DbBackupError as e:
                error = e
        raise error or RestoreFailed('The restored server listens nowhere this host can connect to.')
    return connect_fn


def restore_to_target(p, check_mode):
    target, action, timeline, wait, data_dir, inclusive = _options(p)
    request = _request(p, target, action, timeline, inclusive)
    describe = recovery.describe_target(target)
    marker = _read_marker(data_dir) if os.path.isdir(data_dir) else None
    if marker is not None:
        if marker.get('request') != request:
            old = marker.get('request') or {}
            raise TargetExists('data_directory %s already holds a recovery of %s to %s (backup %s).'
                               % (data_dir, old.get('server_name'),
                                  recovery.describe_target(dict(old.get('target') or {'kind': 'end'},
                                                                setting=None)), marker.get('backup_id')),
                               'Choose another data_directory, or stop that server and remove the directory.')
        if marker.get('status') == 'complete':
            result = dict(marker.get('report') or {})
            pm = recovery.postmaster_info(data_dir)
            result.update(changed=False, running=bool(pm and pm['alive']),
                          msg='%s already holds backup %s recovered to %s.'
                          % (data_dir, marker.get('backup_id'), describe))
            return result
        if marker.get('status') == 'failed':
            raise RestoreFailed('data_directory %s holds a failed recovery to %s: %s'
                                % (data_dir, describe, marker.get('error') or 'see its log'),
                                'Remove the directory and run again (with another target or backup).')
    elif os.path.exists(data_dir) and (not os.path.isdir(data_dir) or os.listdir(data_dir)):
        raise TargetExists('data_directory %s exists and is not empty.' % data_dir,
                           'state=restored needs a new or empty directory; it never overwrites a data directory.')
    repo = open_repository(p)
    base = kind_path(p['server_name'], 'base')
    manifest = choose_base_backup(repo, base, p.get('backup_id'), target, timeline) if marker is None else \
        find_backup(repo, base, marker['backup_id'])
    path = base + '/' + manifest['backup_id']
    owner = _owner(p, data_dir)
    pg_bin = _pg_bin_dir(p, manifest)
    log_file = os.path.join(data_dir, recovery.LOG_NAME)
    result = {
        'backup_id': manifest['backup_id'], 'backup_location': repo.location(path), 'data_directory': data_dir,
        'target': {'kind': target['kind'], 'value': target['value']}, 'target_action': request['target_action'],
        'target_inclusive': request['target_inclusive'], 'target_timeline': timeline, 'pg_bin_dir': pg_bin,
        'owner': owner, 'log_file': log_file, 'archive': p['archive'], 'backup_stop_lsn': manifest['stop_lsn'],
        'backup_timeline': manifest.get('timeline'),
    }
    if marker is None:
        chain = _chain_precheck(repo, p, manifest, target, timeline)
        data_key = backup_data_key(key_source(p), manifest, p.get('allow_unencrypted'))   # before anything is written
        restore_command = _wal_archive().restore_command(p['cli_path'], p['cli_config'],
                                                         allow_unencrypted=bool(p.get('allow_unencrypted')))
        settings = recovery.recovery_settings(target, inclusive, action, timeline, restore_command, p.get('port'),
                                              p['archive'], p.get('server_settings'))
        if check_mode:
            result.update(changed=True, settings=dict(settings),
                          msg='Base backup %s would be extracted into %s and recovered to %s (WAL archived up to '
                              '%s).' % (manifest['backup_id'], data_dir, describe, chain['last']))
            return result
        t0 = time.time()
        _make_data_dir(data_dir, owner)
        from .base_restore import extract_base_backup
        extract_base_backup(repo, path, manifest, data_dir, data_key=data_key,
                            tablespace_mapping=p.get('tablespace_mapping'), owner=owner)
        recovery.write_recovery_config(data_dir, settings, 'backup %s of %s, to %s' % (
            manifest['backup_id'], p['server_name'], describe), owner)
        doc = {'request': request, 'backup_id': manifest['backup_id'], 'status': 'recovering',
               'started_at': isoformat(utcnow())}
        _write_marker(data_dir, doc, owner)
        recovery.start_server(pg_bin, data_dir, owner, log_file)
    else:
        if check_mode:
            result.update(changed=True, msg='Would wait for the recovery already started in %s.' % data_dir)
            return result
        t0 = time.time()
        doc = marker
        pm = recovery.postmaster_info(data_dir)
        if not (pm and pm['alive']) and not os.path.exists(log_file):
            raise RestoreFailed('data_directory %s holds an unfinished recovery and no server log.' % data_dir,
                                'Remove the directory and run again.')

    def details(log):
        extra = []
        if target['kind'] in ('xid', 'name'):
            extra.append('If the target lies before backup %s (started %s), give an older backup_id.'
                         % (manifest['backup_id'], manifest['started_at']))
        if log['restore_failed'] or log['fetch_errors']:
            return {'target': describe, 'extra': ' '.join(extra)}     # wal-fetch's message says what to do
        try:
            chain_now = _chain_precheck(repo, p, manifest, {'kind': 'time'}, timeline)
            if chain_now['gaps']:
                g = chain_now['gaps'][0]
                extra.insert(0, 'The WAL archive has a gap: %s to %s are missing (after %s).'
                             % (g['missing_from'], g['missing_to'], g['after']))
            elif log['restored']:
                extra.insert(0, 'The archive ends at %s.' % chain_now['last'])
        except DbBackupError:
            pass
        return {'target': describe, 'extra': ' '.join(extra)}

    try:
        report = recovery.wait_for_recovery(data_dir, log_file, target, action, wait, _restored_connect(p), details)
        if target['kind'] == 'end':
            _check_replayed_to_chain_end(repo, p, manifest, timeline, report, pg_bin, data_dir, owner, log_file)
    except RestoreFailed as e:
        if not getattr(e, 'still_running', False):
            doc.update(status='failed', error=e.message)
            _write_marker(data_dir, doc, owner)
        raise
    result.update(report)
    pm = recovery.postmaster_info(data_dir)
    result['port'] = pm['port'] if pm and pm['port'] else p.get('port')
    result.update(changed=True, duration_seconds=round(time.time() - t0, 3),
                  msg='Backup %s recovered into %s to %s%s.' % (
                      manifest['backup_id'], data_dir, describe,
                      {True: '; the server is running', False: '; the server has shut down'}[report['running']]
                      + ({'promote': ' (promoted)', 'pause': ' (paused in recovery)', 'shutdown': ''}
                         [action if target['kind'] != 'end' else 'promote'] if report['running'] else '')))
    doc.update(status='complete', finished_at=isoformat(utcnow()),
               report=dict((k, v) for k, v in result.items() if k not in ('changed', 'msg', 'running')))
    _write_marker(data_dir, doc, owner)
    return result


def _check_replayed_to_chain_end(repo, p, manifest, timeline, report, pg_bin, data_dir, owner, log_file):
    """Recovery to the end of the archive must replay every archived file of the chain.

    PostgreSQL takes a file it cannot read, or whose content it cannot use (a failed CRC, a page
    that belongs elsewhere), for the end of the WAL and promotes: a short replay that looks like
    success. So the last file restored is compared with the end of the chain from the backup on;
    short of it, the server is stopped (nothing may use a short recovery) and the recovery fails
    naming the file after the last one replayed and what wal-fetch said.
    """
    from .wal_chain import check_chain
    seg = int(manifest['wal_segment_size'])
    tli = int(timeline) if timeline.isdigit() else (int(manifest['timeline']) if timeline == 'current' else None)
    chain = check_chain(repo, p['server_name'], manifest['start_wal_file'], seg, timeline=tli,
                        encryption=key_source(p))
    last = report.get('last_wal_restored')
    end = chain['last']
    if not end or (last and _segment_position(last, seg)[1] >= _segment_position(end, seg)[1]):
        return
    log = recovery.parse_log(recovery.read_log(log_file))
    pos = _segment_position(last, seg) if last else None
    from .wal_names import segment_file
    from .wal_chain import expected_timelines, timeline_for_segment
    spans = expected_timelines(chain['timeline'], chain['history'])
    next_segno = pos[1] + 1 if pos else _segment_position(manifest['start_wal_file'], seg)[1]
    stopped_at = segment_file(timeline_for_segment(next_segno, spans, seg), next_segno, seg)
    recovery.stop_server(pg_bin, data_dir, owner, mode='fast')
    said = ' wal-fetch reported: %s' % ' | '.join(log['fetch_errors'][-3:]) if log['fetch_errors'] else ''
    raise RestoreFailed('Recovery to the end of the archived WAL replayed only up to %s, but the archive holds WAL '
                        'up to %s: PostgreSQL could not use %s and took it for the end of the WAL.%s The server was '
                        'stopped so that nothing uses this short recovery.'
                        % (last or 'the base backup', end, stopped_at, said),
                        'Check the archive (dbbackup pitr-status --verify deep), or recover to a target before %s. '
                        'Server log: %s.' % (stopped_at, log_file))


def _make_data_dir(data_dir, owner):
    if not os.path.isdir(data_dir):
        os.makedirs(data_dir, 0o700)
    os.chmod(data_dir, 0o700)
    if owner and os.geteuid() == 0:
        pw = pwd.getpwnam(owner)
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)


# --- state=absent ----------------------------------------------------------------------------

def remove_restored(p, check_mode):
    """Stop the server of a data directory that state=restored made and delete the directory (drill clean-up).

    Only a directory holding this module's marker (dbbackup_pitr.json) is touched, so a
    typo cannot remove a live data directory. Tablespace directories outside it are left
    and listed: they may sit where the operator mapped them.
    """
    import shutil
    data_dir = p.get('data_directory')
    if not data_dir or not os.path.isabs(data_dir):
        raise BadInput('state=absent needs data_directory: the absolute path of a directory state=restored made.')
    data_dir = os.path.normpath(data_dir)
    if not os.path.exists(data_dir):
        return {'changed': False, 'data_directory': data_dir, 'stopped': False, 'tablespaces_left': [],
                'msg': '%s does not exist.' % data_dir}
    marker = _read_marker(data_dir) if os.path.isdir(data_dir) else None
    if marker is None:
        raise BadInput('%s was not made by dbbackup_pitr state=restored (no %s in it); it was not removed.'
                       % (data_dir, MARKER), 'state=absent only removes recovered scratch copies; remove other '
                       'directories yourself.')
    pm = recovery.postmaster_info(data_dir)
    running = bool(pm and pm['alive'])
    pg_tblspc = os.path.join(data_dir, 'pg_tblspc')
    left = sorted(os.path.realpath(os.path.join(pg_tblspc, n)) for n in os.listdir(pg_tblspc)
                  if os.path.islink(os.path.join(pg_tblspc, n))) if os.path.isdir(pg_tblspc) else []
    result = {'changed': True, 'data_directory': data_dir, 'backup_id': marker.get('backup_id'),
              'stopped': running, 'tablespaces_left': left}
    if check_mode:
        result['msg'] = '%s would be %sremoved.' % (data_dir, 'stopped and ' if running else '')
        return result
    if running:
        report = marker.get('report') or {}
        pg_bin = p.get('pg_bin_dir') or report.get('pg_bin_dir') or _version_bin_dir(data_dir)
        owner = report.get('owner') or pwd.getpwuid(os.stat(data_dir).st_uid).pw_name
        recovery.stop_server(pg_bin, data_dir, owner, mode='fast')
        pm = recovery.postmaster_info(data_dir)
        if pm and pm['alive']:
            recovery.stop_server(pg_bin, data_dir, owner, mode='immediate')
            pm = recovery.postmaster_info(data_dir)
            if pm and pm['alive']:
                raise RestoreFailed('The server of %s (pid %d) did not stop; nothing was removed.' % (data_dir, pm['pid']),
                                    'Stop it yourself, then run again.')
    shutil.rmtree(data_dir)
    kept = ('; tablespace directories left: %s' % ', '.join(left)) if left else ''
    result['msg'] = '%s %sremoved%s.' % (data_dir, 'stopped and ' if running else '', kept)
    return result


def _version_bin_dir(data_dir):
    try:
        with open(os.path.join(data_dir, 'PG_VERSION')) as f:
            return '/usr/lib/postgresql/%s/bin' % f.read().strip()
    except (IOError, OSError):
        raise BadInput('%s has no PG_VERSION; set pg_bin_dir to stop its server.' % data_dir)


def run_state(p, state, check_mode):
    """Run state enabled, restored or absent of a checked request (state=status: archive_status)."""
    if state == 'enabled':
        return enable_archiving(p, check_mode)
    if state == 'absent':
        return remove_restored(p, check_mode)
    return restore_to_target(p, check_mode)
