#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: restore a logical backup into a database (thin wrapper over api.run_restore)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_restore
short_description: Restore a dbbackup logical backup of a PostgreSQL or MySQL/MariaDB database
version_added: 1.0.0
description:
  - Restores a complete backup taken by M(dbbackup.dbbackup.dbbackup_backup) into a database,
    under its own name or as a copy (O(target_database)), on the same or another server.
  - With O(kind=cluster) restores a cluster backup, globals and all or chosen databases (O(databases)).
  - Every stored file is checked against the SHA-256 recorded in the manifest; a corrupt, truncated
    or incomplete backup fails the task.
  - The restore creates the schema, loads table data with O(jobs) parallel C(COPY) sessions, then builds
    indexes and constraints in parallel and applies owners, grants and database settings.
  - The module is idempotent. When the target database already holds exactly the requested backup
    (restored by this module, recorded in the database setting C(dbbackup.restored_backup)),
    nothing is done and RV(ignore:changed=false) is returned.
  - The backup is restored into a temporary database that is renamed to O(target_database) only when
    it is complete (replacing the old one when O(if_exists=replace)); on failure the temporary database
    is dropped and the existing target is left as it was.
  - With O(db_type=mysql) data are loaded with C(LOAD DATA LOCAL) streamed from the repository, tables are
    moved into the target with C(RENAME TABLE) at the end, routines, views, triggers and events are created
    after that, and the marker lives in the table C(_dbbackup.restore_marker); see C(docs/mysql.md).
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
      - Name of the database whose backup is restored (its name in the repository).
      - Required with O(kind=logical); not used with O(kind=cluster) (see O(databases)).
    type: str
  kind:
    description:
      - Kind of backup to restore. V(logical) is a backup of one database.
      - V(cluster) is a cluster backup (M(dbbackup.dbbackup.dbbackup_backup) with O(kind=cluster)) of
        O(server_name). Its globals (roles, memberships, role settings, tablespaces; see O(globals)) are
        restored first, then the databases chosen with O(databases), each as a logical restore
        (O(if_exists) applies to each). Existing roles and tablespaces are never dropped, roles that exist are
        brought to the backup's attributes, and the login role of the restore keeps its own attributes and
        password. The C(postgres) database a fresh server has (nothing in it but what initdb made) is replaced
        without O(if_exists=replace). See C(docs/cluster.md).
      - With O(db_type=mysql), accounts and roles that do not exist are created before the databases
        (C(CREATE USER IF NOT EXISTS), C(CREATE ROLE IF NOT EXISTS); existing accounts are never dropped or
        altered), and the grants and default roles the server does not show yet are applied after them
        (C(GRANT) only adds). The login account of the restore is left alone.
    type: str
    default: logical
    choices: [ logical, cluster ]
  databases:
    description:
      - With O(kind=cluster), the databases of the backup to restore (default all of them). A name the
        backup does not hold fails the task, listing those it holds.
    type: list
    elements: str
  globals:
    description:
      - With O(kind=cluster), whether to restore the globals (roles and tablespaces; for MySQL accounts, roles
        and grants).
      - Default V(true) when O(databases) is not given (whole-cluster restore), V(false) when it is.
    type: bool
  tablespace_locations:
    description:
      - With O(kind=cluster) and globals restored (PostgreSQL only), directories for tablespaces that are created,
        by tablespace name, instead of their locations on the source server. The directory must exist,
        be empty and belong to the user the server runs as.
    type: dict
  target_database:
    description:
      - Name of the database to restore into. Defaults to O(database).
      - With O(kind=cluster) only when exactly one database is restored.
    type: str
  backup_id:
    description:
      - Identifier of the backup to restore (see RV(dbbackup.dbbackup.dbbackup_backup#module:backup_id)),
        or V(latest) for the most recent complete backup of O(database) on O(server_name).
    type: str
    default: latest
  state:
    description:
      - V(present) restores the backup.
      - V(absent) drops O(target_database), a scratch copy restored earlier (for example by a DR drill), and restores
        nothing. Only a database carrying dbbackup's restore marker for a backup of O(database) (same
        O(server_name)) is dropped, never O(database) itself; any other database fails the task untouched.
        A database that does not exist is already absent (RV(ignore:changed=false)). Sessions connected to it are
        terminated (PostgreSQL 13 and later).
      - V(absent) with O(leftovers=true) drops the databases restores that were killed left behind instead.
    type: str
    default: present
    choices: [ present, absent ]
  leftovers:
    description:
      - PostgreSQL, with O(state=absent). Drop the databases that restores killed outright (SIGKILL, a lost session)
        left behind, C(_dbbackup_restore_<hex>) and C(_dbbackup_old_<hex>), except those a running restore or any
        session uses (see M(dbbackup.dbbackup.dbbackup_info) O(dbbackup.dbbackup.dbbackup_info#module:leftovers)).
        No other database is ever dropped. O(database) and O(target_database) are not used.
      - Returns RV(ignore:dropped) and RV(ignore:in_use), lists of database names.
    type: bool
    default: false
  if_exists:
    description:
      - What to do when O(target_database) already exists (and does not hold exactly this backup).
      - V(fail) stops with an error and leaves it alone.
      - V(replace) drops it once the restored copy is complete and puts the copy in its place.
        Sessions connected to the old database are terminated.
    type: str
    default: fail
    choices: [ fail, replace ]
  jobs:
    description:
      - Number of parallel sessions that load table data and build indexes (1 to 64).
    type: int
    default: 2
  allow_unencrypted:
    description:
      - Restore a backup stored unencrypted although a key is given (O(encryption_key_file),
        O(encryption_key_env) or O(encryption_passphrase)). By default such a backup is refused, because
        anyone able to write to the repository could have placed it there, and restoring it runs its SQL.
      - Set it only to restore a backup made before encryption was switched on.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode the module finds the backup, reads its manifest and checks the target database on
        the server (whether it exists, whether it already holds this backup), but writes nothing.
requirements:
  - zstandard, for backups compressed with zstd
seealso:
  - module: dbbackup.dbbackup.dbbackup_backup
notes:
  - The role used must be a superuser (or own everything restored), and the roles the backup refers to
    as owners or in grants must already exist on the target server.
  - Options and return values are also documented in C(docs/modules/dbbackup_restore.md) of the collection.
'''

EXAMPLES = r'''
- name: Restore the latest backup of orders as orders_restored
  dbbackup.dbbackup.dbbackup_restore:
    login_host: db2.example.com
    login_password: "{{ vault_postgres_password }}"
    database: orders
    server_name: db1.example.com
    target_database: orders_restored
    repository: /var/backups/dbbackup
  register: restore

- name: Report the recovery time
  ansible.builtin.debug:
    msg: "{{ restore.rows }} rows in {{ restore.tables }} tables restored in {{ restore.duration_seconds }} s"

- name: Put a known backup back in place of the live database (4 sessions)
  dbbackup.dbbackup.dbbackup_restore:
    login_unix_socket: /var/run/postgresql
    database: orders
    backup_id: 20250101T020304Z
    if_exists: replace
    repository: /var/backups/dbbackup
    server_name: db1
    jobs: 4

- name: Restore a whole cluster backup of db1 (globals and every database) onto a fresh server
  dbbackup.dbbackup.dbbackup_restore:
    login_unix_socket: /var/run/postgresql
    kind: cluster
    server_name: db1
    repository: /var/backups/dbbackup
    encryption_key_file: /etc/dbbackup/backup.key
    tablespace_locations:
      fast: /srv/pg/fast

- name: Restore one database of the latest cluster backup under another name (no globals)
  dbbackup.dbbackup.dbbackup_restore:
    login_unix_socket: /var/run/postgresql
    kind: cluster
    server_name: db1
    databases: [orders]
    target_database: orders_check
    repository: /var/backups/dbbackup

- name: Drop the scratch copy a drill restored (only a copy dbbackup restored from a backup of orders)
  dbbackup.dbbackup.dbbackup_restore:
    login_unix_socket: /var/run/postgresql
    database: orders
    target_database: orders_check
    state: absent
    repository: /var/backups/dbbackup
    server_name: db1

- name: Restore an encrypted backup with the key file it was taken with
  dbbackup.dbbackup.dbbackup_restore:
    login_unix_socket: /var/run/postgresql
    database: orders
    target_database: orders_check
    repository: /var/backups/dbbackup
    server_name: db1
    encryption_key_file: /etc/dbbackup/backup.key
'''

RETURN = r'''
restored_from:
  description: With O(state=absent), the restore marker of the dropped database (server/database/backup id).
  returned: when O(state=absent) dropped a database
  type: str
  sample: db1/orders/20250101T020304Z
metrics_file:
  description: The metrics file written, when O(metrics_dir) is set and the metrics were written.
  returned: when O(metrics_dir) is set
  type: str
  sample: /var/lib/prometheus/node-exporter/dbbackup.prom
metrics_error:
  description: Why the metrics could not be written although the restore succeeded (the task does not fail for it).
  returned: when writing the metrics failed
  type: str
  sample: "The restore succeeded but its metrics could not be written: [Errno 28] No space left on device"
backup_id:
  description: Identifier of the backup restored (O(backup_id=latest) resolved).
  returned: success
  type: str
  sample: 20250101T020304Z
location:
  description: Directory of the restored backup in the repository.
  returned: success
  type: str
  sample: /var/backups/dbbackup/db1/logical/orders/20250101T020304Z
database:
  description: Name of the database the backup was taken from (null for O(kind=cluster)).
  returned: success
  type: str
  sample: orders
target_database:
  description: Name of the database restored into (with O(kind=cluster) only when O(target_database) is given).
  returned: success
  type: str
  sample: orders_restored
kind:
  description: V(cluster) for a cluster restore.
  returned: when O(kind=cluster)
  type: str
  sample: cluster
databases:
  description:
    - With O(kind=cluster), one entry per database - C(database), C(target_database), C(action)
      (V(create), V(replace), V(unchanged)), C(tables), C(rows), and C(duration_seconds) and (PostgreSQL)
      C(inventory) (as the top-level RV(inventory) of a single restore) when restored.
      In check mode the action that would be taken.
  returned: when O(kind=cluster)
  type: list
  elements: dict
  sample: [{"database": "orders", "target_database": "orders", "action": "create", "tables": 4, "rows": 1200,
            "duration_seconds": 0.8}]
globals:
  description:
    - With O(kind=cluster), what restoring the globals did - C(changed), C(roles_created),
      C(tablespaces_created) (name and location), C(passwords) (verifiers in the backup), C(skipped)
      (for example the login role's own attributes). In check mode what would be done.
    - With O(db_type=mysql) - C(changed), C(accounts_created), C(roles_created), C(created_locked) (created
      without a password, locked), C(passwords) (created with their hash), C(grants) (statements applied),
      C(skipped) (the login account; grants on tables or routines the server does not have), C(statements).
  returned: when O(kind=cluster)
  type: dict
  sample: {"changed": true, "roles_created": ["app_owner"], "tablespaces_created": [], "passwords": 0,
           "skipped": ["role attributes of postgres (the login role of the restore)"], "statements": 14}
size_bytes:
  description: Bytes stored in the repository for this backup.
  returned: success
  type: int
  sample: 10485760
raw_bytes:
  description: Bytes after decompression (schema SQL plus table data in COPY text format).
  returned: success
  type: int
  sample: 52428800
duration_seconds:
  description: Wall time the restore took, in seconds (the recovery time of this database).
  returned: success
  type: float
  sample: 5.31
tables:
  description: Number of tables whose data were restored.
  returned: success
  type: int
  sample: 42
rows:
  description: Total number of table rows restored.
  returned: success
  type: int
  sample: 1250000
server_version:
  description: Version of the server restored into (the version the backup was taken from is in its manifest).
  returned: success
  type: str
  sample: "15.8"
inventory:
  description:
    - PostgreSQL logical restores - how the restored database was proven complete before it was renamed into
      place. C(compared) is V(definitions) (every object recorded by the backup exists with the same
      definition; nothing else exists), V(presence) (the backup comes from another major version, which
      prints some definitions differently - C(reason) says which) or V(nothing) (a backup without an
      inventory, taken by an older version). C(objects) is the number of objects compared.
    - A missing, different or unexpected object fails the restore instead and leaves the target as it was.
  returned: when a PostgreSQL logical backup was restored
  type: dict
  sample: {"compared": "definitions", "objects": 1290}
warnings:
  description: For a backup taken with O(dbbackup.dbbackup.dbbackup_backup#module:unsupported_objects=warn),
    the objects it lacks (they are not restored).
  returned: when the backup lacks objects
  type: list
  elements: str
encrypted:
  description:
    - Whether the restored backup is encrypted. An encrypted backup needs its key (one of the encryption
      options); a key given for a backup that is not encrypted is ignored.
  returned: success
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import (
    common_argument_spec, encryption_argument_spec, encryption_mutually_exclusive, run)

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_restore
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_restore = None
    IMPORT_ERROR = e


def main():
    argument_spec = common_argument_spec(
        database=dict(type='str'),
        kind=dict(type='str', default='logical', choices=['logical', 'cluster']),
        databases=dict(type='list', elements='str'),
        globals=dict(type='bool'),
        tablespace_locations=dict(type='dict'),
        target_database=dict(type='str'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        backup_id=dict(type='str', default='latest'),
        if_exists=dict(type='str', default='fail', choices=['fail', 'replace']),
        jobs=dict(type='int', default=2),
        metrics_dir=dict(type='path'),
        allow_unencrypted=dict(type='bool', default=False),
        leftovers=dict(type='bool', default=False),
    )
    argument_spec.update(encryption_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=encryption_mutually_exclusive(),
                           required_if=[('kind', 'logical', ('database',))])
    run(module, run_restore, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
