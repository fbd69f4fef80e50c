"""Stream stages: compression round trips, hashing, verification failures."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import io
import hashlib
import os

import pytest

from plugins.module_utils.common.errors import BadInput, IntegrityError
from plugins.module_utils.storage.local import LocalRepository
from plugins.module_utils.stream.compress import check_options
from plugins.module_utils.stream.pipeline import StoredFileWriter, open_stored_reader, verify_stored_file

PAYLOAD = b''.join(b'%d\trow number %d\t\\N\n' % (i, i * 7) for i in range(200000))


@pytest.mark.parametrize('algorithm', ['zstd', 'gzip', 'none'])
def test_round_trip_and_manifest_fields(tmp_path, algorithm):
    repo = LocalRepository(str(tmp_path))
    algorithm, level = check_options(algorithm, None)
    w = StoredFileWriter(repo, 'b/data/1.copy', algorithm, level)
    for i in range(0, len(PAYLOAD), 777):          # many small writes, as COPY does
        w.write(PAYLOAD[i:i + 777])
    entry = w.commit()
    stored = (tmp_path / 'b' / 'data' / '1.copy').read_bytes()
    assert entry['raw_bytes'] == len(PAYLOAD)
    assert entry['stored_bytes'] == len(stored)
    assert entry['sha256'] == hashlib.sha256(stored).hexdigest()
    if algorithm != 'none':
        assert len(stored) < len(PAYLOAD) / 3
    r = open_stored_reader(repo, 'b/data/1.copy', algorithm, entry['sha256'], entry['stored_bytes'])
    out = io.BytesIO()
    while True:
        chunk = r.read(65536)
        if not chunk:
            break
        out.write(chunk)
    assert out.getvalue() == PAYLOAD


def _stored(tmp_path, algorithm='zstd'):
    repo = LocalRepository(str(tmp_path))
    w = StoredFileWriter(repo, 'f.zst', algorithm, 3 if algorithm == 'zstd' else None)
    w.write(PAYLOAD)
    return repo, w.commit()


def _read_all(repo, entry, algorithm='zstd'):
    r = open_stored_reader(repo, entry['path'], algorithm, entry['sha256'], entry['stored_bytes'])
    while r.read(65536):
        pass


def test_flipped_byte_is_detected(tmp_path):
    repo, entry = _stored(tmp_path)
    p = tmp_path / 'f.zst'
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match='f.zst'):
        _read_all(repo, entry)
    with pytest.raises(IntegrityError, match='SHA-256'):
        verify_stored_file(repo, 'f.zst', entry['sha256'], entry['stored_bytes'])


def test_truncated_file_is_detected(tmp_path):
    repo, entry = _stored(tmp_path, 'none')
    p = tmp_path / 'f.zst'
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(IntegrityError, match='truncated'):
        _read_all(repo, entry, 'none')


def test_abort_leaves_nothing(tmp_path):
    repo = LocalRepository(str(tmp_path))
    w = StoredFileWriter(repo, 'x/y.zst', 'zstd', 3)
    w.write(b'partial')
    w.abort()
    assert os.listdir(tmp_path / 'x') == []


def test_bad_compression_options():
    with pytest.raises(BadInput, match='compression must be one of'):
        check_options('lz5', None)
    with pytest.raises(BadInput, match='between 1 and 9'):
        check_options('gzip', 12)
    with pytest.raises(BadInput, match='no meaning'):
        check_options('none', 3)
