"""Streaming encryption (stream/encrypt.py) and keys (format/keys.py), without servers.

Round trips of many sizes, and every way a stored file can be damaged or
rearranged must end in IntegrityError naming the file: flipped bytes in
header, body and tag, truncation at and inside chunk boundaries, reordered,
duplicated and dropped chunks, appended bytes, the wrong key. Key sources,
wrapping, fingerprints and the manifest MAC are checked here too.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import base64
import binascii
import hashlib
import io
import json
import os

import pytest

from plugins.module_utils.format import keys
from plugins.module_utils.common.errors import BadInput, IntegrityError, WrongKey
from plugins.module_utils.storage.local import LocalRepository
from plugins.module_utils.stream.encrypt import (
    CHUNK_SIZE, HEADER_SIZE, MAGIC, TAG_SIZE, DecryptingReader, EncryptingWriter)
from plugins.module_utils.stream.pipeline import StoredFileWriter, open_stored_reader

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
FULL = CHUNK_SIZE + TAG_SIZE
LABEL = 'srv/logical/db/20250101T000000Z/data/0001.copy.zst.enc'


def encrypt(data, key=KEY, piece=None):
    sink = io.BytesIO()
    w = EncryptingWriter(sink, key)
    if piece:
        for i in range(0, len(data), piece):
            w.write(data[i:i + piece])
    else:
        w.write(data)
    w.close()
    return sink.getvalue()


def decrypt(blob, key=KEY, read_size=-1):
    r = DecryptingReader(io.BytesIO(blob), key, LABEL)
    if read_size < 0:
        return r.read()
    out = []
    while True:
        part = r.read(read_size)
        if not part:
            return b''.join(out)
        out.append(part)


def payload(n):
    # not all-random: compressible and with recognisable content at every offset
    seed = hashlib.sha256(b'%d' % n).digest()
    return (seed * (n // 32 + 1))[:n] if n < 4096 else os.urandom(n // 2) + b'row\t' * (n // 8) + \
        os.urandom(n - n // 2 - 4 * (n // 8))


def chunks_of(blob):
    """(header, [chunk ciphertexts]) of an encrypted blob."""
    body = blob[HEADER_SIZE:]
    return blob[:HEADER_SIZE], [body[i:i + FULL] for i in range(0, len(body), FULL)]


def assert_integrity_error(blob, key=KEY):
    with pytest.raises(IntegrityError) as e:
        decrypt(blob, key)
    assert LABEL in str(e.value)
    return str(e.value)


SIZES = [0, 1, 15, 16, 17, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE,
         3 * CHUNK_SIZE - 1, 5 * 1024 * 1024 + 3]


@pytest.mark.parametrize('size', SIZES)
def test_round_trip_sizes(size):
    data = payload(size)
    blob = encrypt(data)
    chunks = max(1, -(-size // CHUNK_SIZE))
    assert len(blob) == HEADER_SIZE + size + chunks * TAG_SIZE
    assert blob.startswith(MAGIC)
    assert decrypt(blob) == data
    assert decrypt(blob, read_size=1000) == data


@pytest.mark.parametrize('piece', [1, 7, 4096, CHUNK_SIZE, CHUNK_SIZE + 3, 1 << 20])
def test_round_trip_with_odd_writes(piece):
    data = payload(3 * CHUNK_SIZE + 1234)
    if piece == 1:
        data = data[:CHUNK_SIZE + 50]     # one byte at a time is slow in Python
    assert decrypt(encrypt(data, piece=piece), read_size=777) == data


def test_same_plaintext_encrypts_differently():
    data = payload(100000)
    a, b = encrypt(data), encrypt(data)
    assert a != b
    assert a[:HEADER_SIZE] != b[:HEADER_SIZE]      # salt and nonce prefix are random
    assert decrypt(a) == decrypt(b) == data


def test_plaintext_is_not_in_the_ciphertext():
    marker = b'SECRET-MARKER-7f3a9c'
    blob = encrypt(marker * 10000)
    assert marker not in blob
    assert marker[:8] not in blob


@pytest.mark.parametrize('where', ['magic', 'version', 'algorithm', 'chunk_size', 'salt', 'prefix',
                                   'body_first', 'body_middle', 'tag_first', 'tag_last_chunk'])
def test_flipped_byte_is_detected(where):
    blob = bytearray(encrypt(payload(3 * CHUNK_SIZE + 100)))
    offsets = {
        'magic': 2, 'version': 8, 'algorithm': 9, 'chunk_size': 12, 'salt': 20, 'prefix': 33,
        'body_first': HEADER_SIZE + 5, 'body_middle': HEADER_SIZE + FULL + CHUNK_SIZE // 2,
        'tag_first': HEADER_SIZE + CHUNK_SIZE + 3, 'tag_last_chunk': len(blob) - 1,
    }
    blob[offsets[where]] ^= 0x01
    assert_integrity_error(bytes(blob))


def test_flipped_byte_in_an_empty_stream():
    blob = bytearray(encrypt(b''))
    assert len(blob) == HEADER_SIZE + TAG_SIZE
    blob[-3] ^= 0x80
    assert_integrity_error(bytes(blob))


@pytest.mark.parametrize('keep_chunks', [0, 1, 2, 3])
def test_truncation_at_a_chunk_boundary(keep_chunks):
    blob = encrypt(payload(4 * CHUNK_SIZE + 10))      # 5 chunks
    cut = blob[:HEADER_SIZE + keep_chunks * FULL]
    msg = assert_integrity_error(cut)
    assert 'truncated' in msg


def test_truncation_of_an_exact_multiple_at_the_boundary():
    # 2 full chunks, the second is the last one: dropping it leaves a full non-last chunk
    blob = encrypt(payload(2 * CHUNK_SIZE))
    assert len(blob) == HEADER_SIZE + 2 * FULL
    assert_integrity_error(blob[:HEADER_SIZE + FULL])


@pytest.mark.parametrize('cut', [1, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 10,
                                 HEADER_SIZE + FULL + 100, -1, -TAG_SIZE, -TAG_SIZE - 1])
def test_truncation_mid_chunk_or_header(cut):
    blob = encrypt(payload(2 * CHUNK_SIZE + 500))
    assert_integrity_error(blob[:cut])


def test_reordered_chunks():
    header, chunks = chunks_of(encrypt(payload(3 * CHUNK_SIZE + 100)))
    assert len(chunks) == 4
    assert_integrity_error(header + chunks[1] + chunks[0] + chunks[2] + chunks[3])


def test_duplicated_chunk():
    header, chunks = chunks_of(encrypt(payload(3 * CHUNK_SIZE + 100)))
    assert_integrity_error(header + chunks[0] + chunks[0] + chunks[1] + chunks[2] + chunks[3])


def test_dropped_middle_chunk():
    header, chunks = chunks_of(encrypt(payload(3 * CHUNK_SIZE + 100)))
    assert_integrity_error(header + chunks[0] + chunks[2] + chunks[3])


def test_chunk_moved_from_another_file_under_the_same_key():
    data = payload(2 * CHUNK_SIZE + 5)
    h1, c1 = chunks_of(encrypt(data))
    dummy, c2 = chunks_of(encrypt(data))
    assert_integrity_error(h1 + c2[0] + c1[1] + c1[2])


@pytest.mark.parametrize('extra', [b'\x00', b'garbage', b'x' * FULL])
def test_appended_bytes(extra):
    blob = encrypt(payload(CHUNK_SIZE + 100))
    msg = assert_integrity_error(blob + extra)
    assert 'appended' in msg or 'follows' in msg or 'corrupted' in msg


def test_appended_copy_of_the_last_chunk():
    header, chunks = chunks_of(encrypt(payload(CHUNK_SIZE + 100)))
    assert_integrity_error(header + chunks[0] + chunks[1] + chunks[1])


def test_wrong_key():
    blob = encrypt(payload(1000))
    assert_integrity_error(blob, key=OTHER_KEY)


def test_not_an_encrypted_file():
    msg = assert_integrity_error(b'\x28\xb5\x2f\xfd' + b'zstd frame here' * 10)
    assert 'not a dbbackup encrypted file' in msg


def test_unsupported_version():
    blob = bytearray(encrypt(b'abc'))
    blob[8] = 9
    assert 'version 9' in assert_integrity_error(bytes(blob))


def test_writer_memory_stays_bounded():
    sink = io.BytesIO()
    w = EncryptingWriter(sink, KEY)
    block = b'y' * 100000
    for dummy in range(40):
        w.write(block)
        assert len(w._buf) <= CHUNK_SIZE
    w.close()
    assert decrypt(sink.getvalue()) == block * 40


def test_reader_returns_nothing_of_a_bad_chunk():
    header, chunks = chunks_of(encrypt(b'A' * CHUNK_SIZE + b'B' * 100))
    bad = bytearray(chunks[1])
    bad[0] ^= 1
    r = DecryptingReader(io.BytesIO(header + chunks[0] + bytes(bad)), KEY, LABEL)
    assert r.read(CHUNK_SIZE) == b'A' * CHUNK_SIZE      # the first chunk is authentic
    with pytest.raises(IntegrityError):
        r.read(10)


# --- the pipeline with encryption --------------------------------------------------

@pytest.mark.parametrize('compression,level', [('zstd', 3), ('gzip', 6), ('none', None)])
def test_pipeline_round_trip_encrypted(tmp_path, compression, level):
    repo = LocalRepository(str(tmp_path))
    data = b''.join(b'%d\tsecret value %d\n' % (i, i) for i in range(50000))
    w = StoredFileWriter(repo, 'b/f.enc', compression, level, data_key=KEY)
    for i in range(0, len(data), 999):
        w.write(data[i:i + 999])
    entry = w.commit()
    stored = (tmp_path / 'b' / 'f.enc').read_bytes()
    assert stored.startswith(MAGIC)
    assert b'secret value' not in stored
    assert entry['raw_bytes'] == len(data)
    assert entry['stored_bytes'] == len(stored)
    assert entry['sha256'] == hashlib.sha256(stored).hexdigest()
    r = open_stored_reader(repo, 'b/f.enc', compression, entry['sha256'], entry['stored_bytes'], data_key=KEY)
    assert r.read() == data
    with pytest.raises(IntegrityError):
        open_stored_reader(repo, 'b/f.enc', compression, entry['sha256'], entry['stored_bytes'],
                           data_key=OTHER_KEY).read()


def test_pipeline_abort_leaves_nothing(tmp_path):
    repo = LocalRepository(str(tmp_path))
    w = StoredFileWriter(repo, 'b/f.enc', 'zstd', 3, data_key=KEY)
    w.write(b'x' * 100000)
    w.abort()
    assert os.listdir(str(tmp_path / 'b')) == []


# --- keys -------------------------------------------------------------------------

def _key_file(tmp_path, content, mode=0o600, name='k'):
    path = str(tmp_path / name)
    with open(path, 'wb') as f:
        f.write(content)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize('form', ['raw', 'hex', 'hex_newline', 'base64', 'base64_nopad', 'urlsafe'])
def test_key_file_forms(tmp_path, form):
    key = os.urandom(32)
    content = {
        'raw': key, 'hex': binascii.hexlify(key), 'hex_newline': binascii.hexlify(key).upper() + b'\n',
        'base64': base64.b64encode(key) + b'\n', 'base64_nopad': base64.b64encode(key).rstrip(b'='),
        'urlsafe': base64.urlsafe_b64encode(key),
    }[form]
    src = keys.key_source({'encryption_key_file': _key_file(tmp_path, content)})
    assert src.kek(None) == key


@pytest.mark.parametrize('mode', [0o640, 0o604, 0o620, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path, mode):
    path = _key_file(tmp_path, binascii.hexlify(KEY), mode)
    with pytest.raises(BadInput) as e:
        keys.key_source({'encryption_key_file': path})
    msg = str(e.value)
    assert path in msg and 'chmod 600' in msg
    assert binascii.hexlify(KEY).decode() not in msg


@pytest.mark.parametrize('content', [b'', b'short', b'z' * 64, b'ab' * 31, bytes(range(256))[97:130]])   # fixed: ansible-test runs xdist workers
def test_key_file_with_no_key_is_refused(tmp_path, content):
    with pytest.raises(BadInput) as e:
        keys.key_source({'encryption_key_file': _key_file(tmp_path, content)})
    assert 'does not hold a 32-byte key' in str(e.value)


def test_key_file_missing(tmp_path):
    with pytest.raises(BadInput) as e:
        keys.key_source({'encryption_key_file': str(tmp_path / 'nope')})
    assert 'nope' in str(e.value)


def test_key_env(monkeypatch):
    monkeypatch.setenv('DBB_TEST_KEY', base64.b64encode(KEY).decode())
    assert keys.key_source({'encryption_key_env': 'DBB_TEST_KEY'}).kek(None) == KEY
    monkeypatch.setenv('DBB_TEST_KEY', 'not a key at all')
    with pytest.raises(BadInput) as e:
        keys.key_source({'encryption_key_env': 'DBB_TEST_KEY'})
    assert 'DBB_TEST_KEY' in str(e.value) and 'not a key at all' not in str(e.value)
    monkeypatch.delenv('DBB_TEST_KEY')
    with pytest.raises(BadInput) as e:
        keys.key_source({'encryption_key_env': 'DBB_TEST_KEY'})
    assert 'is not set' in str(e.value)


def test_only_one_key_source(tmp_path):
    with pytest.raises(BadInput) as e:
        keys.key_source({'encryption_key_file': _key_file(tmp_path, KEY),
                         'encryption_passphrase': 'correct horse battery'})
    assert 'only one of' in str(e.value)
    assert 'correct horse' not in str(e.value)
    assert keys.key_source({}) is None
    with pytest.raises(BadInput):
        keys.key_source({'encryption_passphrase': 'short'})


def _manifest():
    return {'format': 'dbbackup-manifest', 'format_version': 1, 'kind': 'logical', 'db_type': 'postgresql',
            'backup_id': '20250101T000000Z', 'server_name': 'srv', 'database': 'db',
            'started_at': '2025-01-01T00:00:00.000000Z', 'finished_at': '2025-01-01T00:00:01.000000Z',
            'compression': {'algorithm': 'zstd', 'level': 3}, 'encryption': None,
            'files': [{'path': 'data/0001.copy.zst.enc', 'role': 'data', 'raw_bytes': 10, 'stored_bytes': 80,
                       'sha256': 'ab' * 32, 'table': 'public.t', 'schema': 'public', 'name': 't',
                       'columns': ['a'], 'rows': 1}],
            'totals': {'files': 1, 'rows': 1}}


def _encrypted_manifest(source, data_key=KEY):
    m = _manifest()
    m['encryption'] = keys.encryption_field(source, data_key, m)
    # what is stored is JSON: the MAC must survive the round trip
    return json.loads(json.dumps(m))


def test_wrap_unwrap_and_field_contents(tmp_path):
    kek = os.urandom(32)
    src = keys.key_source({'encryption_key_file': _key_file(tmp_path, kek)})
    m = _encrypted_manifest(src)
    field = m['encryption']
    assert field['kek_id'] == keys.kek_id(kek) and len(field['kek_id']) == 16
    assert field['kdf'] is None and field['chunk_size'] == CHUNK_SIZE
    text = json.dumps(m)
    for secret in (KEY, kek):
        for form in (binascii.hexlify(secret).decode(), base64.b64encode(secret).decode()):
            assert form not in text
    assert keys.unwrap_data_key(src, m) == KEY


def test_wrong_kek_is_one_clear_error(tmp_path):
    src = keys.key_source({'encryption_key_file': _key_file(tmp_path, os.urandom(32), name='a')})
    other = keys.key_source({'encryption_key_file': _key_file(tmp_path, os.urandom(32), name='b')})
    m = _encrypted_manifest(src)
    with pytest.raises(WrongKey) as e:
        keys.unwrap_data_key(other, m)
    assert 'does not match the key' in str(e.value)
    assert not keys.key_matches(other, m) and keys.key_matches(src, m)


def test_passphrase_kdf_stored_and_reused(tmp_path):
    src = keys.key_source({'encryption_passphrase': 'correct horse battery staple'})
    m = _encrypted_manifest(src)
    kdf = m['encryption']['kdf']
    assert kdf['name'] == ('argon2id' if keys.argon2id_available() else 'scrypt')
    assert len(base64.b64decode(kdf['salt'])) == 16
    assert 'correct horse' not in json.dumps(m)
    again = keys.key_source({'encryption_passphrase': 'correct horse battery staple'})
    assert keys.unwrap_data_key(again, m) == KEY
    with pytest.raises(WrongKey):
        keys.unwrap_data_key(keys.key_source({'encryption_passphrase': 'correct horse battery stapler'}), m)
    with pytest.raises(WrongKey):
        keys.unwrap_data_key(keys.key_source({'encryption_key_file': _key_file(tmp_path, KEY)}), m)


def test_scrypt_kdf_description_is_usable():
    kdf = dict(keys.SCRYPT_PARAMS, name='scrypt', salt=base64.b64encode(b's' * 16).decode(), n=1 << 10)
    src = keys.key_source({'encryption_passphrase': 'correct horse battery staple'})
    k1 = src.kek(kdf)
    assert len(k1) == 32 and k1 == keys.key_source({'encryption_passphrase': 'correct horse battery staple'}).kek(kdf)


@pytest.mark.parametrize('field,value', [
    ('backup_id', '20250101T000001Z'), ('database', 'other'), ('server_name', 'x')])
def test_wrapped_key_is_bound_to_the_backup_identity(tmp_path, field, value):
    src = keys.key_source({'encryption_key_file': _key_file(tmp_path, os.urandom(32))})
    m = _encrypted_manifest(src)
    m[field] = value
    with pytest.raises(IntegrityError):
        keys.unwrap_data_key(src, m)


@pytest.mark.parametrize('change', ['sha256', 'rows', 'columns', 'compression', 'add_file', 'chunk_size'])
def test_manifest_mac_detects_changes(tmp_path, change):
    src = keys.key_source({'encryption_key_file': _key_file(tmp_path, os.urandom(32))})
    m = _encrypted_manifest(src)
    f = m['files'][0]
    if change == 'sha256':
        f['sha256'] = 'cd' * 32
    elif change == 'rows':
        f['rows'] = 2
    elif change == 'columns':
        f['columns'] = ['b']
    elif change == 'compression':
        m['compression'] = {'algorithm': 'none', 'level': None}
    elif change == 'add_file':
        m['files'].append(dict(f, path='data/0002.copy.zst.enc'))
    else:
        m['encryption']['chunk_size'] = 1024
    with pytest.raises(IntegrityError) as e:
        keys.unwrap_data_key(src, m)
    assert 'modified' in str(e.value)


def test_rewrap_keeps_data_key_and_mac(tmp_path):
    old = keys.key_source({'encryption_key_file': _key_file(tmp_path, os.urandom(32), name='old')})
    new = keys.key_source({'new_encryption_passphrase': 'a brand new passphrase'}, prefix='new_')
    m = _encrypted_manifest(old)
    m2 = dict(m, encryption=keys.rewrap(old, new, m))
    m2 = json.loads(json.dumps(m2))
    assert m2['encryption']['manifest_mac'] == m['encryption']['manifest_mac']
    assert m2['encryption']['kdf']['salt']
    assert m2['encryption']['key_source'] == 'encryption_passphrase'
    assert keys.unwrap_data_key(new, m2) == KEY
    with pytest.raises(WrongKey):
        keys.unwrap_data_key(old, m2)
