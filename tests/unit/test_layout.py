"""The engine's folders are its layers (docs/architecture.md): imports point down only, no cycles.

    entry points (api, cli, cli_config, ansible_glue)   the root of plugins/module_utils
      -> operations/                                      commands and whole-repository work
      -> postgres/, mysql/                                the engines (never each other)
      -> format/                                          manifest, keys, the backups of a repository
      -> stream/, storage/                                byte stages; repositories (never each other)
      -> common/                                          errors, guarded imports, threads, times

Inside an engine, the logical side never imports the archive side (postgres/physical,
mysql/binlog); the archive side may use the logical one (a MySQL PITR starts with a
logical restore). Only ansible_glue.py imports ansible.
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENGINE = os.path.join(ROOT, 'plugins', 'module_utils')
ENTRY_POINTS = ('api', 'cli', 'cli_config', 'ansible_glue')
RANK = {'common': 0, 'stream': 1, 'storage': 1, 'format': 2, 'postgres': 3, 'mysql': 3, 'operations': 4}
ARCHIVE_SIDE = {'postgres': 'physical', 'mysql': 'binlog'}


def _modules():
    """{dotted name relative to module_utils: path}; packages by their dotted name."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(ENGINE):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        for f in filenames:
            if f.endswith('.py'):
                path = os.path.join(dirpath, f)
                name = os.path.relpath(path, ENGINE)[:-3].replace(os.sep, '.')
                if name.endswith('__init__'):
                    name = name[:-len('__init__')].rstrip('.')
                found[name] = path
    return found


MODULES = _modules()


def _imports(name, path):
    """The engine modules `name` imports (relative imports resolved), anywhere in the file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = name.split('.') if path.endswith('__init__.py') else name.split('.')[:-1]
    package = [p for p in package if p]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = '.'.join(base + (node.module.split('.') if node.module else []))
            for alias in node.names:
                sub = (target + '.' + alias.name) if target else alias.name
                out.add(sub if sub in MODULES else target)
    return out - {''}


def _ansible_imports(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.append(node.module)
    return [n for n in names if n == 'ansible' or n.startswith('ansible.') or n.startswith('ansible_collections')]


GRAPH = dict((name, _imports(name, path)) for name, path in MODULES.items())


def _rank(name):
    top = name.split('.')[0]
    return RANK[top] if top in RANK else 5


def test_the_root_holds_only_the_entry_points():
    root = sorted(n for n in MODULES if n and '.' not in n and n not in RANK)
    assert root == sorted(ENTRY_POINTS)


def test_every_module_lives_in_a_known_layer():
    unknown = sorted(n for n in MODULES if '.' in n and n.split('.')[0] not in RANK)
    assert unknown == []


def test_no_import_cycles():
    """Tarjan's strongly connected components: every one must be a single module."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []


def test_imports_point_down():
    wrong = []
    for name, targets in sorted(GRAPH.items()):
        for target in sorted(targets):
            if _rank(target) > _rank(name):
                wrong.append('%s imports %s (a higher layer)' % (name, target))
            elif _rank(target) == _rank(name) < 5 and target.split('.')[0] != name.split('.')[0]:
                wrong.append('%s imports %s (a sibling of its layer)' % (name, target))
    assert wrong == []


@pytest.mark.parametrize('engine', sorted(ARCHIVE_SIDE))
def test_the_logical_side_never_imports_the_archive_side(engine):
    archive = '%s.%s' % (engine, ARCHIVE_SIDE[engine])
    logical = '%s.logical' % engine
    wrong = sorted('%s imports %s' % (name, target) for name, targets in GRAPH.items()
                   if name == logical or name.startswith(logical + '.')
                   for target in targets if target == archive or target.startswith(archive + '.'))
    assert wrong == []


def test_only_the_glue_imports_ansible():
    importing = sorted(name for name, path in MODULES.items() if _ansible_imports(path))
    assert importing == ['ansible_glue']


def test_the_checker_sees_real_edges():
    """Guards the guard: the resolver finds known edges, so an empty list above means something."""
    assert 'format.manifest' in GRAPH['format.backups']
    assert 'operations.backup' in GRAPH['operations.restore']
    assert 'postgres.connection' in GRAPH['postgres.logical.dump']
    assert any(t.startswith('operations.') for t in GRAPH['api'])
