# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a MySQL/MariaDB server of a given version offers: the one place for version differences.

Tested: MariaDB 10.5, 10.11 and 11.8 (docs/versions.md). MySQL 8.x is not tested here
(Debian does not ship it). A MariaDB release is major.minor (10.5, 10.11, 11.8); a logical
backup restores into the same or a newer release, never an older one. Code that depends on
the flavor (MariaDB or MySQL) or the release asks a Capabilities object (ServerInfo.caps)
instead of comparing them itself; tests/unit/plugins/module_utils/test_capabilities.py lists the facts.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ..common.errors import BadInput

# Column types whose text form must be converted to a character set on input: given binary-charset
# bytes, MariaDB's UUID/INET4/INET6 read their binary form, MySQL's JSON refuses them.
TEXT_INPUT_TYPES = {'mariadb': ('uuid', 'inet4', 'inet6'), 'mysql': ('json',)}


def release_of(version_num):
    """(major, minor) of a version_num such as 101106 (10.11.6)."""
    version_num = int(version_num)
    return version_num // 10000, (version_num // 100) % 100


class Capabilities(object):
    """Facts about one server: flavor 'mariadb' or 'mysql' and version_num (101106 for 10.11.6)."""

    def __init__(self, flavor, version_num):
        self.flavor = flavor
        self.version_num = int(version_num)
        self.release = release_of(self.version_num)

    @property
    def mariadb(self):
        return self.flavor == 'mariadb'

    @property
    def binlog_status_sql(self):
        """The statement that shows the binary log position: SHOW BINARY LOG STATUS (MySQL 8.2+; SHOW
        MASTER STATUS is gone in 8.4), SHOW BINLOG STATUS (MariaDB 10.5.2+), else SHOW MASTER STATUS."""
        if self.mariadb:
            return 'SHOW BINLOG STATUS' if self.version_num >= 100502 else 'SHOW MASTER STATUS'
        return 'SHOW BINARY LOG STATUS' if self.version_num >= 80200 else 'SHOW MASTER STATUS'

    @property
    def gtid_position_sql(self):
        """MariaDB's GTID position of the binary log; None for MySQL, whose status row carries it
        (Executed_Gtid_Set, the fifth column)."""
        return 'SELECT @@GLOBAL.gtid_binlog_pos' if self.mariadb else None

    @property
    def text_input_types(self):
        return TEXT_INPUT_TYPES[self.flavor]

    @property
    def check_constraint_checks(self):
        """SET SESSION check_constraint_checks = 0 turns CHECK constraints off while rows load (MariaDB;
        MySQL has no such switch)."""
        return self.mariadb

    @property
    def account_role_column(self):
        """SQL for "is this mysql.user row a role": MariaDB keeps roles there (is_role); MySQL's roles are
        locked accounts, listed as users."""
        return 'is_role' if self.mariadb else "'N'"


def _name(flavor, version_num):
    return '%s %d.%d' % (('MySQL' if flavor == 'mysql' else 'MariaDB',) + release_of(version_num))


def check_restore_target(manifest, info):
    """Refuse a restore into an older release of the same flavor before anything is touched.

    manifest: the backup's (server_version_num, database_info.flavor); info: connection.ServerInfo
    of the target. Raises BadInput.
    """
    source_num = manifest.get('server_version_num')
    flavor = (manifest.get('database_info') or {}).get('flavor')
    if not source_num or flavor != info.flavor:
        return
    if release_of(info.version_num) < release_of(source_num):
        raise BadInput('The backup was taken on %s; the target server runs %s, an older release. Nothing was '
                       'changed on the target.' % (_name(flavor, source_num), _name(flavor, info.version_num)),
                       'Restore into %s or newer (a logical backup is the way up, not down).'
                       % _name(flavor, source_num))
