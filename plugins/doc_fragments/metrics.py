# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared documentation of the Prometheus textfile metrics option."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  metrics_dir:
    description:
      - Directory of node_exporter's textfile collector (for example C(/var/lib/prometheus/node-exporter)) on the
        host that runs the module. When set, the outcome is recorded there in C(dbbackup.prom) as C(dbbackup_*)
        series labelled with server, db_type, kind and database, merged with the series of other databases.
      - A backup records its success, failure or skip (O(ignore:max_age)) with time, duration and sizes;
        a restore records whether the verification of the backup's files passed.
      - M(dbbackup.dbbackup.dbbackup_pitr) with C(state=status) (PostgreSQL) records the WAL archive's health, lag,
        chain gaps and recovery window as C(dbbackup_wal_*), C(dbbackup_pitr_*) and C(dbbackup_base_backups) series
        labelled with server and db_type, replacing the previous status of that server.
      - The directory must exist and be writable by the user that runs the module (the
        C(dbbackup.dbbackup.metrics) role prepares it). Nothing is recorded in check mode.
      - The metrics and their state file are described in C(docs/metrics.md) of the collection.
    type: path
requirements:
  - prometheus-client, when O(metrics_dir) is set
'''
