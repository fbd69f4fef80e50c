# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options of the module group that a module accepts without using them (module_defaults)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  jobs:
    description:
      - Not used by this module. Accepted so that C(module_defaults) for the whole module group
        (C(group/dbbackup.dbbackup.dbbackup)) can set O(jobs) for the modules that copy data in parallel.
    type: int
'''
