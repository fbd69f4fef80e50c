# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Databases a killed restore left behind: _dbbackup_restore_<hex> and _dbbackup_old_<hex>.

A restore drops its temporary database when it fails or is stopped; one killed
outright (SIGKILL, a lost session, a crashed host) cannot. Every session of a
running restore carries application_name 'dbbackup restore <hex>' (its
temporary database's suffix, which the old database renamed away by a replace
shares), so a leftover is in use when a session names it so or is connected
to it. find_leftovers() lists them (dbbackup_info leftovers: true);
drop_leftovers() drops those not in use (dbbackup_restore state: absent,
leftovers: true), never another database.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ..connection import quote_ident

NAME_RE = re.compile(r'^_dbbackup_(restore|old)_([0-9a-f]{12})\Z')
APPLICATION = 'dbbackup restore %s'

LEFTOVERS_SQL = r"""
SELECT d.datname, pg_catalog.pg_database_size(d.oid),
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                WHERE a.datname = d.datname
                   OR a.application_name = 'dbbackup restore ' || pg_catalog.right(d.datname, 12))
  FROM pg_catalog.pg_database d
 WHERE d.datname ~ '^_dbbackup_(restore|old)_[0-9a-f]{12}$'
 ORDER BY 1
"""


def application_name(temp_name):
    """The application_name of every session of the restore into temp_name."""
    return APPLICATION % temp_name.rsplit('_', 1)[-1]


def find_leftovers(admin):
    """[{'database', 'kind' (restore|old), 'size_bytes', 'in_use'}] on the server of admin."""
    cur = admin.cursor()
    cur.execute(LEFTOVERS_SQL)
    out = []
    for name, size, in_use in cur.fetchall():
        m = NAME_RE.match(name)
        if m:
            out.append({'database': name, 'kind': m.group(1), 'size_bytes': size, 'in_use': bool(in_use)})
    return out


def drop_leftovers(admin, check_mode=False):
    """Drop the leftovers no session uses; returns (dropped, kept in use)."""
    dropped, busy = [], []
    for leftover in find_leftovers(admin):
        if leftover['in_use']:
            busy.append(leftover)
            continue
        if not check_mode:
            admin.cursor().execute('DROP DATABASE IF EXISTS %s' % quote_ident(leftover['database']))
        dropped.append(leftover)
    return dropped, busy
