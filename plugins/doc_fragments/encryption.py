# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared documentation of the encryption key options."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  encryption_key_file:
    description:
      - Path of a file on the host that runs the module holding the key-encryption key (KEK)
        as 32 raw bytes, 64 hexadecimal digits or base64 of 32 bytes
        (for example made with C(openssl rand -hex 32)).
      - The file must not be accessible by group or others (mode C(0600) or stricter).
      - When a backup is encrypted, each file is encrypted with AES-256-GCM in 64 KiB chunks under a random
        data key of its own; the manifest stores that data key only wrapped by the KEK, never a key.
      - At most one of O(encryption_key_file), O(encryption_key_env) and O(encryption_passphrase) may be set.
        With none of them backups are not encrypted.
      - See C(docs/encryption.md) of the collection for the format and for key rotation.
    type: path
  encryption_key_env:
    description:
      - Name of an environment variable, on the host that runs the module, holding the key-encryption key
        as 64 hexadecimal digits or base64 of 32 bytes. Meant for a variable that is already in the
        environment the module runs in (for example a connection user's environment, or the host CLI
        under a service manager).
      - The module never logs or returns the value. Note that Ansible puts variables set with the task's
        C(environment) keyword on the module's command line, where C(-vvv) output and process lists show
        them; to pass a key from Ansible Vault prefer O(encryption_key_file) or O(encryption_passphrase).
    type: str
  encryption_passphrase:
    description:
      - Passphrase (at least 8 characters) from which the key-encryption key is derived with Argon2id
        (when the installed C(cryptography) has it, version 44 or newer) or else scrypt, with a random salt.
        The function, its parameters and the salt are stored in the manifest.
      - Never logged or returned.
    type: str
requirements:
  - cryptography, for encrypted backups
'''
