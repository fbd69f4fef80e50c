#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: logical backup of one database into a repository (thin wrapper over api.run_backup)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_backup
short_description: Back up a PostgreSQL or MySQL/MariaDB database into a dbbackup repository
version_added: 1.0.0
description:
  - Takes a consistent logical backup of one database without C(pg_dump), from one exported snapshot,
    tables copied in parallel by O(jobs) sessions, streamed through compression and SHA-256 hashing
    into the repository.
  - The backup consists of schema (pre-data and post-data SQL), table data (one or more files per table)
    and a C(manifest.json) written last and atomically. A backup without a manifest is incomplete
    and is never listed, restored or reported as a success.
  - With O(max_age) the module is idempotent. No new backup is taken while a complete backup of the
    database younger than O(max_age) exists, which suits playbooks that run often.
  - Restore with M(dbbackup.dbbackup.dbbackup_restore).
  - With O(kind=cluster) the whole server is backed up, globals (PostgreSQL roles and tablespaces; MySQL and
    MariaDB accounts, roles and grants) and every database, under one backup id; M(dbbackup.dbbackup.dbbackup_restore) with O(kind=cluster) restores all
    of it or chosen databases.
  - With O(db_type=mysql) (MySQL and MariaDB, through PyMySQL, without C(mysqldump)) the workers share one
    snapshot taken under a brief C(FLUSH TABLES WITH READ LOCK), which also records the binary-log position
    and GTID for M(dbbackup.dbbackup.dbbackup_pitr); see C(docs/mysql.md) for privileges and format.
author:
  - dbbackup developers (@dbbackup)
extends_documentation_fragment:
  - dbbackup.dbbackup.connection
  - dbbackup.dbbackup.repository
  - dbbackup.dbbackup.encryption
  - dbbackup.dbbackup.metrics
  - dbbackup.dbbackup.attributes
options:
  database:
    description:
      - Name of the database to back up.
      - Required with O(kind=logical); not used with O(kind=cluster) (see O(databases)) and O(kind=base).
    type: str
  kind:
    description:
      - Kind of backup. V(logical) is schema plus table data, restorable into any database name
        and onto another server of the same or a newer major version.
      - V(cluster) (PostgreSQL) backs up the cluster-wide globals (roles with their attributes, memberships,
        role settings and comments, tablespaces) and then every database that is not a template and allows
        connections, each as a logical backup, all under one backup id in C(<server_name>/cluster/). When
        one database fails the others are still attempted, then the task fails naming every failed database
        and nothing is recorded. See C(docs/cluster.md).
      - With O(db_type=mysql), V(cluster) backs up the accounts and roles with C(SHOW CREATE USER) and
        C(SHOW GRANTS) (privileges, role grants, default roles), except the server's own system accounts, then every database
        except C(mysql), C(information_schema), C(performance_schema) and C(sys). Without
        O(include_passwords), accounts that have a password are stored without it and are restored locked
        (C(ACCOUNT LOCK)). The login user needs C(SELECT) on C(mysql.*).
      - V(base) is a physical base backup of a PostgreSQL server for point-in-time recovery with
        M(dbbackup.dbbackup.dbbackup_pitr) - the data directory and every tablespace streamed as tars
        (PostgreSQL's low-level non-exclusive backup API) plus the C(backup_label) and C(tablespace_map) of
        the backup, in C(<server_name>/base/). It must run on the database host, as root or as the server's
        OS user, on a primary whose WAL archiving is set up (M(dbbackup.dbbackup.dbbackup_pitr)
        O(dbbackup.dbbackup.dbbackup_pitr#module:state=enabled)); otherwise it fails before writing anything.
        What is left out follows PostgreSQL's documentation; see C(docs/base-backup.md).
    type: str
    default: logical
    choices: [ logical, base, cluster ]
  databases:
    description:
      - With O(kind=cluster), back up only these databases (default all that allow connections; with MySQL all
        but the system databases).
        A name that is not on the server fails the task.
    type: list
    elements: str
  exclude_databases:
    description:
      - With O(kind=cluster), leave these databases out.
    type: list
    elements: str
  include_passwords:
    description:
      - With O(kind=cluster), store the roles' password verifiers (the SCRAM or MD5 hashes from
        C(pg_authid), never plain text) in the globals, so that restored roles log in with their passwords.
        With O(db_type=mysql), the accounts' password hashes (C(IDENTIFIED BY PASSWORD), C(USING), C(AS)).
      - Needs an encrypted backup (one of the encryption options); without one the task fails before
        anything is written. Needs a login role that can read C(pg_authid) (a superuser).
      - When not set, roles are restored without passwords; MySQL accounts that had one are restored locked.
    type: bool
    default: false
  checkpoint:
    description:
      - With O(kind=base), how the checkpoint that starts the backup is taken. V(spread) (the default, as
        for C(pg_basebackup)) spreads its writes over C(checkpoint_completion_target) of
        C(checkpoint_timeout); V(fast) checkpoints at once, so the backup starts sooner at the cost of an
        I/O burst.
    type: str
    choices: [ spread, fast ]
    default: spread
  archive_wait_timeout:
    description:
      - With O(kind=base), seconds to wait at the end of the backup for the server to archive the WAL the
        backup needs (C(pg_backup_stop) with C(wait_for_archive)). When the archive command fails for longer,
        the backup fails with a clear message and records nothing, instead of waiting forever.
    type: int
    default: 600
  compression:
    description:
      - Compression of the stored files.
    type: str
    default: zstd
    choices: [ zstd, gzip, none ]
  compression_level:
    description:
      - Compression level, 1 to 19 for V(zstd) and 1 to 9 for V(gzip); must not be set with V(none).
      - When not set, V(zstd) uses level 3 and V(gzip) level 6.
    type: int
  max_age:
    description:
      - When a complete backup of this database younger than this exists in the repository, take no new
        backup and return that backup's values with RV(ignore:changed=false).
      - A number of seconds or a number with a unit C(s), C(m), C(h), C(d) or C(w), for example V(12h) or V(2d).
      - When not set, every run takes a new backup.
    type: str
  jobs:
    description:
      - Number of parallel sessions that copy table data (1 to 64), all reading the same snapshot.
      - With O(kind=base), the number of zstd compression threads.
    type: int
    default: 2
  lock_wait_timeout:
    description:
      - Seconds to wait for the C(ACCESS SHARE) locks the backup takes on every table (as pg_dump does,
        so that no table is dropped or rewritten while it is dumped).
      - When another session holds a conflicting lock (C(ALTER TABLE), C(DROP), C(TRUNCATE), C(VACUUM FULL))
        for longer, the backup fails with a clear message and records nothing, instead of waiting.
      - When not set, the backup waits as long as it takes, as pg_dump does by default.
      - PostgreSQL only.
    type: int
  unsupported_objects:
    description:
      - What a PostgreSQL backup does with an object of the database that it cannot reproduce exactly. Every
        object is listed in the backup's inventory, and each must be created by the backup's schema. Examples
        are a security label, a subscription when the login role is not a superuser, or a column of an
        inheritance child whose position a restore cannot keep.
      - V(fail) fails the backup with a message naming those objects and records nothing.
      - V(warn) writes the backup without them, records them in its manifest and returns a warning naming them;
        a restore of that backup does not expect them and warns too.
    type: str
    choices: [fail, warn]
    default: fail
  verify:
    description:
      - Re-read the new backup after writing it and check it against its manifest.
      - V(quick) compares size and SHA-256 of every stored file (no key needed).
      - V(deep) also decrypts and decompresses every file and checks rows, columns and schema items.
      - The outcome is recorded next to the manifest (C(verify.json)); a failed check fails the task.
      - With O(kind=base), V(deep) decodes each tar and walks it (file count, file bytes, safe names) and
        checks C(backup_label) against the manifest; only restoring it proves the server starts from it.
      - With O(kind=cluster), V(deep) also parses the globals and checks every database.
    type: str
    choices: [none, quick, deep]
    default: none
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode the module checks the options, looks for a recent backup when O(max_age) is set,
        and connects to the server, but writes nothing; RV(backup_id) is then null.
      - With O(kind=base) check mode also checks what a base backup needs (a primary, WAL archiving set up,
        the data directory readable on this host).
requirements:
  - zstandard, for O(compression=zstd)
seealso:
  - module: dbbackup.dbbackup.dbbackup_restore
notes:
  - The role used needs to read every table (and large object) of the database; a superuser is simplest.
  - Options and return values are also documented in C(docs/modules/dbbackup_backup.md) of the collection.
'''

EXAMPLES = r'''
- name: Back up the orders database to a local repository
  dbbackup.dbbackup.dbbackup_backup:
    login_host: db1.example.com
    login_user: backup
    login_password: "{{ vault_backup_password }}"
    database: orders
    repository: /var/backups/dbbackup
  register: backup

- name: Show where it went
  ansible.builtin.debug:
    msg: "{{ backup.backup_id }}: {{ backup.size_bytes | human_readable }} stored in {{ backup.location }}"

- name: Take a new backup only when the last one is older than 12 hours, with 4 sessions
  dbbackup.dbbackup.dbbackup_backup:
    login_unix_socket: /var/run/postgresql
    database: orders
    repository: /var/backups/dbbackup
    server_name: db1
    max_age: 12h
    jobs: 4

- name: Share connection options between modules through the action group
  module_defaults:
    group/dbbackup.dbbackup.dbbackup:
      login_host: 127.0.0.1
      login_password: "{{ vault_backup_password }}"
      repository: /var/backups/dbbackup
  block:
    - name: Back up two databases, gzip level 1
      dbbackup.dbbackup.dbbackup_backup:
        database: "{{ item }}"
        compression: gzip
        compression_level: 1
      loop: [orders, billing]

- name: Encrypted backup, key-encryption key from a 0600 key file on the database host
  dbbackup.dbbackup.dbbackup_backup:
    login_unix_socket: /var/run/postgresql
    database: orders
    repository: /var/backups/dbbackup
    encryption_key_file: /etc/dbbackup/backup.key

- name: Back up the whole PostgreSQL cluster (roles with passwords, tablespaces, every database), encrypted
  dbbackup.dbbackup.dbbackup_backup:
    login_unix_socket: /var/run/postgresql
    kind: cluster
    include_passwords: true
    exclude_databases: [scratch]
    repository: /var/backups/dbbackup
    encryption_key_file: /etc/dbbackup/backup.key

- name: Physical base backup for point-in-time recovery (on the database host, as root or postgres)
  dbbackup.dbbackup.dbbackup_backup:
    login_unix_socket: /var/run/postgresql
    kind: base
    repository: /var/backups/dbbackup
    server_name: db1
    max_age: 1d
    encryption_key_file: /etc/dbbackup/backup.key

- name: Encrypted backup, key derived from a passphrase kept in Ansible Vault
  dbbackup.dbbackup.dbbackup_backup:
    login_unix_socket: /var/run/postgresql
    database: orders
    repository: /var/backups/dbbackup
    encryption_passphrase: "{{ vault_backup_passphrase }}"
'''

RETURN = r'''
metrics_file:
  description: The metrics file written, when O(metrics_dir) is set and the metrics were written.
  returned: when O(metrics_dir) is set
  type: str
  sample: /var/lib/prometheus/node-exporter/dbbackup.prom
metrics_error:
  description: Why the metrics could not be written although the backup succeeded (the task does not fail for it).
  returned: when writing the metrics failed
  type: str
  sample: "The backup succeeded but its metrics could not be written: [Errno 28] No space left on device"
backup_id:
  description:
    - Identifier of the backup, its UTC start time C(YYYYMMDDTHHMMSSZ) (plus a suffix on collision).
    - With O(max_age) and RV(ignore:changed=false), the identifier of the existing recent backup.
  returned: success
  type: str
  sample: 20250101T020304Z
location:
  description: Directory of the backup in the repository (it contains C(manifest.json)).
  returned: success
  type: str
  sample: /var/backups/dbbackup/db1/logical/orders/20250101T020304Z
database:
  description: Name of the database backed up (null for O(kind=cluster) and O(kind=base)).
  returned: success
  type: str
  sample: orders
kind:
  description: V(cluster) for a cluster backup, V(base) for a base backup.
  returned: when O(kind=cluster) or O(kind=base)
  type: str
  sample: cluster
start_lsn:
  description: WAL location where the base backup starts (recovery replays from its checkpoint); null in check mode.
  returned: when O(kind=base)
  type: str
  sample: 0/2000028
stop_lsn:
  description: WAL location where the base backup ends; recovery must reach it to be consistent.
  returned: when O(kind=base)
  type: str
  sample: 0/2000100
timeline:
  description: Timeline of the server when the base backup was taken.
  returned: when O(kind=base)
  type: int
  sample: 1
start_wal_file:
  description: First archived WAL segment a recovery from this base backup needs.
  returned: when O(kind=base)
  type: str
  sample: "000000010000000000000002"
stop_wal_file:
  description: Last WAL segment needed to make this base backup consistent (archived before the task succeeded).
  returned: when O(kind=base)
  type: str
  sample: "000000010000000000000002"
tablespaces:
  description: Number of tablespaces (outside the data directory) stored as their own tars.
  returned: when O(kind=base)
  type: int
  sample: 1
files:
  description: Number of data-directory and tablespace files in the base backup.
  returned: when O(kind=base)
  type: int
  sample: 1012
databases:
  description: The databases in the cluster backup (in check mode, those that would be backed up).
  returned: when O(kind=cluster)
  type: list
  elements: str
  sample: [orders, billing, postgres]
globals:
  description:
    - What the globals of a cluster backup hold, counted - C(roles), C(memberships), C(role_settings),
      C(tablespaces), C(passwords) (verifiers stored), C(source) (V(pg_authid), or V(pg_roles) when the
      login role is not a superuser, which means no passwords) and C(path).
    - With O(db_type=mysql) - C(accounts), C(roles), C(grants), C(default_roles), C(passwords) (hashes stored),
      C(locked) (accounts stored without their password, restored locked), C(skipped) (accounts the server
      would not show, with the reason), C(source) (V(mysql.user)), C(flavor) and C(path).
  returned: when O(kind=cluster) and a backup was written or found
  type: dict
  sample: {"roles": 12, "memberships": 5, "role_settings": 2, "tablespaces": 1, "passwords": 0,
           "source": "pg_authid", "path": "globals.sql.zst"}
size_bytes:
  description: Bytes stored in the repository (compressed), all files of the backup together.
  returned: success
  type: int
  sample: 10485760
raw_bytes:
  description: Bytes before compression (schema SQL plus table data in COPY text format).
  returned: success
  type: int
  sample: 52428800
duration_seconds:
  description: Wall time the backup took, in seconds.
  returned: success
  type: float
  sample: 3.52
tables:
  description: Number of tables whose data are in the backup.
  returned: success
  type: int
  sample: 42
rows:
  description: Total number of table rows in the backup.
  returned: success
  type: int
  sample: 1250000
server_version:
  description: Version of the database server the backup was taken from.
  returned: success
  type: str
  sample: "15.8"
encrypted:
  description:
    - Whether the backup is encrypted (one of the encryption options was set).
    - With O(max_age), a recent backup is reused only when it is encrypted exactly when encryption is asked for.
  returned: success
  type: bool
  sample: true
warnings:
  description: With O(unsupported_objects=warn), the objects the backup lacks because it cannot reproduce them
    (with O(kind=cluster), per database); also when O(max_age) reuses such a backup.
  returned: when the backup lacks objects
  type: list
  elements: str
  sample: ["Backup 20260101T020000Z lacks 1 object(s) it cannot reproduce: subscription orders_sub."]
verification:
  description: Outcome of the check asked for with O(verify) (not returned when O(verify=none)).
  returned: when O(verify) is not V(none) and a backup was written
  type: dict
  sample: {"backup_id": "20260101T020000Z", "mode": "quick", "ok": true, "problems": [], "files": 12}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import (
    common_argument_spec, encryption_argument_spec, encryption_mutually_exclusive, run)

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_backup
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_backup = None
    IMPORT_ERROR = e


def main():
    argument_spec = common_argument_spec(
        database=dict(type='str'),
        kind=dict(type='str', default='logical', choices=['logical', 'base', 'cluster']),
        databases=dict(type='list', elements='str'),
        exclude_databases=dict(type='list', elements='str'),
        include_passwords=dict(type='bool', default=False),
        checkpoint=dict(type='str', default='spread', choices=['spread', 'fast']),
        archive_wait_timeout=dict(type='int', default=600),
        compression=dict(type='str', default='zstd', choices=['zstd', 'gzip', 'none']),
        compression_level=dict(type='int'),
        max_age=dict(type='str'),
        jobs=dict(type='int', default=2),
        verify=dict(type='str', default='none', choices=['none', 'quick', 'deep']),
        lock_wait_timeout=dict(type='int'),
        unsupported_objects=dict(type='str', default='fail', choices=['fail', 'warn']),
        metrics_dir=dict(type='path'),
    )
    argument_spec.update(encryption_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=encryption_mutually_exclusive(),
                           required_if=[('kind', 'logical', ('database',))])
    run(module, run_backup, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
