"""The option and return-value reference of docs/modules/*.md, generated from the modules.

Each docs/modules/<module>.md keeps its hand-written guide; the part between the markers
below is generated from the module's DOCUMENTATION and RETURN, and docs/modules/shared-options.md
from plugins/doc_fragments, so the pages can never omit an option or a return value:

    python -m devtools.module_docs           # rewrite the generated parts
    python -m devtools.module_docs --check   # exit 1 when a page is stale (tests/unit/plugins/modules/test_module_docs.py)
"""
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = '<!-- BEGIN GENERATED: options and return values (python -m devtools.module_docs) -->'
END = '<!-- END GENERATED -->'
SHARED = 'shared-options.md'
FRAGMENT_TITLES = {
    'connection': 'Connection (`db_type`, `login_*`, `ssl_mode`, `ca_cert`)',
    'repository': 'Repository and object storage (`repository`, `server_name`, `s3_*`, `aws_*`, ...)',
    'encryption': 'Encryption keys (`encryption_*`)',
    'group': 'Accepted for the module group',
    'metrics': 'Metrics',
}


def _yaml_block(source, name):
    m = re.search(r"^\s*%s = r'''(.*?)'''" % name, source, re.S | re.M)
    return yaml.safe_load(m.group(1)) if m else {}


def _markup(text):
    """Ansible documentation markup -> Markdown."""
    text = str(text)
    arg = r'\(((?:[^()]|\([^()]*\))*)\)'  # one level of nested parentheses, e.g. C(now())
    text = re.sub(r'\b(?:O|RV)\([\w.]+#\w+:([^)]*)\)', r'`\1`', text)  # option of another plugin
    text = re.sub(r'\b(?:O|V|RV|C|M)' + arg, r'`\1`', text)
    text = re.sub(r'\bI' + arg, r'*\1*', text)
    text = re.sub(r'\bB' + arg, r'**\1**', text)
    text = re.sub(r'\bU' + arg, r'<\1>', text)
    text = re.sub(r'\bL\(([^,]*),([^)]*)\)', r'[\1](\2)', text)
    return text.replace('|', '\\|').replace('\n', ' ')


def _description(value):
    if isinstance(value, list):
        return ' '.join(_markup(v) for v in value)
    return _markup(value or '')


def _option_rows(options, prefix=''):
    rows = []
    for name in sorted(options):
        spec = options[name] or {}
        kind = spec.get('type', 'str')
        if spec.get('elements'):
            kind += ' of ' + spec['elements']
        default = spec.get('default')
        choices = spec.get('choices')
        extra = []
        if spec.get('required'):
            extra.append('**required**')
        if default is not None:
            extra.append('default `%s`' % (default,))
        if choices:
            extra.append('choices: %s' % ', '.join('`%s`' % (c,) for c in choices))
        rows.append('| `%s%s` | %s | %s | %s |' % (prefix, name, kind, '; '.join(extra), _description(spec.get('description'))))
        if spec.get('suboptions'):
            rows.extend(_option_rows(spec['suboptions'], prefix + name + '.'))
    return rows


def _return_rows(returns, prefix=''):
    rows = []
    for name in sorted(returns):
        spec = returns[name] or {}
        rows.append('| `%s%s` | %s | %s | %s |' % (
            prefix, name, spec.get('type', ''), _markup(spec.get('returned', '')), _description(spec.get('description'))))
        if spec.get('contains'):
            rows.extend(_return_rows(spec['contains'], prefix + name + '.'))
    return rows


def _fragments(doc):
    return [f.split('.')[-1] for f in doc.get('extends_documentation_fragment') or []
            if f.split('.')[-1] != 'attributes']


def module_reference(path):
    with open(path) as f:
        source = f.read()
    doc, returns = _yaml_block(source, 'DOCUMENTATION'), _yaml_block(source, 'RETURN') or {}
    lines = [BEGIN, '', '## Options', '']
    shared = _fragments(doc)
    if shared:
        lines.append('Also the shared options of [%s](%s): %s.' % (SHARED, SHARED, ', '.join(
            '[%s](%s#%s)' % (FRAGMENT_TITLES.get(f, f), SHARED, f) for f in shared)))
        lines.append('')
    lines += ['| option | type | | description |', '| --- | --- | --- | --- |'] + _option_rows(doc.get('options') or {})
    lines += ['', '## Return values', '', '| key | type | returned | description |', '| --- | --- | --- | --- |']
    lines += _return_rows(returns) + ['', END]
    return '\n'.join(lines) + '\n'


def shared_page():
    lines = [BEGIN, '', '# Shared module options', '',
             'Options that several modules share, from `plugins/doc_fragments/`. Each module page says which',
             'groups it takes. The connection, repository, encryption options and `jobs` are accepted by every module',
             'of the group `group/dbbackup.dbbackup.dbbackup`, so `module_defaults` for the group may set them.', '']
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'doc_fragments', '*.py'))):
        name = os.path.basename(path)[:-3]
        if name == 'attributes':
            continue
        with open(path) as f:
            doc = _yaml_block(f.read(), 'DOCUMENTATION')
        lines += ['## %s' % name, '', FRAGMENT_TITLES.get(name, name) + '.', '',
                  '| option | type | | description |', '| --- | --- | --- | --- |']
        lines += _option_rows(doc.get('options') or {}) + ['']
    lines.append(END)
    return '\n'.join(lines) + '\n'


def _with_generated(current, generated):
    if BEGIN in current and END in current:
        head = current[:current.index(BEGIN)]
        tail = current[current.index(END) + len(END):].lstrip('\n')
        return head + generated + (('\n' + tail) if tail else '')
    return current.rstrip('\n') + '\n\n' + generated


def pages():
    """{path: wanted content} of every generated page."""
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        name = os.path.basename(path)[:-3]
        page = os.path.join(ROOT, 'docs', 'modules', name + '.md')
        current = ''
        if os.path.exists(page):
            with open(page) as f:
                current = f.read()
        else:
            current = '# %s\n' % name
        out[page] = _with_generated(current, module_reference(path))
    out[os.path.join(ROOT, 'docs', 'modules', SHARED)] = shared_page()
    return out


def main(argv):
    stale = []
    for path, wanted in pages().items():
        current = open(path).read() if os.path.exists(path) else None
        if current == wanted:
            continue
        if '--check' in argv:
            stale.append(os.path.relpath(path, ROOT))
        else:
            with open(path, 'w') as f:
                f.write(wanted)
            print('wrote %s' % os.path.relpath(path, ROOT))
    if stale:
        sys.stderr.write('stale module docs (run python -m devtools.module_docs): %s\n' % ', '.join(stale))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
