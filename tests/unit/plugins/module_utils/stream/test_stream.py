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


def _frames(stored):
    """(content sizes of) the zstd frames of stored bytes, in order."""
    import zstandard
    sizes = []
    while stored:
        d = zstandard.ZstdDecompressor().decompressobj()
        sizes.append(len(d.decompress(stored)))
        stored = d.unused_data
    return sizes


def test_zstd_pieces_are_whole_frames(tmp_path):
    """Stored zstd files are frames of at least PIECE_BYTES (one-shot compression, cheaper than a stream),
    except the last; small writes are gathered, large ones compressed as they come."""
    from plugins.module_utils.stream.compress import PIECE_BYTES
    repo = LocalRepository(str(tmp_path))
    big = os.urandom(PIECE_BYTES // 2) * 5                      # 2.5 pieces, compressible
    writes = [PAYLOAD[:10], big, PAYLOAD[10:5000]] + [PAYLOAD[i:i + 999] for i in range(5000, len(PAYLOAD), 999)]
    w = StoredFileWriter(repo, 'p.zst', 'zstd', 1)
    for data in writes:
        w.write(data)
    entry = w.commit()
    stored = (tmp_path / 'p.zst').read_bytes()
    sizes = _frames(stored)
    assert len(sizes) >= 3 and sum(sizes) == entry['raw_bytes'] == sum(map(len, writes))
    assert all(n >= PIECE_BYTES for n in sizes[:-1]) and 0 < sizes[-1]
    out = io.BytesIO()
    r = open_stored_reader(repo, 'p.zst', 'zstd', entry['sha256'], entry['stored_bytes'])
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        out.write(chunk)
    assert out.getvalue() == b''.join(writes)


def test_zstd_empty_file_is_one_empty_frame(tmp_path):
    repo = LocalRepository(str(tmp_path))
    entry = StoredFileWriter(repo, 'e.zst', 'zstd', 1).commit()
    assert _frames((tmp_path / 'e.zst').read_bytes()) == [0] and entry['raw_bytes'] == 0
