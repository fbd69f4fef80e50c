"""The framed WAL object (format/archive_object.py, wal_codec.py) and the WAL page checks (wal_pages.py).

No server: synthetic segments carry the page headers PostgreSQL writes (tests/support/wal_segments.py).
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import io
import os

import pytest

from plugins.module_utils.common.errors import IntegrityError
from plugins.module_utils.format import archive_object
from plugins.module_utils.postgres.physical import wal_codec
from plugins.module_utils.postgres.physical.wal_pages import PageChecker, WalPageError
from tests.support.wal_segments import segment_bytes

MIB = 1 << 20
NAME = '000000010000000000000003'
KEY = bytes(range(32))


def encode(data, name=NAME, server='db1', compression='zstd', key=None):
    out = io.BytesIO()
    info = wal_codec.encode(io.BytesIO(data), len(data), out, server, name, compression, 1, key, 'src')
    return out.getvalue(), info


def decode(blob, name=NAME, server='db1', compression='zstd', encrypted=False, key=None):
    opened = wal_codec.open_stored(io.BytesIO(blob), 'obj')
    sink = io.BytesIO()
    expect = {'server': server, 'name': name, 'compression': compression, 'encrypted': encrypted}
    decoded = wal_codec.decode(opened, expect, None, sink.write, 'obj', lambda: key)
    return sink.getvalue(), decoded


def quick(blob, name=NAME, server='db1'):
    return wal_codec.check_stored(wal_codec.open_stored(io.BytesIO(blob), 'obj'), {'server': server, 'name': name})


@pytest.mark.parametrize('compression,key', [('zstd', None), ('gzip', KEY), ('none', None), ('zstd', KEY)])
def test_round_trip_records_sizes_and_checksums(compression, key):
    seg = segment_bytes(NAME, MIB)
    blob, info = encode(seg, compression=compression, key=key)
    assert blob.startswith(archive_object.MAGIC) and info['raw_bytes'] == MIB and info['stored_bytes'] == len(blob)
    assert b'"name":"%s"' % NAME.encode() in blob[:200]
    assert quick(blob) == 'framed'
    raw, decoded = decode(blob, compression=compression, encrypted=key is not None, key=key)
    assert raw == seg and decoded.format == 'framed' and decoded.raw_bytes == MIB
    assert decoded.sysid is not None and decoded.timelines == [1]
    assert (seg[4096:8192] in blob) is (compression == 'none' and key is None)


def test_damage_is_found_with_and_without_the_key():
    seg = segment_bytes(NAME, MIB)
    for key in (None, KEY):
        blob, dummy = encode(seg, key=key)
        mid = len(blob) // 2
        flipped = blob[:mid] + bytes([blob[mid] ^ 1]) + blob[mid + 1:]
        for bad, what in ((blob[:-1], 'checksum record is missing'), (blob[:-200], 'checksum record is missing'),
                          (flipped, 'SHA-256 does not match'), (blob + b'x', 'checksum record is missing')):
            with pytest.raises(IntegrityError, match=what):
                quick(bad)
            with pytest.raises(IntegrityError, match='Archived WAL file obj') as e:
                decode(bad, encrypted=key is not None, key=key)
            assert 'Recovery cannot use it' in str(e.value)


def test_a_copy_under_another_name_or_server_is_refused():
    other = '000000010000000000000004'
    for key in (None, KEY):
        blob, dummy = encode(segment_bytes(other, MIB), name=other, key=key)
        with pytest.raises(IntegrityError, match="is file '%s', not '%s': it was copied or renamed" % (other, NAME)):
            quick(blob)
        with pytest.raises(IntegrityError, match='copied or renamed'):
            decode(blob, encrypted=key is not None, key=key)
        with pytest.raises(IntegrityError, match="server 'db1', not 'db2'"):
            decode(blob, name=other, server='db2', encrypted=key is not None, key=key)


def test_the_encryption_authenticates_the_header():
    """Rewriting the header to name another file (checksums recomputed) fails authentication."""
    other = '000000010000000000000004'
    blob, dummy = encode(segment_bytes(other, MIB), name=other, key=KEY)
    forged_header = archive_object.build_header(wal_codec.identity('db1', NAME, 'zstd', True))
    old_len = len(archive_object.build_header(wal_codec.identity('db1', other, 'zstd', True)))
    payload = blob[old_len:-archive_object.TRAILER_SIZE]
    import hashlib
    import struct
    trailer = struct.pack('>8sQQ32s', archive_object.END_MAGIC, MIB, len(payload),
                          hashlib.sha256(forged_header + payload).digest())
    forged = forged_header + payload + trailer
    assert quick(forged) == 'framed'            # without the key the forgery is self-consistent ...
    with pytest.raises(IntegrityError, match='cannot be decrypted: chunk 0 failed authentication'):
        decode(forged, encrypted=True, key=KEY)  # ... the key refuses it


def _resealed(header, payload, raw_bytes):
    """header + payload with a version 2 trailer computed for them (what anyone able to write could do)."""
    import hashlib
    import struct
    return header + payload + struct.pack('>8sQQ32s', archive_object.END_MAGIC, raw_bytes, len(payload),
                                          hashlib.sha256(header + payload).digest())


def test_the_codec_checks_what_the_stored_checksum_no_longer_can():
    """Version 2 has no raw SHA-256: a payload changed and its record recomputed passes the quick check,
    and decoding refuses it (zstd frame checksums; the encryption with a key)."""
    seg = segment_bytes(NAME, MIB)
    blob, info = encode(seg)
    header = archive_object.build_header(wal_codec.identity('db1', NAME, 'zstd', False))
    payload = bytearray(blob[len(header):-archive_object.TRAILER_SIZE])
    import zstandard
    sizes, rest = [], bytes(payload)
    while rest:                 # one frame per piece read: 1 MiB is several frames, each with its checksum
        d = zstandard.ZstdDecompressor().decompressobj()
        sizes.append(len(d.decompress(rest)))
        rest = d.unused_data
    assert sizes == [wal_codec.READ_SIZE] * (MIB // wal_codec.READ_SIZE) and info['raw_bytes'] == MIB
    assert _resealed(header, bytes(payload), MIB) == blob
    for at in (len(payload) // 3, len(payload) - 10):
        damaged = bytearray(payload)
        damaged[at] ^= 0x40
        forged = _resealed(header, bytes(damaged), MIB)
        assert quick(forged) == 'framed'
        with pytest.raises(IntegrityError, match='Archived WAL file obj is damaged'):
            decode(forged)


def test_version_1_objects_are_read_and_their_raw_sha256_checked():
    """Objects written by 1.0.0: version 1 header, one zstd frame, trailer with the raw SHA-256."""
    import hashlib
    import struct
    import zstandard
    seg = segment_bytes(NAME, MIB)
    body = archive_object.build_header(wal_codec.identity('db1', NAME, 'zstd', False))[struct.calcsize('>8sBH'):]
    header = struct.pack('>8sBH', archive_object.MAGIC, 1, len(body)) + body
    payload = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(seg)

    def v1(raw_sha):
        return header + payload + struct.pack('>8sQQ32s32s', archive_object.END_MAGIC, MIB, len(payload), raw_sha,
                                              hashlib.sha256(header + payload).digest())
    good = v1(hashlib.sha256(seg).digest())
    assert quick(good) == 'framed'
    raw, decoded = decode(good)
    assert raw == seg and decoded.raw_sha256 == hashlib.sha256(seg).hexdigest()
    with pytest.raises(IntegrityError, match='does not match the SHA-256 in its checksum record'):
        decode(v1(b'\1' * 32))
    newer = struct.pack('>8sBH', archive_object.MAGIC, 3, len(body)) + body + payload
    with pytest.raises(IntegrityError, match='format version 3 is not supported by this engine .it reads 1 and 2.'):
        quick(newer)


def test_push_refuses_a_file_that_is_not_the_named_segment():
    with pytest.raises(IntegrityError, match='is not WAL file %s: the page at offset 0 belongs to' % NAME):
        encode(segment_bytes('000000010000000000000004', MIB))
    with pytest.raises(IntegrityError, match='is not WAL file'):
        encode(os.urandom(MIB))


def test_legacy_objects_are_read_and_page_checked():
    """Objects pushed before the framed format: a bare zstd frame (content size, checksum)."""
    import zstandard
    seg = segment_bytes(NAME, MIB)
    legacy = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(seg)
    assert quick(legacy) == 'legacy'
    raw, decoded = decode(legacy)
    assert raw == seg and decoded.format == 'legacy'
    with pytest.raises(IntegrityError, match="another segment's content"):
        decode(zstandard.ZstdCompressor(level=1).compress(segment_bytes('000000010000000000000009', MIB)))
    with pytest.raises(IntegrityError, match='compressed stream is truncated'):
        decode(legacy[:-10])


def _pages(name, data, chunk=5000):
    c = PageChecker(name)
    for i in range(0, len(data), chunk):
        c.feed(data[i:i + chunk])
    c.finish(len(data))
    return c


def test_page_checks():
    ok = segment_bytes(NAME, MIB, zero_from=30 * 8192)        # after pg_switch_wal: zeroed pages
    assert _pages(NAME, ok).timelines == {1}
    assert _pages('000000020000000000000003', segment_bytes(NAME, MIB)).timelines == {1}   # older tli: fine
    with pytest.raises(WalPageError, match='written on timeline 2, after the file.s timeline 1'):
        _pages(NAME, segment_bytes(NAME, MIB, page_tli=2))
    bad = bytearray(ok)
    bad[40 * 8192:40 * 8192 + 2] = b'\x10\xd1'
    with pytest.raises(WalPageError, match='follows empty pages'):
        _pages(NAME, bytes(bad))
    with pytest.raises(WalPageError, match='has 524288 bytes, its first page says segments have 1048576'):
        _pages(NAME, ok[:MIB // 2])
    with pytest.raises(WalPageError, match='first page is empty'):
        _pages(NAME, b'\0' * MIB)
    # a .partial file: its first page only (the rest may hold a recycled file's old pages)
    partial = bytearray(segment_bytes(NAME, MIB))
    partial[8192 * 10:8192 * 11] = segment_bytes('000000010000000000000001', MIB)[8192 * 10:8192 * 11]
    _pages(NAME + '.partial', bytes(partial))
    with pytest.raises(WalPageError, match="another segment's content"):
        _pages(NAME, bytes(partial))
