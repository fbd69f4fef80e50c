"""Local repository: permissions, atomic publication, path safety."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import stat

import pytest

from plugins.module_utils.common.errors import BadInput, NotFound
from plugins.module_utils.storage.local import LocalRepository


def test_modes_and_atomic_write(tmp_path):
    root = tmp_path / 'repo'
    repo = LocalRepository(str(root))
    f = repo.open_write('srv/logical/db/id/manifest.json')
    f.write(b'{}')
    # not visible under its name before commit
    assert not repo.exists('srv/logical/db/id/manifest.json')
    f.commit()
    assert repo.read_bytes('srv/logical/db/id/manifest.json') == b'{}'
    assert stat.S_IMODE(os.stat(root / 'srv' / 'logical' / 'db' / 'id' / 'manifest.json').st_mode) == 0o600
    for d in (root, root / 'srv', root / 'srv' / 'logical' / 'db' / 'id'):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert os.listdir(root / 'srv' / 'logical' / 'db' / 'id') == ['manifest.json']


def test_reserve_dir_is_exclusive(tmp_path):
    repo = LocalRepository(str(tmp_path))
    assert repo.reserve_dir('a/b') is True
    assert repo.reserve_dir('a/b') is False


def test_rejects_relative_root_and_escaping_paths(tmp_path):
    with pytest.raises(BadInput, match='absolute'):
        LocalRepository('relative/dir')
    repo = LocalRepository(str(tmp_path))
    with pytest.raises(BadInput):
        repo.open_write('../escape')


def test_missing_file_is_not_found(tmp_path):
    repo = LocalRepository(str(tmp_path))
    with pytest.raises(NotFound, match='missing'):
        repo.open_read('nope/manifest.json')


def test_unknown_aws_profile_from_the_environment_is_named(monkeypatch):
    from plugins.module_utils import api
    from plugins.module_utils.common.errors import BadInput
    monkeypatch.setenv('AWS_PROFILE', 'nosuch-profile')
    with pytest.raises(BadInput) as e:
        api.run_info({'repository': 's3://bucket/x', 's3_endpoint_url': 'http://127.0.0.1:9'})
    assert 'nosuch-profile (the AWS_PROFILE environment variable)' in str(e.value) and 'None' not in str(e.value)
