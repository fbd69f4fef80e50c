#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: rotate the key-encryption key of encrypted backups (thin wrapper over api.run_rekey)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_rekey
short_description: Rotate the encryption key of dbbackup backups without rewriting their data
version_added: 1.0.0
description:
  - Every encrypted backup has a random data key of its own; its manifest stores that data key wrapped by a
    key-encryption key (KEK). This module unwraps the data key of every complete encrypted backup of
    O(database) (or of every database of O(server_name) when O(database) is not set) with the current key
    (O(encryption_key_file), O(encryption_key_env) or O(encryption_passphrase)) and wraps it again with
    the new key (O(new_encryption_key_file), O(new_encryption_key_env) or O(new_encryption_passphrase)).
  - Only each backup's C(manifest.json) is rewritten, atomically; data files are not read or changed,
    so a rotation takes seconds whatever the size of the backups.
  - All backups are checked first; when the current key does not open one of them, the task fails and
    no manifest is changed.
  - The module is idempotent. Backups whose data key is already wrapped with the new key are left as they
    are, so an interrupted rotation is completed by running the task again. Unencrypted backups are listed
    and left alone.
  - Without O(database), the server's archive keys are rewrapped too - the PostgreSQL WAL archive's
    C(wal-key.json) (RV(wal_key)) and the MySQL/MariaDB binary-log archive's C(binlog-key.json) (RV(binlog_key)) -
    archived files are not changed.
  - After the rotation, restores need the new key; the old key no longer opens the rewrapped backups
    (but keep it until copies of the old manifests, in other repositories or snapshots, are gone).
author:
  - dbbackup developers (@dbbackup)
extends_documentation_fragment:
  - dbbackup.dbbackup.connection
  - dbbackup.dbbackup.repository
  - dbbackup.dbbackup.encryption
  - dbbackup.dbbackup.group
  - dbbackup.dbbackup.attributes
options:
  database:
    description:
      - Name of the database whose backups are rewrapped.
      - When not set, the backups of every database of O(server_name) in O(repository) are rewrapped.
      - The module never connects to a database server; the connection options are accepted so that
        O(login_host) and O(login_port) give the default of O(server_name) as for the other modules,
        and so that the action group's C(module_defaults) apply.
    type: str
  new_encryption_key_file:
    description:
      - Path of a file holding the new key-encryption key, in the forms O(encryption_key_file) accepts;
        it must not be accessible by group or others.
      - Exactly one of O(new_encryption_key_file), O(new_encryption_key_env) and O(new_encryption_passphrase)
        is required.
    type: path
  new_encryption_key_env:
    description:
      - Name of an environment variable holding the new key-encryption key as 64 hexadecimal digits or base64.
    type: str
  new_encryption_passphrase:
    description:
      - New passphrase (at least 8 characters); the key-encryption key is derived from it with Argon2id or
        scrypt and a new random salt. Never logged or returned.
    type: str
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode every backup is opened with the current key and RV(backups) lists what would be
        rewrapped, but no manifest is written.
requirements:
  - cryptography
seealso:
  - module: dbbackup.dbbackup.dbbackup_backup
  - module: dbbackup.dbbackup.dbbackup_restore
notes:
  - Switch the backup jobs to the new key before (or right after) the rotation; a backup that is running
    with the old key while the rotation runs keeps the old key, and running the rotation again fixes that.
  - Options and the key format are also documented in C(docs/encryption.md) of the collection.
'''

EXAMPLES = r'''
- name: Rotate the key of every backup of db1, from one key file to another
  dbbackup.dbbackup.dbbackup_rekey:
    repository: /var/backups/dbbackup
    server_name: db1
    encryption_key_file: /etc/dbbackup/backup.key.old
    new_encryption_key_file: /etc/dbbackup/backup.key
  register: rekey

- name: Show what was rewrapped
  ansible.builtin.debug:
    msg: "{{ rekey.rekeyed }} rewrapped, {{ rekey.unchanged }} already on the new key"

- name: See what a move from a passphrase to a key file would change, change nothing
  dbbackup.dbbackup.dbbackup_rekey:
    repository: /var/backups/dbbackup
    server_name: db1
    database: orders
    encryption_passphrase: "{{ vault_old_backup_passphrase }}"
    new_encryption_key_file: /etc/dbbackup/backup.key
  check_mode: true
'''

RETURN = r'''
backups:
  description: Every complete backup looked at, with what was done to it (or would be, in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    server_name:
      description: Server name of the backup in the repository.
      type: str
      sample: db1
    database:
      description: Database of the backup.
      type: str
      sample: orders
    backup_id:
      description: Identifier of the backup.
      type: str
      sample: 20250101T020304Z
    location:
      description: Directory of the backup in the repository.
      type: str
      sample: /var/backups/dbbackup/db1/logical/orders/20250101T020304Z
    action:
      description:
        - V(rekeyed) the data key was (or would be) rewrapped with the new key;
          V(unchanged) it already was; V(unencrypted) the backup is not encrypted and was left alone.
      type: str
      sample: rekeyed
rekeyed:
  description: Number of backups whose data key was (or would be, in check mode) rewrapped.
  returned: success
  type: int
  sample: 12
unchanged:
  description: Number of backups already wrapped with the new key.
  returned: success
  type: int
  sample: 0
unencrypted:
  description: Number of backups that are not encrypted (left alone).
  returned: success
  type: int
  sample: 0
wal_key:
  description:
    - What was done to the key of the server's encrypted PostgreSQL WAL archive (C(<server_name>/wal/wal-key.json))
      when O(database) is not set; null when there is none (or O(database) is set).
    - After V(rekeyed), the configuration of C(archive_command) must name the new key.
  returned: success
  type: str
  sample: rekeyed
binlog_key:
  description:
    - What was done to the key of the server's encrypted MySQL/MariaDB binary-log archive
      (C(<server_name>/binlog/binlog-key.json), written by C(dbbackup binlog-push) with a key) when O(database) is
      not set; null when there is none (or O(database) is set).
    - After V(rekeyed), the C(binlog-push) timer must be given the new key.
  returned: success
  type: str
  sample: rekeyed
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import (
    common_argument_spec, encryption_argument_spec, encryption_mutually_exclusive, run)

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_rekey
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_rekey = None
    IMPORT_ERROR = e


def main():
    argument_spec = common_argument_spec(
        database=dict(type='str'),
    )
    argument_spec.update(encryption_argument_spec())
    argument_spec.update(encryption_argument_spec(prefix='new_'))
    argument_spec.update(jobs=dict(type='int'))   # group-wide module_defaults, not used
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=encryption_mutually_exclusive() + encryption_mutually_exclusive(prefix='new_'),
        required_one_of=encryption_mutually_exclusive() + encryption_mutually_exclusive(prefix='new_'),
    )
    run(module, run_rekey, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
