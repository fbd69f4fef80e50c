"""common/deps.py loads PyMySQL without cryptography (about 20 ms of every MySQL command) and
loads it when a login needs RSA: sha2_rsa_encrypt (sha256_password / caching_sha2_password
without TLS) must still encrypt the password so that the server's private key decrypts it.
Run in a fresh interpreter: this one may have loaded cryptography already."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import subprocess
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *['..'] * 5))
CHILD = r'''
import json, sys
from plugins.module_utils.common.deps import require
pymysql = require('pymysql')
loaded_with_pymysql = 'cryptography' in sys.modules
salt, pem = bytes.fromhex(sys.argv[1]), sys.argv[2].encode('ascii')
encrypted = pymysql._auth.sha2_rsa_encrypt(b'secret pw', salt, pem)
print(json.dumps({'loaded_with_pymysql': loaded_with_pymysql, 'loaded_after': 'cryptography' in sys.modules,
                  'encrypted': encrypted.hex(), 'again': pymysql._auth.sha2_rsa_encrypt(b'x', salt, pem) != b''}))
'''


def test_pymysql_loads_without_cryptography_and_rsa_logins_still_work():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode('ascii')
    salt = bytes(range(1, 21))
    out = subprocess.run([sys.executable, '-c', CHILD, salt.hex(), pem], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE).stdout
    got = json.loads(out.decode('utf-8'))
    assert got['loaded_with_pymysql'] is False and got['loaded_after'] is True and got['again'] is True
    message = key.decrypt(bytes.fromhex(got['encrypted']),
                          padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
    assert message == bytes(c ^ salt[i % len(salt)] for i, c in enumerate(b'secret pw\0'))
