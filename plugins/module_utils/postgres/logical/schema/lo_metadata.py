# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Large-object metadata: lo_create with the source OID (pre-data).

Contents are copied by the data phase, owners/ACLs/comments are decorations
(privileges.py, comments.py); here only the objects themselves.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .model import DdlItem, PRE

LARGE_OBJECTS_SQL = "SELECT oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid"


def large_object_items(cur, ctx):
    """One PRE item (kind BLOB) per large object."""
    cur.execute(LARGE_OBJECTS_SQL)
    return [DdlItem(('pg_largeobject_metadata', oid), 'BLOB', str(oid),
                    "SELECT pg_catalog.lo_create('%d');\n" % oid, section=PRE)
            for (oid,) in cur.fetchall()]
