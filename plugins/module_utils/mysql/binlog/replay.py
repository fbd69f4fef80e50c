# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Replaying archived binlog events of one database into another: the chain, the tools, the pipe.

    archive (verified, decrypted, decompressed as it is read)
      -> replay_filter.ReplayFilter (the database's events only, renamed; a binlog stream)
      -> mariadb-binlog - (decodes every event type: row events become BINLOG statements,
                           statements get their session settings)
      -> mariadb --binary-mode --database=<target>

Nothing of the archive is written to disk: the filter streams into
mariadb-binlog's standard input. The password goes to the client in a 0600
option file in a private directory, never on a command line. Both tools run
with TZ=UTC and --disable-log-bin (the recovered rows are not written to the
target server's binary log). check() runs the same filter without the tools
first, so every refusal and the stop point are known before anything is touched.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import shutil
import subprocess
import tempfile

from ...common.errors import BadInput, IntegrityError, RestoreFailed
from ...stream.pipeline import open_stored_reader
from .archive import archive_path
from .replay_filter import ReplayFilter

LEFT_UNCHANGED = 'The target was left unchanged.'


def find_tool(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise RestoreFailed('None of %s was found on the host running the restore.' % ', '.join(names),
                        'Install the MariaDB or MySQL client programs (Debian: apt-get install mariadb-client).')


class _HashingReader(object):
    """The raw content of an archived binlog; at its end, compared with the record's SHA-256."""

    def __init__(self, reader, meta):
        self.reader = reader
        self.meta = meta
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n):
        chunk = self.reader.read(n)
        if chunk:
            self.hash.update(chunk)
            self.size += len(chunk)
        elif self.size != self.meta['size'] or self.hash.hexdigest() != self.meta['sha256']:
            raise IntegrityError('The archived binlog %s does not decompress to the recorded content.'
                                 % self.meta['file'])
        return chunk


def chain_files(repo, server_name, chain, data_key):
    """(name, readable) of every file of chain, in order; each one is closed after use."""
    base = archive_path(server_name)
    for meta in chain:
        if meta.get('encrypted') and data_key is None:
            raise BadInput('The archived binlog %s is encrypted and no key was given.' % meta['file'])
        reader = open_stored_reader(repo, '%s/%s' % (base, meta['path']), meta['compression']['algorithm'],
                                    meta['stored_sha256'], meta['stored_bytes'],
                                    data_key=data_key if meta.get('encrypted') else None)
        try:
            hashing = _HashingReader(reader, meta)
            yield meta['file'], hashing
            while hashing.read(1 << 20):     # the rest (after a stop point), so the hash is checked
                pass
        finally:
            reader.close()


def new_filter(plan, target_db, cut=None):
    """A ReplayFilter for plan (dict: source, others, charsets, start, stop_time, stop)."""
    return ReplayFilter(plan['source'], target_db, plan['others'], plan['charsets'], plan['start'],
                        stop_time=plan.get('stop_time'), stop=plan.get('stop'), cut=cut)


def check(repo, server_name, chain, plan, target_db, data_key):
    """Run the filter over the chain without applying anything; returns it (stats, stopped, cut).

    Raises replay_filter.Refused for an event that cannot be replayed safely.
    """
    flt = new_filter(plan, target_db)
    flt.run(chain_files(repo, server_name, chain, data_key))
    return flt


def server_facts(conn):
    """(database names, collation id -> character set) of the target server."""
    cur = conn.cursor()
    cur.execute('SHOW DATABASES')
    names = [_text(r[0]) for r in cur.fetchall()]
    cur.execute('SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS')
    charsets = dict((int(r[0]), _text(r[1])) for r in cur.fetchall() if r[0] is not None)
    return names, charsets


def _text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


def _option_file(directory, params):
    lines = ['[client]', 'user=%s' % (params.get('login_user') or 'root')]
    if params.get('login_password'):
        lines.append('password="%s"' % params['login_password'].replace('\\', '\\\\').replace('"', '\\"'))
    if params.get('login_host'):
        lines += ['host=%s' % params['login_host'], 'port=%d' % int(params.get('login_port') or 3306),
                  'protocol=TCP']
    elif params.get('login_unix_socket'):
        lines.append('socket=%s' % params['login_unix_socket'])
    mode = params.get('ssl_mode') or 'prefer'
    if mode in ('require', 'verify-ca', 'verify-full'):
        lines.append('ssl')
        if params.get('ca_cert'):
            lines.append('ssl-ca=%s' % params['ca_cert'])
        if mode == 'verify-full':
            lines.append('ssl-verify-server-cert')
    path = os.path.join(directory, 'client.cnf')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def replay(params, repo, chain, plan, target_db, cut, data_key=None):
    """Apply the events of plan['source'] to target_db, stopping at cut; returns the filter's stats."""
    binlog_tool = find_tool('mariadb-binlog', 'mysqlbinlog')
    client = find_tool('mariadb', 'mysql')
    work = tempfile.mkdtemp(prefix='dbbackup-binlog-')
    try:
        os.chmod(work, 0o700)
        cnf = _option_file(work, params)
        argv = [binlog_tool, '--no-defaults', '--disable-log-bin', '-']
        client_argv = [client, '--defaults-file=%s' % cnf, '--binary-mode', '--batch', '--database=%s' % target_db]
        env = dict(os.environ, TZ='UTC')
        env.pop('MYSQL_PWD', None)
        flt = new_filter(plan, target_db, cut=cut)
        _pipe(flt, chain_files(repo, params['server_name'], chain, data_key), argv, client_argv, env, work)
        return flt.stats
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pipe(flt, files, argv, client_argv, env, work):
    err1 = open(os.path.join(work, 'binlog.err'), 'w+')
    err2 = open(os.path.join(work, 'client.err'), 'w+')
    failure = None
    try:
        # the engine runs outside Ansible too (host CLI, archive_command): no AnsibleModule.run_command here
        # pylint: disable-next=ansible-bad-function
        decoder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err1, env=env)
        try:
            # pylint: disable-next=ansible-bad-function
            applier = subprocess.Popen(client_argv, stdin=decoder.stdout, stdout=subprocess.DEVNULL,
                                       stderr=err2, env=env)
        except BaseException:
            decoder.kill()
            decoder.wait()
            raise
        finally:
            decoder.stdout.close()
        try:
            flt.run(files, out=decoder.stdin)
            decoder.stdin.close()
        except BrokenPipeError:
            pass            # a tool ended early: its exit status and message say why
        except BaseException as e:
            failure = e
            decoder.kill()
            applier.kill()
        finally:
            try:
                decoder.stdin.close()
            except (OSError, ValueError):
                pass
        rc2 = applier.wait()
        if rc2 != 0:
            decoder.kill()
        rc1 = decoder.wait()
        err1.seek(0)
        err2.seek(0)
        e1, e2 = err1.read().strip(), err2.read().strip()
    finally:
        err1.close()
        err2.close()
    if failure is not None:
        raise failure
    if rc2 != 0:
        raise RestoreFailed('Replaying the binary log failed in %s: %s'
                            % (os.path.basename(client_argv[0]), e2[-2000:] or 'exit %d' % rc2), LEFT_UNCHANGED)
    if rc1 != 0:
        raise RestoreFailed('Decoding the binary log failed in %s: %s'
                            % (os.path.basename(argv[0]), e1[-2000:] or 'exit %d' % rc1), LEFT_UNCHANGED)
