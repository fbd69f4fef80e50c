"""Manifest validation, backup ids, listing only complete backups (format.backups), max_age."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime

import pytest

from plugins.module_utils.common import times
from plugins.module_utils.format import backups
from plugins.module_utils.common.errors import BadInput, IntegrityError, NotFound
from plugins.module_utils.format.manifest import new_manifest, parse, write_manifest
from plugins.module_utils.storage.local import LocalRepository

UTC = datetime.timezone.utc


def _manifest(backup_id, started):
    m = new_manifest('logical', 'postgresql', backup_id, 'srv', 'db')
    m.update(started_at=times.isoformat(started), finished_at=times.isoformat(started),
             compression={'algorithm': 'zstd', 'level': 3},
             totals={'files': 0, 'raw_bytes': 0, 'stored_bytes': 0, 'tables': 0, 'rows': 0})
    return m


def test_ids_sort_by_time_and_suffix_on_collision(tmp_path):
    repo = LocalRepository(str(tmp_path))
    t = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a = backups.reserve_backup_id(repo, 'srv/logical/db', t)
    b = backups.reserve_backup_id(repo, 'srv/logical/db', t)
    assert a[0] == '20260102T030405Z'
    assert b[0] == '20260102T030405Z-1'


def test_only_backups_with_manifest_are_listed(tmp_path):
    repo = LocalRepository(str(tmp_path))
    base = 'srv/logical/db'
    t1 = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    t2 = t1 + datetime.timedelta(days=1)
    for t in (t1, t2):
        bid, path = backups.reserve_backup_id(repo, base, t)
        write_manifest(repo, path, _manifest(bid, t))
    backups.reserve_backup_id(repo, base, t2 + datetime.timedelta(days=1))   # incomplete: no manifest
    ids = [b[0] for b in backups.list_backups(repo, base)]
    assert ids == ['20260101T000000Z', '20260102T000000Z']
    assert backups.find_backup(repo, base, 'latest')['backup_id'] == '20260102T000000Z'
    with pytest.raises(NotFound, match='Available backups: 20260101T000000Z, 20260102T000000Z'):
        backups.find_backup(repo, base, '20250101T000000Z')
    assert backups.fresh_backup(repo, base, 3600, now=t2 + datetime.timedelta(minutes=30))['backup_id'] == ids[1]
    assert backups.fresh_backup(repo, base, 3600, now=t2 + datetime.timedelta(hours=2)) is None


def test_no_backups_is_a_clear_not_found(tmp_path):
    with pytest.raises(NotFound, match='No complete backup'):
        backups.find_backup(LocalRepository(str(tmp_path)), 'srv/logical/db', 'latest')


def test_manifest_validation():
    with pytest.raises(IntegrityError, match='not valid JSON'):
        parse(b'{oops', 'x')
    with pytest.raises(IntegrityError, match='no dbbackup manifest'):
        parse(b'{"format": "other"}', 'x')
    m = _manifest('20260101T000000Z', datetime.datetime(2026, 1, 1, tzinfo=UTC))
    m['files'].append({'path': '../../etc/passwd', 'role': 'data', 'raw_bytes': 1,
                       'stored_bytes': 1, 'sha256': 'x'})
    import json
    with pytest.raises(IntegrityError, match='files.0..path .* is not a plain relative path'):
        parse(json.dumps(m).encode(), 'x')


@pytest.mark.parametrize('value,seconds', [('90s', 90), ('30m', 1800), ('12h', 43200), ('2d', 172800),
                                           ('1w', 604800), (3600, 3600), ('45', 45)])
def test_parse_max_age(value, seconds):
    assert times.parse_max_age(value) == seconds


@pytest.mark.parametrize('value', ['soon', '-1h', '0', '1y'])
def test_parse_max_age_rejects(value):
    with pytest.raises(BadInput, match='max_age'):
        times.parse_max_age(value)


def test_unsafe_names_rejected():
    with pytest.raises(BadInput, match='path component'):
        backups.backups_path('../x', 'logical', 'db')
