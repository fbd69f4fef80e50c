"""Entry point for schema extraction: every DdlItem of one database, ordered.

PRE items come back in dependency order; POST items sorted by phase (stable,
so extractors keep control of the order inside a phase).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from .ddl_model import PRE, POST
from . import ddl_pre, ddl_post, ddl_order


class ExtractContext(object):
    """What extractors may want to know about the source."""

    def __init__(self, server_version_num, database, is_superuser=True):
        self.server_version_num = server_version_num
        self.database = database
        self.is_superuser = is_superuser


def extract_schema(cur, ctx):
    """Return (pre_items, post_items) for the database cur is connected to."""
    items = list(ddl_pre.extract_pre(cur, ctx)) + list(ddl_post.extract_post(cur, ctx))
    pre = ddl_order.order_pre_items([i for i in items if i.section == PRE])
    post = sorted((i for i in items if i.section == POST), key=lambda i: i.phase)
    return pre, post
