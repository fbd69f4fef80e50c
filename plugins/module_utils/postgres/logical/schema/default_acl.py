# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ALTER DEFAULT PRIVILEGES (pg_default_acl), per role, global or per schema.

As pg_dump does: a global entry replaces the built-in default
(acldefault(type, role)), so it is diffed against that; a per-schema entry
only adds to it, so it is diffed against nothing. Restored last (decoration),
after every object exists, so it changes no restored object's ACL.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .acl import AclTarget, acl_statements
from .model import DdlItem, POST, PHASE_DECORATION
from .post_common import fetch_dicts, role_quoter

DEFAULT_ACL_SQL = """
SELECT d.oid, pg_catalog.pg_get_userbyid(d.defaclrole) AS role, d.defaclobjtype AS objtype,
       CASE WHEN d.defaclnamespace <> 0 THEN pg_catalog.quote_ident(n.nspname) END AS schema,
       d.defaclacl::text[] AS acl,
       CASE WHEN d.defaclnamespace = 0
            THEN pg_catalog.acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END::"char",
                                       d.defaclrole)::text[]
            ELSE '{}'::text[] END AS base
  FROM pg_catalog.pg_default_acl d
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
 ORDER BY d.defaclrole, n.nspname NULLS FIRST, d.defaclobjtype
"""

OBJECT_WORDS = {'r': 'TABLES', 'S': 'SEQUENCES', 'f': 'FUNCTIONS', 'T': 'TYPES', 'n': 'SCHEMAS'}


def default_acl_items(cur, ctx):
    """One decoration item per pg_default_acl row."""
    quote = role_quoter(cur)
    items = []
    for r in fetch_dicts(cur, DEFAULT_ACL_SQL):
        word = OBJECT_WORDS.get(r['objtype'])
        if word is None:
            continue
        prefix = 'ALTER DEFAULT PRIVILEGES FOR ROLE %s ' % quote(r['role'])
        if r['schema']:
            prefix += 'IN SCHEMA %s ' % r['schema']
        target = AclTarget(word, r['role'], quote, prefix=prefix)
        lines = acl_statements(target, r['acl'], r['base'])
        if lines:
            name = '%s %s%s' % (r['role'], word, ' in ' + r['schema'] if r['schema'] else '')
            items.append(DdlItem(('pg_default_acl', r['oid']), 'DEFAULT ACL', name, '\n'.join(lines) + '\n',
                                 section=POST, phase=PHASE_DECORATION))
    return items
