# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pack the collection's engine (plugins/module_utils/**/*.py) into a reproducible tar.gz.

Run on the controller by the agent role: python pack_engine.py <collection dir> <output file>.
Same sources give the same bytes (sorted names, fixed times and owners, gzip without a
timestamp), so copying the archive to hosts is idempotent and one copy replaces many.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import io
import os
import sys
import tarfile


def sources(root):
    base = os.path.join(root, 'plugins', 'module_utils')
    if not os.path.isdir(base):
        raise SystemExit('no plugins/module_utils under %s: is it the dbbackup collection?' % root)
    found = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        for name in filenames:
            if name.endswith('.py'):
                path = os.path.join(dirpath, name)
                found.append((os.path.relpath(path, root).replace(os.sep, '/'), path))
    return sorted(found)


def pack(root, out):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in sources(root):
            with open(path, 'rb') as f:
                data = f.read()
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = 'root'
            tar.addfile(info, io.BytesIO(data))
    with open(out, 'wb') as raw:
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0) as gz:
            gz.write(buf.getvalue())


if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit('usage: pack_engine.py <collection dir> <output .tar.gz>')
    pack(sys.argv[1], sys.argv[2])
