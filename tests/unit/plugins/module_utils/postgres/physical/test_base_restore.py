"""extract_base_backup against hostile or damaged stored tars (no server needed).

Each case stores a hand-made tar and backup_label in a local repository through the
real write stages, then extracts: unsafe names, links and devices must fail with
IntegrityError and leave nothing behind; a good tar must extract.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import io
import os
import tarfile

import pytest

from plugins.module_utils.common.errors import BadInput, IntegrityError, RestoreFailed
from plugins.module_utils.postgres.physical.base_restore import (
    extract_base_backup, format_tablespace_map, parse_tablespace_map)
from plugins.module_utils.storage.factory import open_repository
from plugins.module_utils.stream.pipeline import StoredFileWriter

LABEL = 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIMELINE: 1\n'


def _member(tar, name, data=b'', kind=tarfile.REGTYPE, linkname=''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o700 if kind == tarfile.DIRTYPE else 0o600
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _store(repo, relpath, data):
    w = StoredFileWriter(repo, relpath, 'zstd', 3)
    w.write(data)
    return w.commit()


def _tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for m in members:
            _member(tar, *m)
    return buf.getvalue()


def _backup(tmp_path, members, tablespaces=None):
    """A stored base backup; tablespaces: {oid: location} (tablespace_map and a tar each)."""
    repo = open_repository({'repository': str(tmp_path / 'repo')})
    path = 'srv/base/20260101T000000Z'
    stored = [('base.tar.zst', 'base', _tar(members)), ('backup_label.zst', 'backup_label', LABEL.encode())]
    if tablespaces:
        stored.append(('tablespace_map.zst', 'tablespace_map',
                       format_tablespace_map(sorted(tablespaces.items())).encode()))
        stored.extend(('tablespaces/%d.tar.zst' % oid, 'tablespace', _tar([('PG_15_202209061/1/2', b'z')]))
                      for oid in tablespaces)
    files = []
    for name, role, data in stored:
        entry = _store(repo, path + '/' + name, data)
        entry.update(path=name, role=role)
        if role == 'tablespace':
            entry['oid'] = int(name.split('/')[1].split('.')[0])
        files.append(entry)
    manifest = {'kind': 'base', 'backup_id': '20260101T000000Z', 'compression': {'algorithm': 'zstd', 'level': 3},
                'files': files, 'encryption': None, 'tablespace_dir': 'PG_15_202209061'}
    return repo, path, manifest


GOOD = [('PG_VERSION', b'15\n'), ('global', b'', tarfile.DIRTYPE), ('global/pg_control', b'x' * 8192),
        ('base/1/1259', b'y' * 100)]


def test_good_tar_extracts(tmp_path):
    repo, path, manifest = _backup(tmp_path, GOOD)
    data = str(tmp_path / 'data')
    out = extract_base_backup(repo, path, manifest, data)
    assert out['files'] == 4       # 3 members + backup_label
    with open(os.path.join(data, 'backup_label')) as f:
        assert f.read() == LABEL
    assert os.path.isdir(os.path.join(data, 'pg_wal', 'archive_status'))
    assert os.stat(data).st_mode & 0o777 == 0o700


@pytest.mark.parametrize('bad, match', [
    (('../escape', b'x'), 'unsafe member name'),
    (('/etc/evil', b'x'), 'unsafe member name'),
    (('base/../../escape', b'x'), 'unsafe member name'),
    (('pg_tblspc/16400', b'', tarfile.SYMTYPE, '/etc'), 'a link'),
    (('global/hard', b'', tarfile.LNKTYPE, 'PG_VERSION'), 'a link'),
    (('dev', b'', tarfile.CHRTYPE), 'special file'),
    (('PG_VERSION', b'again'), 'File exists|failed'),
])
def test_hostile_members_fail_and_leave_nothing(tmp_path, bad, match):
    repo, path, manifest = _backup(tmp_path, GOOD + [bad])
    data = str(tmp_path / 'new' / 'data')
    with pytest.raises((IntegrityError, RestoreFailed), match=match):
        extract_base_backup(repo, path, manifest, data)
    assert not os.path.exists(str(tmp_path / 'new'))
    assert not os.path.exists(str(tmp_path / 'escape'))


def test_refusals_before_anything(tmp_path):
    repo, path, manifest = _backup(tmp_path, GOOD)
    with pytest.raises(BadInput, match='absolute path'):
        extract_base_backup(repo, path, manifest, 'relative/data')
    with pytest.raises(BadInput, match='the backup does not have: 16400'):
        extract_base_backup(repo, path, manifest, str(tmp_path / 'd'), tablespace_mapping={'16400': '/x'})
    with pytest.raises(BadInput, match='not a user'):      # the suite runs as root
        extract_base_backup(repo, path, manifest, str(tmp_path / 'd'), owner='no-such-user-dbb')
    assert not os.path.exists(str(tmp_path / 'd'))


def test_tablespace_map_escapes_round_trip():
    pairs = [(16400, '/srv/ts one'), (16401, '/srv/odd\\name\nwith newline')]
    text = format_tablespace_map(pairs)
    assert text.count('\n') == 3          # the escaped newline stays inside its line
    assert parse_tablespace_map(text) == pairs


def test_unencrypted_tablespace_map_is_not_trusted(tmp_path):
    """An edited tablespace_map of an unencrypted backup would extract files into any existing
    directory: every tablespace must be mapped (the same location restores it in place)."""
    victim = tmp_path / 'etc'
    victim.mkdir()
    repo, path, manifest = _backup(tmp_path, GOOD, tablespaces={16400: str(victim)})
    data = str(tmp_path / 'data')
    with pytest.raises(BadInput, match='not encrypted.*16400 .*tablespace_mapping') as err:
        extract_base_backup(repo, path, manifest, data)
    assert '"%s": "%s"' % (victim, victim) in str(err.value)
    assert os.listdir(str(victim)) == [] and not os.path.exists(data)
    out = extract_base_backup(repo, path, manifest, data, tablespace_mapping={16400: str(tmp_path / 'ts')})
    assert out['tablespaces'] == [{'oid': 16400, 'location': str(tmp_path / 'ts'), 'original_location': str(victim)}]
    assert os.listdir(str(victim)) == []


def test_missing_parents_are_private_under_any_umask(tmp_path):
    repo, path, manifest = _backup(tmp_path, GOOD, tablespaces={16400: '/nowhere'})
    old = os.umask(0)
    try:
        extract_base_backup(repo, path, manifest, str(tmp_path / 'a' / 'b' / 'data'),
                            tablespace_mapping={'16400': str(tmp_path / 'c' / 'd' / 'ts')})
    finally:
        os.umask(old)
    for d in ('a', 'a/b', 'a/b/data', 'c', 'c/d', 'c/d/ts'):
        assert os.stat(str(tmp_path / d)).st_mode & 0o777 == 0o700, d
