#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: delete backups a retention policy does not keep (thin wrapper over api.run_prune)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_prune
short_description: Delete dbbackup backups that a retention policy does not keep
version_added: 1.0.0
description:
  - Applies a retention policy to the backups of one server in a repository and deletes the rest.
  - The policy is applied to each series separately, never across them - with O(kind=logical) each database
    (O(database), or every database of the server when it is not set); with O(kind=base) or O(kind=cluster)
    the base or cluster backups of the server.
  - A backup is kept when any rule keeps it - O(keep_last), O(keep_daily), O(keep_weekly), O(keep_monthly)
    (grandfather-father-son, in UTC). O(max_age) caps them; O(min_keep) always keeps the newest backups.
    The newest complete backup of a series is never deleted. A policy that sets none of O(keep_last),
    O(keep_daily), O(keep_weekly), O(keep_monthly) and O(max_age) is an error.
  - Only complete backups count. Backup directories without a manifest (interrupted backups) are deleted
    when they are older than O(grace_period) (O(prune_incomplete)), and so are unfinished uploads (S3 multipart
    uploads, Azure uncommitted blocks, the records of GCS resumable sessions) and hidden temporary files
    that interrupted writes left in the WAL or binlog archive.
  - With O(kind=base) and O(prune_wal), archived WAL that no kept base backup needs is deleted;
    with O(kind=logical) and O(prune_wal), archived MySQL/MariaDB binary logs older than the oldest kept
    MySQL backup of the server.
  - Backups are deleted oldest first, and each loses its manifest before its files, so an interrupted prune
    never leaves a listed backup with missing files.
  - See C(docs/retention.md) of the collection.
author:
  - dbbackup developers (@dbbackup)
notes:
  - The encryption options are accepted so that C(module_defaults) for the module group can set them;
    pruning does not use them (manifests are read without a key).
extends_documentation_fragment:
  - dbbackup.dbbackup.connection
  - dbbackup.dbbackup.repository
  - dbbackup.dbbackup.encryption
  - dbbackup.dbbackup.group
  - dbbackup.dbbackup.attributes
options:
  kind:
    description:
      - Which backups to prune.
    type: str
    choices: [logical, base, cluster]
    default: logical
  database:
    description:
      - With O(kind=logical), the database whose backups are pruned; every database of the server
        (each separately) when not set. Not allowed with O(kind=base) or O(kind=cluster).
    type: str
  keep_last:
    description:
      - Keep the newest N complete backups.
    type: int
  keep_daily:
    description:
      - Keep the newest backup of each of the N most recent UTC days that have a backup.
    type: int
  keep_weekly:
    description:
      - Keep the newest backup of each of the N most recent ISO weeks (UTC) that have a backup.
    type: int
  keep_monthly:
    description:
      - Keep the newest backup of each of the N most recent months (UTC) that have a backup.
    type: int
  max_age:
    description:
      - Backups that started longer ago are not kept by the keep rules (only O(min_keep) can keep them).
        Without keep rules, every backup younger than O(max_age) is kept.
      - A number of seconds or a number with C(s), C(m), C(h), C(d) or C(w), for example V(30d).
    type: str
  min_keep:
    description:
      - The N newest complete backups of each series are always kept. At least 1.
    type: int
    default: 1
  grace_period:
    description:
      - Age after which a backup directory without a manifest, or an unfinished S3 upload, counts as a
        leftover of an interrupted backup (younger ones may still be running).
    type: str
    default: 24h
  prune_incomplete:
    description:
      - Delete leftovers of interrupted backups older than O(grace_period).
    type: bool
    default: true
  prune_wal:
    description:
      - With O(kind=base), delete archived WAL before the first WAL file of the oldest kept base backup
        (timeline history files and newer timelines are kept; with no base backup all WAL is kept).
      - With O(kind=logical), delete archived MySQL/MariaDB binary logs before the binlog file of the oldest
        kept MySQL logical backup of the server (over all its databases).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode nothing is deleted; the result lists exactly what a real run would delete.
requirements:
  - boto3 (for C(s3://) repositories)
  - azure-storage-blob, and azure-identity for managed identity (for C(azure://) repositories)
  - google-cloud-storage (for C(gs://) repositories)
seealso:
  - module: dbbackup.dbbackup.dbbackup_info
  - module: dbbackup.dbbackup.dbbackup_backup
'''

EXAMPLES = r'''
- name: Keep 7 daily, 4 weekly and 6 monthly backups of every database of db1
  dbbackup.dbbackup.dbbackup_prune:
    repository: /var/backups/dbbackup
    server_name: db1
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 6

- name: What would go (dry run)
  dbbackup.dbbackup.dbbackup_prune:
    repository: s3://backups/prod
    server_name: db1
    kind: base
    keep_last: 2
  check_mode: true
  register: plan
'''

RETURN = r'''
deleted:
  description: The backups deleted (in check mode - that would be deleted), oldest first.
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
    database:
      description: Database of a logical backup (null otherwise).
      type: str
    backup_id:
      description: Id of the backup.
      type: str
    started_at:
      description: UTC start time.
      type: str
    complete:
      description: False for a leftover without a manifest.
      type: bool
    reason:
      description: Why it goes (or, in RV(kept), why it stays).
      type: str
    location:
      description: Where it was.
      type: str
  sample: [{"server": "db1", "kind": "logical", "database": "app", "backup_id": "20260101T020000Z",
            "started_at": "2026-01-01T02:00:00.000000Z", "complete": true,
            "reason": "not selected by any keep rule", "location": "/var/backups/dbbackup/db1/logical/app/20260101T020000Z"}]
kept:
  description: The backups kept, with the rules that keep them (same fields as RV(deleted)).
  returned: success
  type: list
  elements: dict
  sample: [{"server": "db1", "kind": "logical", "database": "app", "backup_id": "20260301T020000Z",
            "complete": true, "reason": "daily 2026-03-01; monthly 2026-03"}]
wal_deleted:
  description: Names of the archived WAL files deleted (O(kind=base)).
  returned: success
  type: list
  elements: str
wal_note:
  description: Which WAL was pruned, or why none was.
  returned: success
  type: str
binlog_deleted:
  description: Names of the archived binary-log files deleted (O(kind=logical), MySQL/MariaDB).
  returned: success
  type: list
  elements: str
binlog_note:
  description: Which binary logs were pruned, or why none were.
  returned: success
  type: str
uploads_aborted:
  description: Unfinished uploads aborted (S3 multipart uploads, Azure uncommitted blocks, GCS session records; location, upload_id, initiated).
  returned: success
  type: list
  elements: dict
temp_files_deleted:
  description:
    - Hidden temporary files of interrupted writes (a killed C(wal-push), for example) deleted from the WAL
      archive (O(kind=base)) or the binlog archive (O(kind=logical)), older than O(grace_period)
      (O(prune_incomplete)); location and modified (ISO UTC).
  returned: success
  type: list
  elements: dict
policy:
  description: The policy applied, with max_age and grace_period in seconds.
  returned: success
  type: dict
  sample: {"keep_daily": 7, "min_keep": 1, "grace_period": 86400}
summary:
  description: Counts of what was (or would be) deleted and kept.
  returned: success
  type: dict
  sample: {"deleted": 12, "kept": 17, "deleted_incomplete": 1, "wal_deleted": 0, "binlog_deleted": 0,
           "uploads_aborted": 0, "temp_files_deleted": 0}
check_mode:
  description: Whether this was a dry run.
  returned: success
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dbbackup.dbbackup.plugins.module_utils.ansible_glue import common_argument_spec, encryption_argument_spec, run

try:
    from ansible_collections.dbbackup.dbbackup.plugins.module_utils.api import run_prune
    IMPORT_ERROR = None
except ImportError as e:  # third-party library missing on the managed host
    run_prune = None
    IMPORT_ERROR = e


def main():
    argument_spec = common_argument_spec(
        kind=dict(type='str', default='logical', choices=['logical', 'base', 'cluster']),
        database=dict(type='str'),
        keep_last=dict(type='int'),
        keep_daily=dict(type='int'),
        keep_weekly=dict(type='int'),
        keep_monthly=dict(type='int'),
        max_age=dict(type='str'),
        min_keep=dict(type='int', default=1),
        grace_period=dict(type='str', default='24h'),
        prune_incomplete=dict(type='bool', default=True),
        prune_wal=dict(type='bool', default=True),
    )
    argument_spec.update(encryption_argument_spec())
    argument_spec.update(jobs=dict(type='int'))   # group-wide module_defaults, not used
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[['keep_last', 'keep_daily', 'keep_weekly', 'keep_monthly', 'max_age']])
    run(module, run_prune, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
