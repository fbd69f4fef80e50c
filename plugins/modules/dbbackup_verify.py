#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: check stored backups against their manifests (thin wrapper over api.run_verify)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_verify
short_description: Check dbbackup backups in a repository against their manifests
version_added: 1.0.0
description:
  - Re-reads the stored files of one backup, the latest, or all complete backups of a database (or, with
    O(kind=base) or O(kind=cluster), of a server) and checks them against the manifest.
  - O(mode=quick) compares the size and SHA-256 of every stored file; it needs no key, also for
    encrypted backups, because the hashes are of the stored (encrypted) bytes.
  - O(mode=deep) also decrypts and decompresses every file and checks its structure, so it needs the key of
    encrypted backups. Data files must hold exactly the recorded rows, each with the recorded number of
    columns; schema files must parse into the recorded items; large-object files into the recorded objects.
  - For O(kind=base), O(mode=deep) walks each tar of the data directory and tablespaces (streaming; nothing is
    extracted) - only regular files and directories with safe names, the recorded number of files and file bytes -
    and checks that C(backup_label) names the recorded start WAL location, WAL file and timeline, and
    C(tablespace_map) the stored tablespaces.
  - For O(kind=cluster), both modes also check each database's own manifest against the cluster manifest;
    O(mode=deep) parses C(globals.sql) into the recorded items and checks every database as a logical backup
    (with its own data key).
  - The outcome of each backup is recorded next to its manifest in C(verify.json). The manifest itself is
    never changed.
  - A backup that fails the check fails the task; the message names every backup, file and problem.
author:
  - dbbackup developers (@dbbackup)
extends_documentation_fragment:
  - dbbackup.dbbackup.connection
  - dbbackup.dbbackup.repository
  - dbbackup.dbbackup.encryption
  - dbbackup.dbbackup.group
  - dbbackup.dbbackup.attributes
options:
  kind:
    description:
      - Which backups to check. V(logical) backups belong to O(database); V(base) (physical base backups,
        PostgreSQL) and V(cluster) (globals and every database) backups belong to the server (O(server_name)),
        and O(database) is not used.
    type: str
    choices: [logical, base, cluster]
    default: logical
  database:
    description:
      - Name of the database whose backups are checked (required with O(kind=logical), not used otherwise).
      - Without O(restored_database) the module never connects to a database server; O(login_host) and
        O(login_port) only give the default of O(server_name), as for the other modules.
    type: str
  backup_id:
    description:
      - The backup to check, V(latest) for the newest complete one, or V(all) for every complete backup.
    type: str
    default: latest
  mode:
    description:
      - V(quick) checks size and SHA-256 of the stored files; V(deep) also decrypts, decompresses and checks structure.
    type: str
    choices: [quick, deep]
    default: quick
  restored_database:
    description:
      - Also compare a live database (for example the scratch copy of a DR drill) with the backup; every table
        the backup holds must exist there with exactly the number of rows the manifest recorded.
      - For PostgreSQL, every object the backup's inventory recorded (tables, columns, indexes, constraints,
        functions, types, grants, comments, ...) must exist there with the same definition, and no other
        object may; across major versions only their presence is compared. Backups taken before the inventory
        existed are compared by rows only.
      - Only this check connects to the database server (with the connection options). It reads; it changes
        nothing. Needs a single backup (O(backup_id) an id or V(latest), not V(all)). O(kind=logical) only.
    type: str
  allow_unencrypted:
    description:
      - When a key is given (O(encryption_key_file), O(encryption_key_env) or O(encryption_passphrase)), a backup
        stored unencrypted fails verification by default, as M(dbbackup.dbbackup.dbbackup_restore) refuses it,
        because anyone able to write to the repository could have placed it there.
      - Set it only for backups made before encryption was switched on.
    type: bool
    default: false
    version_added: 1.1.0
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode the backups are checked as usual but C(verify.json) is not written.
requirements:
  - zstandard
  - cryptography (for O(mode=deep) of encrypted backups)
seealso:
  - module: dbbackup.dbbackup.dbbackup_backup
  - module: dbbackup.dbbackup.dbbackup_restore
'''

EXAMPLES = r'''
- name: Check every backup of app byte for byte (no key needed)
  dbbackup.dbbackup.dbbackup_verify:
    repository: /var/backups/dbbackup
    server_name: db1
    database: app
    backup_id: all

- name: Deep check of the latest encrypted backup
  dbbackup.dbbackup.dbbackup_verify:
    repository: s3://backups/prod
    server_name: db1
    database: app
    mode: deep
    encryption_key_file: /etc/dbbackup/backup.key
  register: check

- name: Deep check of the latest base backup of db1 (tars walked, backup_label checked)
  dbbackup.dbbackup.dbbackup_verify:
    repository: /var/backups/dbbackup
    server_name: db1
    kind: base
    mode: deep
    encryption_key_file: /etc/dbbackup/backup.key

- name: Check every cluster backup of db1 byte for byte
  dbbackup.dbbackup.dbbackup_verify:
    repository: /var/backups/dbbackup
    server_name: db1
    kind: cluster
    backup_id: all
'''

RETURN = r'''
kind:
  description: The kind of backups checked.
  returned: success
  type: str
  sample: logical
mode:
  description: The mode used.
  returned: success
  type: str
  sample: quick
backups:
  description: How many backups were checked.
  returned: success
  type: int
  sample: 3
verified:
  description: One report per backup checked.
  returned: success
  type: list
  elements: dict
  contains:
    backup_id:
      description: Id of the backup.
      type: str
    database:
      description: Database of the backup (null for base and cluster backups).
      type: str
    kind:
      description: Kind of the backup (V(logical), V(base) or V(cluster)).
      type: str
    databases:
      description: The databases of a cluster backup (O(kind=cluster) only).
      type: list
      elements: str
    mode:
      description: The mode used.
      type: str
    ok:
      description: Whether every check passed.
      type: bool
    problems:
      description: What failed (empty when O(mode) found nothing).
      type: list
      elements: str
    files:
      description: Number of stored files checked.
      type: int
    stored_bytes:
      description: Bytes read from the repository.
      type: int
    rows:
      description: Rows counted in the data files (O(mode=deep) of logical and cluster backups).
      type: int
    members:
      description: Regular files counted in the tars (O(kind=base) with O(mode=deep) only).
      type: int
    data_bytes:
      description: Bytes of file data in the tars (O(kind=base) with O(mode=deep) only).
      type: int
    verified_at:
      description: UTC time of the check.
      type: str
  sample: [{"backup_id": "20260101T020000Z", "database": "app", "kind": "logical", "mode": "quick", "ok": true,
            "problems": [], "files": 12, "stored_bytes": 104857, "verified_at": "2026-01-01T03:00:00.000000Z"}]
restored:
  description: The comparison of O(restored_database) with the backup (rows per table; PostgreSQL also every object).
  returned: when O(restored_database) is given
  type: dict
  contains:
    database:
      description: The database compared.
      type: str
    ok:
      description: Whether every table holds the recorded rows and every object is there as recorded (a mismatch
        fails the task).
      type: bool
    problems:
      description: Missing tables, row-count differences, and objects missing, with another definition or not in
        the backup.
      type: list
      elements: str
    tables:
      description: Tables compared.
      type: int
    rows:
      description: Rows counted in the database.
      type: int
    inventory:
      description: PostgreSQL - C(compared) (V(definitions), V(presence) across major versions, V(nothing) for a
        backup without an inventory), C(objects) (objects the backup recorded) and C(reason) when not every
        definition was compared.
      type: dict
      returned: PostgreSQL
  sample: {"database": "app_drill", "ok": true, "problems": [], "tables": 12, "rows": 106000,
           "inventory": {"compared": "definitions", "objects": 310}}
ok:
  description: Always true on success (a failed check fails the task).
  returned: success
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import (
    common_argument_spec, encryption_argument_spec, encryption_mutually_exclusive, run)

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_verify
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_verify = None
    IMPORT_ERROR = e


def main():
    argument_spec = common_argument_spec(
        kind=dict(type='str', default='logical', choices=['logical', 'base', 'cluster']),
        database=dict(type='str'),
        backup_id=dict(type='str', default='latest'),
        mode=dict(type='str', default='quick', choices=['quick', 'deep']),
        restored_database=dict(type='str'),
        allow_unencrypted=dict(type='bool', default=False),
    )
    argument_spec.update(encryption_argument_spec())
    argument_spec.update(jobs=dict(type='int'))   # group-wide module_defaults, not used
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=encryption_mutually_exclusive(),
                           required_if=[('kind', 'logical', ('database',))])
    run(module, run_verify, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
