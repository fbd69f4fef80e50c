# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the backup repository options."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  repository:
    description:
      - Where backups are stored, an absolute directory path on the host that runs the module.
      - Backups of one database live under C(<repository>/<server_name>/logical/<database>/<backup_id>/);
        a backup is complete only once its C(manifest.json) exists.
      - The directory is created (mode 0700) when missing; files are written with mode 0600.
    type: str
    required: true
  server_name:
    description:
      - Name of the server inside the repository, so that one repository can hold backups of many servers.
      - Defaults to O(login_host), with C(_<port>) appended when O(login_port) is not 5432,
        or C(localhost) when only a Unix socket is used.
    type: str
'''
