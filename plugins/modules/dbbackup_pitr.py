#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: point-in-time recovery (PostgreSQL: archiving, status, recovery; MySQL: one database)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: dbbackup_pitr
short_description: Point-in-time recovery from dbbackup backups and archived logs (PostgreSQL and MySQL/MariaDB)
version_added: 1.0.0
description:
  - B(PostgreSQL) (O(db_type=postgresql), the default) works on the whole server (cluster) with physical base
    backups (M(dbbackup.dbbackup.dbbackup_backup) with O(dbbackup.dbbackup.dbbackup_backup#module:kind=base)) and
    the WAL archived by the host CLI. Four states.
  - O(state=enabled) turns WAL archiving on through the host CLI installed by the C(agent) role. It sets
    C(archive_mode=on), C(archive_command) to C(<cli_path> wal-push --config <cli_config> %p %f), C(wal_level=replica)
    when it is C(minimal), and O(archive_timeout) when given, with C(ALTER SYSTEM), then reloads the configuration.
    It is idempotent (it compares with what the configuration files hold) and says with RV(restart_required) whether a
    restart is still needed (C(archive_mode) and C(wal_level) take effect only after one). The login user must be a
    superuser or hold C(ALTER SYSTEM) on those parameters and C(EXECUTE) on C(pg_reload_conf()).
  - O(state=status) reports archiving health and never changes anything (RV(ignore:changed=false) always, also
    when the archive is unhealthy) - C(pg_stat_archiver), the current WAL file and the archive lag, the base backups in
    the repository, the WAL chain from the oldest base backup with its gaps and timelines, and the recovery window.
    When the server cannot be reached it reports what the repository holds, with RV(healthy=false). With
    O(metrics_dir) the status is also recorded for Prometheus (C(dbbackup_wal_archive_healthy),
    C(dbbackup_wal_archive_lag_segments), C(dbbackup_wal_chain_gaps), ...; see C(docs/metrics.md)); O(metrics_dir)
    is refused with the other states.
  - O(state=restored) recovers into a new or empty O(data_directory) on the host that runs the module. It picks a
    base backup (O(backup_id), or the newest one that ends before the target), extracts it, appends a marked recovery
    block to C(postgresql.auto.conf) (the source's C(ALTER SYSTEM) settings above it stay as they are), creates
    C(recovery.signal), starts the server with C(pg_ctl) as the data directory's owner and waits until the target
    is reached. Success is decided from C(pg_is_in_recovery()) and the server log, not from the exit status of
    C(pg_ctl); recovery that ends before the target (for example at a missing WAL segment) is a failure naming the
    target and the last WAL file restored. Recovering the same target into the same directory again reports
    RV(ignore:changed=false) (a marker file C(dbbackup_pitr.json) in the data directory records the recovery).
  - O(state=absent) is the clean-up after a drill - it stops the server of a O(data_directory) that O(state=restored)
    made and deletes the directory. A directory without the marker file is refused untouched; tablespace directories
    outside the data directory are left and listed in RV(tablespaces_left).
  - B(MySQL and MariaDB) (O(db_type=mysql)) restore one database from a logical backup taken by
    M(dbbackup.dbbackup.dbbackup_backup) and replay the binary-log files archived after it by the host CLI
    (C(dbbackup binlog-push), run from a timer on the database host). The events of O(database) from the backup's
    binary-log position up to O(stop_datetime) (events at or after it are not applied) or up to
    O(stop_binlog_file)/O(stop_position) are replayed; with neither, everything archived is replayed.
  - MySQL/MariaDB - before anything is restored, the archived events are read once - the events of O(database) are
    kept (row events by their table, statements with the names that point at O(database) rewritten to the copy), the
    others left out, and an event that cannot be replayed safely into the copy (a statement naming another database
    of the server, dropping O(database) itself, a table named like the database in a way that makes C(db.x)
    ambiguous, ...) fails the task there, naming its position and statement. Recovering into another name never
    touches another database of the server.
  - MySQL/MariaDB - O(state=events) lists the archived binlog transactions of O(database) (optionally around
    O(events_around) and touching O(events_table)) - time, GTID, position and per event the statement or the table
    and operation - and changes nothing. A listed transaction's C(stop_binlog_file) and C(stop_position) (in
    RV(transactions)) recover everything before it and nothing of it (for example to undo a C(DROP TABLE)).
  - MySQL/MariaDB - binary-log files archived by C(dbbackup binlog-push) with a key are stored encrypted; the key
    options of this module (O(encryption_key_file), O(encryption_key_env) or O(encryption_passphrase), the same
    key as for the backup) then also open the binlog archive's key (C(<server_name>/binlog/binlog-key.json)). A chain
    holding an encrypted file and no key, or a key that does not fit, fails before anything is restored. Archives
    mixing plain and encrypted files replay; a chain of plain files needs no key.
  - The MySQL replay is done by the client programs C(mariadb-binlog) (or C(mysqlbinlog)) piped into C(mariadb)
    (or C(mysql)), which must be installed on the host that runs the module. The backup is restored and the events
    replayed into a temporary database, which replaces O(target_database) only when complete; a failure leaves the
    target as it was. Restore and replay are not written to the target server's binary log. When the target already
    holds exactly this recovery (same backup, same stop point), nothing is done.
author:
  - dbbackup developers (@dbbackup)
extends_documentation_fragment:
  - dbbackup.dbbackup.connection
  - dbbackup.dbbackup.repository
  - dbbackup.dbbackup.encryption
  - dbbackup.dbbackup.metrics
  - dbbackup.dbbackup.attributes
options:
  state:
    description:
      - V(restored) recovers (both database types).
      - V(enabled) configures WAL archiving on the server (PostgreSQL only).
      - V(status) reports the archive's health and the recovery window (PostgreSQL only).
      - V(absent) stops and deletes a data directory that V(restored) made (PostgreSQL only).
      - V(events) lists archived binlog transactions of O(database) and changes nothing (MySQL/MariaDB only).
    type: str
    default: restored
    choices: [ restored, enabled, status, absent, events ]
  database:
    description:
      - MySQL/MariaDB (required there) - name of the database whose backup and logs are used (its name in the
        repository).
      - PostgreSQL - not needed (base backups and WAL belong to the whole server); when given, the database to
        connect to for O(state=enabled) and O(state=status) (default C(postgres)).
    type: str
  target_database:
    description:
      - MySQL/MariaDB only. Name of the database to recover into. Defaults to O(database).
    type: str
  backup_id:
    description:
      - Identifier of the backup to start from, or V(latest).
      - PostgreSQL - with V(latest), the newest base backup that finished before O(target_time) or ends before
        O(target_lsn); for O(target_xid), O(target_name), O(target=immediate) or no target, the newest base backup.
        Give an older one when the transaction or restore point lies before the newest backup.
      - MySQL/MariaDB - with V(latest), the newest complete backup taken before O(stop_datetime) (the newest one when
        no O(stop_datetime) is given).
    type: str
    default: latest
  stop_datetime:
    description:
      - MySQL/MariaDB only. Point in time to recover to, in UTC unless it carries an offset, for example
        C(2025-01-31 12:00:00) or C(2025-01-31T13:00:00+01:00). Whole seconds (binary-log events carry whole seconds).
      - Events logged at or after this time are not applied; a transaction cut by it is not applied at all.
      - The archive must reach it (a closed binlog file holding a later event); run C(dbbackup binlog-push --rotate)
        first when recovering to a moment just past.
      - Mutually exclusive with O(stop_binlog_file)/O(stop_position).
    type: str
  stop_binlog_file:
    description:
      - MySQL/MariaDB only. Binary-log file of the position to stop at (with O(stop_position)), for example
        C(binlog.000042).
    type: str
  stop_position:
    description:
      - MySQL/MariaDB only. Position in O(stop_binlog_file) to stop at; the event at this position and later ones are
        not applied.
    type: int
  events_around:
    description:
      - MySQL/MariaDB only, O(state=events). List the transactions within O(events_window) of this time (UTC unless it
        carries an offset, for example C(2025-01-31 12:00:00)). Without it, the whole archive is read and the newest
        O(events_limit) matching transactions are listed.
    type: str
  events_window:
    description:
      - MySQL/MariaDB only, O(state=events). How far before and after O(events_around) to list, in seconds or with a
        unit (C(90s), C(10m), C(2h)). Default C(10m).
    type: str
  events_table:
    description:
      - MySQL/MariaDB only, O(state=events). Only transactions with an event on this table of O(database) (row events
        of the table, statements naming it).
    type: str
  events_limit:
    description:
      - MySQL/MariaDB only, O(state=events). At most this many transactions are listed (the newest ones); RV(truncated)
        says when more matched. Default C(100).
    type: int
  if_exists:
    description:
      - MySQL/MariaDB only. What to do when O(target_database) already exists (and does not hold exactly this
        recovery).
      - V(fail) stops with an error and leaves it alone; V(replace) replaces it once the recovered copy is complete.
    type: str
    default: fail
    choices: [ fail, replace ]
  jobs:
    description:
      - MySQL/MariaDB only. Number of parallel sessions that load table data (1 to 64).
    type: int
    default: 2
  cli_path:
    description:
      - PostgreSQL only. Path of the host CLI on the database host, as installed by the C(agent) role; it goes into
        C(archive_command) (O(state=enabled)) and C(restore_command) (O(state=restored)). PostgreSQL runs it as the
        server's operating-system user, so that user must be able to run it.
    type: path
    default: /usr/local/bin/dbbackup
  cli_config:
    description:
      - PostgreSQL only. The CLI's config file (C(--config)) named in C(archive_command) and C(restore_command); it
        holds the repository, O(server_name) and the encryption key options, so no secret is part of a command line.
        It must be readable by the server's operating-system user (and by nobody else when it holds a secret).
    type: path
    default: /etc/dbbackup/dbbackup.conf
  archive_timeout:
    description:
      - PostgreSQL only, O(state=enabled). Seconds after which the server switches to a new WAL file even when it is
        not full, so that the archive lags behind by at most that long on a quiet server (C(0) switches it off). Left
        as it is when not given.
    type: int
  data_directory:
    description:
      - PostgreSQL only, O(state=restored) (required there). Absolute path of the data directory to recover into. It
        must not exist or be empty; a directory holding this same recovery (same server, backup choice and target) is
        reported unchanged; anything else is refused, never overwritten.
      - With O(state=absent) (required there), the recovered data directory to stop and delete.
    type: path
  target_time:
    description:
      - PostgreSQL only. Recover to this time (C(recovery_target_time)), in UTC unless it carries an offset, for
        example C(2025-01-31 12:00:00) or C(2025-01-31T13:00:00.250+01:00).
      - Only one of O(target_time), O(target_xid), O(target_lsn), O(target_name) and O(target); with none, recovery
        goes to the end of the archived WAL (refused when the archive has a gap, which would end it silently early).
    type: str
  target_xid:
    description:
      - PostgreSQL only. Recover to the commit of this transaction (C(recovery_target_xid)), as returned by
        C(txid_current()).
    type: int
  target_lsn:
    description:
      - PostgreSQL only. Recover to this WAL location (C(recovery_target_lsn)), for example C(0/3000028) from
        C(pg_current_wal_lsn()).
    type: str
  target_name:
    description:
      - PostgreSQL only. Recover to this restore point (C(recovery_target_name)), created with
        C(pg_create_restore_point()).
    type: str
  target:
    description:
      - PostgreSQL only. V(immediate) recovers just to the end of the base backup (the earliest consistent point).
    type: str
    choices: [ immediate ]
  target_inclusive:
    description:
      - PostgreSQL only. With O(target_time), O(target_xid) or O(target_lsn), whether recovery stops just after the
        target (V(true)) or just before it (V(false)), C(recovery_target_inclusive).
    type: bool
    default: true
  target_action:
    description:
      - PostgreSQL only. What the server does once the target is reached (C(recovery_target_action)).
      - V(promote) ends recovery and opens the server for writes on a new timeline. V(pause) keeps it in recovery,
        paused, for inspection (read-only queries; C(pg_wal_replay_resume()) promotes it). V(shutdown) stops it.
      - Without a target (end of the archive) the server is always promoted.
    type: str
    default: promote
    choices: [ promote, pause, shutdown ]
  target_timeline:
    description:
      - PostgreSQL only. Timeline to recover along (C(recovery_target_timeline)) - V(latest) (follow the newest
        timeline in the archive), V(current) (the base backup's) or a timeline number such as C(2).
    type: str
    default: latest
  port:
    description:
      - PostgreSQL only, O(state=restored). Port of the recovered server. Default - the port in the restored
        configuration (the source's), which fails when the source runs on the same host; give a free one then.
      - The recovered server is reached for its report with the login options on this port (its listen address or,
        with O(login_unix_socket), its socket directory).
    type: int
  archive:
    description:
      - PostgreSQL only, O(state=restored). V(disabled) (safe default) sets C(archive_mode=off) on the recovered server, so
        a copy for a drill or an inspection never writes WAL into the source's archive. V(keep) keeps the source's
        archiving settings - only for a server that replaces the lost source; its new timeline is archived next to
        the old one.
    type: str
    default: disabled
    choices: [ disabled, keep ]
  pg_bin_dir:
    description:
      - PostgreSQL only, O(state=restored). Directory of C(pg_ctl). Default - C(/usr/lib/postgresql/<major>/bin) for the
        major version the base backup was taken from.
    type: path
  owner:
    description:
      - PostgreSQL only, O(state=restored). Operating-system user that owns the data directory and runs the server.
        Default - when running as root, the owner of an existing empty O(data_directory) or else C(postgres); otherwise
        the user running the module.
    type: str
  verify:
    description:
      - PostgreSQL only, O(state=status). Also check every file of the WAL archive.
      - V(quick) reads each object and compares its size and SHA-256 with the checksum record it carries; no key is
        needed. Objects archived before that record existed are counted in RV(verification) C(legacy), not checked.
      - V(deep) also decrypts and decompresses each object and checks what C(wal-fetch) checks - its name and
        server, the encryption's tags, the compression's checksums, the raw size (and the raw SHA-256 that objects
        of format version 1 record), and for segments every WAL page header (segment number, timeline) and the
        system identifier against the base backups. Needs the key of an encrypted archive.
      - Damaged files are listed in RV(verification) C(damaged) and RV(problems) (RV(healthy=false)), and the chain and
        the recovery window end before the first damaged file, as recovery would.
      - Refused with the other states (O(state=restored) checks every file it restores).
    type: str
    default: none
    choices: [ none, quick, deep ]
  allow_unencrypted:
    description:
      - O(state=restored). Accept archived logs (PostgreSQL WAL, MySQL binlogs) stored unencrypted although the archive
        is encrypted (a key is given, or the archive has a key file), and a base or logical backup stored unencrypted
        although a key is given. By default both are refused, because anyone able to write to the repository could
        have placed them there and recovery would apply them.
      - Set it only for a recovery that needs logs archived before encryption was switched on. For PostgreSQL it adds
        C(--allow-unencrypted) to the C(restore_command) of the recovered server.
    type: bool
    default: false
  wait_timeout:
    description:
      - PostgreSQL only, O(state=restored). Seconds to wait for the outcome of the recovery. When it passes with the
        server still recovering, the module fails and leaves the server running; running it again with the same
        options waits again.
    type: int
    default: 300
  server_settings:
    description:
      - PostgreSQL only, O(state=restored). Extra settings for the recovered server, written into the recovery block,
        for example C(unix_socket_directories) or C(shared_buffers) for a smaller drill server. The recovery settings
        themselves cannot be set here.
    type: dict
  tablespace_mapping:
    description:
      - PostgreSQL only, O(state=restored). New locations for tablespaces, a dictionary from the tablespace OID or its
        old location to the new location (the old location itself restores a tablespace in place); that location must
        not hold this version's directory.
      - An unencrypted base backup must map every tablespace, since nothing proves its C(tablespace_map) was written by the
        backup, and an edited one would extract files into any directory. Unmapped tablespaces of an encrypted backup
        (whose map is authenticated) go back to their original location.
    type: dict
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - O(state=enabled) reports the settings it would change (RV(changes)) and whether a restart would be needed.
      - O(state=status) is the same in check mode, except that nothing is recorded in O(metrics_dir).
      - O(state=restored) (PostgreSQL) chooses the base backup, checks the data directory, the WAL chain, the key and
        the server binaries and reports what it would do, without creating anything.
      - MySQL/MariaDB - the module chooses the backup and the binlog files, checks that the archive reaches the stop
        point and whether the target already holds this recovery, reads the events (an event that cannot be replayed
        safely fails the task as it would without check mode), but writes nothing. O(state=events) never changes
        anything.
requirements:
  - zstandard, for backups and logs compressed with zstd
  - psycopg2, for PostgreSQL
  - PostgreSQL - the server binaries of the backup's major version on the host that runs O(state=restored), and the
    host CLI (C(agent) role) on every host whose server archives or restores WAL
  - MySQL/MariaDB - the client programs (C(mariadb-binlog) or C(mysqlbinlog), and C(mariadb) or C(mysql))
seealso:
  - module: dbbackup.dbbackup.dbbackup_backup
  - module: dbbackup.dbbackup.dbbackup_restore
notes:
  - PostgreSQL - O(state=restored) runs on the host that is to hold the recovered server (as root, or as the data
    directory's owner), not necessarily the source host. The repository and O(cli_config) must be reachable from
    there with the same O(server_name).
  - PostgreSQL - the server log of the recovery is C(<data_directory>/dbbackup_recovery.log); the server started by
    the module keeps logging there (C(logging_collector) off) until it is restarted.
  - MySQL/MariaDB - the login user needs the privileges of a restore (create and drop databases, create routines,
    views, triggers and events with their definers) plus the right to set C(sql_log_bin) (SUPER or BINLOG ADMIN).
    Exact recovery needs C(binlog_format=ROW) on the source. Events are replayed for O(database) only; statements
    logged in statement format are replayed when their names can be placed (see C(docs/mysql.md)).
  - Options and return values are also documented in C(docs/modules/dbbackup_pitr.md), C(docs/pitr.md) (PostgreSQL
    runbook) and C(docs/mysql.md).
'''

EXAMPLES = r'''
- name: Archive the WAL of db1 through the dbbackup CLI
  dbbackup.dbbackup.dbbackup_pitr:
    state: enabled
    login_unix_socket: /var/run/postgresql
    repository: /var/backups/dbbackup
    server_name: db1
    archive_timeout: 60
  become: true
  become_user: postgres
  register: archiving

- name: Restart PostgreSQL when archive_mode needs it
  ansible.builtin.service:
    name: postgresql
    state: restarted
  when: archiving.restart_required

- name: Is the archive healthy, and how far back can we go?
  dbbackup.dbbackup.dbbackup_pitr:
    state: status
    login_unix_socket: /var/run/postgresql
    repository: /var/backups/dbbackup
    server_name: db1
    metrics_dir: /var/lib/prometheus/node-exporter   # also for Prometheus (docs/metrics.md)
  register: pitr_status

- name: Fail when it is not
  ansible.builtin.assert:
    that: pitr_status.healthy
    fail_msg: "{{ pitr_status.problems | join('; ') }}"

- name: Recover db1 as it was just before a bad deploy, next to it on port 5499, archiving off
  dbbackup.dbbackup.dbbackup_pitr:
    state: restored
    repository: /var/backups/dbbackup
    server_name: db1
    data_directory: /srv/pitr/db1-before-deploy
    target_time: "2025-01-31 11:59:00"
    port: 5499
    login_host: 127.0.0.1
    login_password: "{{ vault_postgres_password }}"
  register: recovered

- name: Recover to a named restore point and stay paused for inspection
  dbbackup.dbbackup.dbbackup_pitr:
    state: restored
    repository: /var/backups/dbbackup
    server_name: db1
    data_directory: /srv/pitr/db1-release-42
    target_name: before_release_42
    target_action: pause
    port: 5498

- name: Recover orders (MySQL) as it was just before a bad deploy, as a copy
  dbbackup.dbbackup.dbbackup_pitr:
    db_type: mysql
    login_host: db2.example.com
    login_password: "{{ vault_mysql_root_password }}"
    database: orders
    server_name: db1.example.com
    target_database: orders_before_deploy
    stop_datetime: "2025-01-31 11:59:00"
    repository: /var/backups/dbbackup

- name: Find the transaction that dropped orders.invoices (MySQL)
  dbbackup.dbbackup.dbbackup_pitr:
    db_type: mysql
    state: events
    database: orders
    server_name: db1.example.com
    events_table: invoices
    events_around: "2025-01-31 11:59:00"
    repository: /var/backups/dbbackup
  register: found

- name: Recover orders as it was just before that transaction, as a copy
  dbbackup.dbbackup.dbbackup_pitr:
    db_type: mysql
    login_host: db1.example.com
    login_password: "{{ vault_mysql_root_password }}"
    database: orders
    server_name: db1.example.com
    target_database: orders_undo_drop
    stop_binlog_file: "{{ (found.transactions | last).stop_binlog_file }}"
    stop_position: "{{ (found.transactions | last).stop_position }}"
    repository: /var/backups/dbbackup
'''

RETURN = r'''
metrics_file:
  description: PostgreSQL, O(state=status) - the metrics file written, when O(metrics_dir) is set and the metrics were
    written.
  returned: state=status and O(metrics_dir) is set
  type: str
  sample: /var/lib/prometheus/node-exporter/dbbackup.prom
metrics_error:
  description: PostgreSQL, O(state=status) - why the metrics could not be written (the task does not fail for it).
  returned: when writing the metrics failed
  type: str
  sample: "The status was measured but its metrics could not be written: [Errno 28] No space left on device"
stopped:
  description: PostgreSQL, O(state=absent) - whether a running server of O(data_directory) was stopped.
  returned: state=absent
  type: bool
  sample: true
tablespaces_left:
  description: PostgreSQL, O(state=absent) - tablespace directories outside the data directory, not removed.
  returned: state=absent
  type: list
  elements: str
  sample: []
msg:
  description: What was done (or would be, in check mode), or the archive's health.
  returned: always
  type: str
  sample: Backup 20250131T020304Z recovered into /srv/pitr/db1 to target_time 2025-01-31 11:59:00.000000+00.
changes:
  description: PostgreSQL, O(state=enabled) - the settings changed (or that would be), with their old and new values.
  returned: state=enabled
  type: list
  elements: dict
  sample: [{name: archive_mode, from: 'off', to: 'on'}]
archive_command:
  description: PostgreSQL, O(state=enabled) - the archive_command dbbackup wants on the server.
  returned: state=enabled
  type: str
  sample: /usr/local/bin/dbbackup wal-push --config /etc/dbbackup/dbbackup.conf %p %f
archive_mode:
  description: PostgreSQL, O(state=enabled) - archive_mode the server runs with now (C(off) until the restart).
  returned: state=enabled
  type: str
  sample: 'on'
wal_level:
  description: PostgreSQL, O(state=enabled) - wal_level the server runs with now.
  returned: state=enabled
  type: str
  sample: replica
archive_timeout:
  description: PostgreSQL, O(state=enabled) - archive_timeout in effect, in seconds.
  returned: state=enabled
  type: int
  sample: 60
restart_required:
  description: PostgreSQL, O(state=enabled) - whether the server must be restarted for archiving to work as configured
    (a setting is pending a restart, or archive_mode/wal_level are not yet in effect).
  returned: state=enabled
  type: bool
  sample: true
pending_restart:
  description: PostgreSQL, O(state=enabled) - settings waiting for a restart (C(pg_settings.pending_restart)).
  returned: state=enabled
  type: list
  elements: str
  sample: [archive_mode]
healthy:
  description: PostgreSQL, O(state=status) - true when the server archives (archive_mode on, no failure since the last
    success), a base backup exists, and its WAL chain has no gap. RV(problems) says what is wrong otherwise.
  returned: state=status
  type: bool
  sample: true
problems:
  description: PostgreSQL, O(state=status) - what makes the archive unhealthy (empty when healthy).
  returned: state=status
  type: list
  elements: str
  sample: ['WAL gap: 000000010000000000000005 to 000000010000000000000005 missing (after 000000010000000000000004)']
server_reachable:
  description: PostgreSQL, O(state=status) - whether the server could be queried (false - repository-only report).
  returned: state=status
  type: bool
  sample: true
server_error:
  description: PostgreSQL, O(state=status) - why the server could not be queried.
  returned: state=status
  type: str
  sample: null
server_name:
  description: PostgreSQL, O(state=status) - the server's name in the repository.
  returned: state=status
  type: str
  sample: db1
repository:
  description: PostgreSQL, O(state=status) - the server's place in the repository.
  returned: state=status
  type: str
  sample: /var/backups/dbbackup/db1
archiving:
  description: PostgreSQL, O(state=status) - C(pg_stat_archiver) (archived_count, last_archived_wal,
    last_archived_time, failed_count, last_failed_wal, last_failed_time, stats_reset), archive_mode, archive_command,
    wal_level, in_recovery, timeline, current_lsn, current_wal_file, and the lag - lag_segments (full WAL files not
    archived yet) and lag_bytes (WAL written after the end of the last archived file). Null when the server was not
    reachable.
  returned: state=status
  type: dict
  sample: {last_archived_wal: '000000010000000000000004', failed_count: 0, lag_segments: 0, lag_bytes: 8192}
base_backups:
  description: PostgreSQL, O(state=status) - the complete base backups of the server, oldest first (backup_id,
    started_at, finished_at, start_lsn, stop_lsn, timeline, start_wal_file, stop_wal_file, server_version_num,
    encrypted, size_bytes).
  returned: state=status
  type: list
  elements: dict
wal_archive:
  description: PostgreSQL, O(state=status) - timelines present in the WAL archive, number of segments, newest segment.
  returned: state=status
  type: dict
  sample: {timelines: [1, 2], segments: 42, last_segment: '00000002000000000000002A'}
chain:
  description: PostgreSQL, O(state=status) - the WAL chain from the oldest base backup's start (ok, timeline, first,
    last (end of the contiguous chain), last_archived, gaps [{after, missing_from, missing_to}], segments, problems,
    timelines). Null without base backups or archived WAL. With O(verify), damaged files count as missing.
  returned: state=status
  type: dict
verification:
  description: PostgreSQL, O(state=status) with O(verify) - mode, objects (files in the archive), checked, legacy
    (objects without a checksum record, not checked by V(quick)), damaged [{wal_name, location, error}], ok.
    Null without O(verify).
  returned: state=status
  type: dict
  sample: {mode: quick, objects: 42, checked: 42, legacy: 0, damaged: [], ok: true}
recovery_window:
  description: PostgreSQL, O(state=status) - earliest point (earliest_backup_id, earliest_lsn, earliest_time - the end
    of the oldest usable base backup) and latest point (latest_wal_file, latest_lsn, latest_time - the end of the
    contiguous archive; the time is known only when the server reports that file as its last archived), and
    usable_backups. Null when no base backup is usable.
  returned: state=status
  type: dict
backup_id:
  description: Identifier of the backup recovered from (O(backup_id=latest) resolved).
  returned: state=restored
  type: str
  sample: 20250131T020304Z
backup_location:
  description: PostgreSQL - the base backup's place in the repository.
  returned: state=restored and db_type=postgresql
  type: str
  sample: /var/backups/dbbackup/db1/base/20250131T020304Z
data_directory:
  description: PostgreSQL - the recovered data directory.
  returned: state=restored and db_type=postgresql
  type: str
  sample: /srv/pitr/db1
target:
  description: PostgreSQL - the recovery target, kind (time, xid, lsn, name, immediate or end) and value.
  returned: state=restored and db_type=postgresql
  type: dict
  sample: {kind: time, value: '2025-01-31 11:59:00.000000+00'}
reached:
  description: PostgreSQL - true when the target was reached (the module fails otherwise).
  returned: state=restored and db_type=postgresql
  type: bool
  sample: true
running:
  description: PostgreSQL - whether the recovered server is running (false after O(target_action=shutdown)).
  returned: state=restored and db_type=postgresql
  type: bool
  sample: true
port:
  description: PostgreSQL - the port the recovered server listens on.
  returned: state=restored and db_type=postgresql
  type: int
  sample: 5499
in_recovery:
  description: PostgreSQL - C(pg_is_in_recovery()) of the recovered server (false once promoted, true when paused;
    null when it could not be queried).
  returned: state=restored and db_type=postgresql
  type: bool
  sample: false
pause_state:
  description: PostgreSQL - C(pg_get_wal_replay_pause_state()) while in recovery.
  returned: state=restored and db_type=postgresql
  type: str
  sample: paused
timeline:
  description: PostgreSQL - the recovered server's timeline (a new one after promotion).
  returned: state=restored and db_type=postgresql
  type: int
  sample: 2
replay_lsn:
  description: PostgreSQL - the last WAL location replayed.
  returned: state=restored and db_type=postgresql
  type: str
  sample: 0/5000110
insert_lsn:
  description: PostgreSQL - the current WAL insert location after promotion (null while in recovery).
  returned: state=restored and db_type=postgresql
  type: str
  sample: 0/50001D8
recovery_stop:
  description: PostgreSQL - the server's C(recovery stopping ...) log line (null when recovering to the end of the
    archive).
  returned: state=restored and db_type=postgresql
  type: str
  sample: recovery stopping before commit of transaction 745, time 2025-01-31 11:59:00.512+00
consistent:
  description: PostgreSQL - the server's C(consistent recovery state reached at ...) log line.
  returned: state=restored and db_type=postgresql
  type: str
  sample: consistent recovery state reached at 0/3000100
last_wal_restored:
  description: PostgreSQL - the last WAL file restored from the archive.
  returned: state=restored and db_type=postgresql
  type: str
  sample: '000000010000000000000005'
wal_files_restored:
  description: PostgreSQL - number of WAL files restored from the archive.
  returned: state=restored and db_type=postgresql
  type: int
  sample: 3
databases:
  description: PostgreSQL - the databases of the recovered server.
  returned: state=restored and db_type=postgresql
  type: list
  elements: str
  sample: [app, postgres]
log_file:
  description: PostgreSQL - the server log of the recovery.
  returned: state=restored and db_type=postgresql
  type: str
  sample: /srv/pitr/db1/dbbackup_recovery.log
location:
  description: MySQL/MariaDB - directory of the backup in the repository.
  returned: state=restored and db_type=mysql
  type: str
  sample: /var/backups/dbbackup/db1/logical/orders/20250131T020304Z
database:
  description: MySQL/MariaDB - name of the database the backup was taken from.
  returned: state=restored and db_type=mysql
  type: str
  sample: orders
target_database:
  description: MySQL/MariaDB - name of the database recovered into.
  returned: state=restored and db_type=mysql
  type: str
  sample: orders_before_deploy
binlog_start:
  description: MySQL/MariaDB - binary-log file and position of the backup's snapshot, where the replay starts.
  returned: state=restored and db_type=mysql
  type: str
  sample: binlog.000040:3456
binlog_files:
  description: MySQL/MariaDB - archived binary-log files replayed (from the backup's file to the one holding the stop
    point).
  returned: state=restored and db_type=mysql
  type: list
  elements: str
  sample: [binlog.000040, binlog.000041]
stop_datetime:
  description: MySQL/MariaDB - the stop time used, in UTC (null when recovering by position or to the end).
  returned: state=restored and db_type=mysql
  type: str
  sample: "2025-01-31T11:59:00.000000Z"
stop_position:
  description: MySQL/MariaDB - the stop position used as C(file:position) (null unless given).
  returned: state=restored and db_type=mysql
  type: str
  sample: binlog.000042:120934
replayed_bytes:
  description: MySQL/MariaDB - bytes of binary log read by the replay (0 when nothing was done).
  returned: state=restored and db_type=mysql
  type: int
  sample: 104857600
binlog_encrypted:
  description: MySQL/MariaDB - whether a replayed binary-log file was stored encrypted (so the key was needed).
  returned: state=restored and db_type=mysql
  type: bool
  sample: true
size_bytes:
  description: MySQL/MariaDB - bytes stored in the repository for the backup.
  returned: state=restored and db_type=mysql
  type: int
  sample: 10485760
raw_bytes:
  description: MySQL/MariaDB - bytes of the backup after decompression.
  returned: state=restored and db_type=mysql
  type: int
  sample: 52428800
tables:
  description: MySQL/MariaDB - number of tables whose data the backup holds.
  returned: state=restored and db_type=mysql
  type: int
  sample: 42
rows:
  description: MySQL/MariaDB - number of table rows in the backup (before the replay).
  returned: state=restored and db_type=mysql
  type: int
  sample: 1250000
duration_seconds:
  description: Wall time of the recovery, in seconds.
  returned: state=restored
  type: float
  sample: 12.5
server_version:
  description: MySQL/MariaDB - version of the server recovered into (the backup's source version when nothing was
    done).
  returned: state=restored and db_type=mysql
  type: str
  sample: 10.11.6-MariaDB-0+deb12u1-log
replayed_transactions:
  description: MySQL/MariaDB - transactions (and lone statements) of O(database) the replay applies.
  returned: state=restored and db_type=mysql, when the target does not already hold this recovery
  type: int
  sample: 1042
replayed_row_events:
  description: MySQL/MariaDB - row events of O(database) the replay applies.
  returned: state=restored and db_type=mysql, when the target does not already hold this recovery
  type: int
  sample: 5311
replayed_statements:
  description: MySQL/MariaDB - statements (DDL, or DML logged as statements) the replay applies.
  returned: state=restored and db_type=mysql, when the target does not already hold this recovery
  type: int
  sample: 3
rewritten_statements:
  description: MySQL/MariaDB - of those, statements whose names of O(database) were rewritten to the copy.
  returned: state=restored and db_type=mysql, when the target does not already hold this recovery
  type: int
  sample: 1
stopped_before:
  description: MySQL/MariaDB - the first event not applied (file, position, time, gtid) and the start of its
    transaction (transaction_file, transaction_position), which is not applied either; null when the replay ran to
    the end of the archive.
  returned: state=restored and db_type=mysql, when the target does not already hold this recovery
  type: dict
  sample: {file: binlog.000042, position: 1207, time: '2025-01-31T11:59:00.000000Z', gtid: 0-1-5317,
           transaction_file: binlog.000042, transaction_position: 1165}
transactions:
  description: MySQL/MariaDB, O(state=events) - the matching transactions, oldest first - file, position (where it
    starts), end_position, time (UTC), gtid, stop_binlog_file and stop_position (to recover to just before it), and
    events - per statement its position, database (the session's default) and statement (shortened), per table
    with row events its position, kind (insert, update or delete), database, table and row_events.
  returned: state=events
  type: list
  elements: dict
  sample: [{file: binlog.000042, position: 1165, end_position: 1290, time: '2025-01-31T11:58:41.000000Z',
            gtid: 0-1-5317, stop_binlog_file: binlog.000042, stop_position: 1165,
            events: [{position: 1207, kind: statement, database: orders,
                      statement: 'DROP TABLE `invoices` /* generated by server */'}]}]
matched:
  description: MySQL/MariaDB, O(state=events) - how many transactions matched (more than listed when RV(truncated)).
  returned: state=events
  type: int
  sample: 1
truncated:
  description: MySQL/MariaDB, O(state=events) - whether more transactions matched than O(events_limit).
  returned: state=events
  type: bool
  sample: false
files:
  description: MySQL/MariaDB, O(state=events) - the archived binlog files read.
  returned: state=events
  type: list
  elements: str
  sample: [binlog.000041, binlog.000042]
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
        state=dict(type='str', default='restored', choices=['restored', 'enabled', 'status', 'absent', 'events']),
        database=dict(type='str'),
        target_database=dict(type='str'),
        backup_id=dict(type='str', default='latest'),
        stop_datetime=dict(type='str'),
        stop_binlog_file=dict(type='str'),
        stop_position=dict(type='int'),
        events_around=dict(type='str'),
        events_window=dict(type='str'),
        events_table=dict(type='str'),
        events_limit=dict(type='int'),
        if_exists=dict(type='str', default='fail', choices=['fail', 'replace']),
        jobs=dict(type='int', default=2),
        # PostgreSQL (postgres/physical/pitr.py)
        cli_path=dict(type='path', default='/usr/local/bin/dbbackup'),
        cli_config=dict(type='path', default='/etc/dbbackup/dbbackup.conf'),
        archive_timeout=dict(type='int'),
        data_directory=dict(type='path'),
        target_time=dict(type='str'),
        target_xid=dict(type='int'),
        target_lsn=dict(type='str'),
        target_name=dict(type='str'),
        target=dict(type='str', choices=['immediate']),
        target_inclusive=dict(type='bool', default=True),
        target_action=dict(type='str', default='promote', choices=['promote', 'pause', 'shutdown']),
        target_timeline=dict(type='str', default='latest'),
        port=dict(type='int'),
        archive=dict(type='str', default='disabled', choices=['disabled', 'keep']),
        pg_bin_dir=dict(type='path'),
        owner=dict(type='str'),
        wait_timeout=dict(type='int', default=300),
        allow_unencrypted=dict(type='bool', default=False),
        verify=dict(type='str', default='none', choices=['none', 'quick', 'deep']),
        server_settings=dict(type='dict'),
        tablespace_mapping=dict(type='dict'),
        metrics_dir=dict(type='path'),
    )
    argument_spec.update(encryption_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=encryption_mutually_exclusive() + [
                               ['stop_datetime', 'stop_binlog_file'], ['stop_datetime', 'stop_position'],
                               ['target_time', 'target_xid', 'target_lsn', 'target_name', 'target']],
                           required_together=[['stop_binlog_file', 'stop_position']],
                           required_if=[['db_type', 'mysql', ['database']]])
    run(module, run_pitr, import_error=IMPORT_ERROR)


if __name__ == '__main__':
    main()
