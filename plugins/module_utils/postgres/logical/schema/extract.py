# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entry point for schema extraction: every DdlItem of one database, ordered.

PRE items come back in dependency order; POST items sorted by phase (stable,
so extractors keep control of the order inside a phase). Pre-data objects that
need a post-data one are postponed first (postpone.py).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...capabilities import Capabilities
from .model import PRE, POST
from .order import order_pre_items
from .post_data import extract_post
from .postpone import postpone
from .pre_data import extract_pre


class ExtractContext(object):
    """What extractors may want to know about the source."""

    def __init__(self, server_version_num, database, is_superuser=True):
        self.server_version_num = server_version_num
        self.caps = Capabilities(server_version_num)
        self.database = database
        self.is_superuser = is_superuser


def extract_schema(cur, ctx):
    """Return (pre_items, post_items) for the database cur is connected to."""
    items = list(extract_pre(cur, ctx)) + list(extract_post(cur, ctx))
    pre, post = postpone([i for i in items if i.section == PRE], [i for i in items if i.section == POST])
    return order_pre_items(pre), sorted(post, key=lambda i: i.phase)
