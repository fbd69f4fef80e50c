"""docs/modules/*.md list every option and return value of their module (devtools/module_docs.py)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import re

from devtools import module_docs


def test_generated_reference_is_current():
    stale = [os.path.relpath(p, module_docs.ROOT) for p, wanted in module_docs.pages().items()
             if not os.path.exists(p) or open(p).read() != wanted]
    assert stale == [], 'run python -m devtools.module_docs'


def test_every_option_and_return_value_is_on_its_page():
    for path, text in module_docs.pages().items():
        if path.endswith(module_docs.SHARED):
            continue
        name = os.path.basename(path)[:-3]
        with open(os.path.join(module_docs.ROOT, 'plugins', 'modules', name + '.py')) as f:
            source = f.read()
        doc = module_docs._yaml_block(source, 'DOCUMENTATION')
        returns = module_docs._yaml_block(source, 'RETURN') or {}
        for key in list(doc.get('options') or {}) + list(returns):
            assert re.search(r'\| `%s` \|' % re.escape(key), text), (name, key)
