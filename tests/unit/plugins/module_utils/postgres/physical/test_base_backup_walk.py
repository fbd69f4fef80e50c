"""What the base-backup walk archives from a data directory (no server needed).

A hand-made data directory holds one instance of every kind of file PostgreSQL's
BASE_BACKUP leaves out, next to files it keeps; the tar written by BaseBackup.base_tar
must hold exactly the kept ones, pg_control last. Also: files that shrink or grow
while read keep the size recorded in their tar header.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import io
import os
import tarfile

from plugins.module_utils.postgres.physical.base_backup import BaseBackup, _PaddedFile

KEPT_FILES = ['PG_VERSION', 'postgresql.conf', 'base/5/1234_init', 'base/5/5678', 'base/5/5678_fsm',
              'base/5/5678.1', 'base/5/5678_vm', 'global/1262', 'log/postgresql.log',
              'pg_xact/0000', 'pg_logical/replorigin_checkpoint', 'global/pg_control']
LEFT_OUT = ['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map', 'backup_manifest',
            'current_logfiles', 'postgresql.auto.conf.tmp', 'pg_wal/000000010000000000000001',
            'pg_wal/archive_status/000000010000000000000001.done', 'base/5/1234', 'base/5/1234_fsm',
            'base/5/1234.1', 'base/5/t3_999', 'base/5/t3_999_fsm', 'base/5/pg_internal.init',
            'global/pg_internal.init.1234', 'base/pgsql_tmp/pgsql_tmp123.0', 'base/5/pgsql_tmp77',
            'pg_stat_tmp/global.stat', 'pg_replslot/slot/state', 'pg_dynshmem/mmap.1', 'pg_notify/0000',
            'pg_serial/0000', 'pg_snapshots/0000-1', 'pg_subtrans/0000', 'pg_tblspc/16400/PG_15_1/x']
KEPT_DIRS = ['base', 'base/5', 'global', 'log', 'pg_wal', 'pg_wal/archive_status', 'pg_stat_tmp',
             'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans',
             'pg_tblspc', 'pg_xact', 'pg_logical']


def _write(root, rel, data=b'data'):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def test_walk_keeps_and_leaves_out_what_postgresql_does(tmp_path):
    data = str(tmp_path / 'data')
    for rel in KEPT_FILES + LEFT_OUT:
        _write(data, rel)
    os.makedirs(os.path.join(data, 'pg_tblspc'), exist_ok=True)
    os.rename(os.path.join(data, 'pg_tblspc', '16400'), str(tmp_path / 'ts'))
    os.symlink(str(tmp_path / 'ts'), os.path.join(data, 'pg_tblspc', '16400'))
    os.symlink('/etc/hostname', os.path.join(data, 'stray-link'))
    backup = BaseBackup({'jobs': 1}, None, None, 'x', 'none', None, None,
                        {'data_dir': data, 'tablespace_dir': 'PG_15_1'}, 'fast', 600)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w|') as tar:
        walker = backup.base_tar(tar)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode='r|') as tar:
        members = [(m.name, m.type) for m in tar]
    names = [n for n, t in members]
    files = sorted(n for n, t in members if t == tarfile.REGTYPE)
    dirs = sorted(n for n, t in members if t == tarfile.DIRTYPE)
    assert files == sorted(KEPT_FILES)
    assert dirs == sorted(KEPT_DIRS)
    assert names[-1] == 'global/pg_control'
    assert len(names) == len(set(names))
    assert walker.skipped == ['stray-link']


def test_padded_file_keeps_the_header_size():
    shrunk = _PaddedFile(io.BytesIO(b'abc'), 8)
    assert shrunk.read(5) == b'abc\0\0' and shrunk.read(5) == b'\0\0\0' and shrunk.padded
    grown = _PaddedFile(io.BytesIO(b'abcdefgh'), 4)
    assert grown.read(16) == b'abcd' and grown.read(16) == b'' and not grown.padded
