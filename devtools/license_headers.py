"""Put the license header on every Python file of the collection's plugins and roles.

    python -m devtools.license_headers          # add what is missing
    python -m devtools.license_headers --check  # list files without it (tests/unit/test_release.py)

The header (after a shebang, before everything else):

    # -*- coding: utf-8 -*-
    # Copyright (c) 2026, dbbackup developers
    # GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
    # SPDX-License-Identifier: GPL-3.0-or-later
"""
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = ['# -*- coding: utf-8 -*-',
          '# Copyright (c) 2026, dbbackup developers',
          '# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)',
          '# SPDX-License-Identifier: GPL-3.0-or-later']
OLD_LICENSE_LINE = '# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)'


def files():
    found = glob.glob(os.path.join(ROOT, 'plugins', '**', '*.py'), recursive=True)
    found += glob.glob(os.path.join(ROOT, 'roles', '*', 'files', '*.py'))
    # __init__.py files stay empty (ansible-test sanity: empty-init)
    return sorted(f for f in found if '__pycache__' not in f and os.path.basename(f) != '__init__.py')


def has_header(text):
    return all(line in text.split('\n')[:8] for line in HEADER[1:])


def with_header(text):
    lines = text.split('\n')
    head = []
    if lines and lines[0].startswith('#!'):
        head.append(lines.pop(0))
    while lines and (lines[0] in HEADER or lines[0] == OLD_LICENSE_LINE or lines[0].startswith('# -*- coding')):
        lines.pop(0)
    return '\n'.join(head + HEADER + lines)


def main(argv):
    missing = [f for f in files() if not has_header(open(f).read())]
    if '--check' in argv:
        for f in missing:
            print(os.path.relpath(f, ROOT))
        return 1 if missing else 0
    for f in missing:
        with open(f) as fh:
            text = fh.read()
        with open(f, 'w') as fh:
            fh.write(with_header(text))
        print('header added: %s' % os.path.relpath(f, ROOT))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
