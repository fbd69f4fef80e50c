# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pre-data.sql / post-data.sql: readable SQL that the restorer can split again.

Framing (length-prefixed items, never split by scanning SQL) is format/item_file.py;
this file maps DdlItems to and from its records.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ....common.errors import IntegrityError
from ....format.item_file import read_framed, write_framed
from .model import DdlItem, PRE

PREAMBLE = ('-- dbbackup logical dump: %s. Restore with dbbackup_restore, or with psql after\n'
            '-- SET search_path = \'\'; SET check_function_bodies = false;\n')


def write_items(writer, items, section):
    """Write items as text to a binary writer; returns the item count."""
    return write_framed(writer, PREAMBLE % ('pre-data' if section == PRE else 'post-data'),
                        (({'kind': i.kind, 'name': i.name, 'phase': i.phase, 'key': list(i.key)}, i.sql)
                         for i in items))


def read_items(reader, section, label='schema file'):
    """Parse a file written by write_items back into DdlItems, in file order."""
    items = []
    for meta, sql in read_framed(reader, label):
        try:
            items.append(DdlItem(meta.get('key') or (), meta['kind'], meta['name'], sql,
                                 section=section, phase=meta.get('phase', 0)))
        except (KeyError, TypeError) as e:
            raise IntegrityError('Schema file %s has an item without %s.' % (label, e),
                                 'The backup cannot be restored; use another backup_id.')
    return items
