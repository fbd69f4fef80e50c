#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: point-in-time recovery of a database (thin wrapper over api.run_pitr)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_pitr
short_description: Recover a database to a point in time from a dbbackup backup and archived logs
version_added: 0.1.0
description:
  - Restores a logical backup taken by M(dbbackup.dbbackup.dbbackup_backup) and replays the changes archived
    after it up to a point in time or a log position.
  - With O(db_type=mysql) (MySQL and MariaDB) the changes are the binary-log files archived by the host CLI
    (C(dbbackup binlog-push), run from a timer on the database host). The events of O(database) from the
    backup's binary-log position up to O(stop_datetime) (events at or after it are not applied) or up to
    O(stop_binlog_file)/O(stop_position) are replayed; with neither, everything archived is replayed.
  - The replay is done by the client programs C(mariadb-binlog) (or C(mysqlbinlog)) piped into C(mariadb)
    (or C(mysql)), which must be installed on the host that runs the module, because they decode every event type of
    every server version. The engine chooses and verifies the files and passes the password in a private
    option file, never on a command line.
  - The backup is restored and the events replayed into a temporary database, which replaces O(target_database)
    only when complete; a failure leaves the target as it was. Restore and replay are not written to the target
    server's binary log.
  - The module is idempotent. When the target already holds exactly this recovery (same backup, same stop point),
    nothing is done and RV(ignore:changed=false) is returned.
  - O(db_type=postgresql) is not supported yet and fails with a clear message.
author:
  - dbbackup developers (@dbbackup)
extends_documentation_fragment:
  - dbbackup.dbbackup.connection
  - dbbackup.dbbackup.repository
  - dbbackup.dbbackup.encryption
  - dbbackup.dbbackup.attributes
options:
  state:
    description:
      - V(restored) recovers the database.
    type: str
    default: restored
    choices: [ restored ]
  database:
    description:
      - Name of the database whose backup and logs are used (its name in the repository).
    type: str
    required: true
  target_database:
    description:
      - Name of the database to recover into. Defaults to O(database).
    type: str
  backup_id:
    description:
      - Identifier of the backup to start from, or V(latest) for the newest complete backup taken before
        O(stop_datetime) (the newest one when no O(stop_datetime) is given).
    type: str
    default: latest
  stop_datetime:
    description:
      - Point in time to recover to, in UTC unless it carries an offset, for example C(2025-01-31 12:00:00)
        or C(2025-01-31T13:00:00+01:00). Whole seconds (binary-log events carry whole seconds).
      - Events logged at or after this time are not applied; a transaction cut by it is not applied at all.
      - The archive must reach it (a closed binlog file holding a later event); run C(dbbackup binlog-push --rotate)
        first when recovering to a moment just past.
      - Mutually exclusive with O(stop_binlog_file)/O(stop_position).
    type: str
  stop_binlog_file:
    description:
      - Binary-log file of the position to stop at (with O(stop_position)), for example C(binlog.000042).
    type: str
  stop_position:
    description:
      - Position in O(stop_binlog_file) to stop at; the event at this position and later ones are not applied.
    type: int
  if_exists:
    description:
      - What to do when O(target_database) already exists (and does not hold exactly this recovery).
      - V(fail) stops with an error and leaves it alone; V(replace) replaces it once the recovered copy is complete.
    type: str
    default: fail
    choices: [ fail, replace ]
  jobs:
    description:
      - Number of parallel sessions that load table data (1 to 64).
    type: int
    default: 2
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode the module chooses the backup and the binlog files, checks that the archive reaches the stop
        point and whether the target already holds this recovery, but writes nothing.
requirements:
  - zstandard, for backups and logs compressed with zstd
  - the MariaDB or MySQL client programs (C(mariadb-binlog) or C(mysqlbinlog), and C(mariadb) or C(mysql))
seealso:
  - module: dbbackup.dbbackup.dbbackup_backup
  - module: dbbackup.dbbackup.dbbackup_restore
notes:
  - The login user needs the privileges of a restore (create and drop databases, create routines, views, triggers
    and events with their definers) plus the right to set C(sql_log_bin) (SUPER or BINLOG ADMIN).
  - Exact recovery needs C(binlog_format=ROW) on the source. Events are replayed for O(database) only, with the
    database name rewritten to the temporary database; statements naming another database explicitly are skipped
    or applied there as the binlog tool decides, so keep applications to unqualified names.
  - Options and return values are also documented in C(docs/modules/dbbackup_pitr.md) and C(docs/mysql.md).
'''

EXAMPLES = r'''
- name: Recover orders as it was just before a bad deploy, as a copy
  dbbackup.dbbackup.dbbackup_pitr:
    db_type: mysql
    login_host: db2.example.com
    login_password: "{{ vault_mysql_root_password }}"
    database: orders
    server_name: db1.example.com
    target_database: orders_before_deploy
    stop_datetime: "2025-01-31 11:59:00"
    repository: /var/backups/dbbackup
  register: recovered

- name: Report what was replayed
  ansible.builtin.debug:
    msg: "{{ recovered.backup_id }} + {{ recovered.binlog_files | length }} binlog file(s) in {{ recovered.duration_seconds }} s"

- name: Roll the live database forward to a known binlog position, replacing it
  dbbackup.dbbackup.dbbackup_pitr:
    db_type: mysql
    login_unix_socket: /run/mysqld/mysqld.sock
    database: orders
    stop_binlog_file: binlog.000042
    stop_position: 120934
    if_exists: replace
    repository: /var/backups/dbbackup
    server_name: db1
'''

RETURN = r'''
backup_id:
  description: Identifier of the backup restored (O(backup_id=latest) resolved).
  returned: success
  type: str
  sample: 20250131T020304Z
location:
  description: Directory of the backup in the repository.
  returned: success
  type: str
  sample: /var/backups/dbbackup/db1/logical/orders/20250131T020304Z
database:
  description: Name of the database the backup was taken from.
  returned: success
  type: str
  sample: orders
target_database:
  description: Name of the database recovered into.
  returned: success
  type: str
  sample: orders_before_deploy
binlog_start:
  description: Binary-log file and position of the backup's snapshot, where the replay starts.
  returned: success
  type: str
  sample: binlog.000040:3456
binlog_files:
  description: Archived binary-log files replayed (from the backup's file to the one holding the stop point).
  returned: success
  type: list
  elements: str
  sample: [binlog.000040, binlog.000041]
stop_datetime:
  description: The stop time used, in UTC (null when recovering by position or to the end of the archive).
  returned: success
  type: str
  sample: "2025-01-31T11:59:00.000000Z"
stop_position:
  description: The stop position used as C(file:position) (null unless given).
  returned: success
  type: str
  sample: binlog.000042:120934
replayed_bytes:
  description: Bytes of binary log read by the replay (0 when nothing was done).
  returned: success
  type: int
  sample: 104857600
size_bytes:
  description: Bytes stored in the repository for the backup.
  returned: success
  type: int
  sample: 10485760
raw_bytes:
  description: Bytes of the backup after decompression.
  returned: success
  type: int
  sample: 52428800
tables:
  description: Number of tables whose data the backup holds.
  returned: success
  type: int
  sample: 42
rows:
  description: Number of table rows in the backup (before the replay).
  returned: success
  type: int
  sample: 1250000
duration_seconds:
  description: Wall time of restore and replay, in seconds.
  returned: success
  type: float
  sample: 12.5
server_version:
  description: Version of the server recovered into (the backup's source version when nothing was done).
  returned: success
  type: str
  sample: 10.11.6-MariaDB-0+deb12u1-log
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import (
    common_argument_spec, encryption_argument_spec, encryption_mutually_exclusive, run)

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_pitr
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_pitr = None
    IMPORT_ERROR = e


def main():
    argument_spec = common_argument_spec(
        state=dict(type='str', default='restored', choices=['restored']),
        database=dict(type='str', required=True),
        target_database=dict(type='str'),
        backup_id=dict(type='str', default='latest'),
        stop_datetime=dict(type='str'),
        stop_binlog_file=dict(type='str'),
        stop_position=dict(type='int'),
        if_exists=dict(type='str', default='fail', choices=['fail', 'replace']),
        jobs=dict(type='int', default=2),
    )
    argument_spec.update(encryption_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=encryption_mutually_exclusive() + [
                               ['stop_datetime', 'stop_binlog_file'], ['stop_datetime', 'stop_position']],
                           required_together=[['stop_binlog_file', 'stop_position']])
    run(module, run_pitr, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
