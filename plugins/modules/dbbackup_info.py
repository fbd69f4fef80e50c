#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: list the backups of a repository (thin wrapper over api.run_info)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_info
short_description: List the backups in a dbbackup repository
version_added: 1.0.0
description:
  - Lists the complete backups of a repository as flat records (one per backup), with a short summary,
    suited to job views such as AWX.
  - Covers logical backups (one series per database), base backups and cluster backups of every server,
    or of one server.
  - Each record gives times, size, rows, whether the backup is encrypted and the outcome of the last
    verification (from C(verify.json), see M(dbbackup.dbbackup.dbbackup_verify)).
  - For base backups it also gives the start and stop LSN and timeline, and whether the archived WAL is
    continuous from the backup's first WAL file to the newest archived one (point-in-time recovery coverage).
  - Backup directories without a manifest (interrupted or still running backups) are listed separately.
  - When neither O(server_name) nor O(login_host) or O(login_unix_socket) is set, every server of the
    repository is listed; otherwise the one server named by O(server_name) or derived from O(login_host).
  - The module only reads the repository; it connects to a database server only with O(leftovers=true) (otherwise
    the connection options only give the default of O(server_name)).
  - Multipart uploads that were never completed (S3) are listed too (RV(incomplete_uploads)).
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
      - Which backups to list. V(all) lists logical, base and cluster backups.
    type: str
    choices: [all, logical, base, cluster]
    default: all
  database:
    description:
      - Only backups of this database, that is its logical backups and the cluster backups that contain it.
        Base backups (whole servers) are then listed only with O(kind=base).
    type: str
  backup_id:
    description:
      - V(all) lists every complete backup, V(latest) the newest of each series (server, kind, database),
        an id such as V(20260101T020000Z) only that backup (the task fails when it does not exist).
    type: str
    default: all
  check_wal:
    description:
      - For base backups, check the WAL archive for continuity (lists the archive of the server).
    type: bool
    default: true
  leftovers:
    description:
      - PostgreSQL. Also connect to the server (connection options) and list the databases restores that were killed
        left behind (C(_dbbackup_restore_*), C(_dbbackup_old_*)) in RV(leftover_databases).
        M(dbbackup.dbbackup.dbbackup_restore) with O(dbbackup.dbbackup.dbbackup_restore#module:state=absent) and
        O(dbbackup.dbbackup.dbbackup_restore#module:leftovers=true) drops those no running restore uses.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - The module never changes anything; check mode returns the same result.
requirements:
  - boto3 (for C(s3://) repositories)
  - azure-storage-blob, and azure-identity for managed identity (for C(azure://) repositories)
  - google-cloud-storage (for C(gs://) repositories)
seealso:
  - module: dbbackup.dbbackup.dbbackup_prune
  - module: dbbackup.dbbackup.dbbackup_verify
'''

EXAMPLES = r'''
- name: Latest backup of every series of every server
  dbbackup.dbbackup.dbbackup_info:
    repository: /var/backups/dbbackup
    backup_id: latest
  register: latest

- name: Fail when a base backup cannot be rolled forward
  ansible.builtin.assert:
    that: latest.summary.pitr_not_ready == 0

- name: All backups of one database in a bucket
  dbbackup.dbbackup.dbbackup_info:
    repository: s3://backups/prod
    server_name: db1
    database: app
'''

RETURN = r'''
backups:
  description: One flat record per complete backup, oldest first within each series.
  returned: success
  type: list
  elements: dict
  contains:
    server:
      description: Server name in the repository.
      type: str
    kind:
      description: V(logical), V(base) or V(cluster).
      type: str
    db_type:
      description: V(postgresql) or V(mysql).
      type: str
    database:
      description: Database of a logical backup (null for base and cluster backups).
      type: str
    databases:
      description: Databases in a cluster backup (cluster backups only).
      type: list
      elements: str
    backup_id:
      description: Id of the backup (UTC start time).
      type: str
    started_at:
      description: UTC start time.
      type: str
    finished_at:
      description: UTC end time.
      type: str
    duration_seconds:
      description: How long the backup took.
      type: float
    size_bytes:
      description: Bytes stored in the repository.
      type: int
    raw_bytes:
      description: Bytes before compression and encryption.
      type: int
    files:
      description: Number of stored files.
      type: int
    tables:
      description: Tables in the backup (logical and cluster backups).
      type: int
    rows:
      description: Rows in the backup (logical and cluster backups).
      type: int
    encrypted:
      description: Whether the backup is encrypted.
      type: bool
    server_version:
      description: Version of the source server.
      type: str
    location:
      description: Where the backup lives.
      type: str
    verification:
      description: V(ok) or V(failed) (the last recorded verification), V(never), or V(unreadable).
      type: str
    verified_at:
      description: UTC time of the last verification.
      type: str
    verify_mode:
      description: V(quick) or V(deep).
      type: str
    start_lsn:
      description: WAL position where the base backup starts (base backups only; so are the next keys).
      type: str
    stop_lsn:
      description: WAL position where the base backup ends (it is consistent from there).
      type: str
    timeline:
      description: Timeline of the base backup.
      type: int
    start_wal_file:
      description: First WAL file the base backup needs.
      type: str
    stop_wal_file:
      description: WAL file of the stop position.
      type: str
    wal_continuous:
      description: Whether the archived WAL has no gap from C(start_wal_file) to the newest archived file.
      type: bool
    wal_last:
      description: Newest archived WAL file reachable without a gap.
      type: str
    wal_gaps:
      description: Number of gaps in the archive after the start of the backup.
      type: int
    wal_first_gap:
      description: The first missing WAL range, or null.
      type: str
    pitr_ready:
      description: Whether the base backup can be restored and rolled forward (continuous WAL up to at
        least its stop position); null when the check was not made.
      type: bool
  sample: [{"server": "db1", "kind": "logical", "db_type": "postgresql", "database": "app",
            "backup_id": "20260101T020000Z", "started_at": "2026-01-01T02:00:00.000000Z",
            "finished_at": "2026-01-01T02:03:10.000000Z", "size_bytes": 1048576, "rows": 120000,
            "encrypted": false, "verification": "ok", "location": "/var/backups/dbbackup/db1/logical/app/20260101T020000Z"}]
series:
  description: One record per series (server, kind, database) with complete backups.
  returned: success
  type: list
  elements: dict
  sample: [{"server": "db1", "kind": "logical", "database": "app", "backups": 14, "oldest": "20251218T020000Z",
            "newest": "20260101T020000Z", "size_bytes": 14680064, "incomplete": 0}]
incomplete:
  description: Backup directories without a manifest, or with one this version cannot read (key C(problem)).
    C(running) is true while the backup's writer renews its lease (C(lease_age_seconds) since the last
    renewal); false for an interrupted backup, which dbbackup_prune removes after its grace period.
  returned: success
  type: list
  elements: dict
  sample: [{"server": "db1", "kind": "logical", "database": "app", "backup_id": "20260102T020000Z",
            "complete": false, "location": "/var/backups/dbbackup/db1/logical/app/20260102T020000Z",
            "running": true, "lease_age_seconds": 12.5}]
incomplete_uploads:
  description: Multipart uploads under the listed servers that were never completed or aborted (S3 repositories;
    a writer killed mid-upload). M(dbbackup.dbbackup.dbbackup_prune) aborts them after its grace period.
  returned: success
  type: list
  elements: dict
  sample: [{"server": "db1", "location": "s3://backups/db1/logical/app/20260102T020000Z/data/0001.copy.zst",
            "upload_id": "2~abc", "initiated": "2026-01-02T02:00:05.000000Z"}]
leftover_databases:
  description: With O(leftovers=true), the databases of killed restores on the server. C(in_use) is true while a
    running restore (a session naming it) or any session uses it.
  returned: when leftovers is true
  type: list
  elements: dict
  sample: [{"database": "_dbbackup_restore_1f2e3d4c5b6a", "kind": "restore", "size_bytes": 8028695,
            "in_use": false}]
summary:
  description: Counts over the listed backups.
  returned: success
  type: dict
  sample: {"backups": 14, "servers": 1, "series": 1, "size_bytes": 14680064, "incomplete": 0,
           "verification_failed": 0, "never_verified": 2, "encrypted": 0, "pitr_not_ready": 0,
           "newest": "2026-01-01T02:00:00.000000Z", "oldest": "2025-12-18T02:00:00.000000Z"}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import common_argument_spec, encryption_argument_spec, run

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_info
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_info = None
    IMPORT_ERROR = e


def main():
    argument_spec = common_argument_spec(
        kind=dict(type='str', default='all', choices=['all', 'logical', 'base', 'cluster']),
        database=dict(type='str'),
        backup_id=dict(type='str', default='all'),
        check_wal=dict(type='bool', default=True),
        leftovers=dict(type='bool', default=False),
    )
    argument_spec.update(encryption_argument_spec())
    argument_spec.update(jobs=dict(type='int'))   # group-wide module_defaults, not used
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run(module, run_info, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
