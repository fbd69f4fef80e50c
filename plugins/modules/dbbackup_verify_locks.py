#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: PostgreSQL lock-table capacity against what backups and restores need."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_verify_locks
short_description: Check that a PostgreSQL server's lock table is large enough for backups and restores
version_added: 1.0.0
description:
  - Reads the settings that size PostgreSQL's shared lock table (C(max_locks_per_transaction),
    C(max_connections), C(max_prepared_transactions), C(autovacuum_max_workers) or
    C(autovacuum_worker_slots), C(max_worker_processes), C(max_wal_senders)) and computes its nominal
    capacity the way the server does for its version (see RV(capacity_formula)).
  - Estimates how many locks a backup and a restore of the given databases take with this collection's
    engine (tables, partitions, sequences, views, TOAST tables, indexes of split tables, foreign-key groups,
    partitioned index builds, materialized-view refreshes, in O(jobs) parallel sessions), or, with
    O(repository), an upper bound from the manifests of existing backups.
  - Returns a verdict (V(ok), V(warning), V(insufficient)) and the exact remediation, the
    C(max_locks_per_transaction) value to set. That setting takes effect only after a server restart.
  - With O(apply_remediation=true) it sets that value with C(ALTER SYSTEM) (and reloads the
    configuration); restarting stays the caller's decision (the C(dbbackup.dbbackup.pg_lock_tuning) role
    does it through a handler when its C(restart_policy) allows).
  - Only reads the server unless O(apply_remediation=true).
author:
  - dbbackup developers (@dbbackup)
extends_documentation_fragment:
  - dbbackup.dbbackup.connection
  - dbbackup.dbbackup.repository
  - dbbackup.dbbackup.encryption
  - dbbackup.dbbackup.attributes
options:
  database:
    description:
      - Name of one database to check. Combined with O(databases) when both are given.
      - When neither is given, every database of the server that accepts connections (templates excepted)
        is checked.
      - With O(repository), the name of the backed-up database whose latest (or O(backup_id)) backup is checked.
    type: str
  databases:
    description:
      - Names of the databases to check (see O(database)).
    type: list
    elements: str
  maintenance_db:
    description:
      - Database to connect to for reading server settings and the list of databases.
    type: str
    default: postgres
  repository:
    description:
      - Estimate from the manifests of backups in this repository (a directory on the host that runs the
        module) instead of from the live databases, for example before restoring onto another server.
      - The estimate is then an upper bound; O(database) or O(databases) name the backed-up databases.
      - Without O(database) or O(databases) the repository is not used and the live databases are
        checked, so a O(repository) set for the whole module group in C(module_defaults) changes nothing.
    type: str
    required: false
  server_name:
    description:
      - With O(repository), the server name the backups are stored under (see
        M(dbbackup.dbbackup.dbbackup_backup)). Defaults as there, from O(login_host) and O(login_port).
    type: str
  backup_id:
    description:
      - With O(repository), the backup to check, or V(latest).
    type: str
    default: latest
  jobs:
    description:
      - Number of parallel sessions the backup or restore will use (1 to 64); each runs its own transactions.
    type: int
    default: 2
  operation:
    description:
      - Which need to check. V(both) uses the larger of the backup and the restore need.
    type: str
    default: both
    choices: [ backup, restore, both ]
  headroom_percent:
    description:
      - Share of the lock table (0 to 90) that should stay free for the rest of the server's work while a
        backup or restore runs. A need above capacity minus this headroom gives V(warning); the remediation
        value restores the headroom.
    type: int
    default: 25
  simultaneous:
    description:
      - Whether the databases are backed up (or restored) at the same time. Then their needs add up;
        otherwise the largest one counts.
    type: bool
    default: false
  fail_on_insufficient:
    description:
      - Fail the task when the verdict is V(insufficient), with all return values still reported.
    type: bool
    default: false
  apply_remediation:
    description:
      - When the verdict is not V(ok), set C(max_locks_per_transaction) to RV(required_max_locks_per_transaction)
        with C(ALTER SYSTEM) and reload the configuration. Needs a superuser (or, on PostgreSQL 15 and later,
        the C(ALTER SYSTEM) privilege on that parameter).
      - Nothing is changed when the configuration already sets at least that value (waiting for a restart).
      - The server must be restarted for the new value to take effect; RV(restart_required) says so.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - The check only reads; in check mode O(apply_remediation=true) reports RV(ignore:changed=true) without
        running C(ALTER SYSTEM).
seealso:
  - module: dbbackup.dbbackup.dbbackup_backup
  - module: dbbackup.dbbackup.dbbackup_restore
  - name: max_locks_per_transaction in the PostgreSQL documentation
    description: How the shared lock table is sized.
    link: https://www.postgresql.org/docs/current/runtime-config-locks.html
notes:
  - The capacity is nominal. The server can exceed it by a few hundred entries of spare shared memory;
    plan with the nominal value.
  - Locks held in a session's fast-path slots (its first 16 weak table locks) do not use the shared table;
    the estimate ignores that and errs on the safe side.
  - The formula, the measurements behind the estimate and the limits are described in
    C(docs/modules/dbbackup_verify_locks.md) of the collection.
  - The encryption options are accepted so that C(module_defaults) for the module group can set them;
    this module does not use them (manifests are read without a key).
'''

EXAMPLES = r'''
- name: Check every database of the server before the nightly backups
  dbbackup.dbbackup.dbbackup_verify_locks:
    login_host: db1.example.com
    login_user: postgres
    login_password: "{{ vault_pg_password }}"
    jobs: 4
  register: locks

- name: Show the verdict and the fix
  ansible.builtin.debug:
    msg: "{{ locks.verdict }}: need {{ locks.need }} of {{ locks.capacity }}; {{ locks.remediation.sql | default('nothing to do') }}"

- name: Fail when restoring the latest backup of orders onto this server would run out of locks
  dbbackup.dbbackup.dbbackup_verify_locks:
    login_unix_socket: /var/run/postgresql
    repository: /var/backups/dbbackup
    server_name: db1
    database: orders
    operation: restore
    fail_on_insufficient: true

- name: Configure the value needed (a restart is still required)
  dbbackup.dbbackup.dbbackup_verify_locks:
    login_unix_socket: /var/run/postgresql
    databases: [orders, billing]
    apply_remediation: true
  register: tuned
'''

RETURN = r'''
verdict:
  description:
    - V(ok) when the need fits with O(headroom_percent) to spare, V(warning) when it fits only without that
      headroom (or not together with the locks held right now), V(insufficient) when it exceeds the capacity.
  returned: success
  type: str
  sample: insufficient
need:
  description: Estimated number of distinct objects locked at the same time by the checked operation.
  returned: success
  type: int
  sample: 5210
capacity:
  description: Nominal capacity of the shared lock table (distinct locked objects).
  returned: success
  type: int
  sample: 4864
capacity_formula:
  description: The capacity computation with the server's values.
  returned: success
  type: str
  sample: "64 * (100 max_connections + 3 autovacuum_max_workers + 1 autovacuum launcher + 8 max_worker_processes
    + 10 max_wal_senders + 0 max_prepared_transactions) = 7808"
lock_slots:
  description: Number of processes and prepared transactions the table is sized for (capacity divided by
    C(max_locks_per_transaction)).
  returned: success
  type: int
  sample: 122
max_backends:
  description: The server's MaxBackends computed from its settings.
  returned: success
  type: int
  sample: 122
settings:
  description: The settings read, as integers (C(autovacuum_worker_slots) only on PostgreSQL 18 and later).
  returned: success
  type: dict
  sample: {max_locks_per_transaction: 64, max_connections: 100, max_prepared_transactions: 0,
           autovacuum_max_workers: 3, max_worker_processes: 8, max_wal_senders: 10}
server_version:
  description: Version of the server checked.
  returned: success
  type: str
  sample: "15.8"
server_version_num:
  description: C(server_version_num) of the server checked.
  returned: success
  type: int
  sample: 150008
locks_in_use:
  description: Locks in the shared table at the time of the check (C(pg_locks) rows outside fast-path slots).
  returned: success
  type: int
  sample: 12
databases:
  description:
    - Per database, the relation counts (live check) or manifest counts (O(repository)), C(backup_need),
      C(restore_need), C(largest_restore_transaction) and C(source) (V(database) or V(manifest)).
  returned: success
  type: dict
  sample: {orders: {relations: {tables: 4000, partitions: 0, partitioned_tables: 0, toast_tables: 1200,
           toast_tables_with_data: 300, indexes: 8100, sequences: 3900, views: 20, materialized_views: 2,
           foreign_tables: 0, large_objects: 0}, backup_need: 8580, restore_need: 410,
           largest_restore_transaction: 120, source: database}}
operation:
  description: The operation checked (O(operation)).
  returned: success
  type: str
  sample: both
jobs:
  description: Parallel sessions assumed (O(jobs)).
  returned: success
  type: int
  sample: 2
headroom_percent:
  description: Headroom used for the verdict (O(headroom_percent)).
  returned: success
  type: int
  sample: 25
required_max_locks_per_transaction:
  description:
    - The C(max_locks_per_transaction) that gives the need its headroom (a multiple of 32, never below the
      current value or 64); the current value when the verdict is V(ok).
  returned: success
  type: int
  sample: 96
remediation:
  description:
    - What to do when the verdict is not V(ok), else null. C(setting), C(value), C(sql) (the statement),
      C(new_capacity), C(restart_required) (always true for this setting), C(already_pending) (the
      configuration already sets the value and waits for a restart) and a C(note).
  returned: success
  type: dict
  sample: {setting: max_locks_per_transaction, value: 96, sql: "ALTER SYSTEM SET max_locks_per_transaction = 96;",
           new_capacity: 11712, restart_required: true, already_pending: false,
           note: "max_locks_per_transaction is read only at server start: restart PostgreSQL after setting it."}
pending_max_locks_per_transaction:
  description: The value the configuration files set for the next start (null when it cannot be read, which
    needs a superuser).
  returned: success
  type: int
  sample: 96
pending_restart:
  description: Whether the server reports that C(max_locks_per_transaction) changed in its configuration and
    waits for a restart.
  returned: success
  type: bool
  sample: false
server_pending_restart:
  description: Whether any setting of the server waits for a restart.
  returned: success
  type: bool
  sample: false
restart_required:
  description: Whether a restart is needed for a configured C(max_locks_per_transaction) to take effect.
  returned: success
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import (
    connection_argument_spec, encryption_argument_spec, repository_argument_spec, run)

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_verify_locks
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_verify_locks = None
    IMPORT_ERROR = e


def main():
    # the options of the whole module group (module_defaults), repository optional here; the
    # encryption options are accepted for the group and not used (manifests are read without a key)
    argument_spec = connection_argument_spec()
    argument_spec.update(repository_argument_spec())
    argument_spec.update(encryption_argument_spec())
    argument_spec.update(
        database=dict(type='str'),
        databases=dict(type='list', elements='str'),
        maintenance_db=dict(type='str', default='postgres'),
        repository=dict(type='str'),
        server_name=dict(type='str'),
        backup_id=dict(type='str', default='latest'),
        jobs=dict(type='int', default=2),
        operation=dict(type='str', default='both', choices=['backup', 'restore', 'both']),
        headroom_percent=dict(type='int', default=25),
        simultaneous=dict(type='bool', default=False),
        fail_on_insufficient=dict(type='bool', default=False),
        apply_remediation=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run(module, run_verify_locks, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
