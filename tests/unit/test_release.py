"""What a release must keep consistent (scripts/release_checks.sh runs the external tools)."""
import os
import re

from plugins.module_utils.format.manifest import ENGINE_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def _requirements(text):
    return sorted(line.strip() for line in text.splitlines() if line.strip() and not line.startswith('#'))


def test_manifests_record_the_collection_version():
    version = re.search(r'^version:\s*(\S+)', _read('galaxy.yml'), re.M).group(1)
    assert ENGINE_VERSION == version
    assert int(version.split('.')[0]) >= 1      # Automation Hub imports 1.0.0 or greater


def test_execution_environment_needs_what_the_engine_needs():
    assert _requirements(_read('meta', 'ee-requirements.txt')) == _requirements(_read('requirements.txt'))
    # ansible-test integration's and units' virtualenvs too
    assert _requirements(_read('tests', 'integration', 'requirements.txt')) == _requirements(_read('requirements.txt'))
    assert _requirements(_read('tests', 'unit', 'requirements.txt')) == _requirements(_read('requirements.txt'))
    ee = _read('meta', 'execution-environment.yml')
    assert 'meta/ee-requirements.txt' in ee and 'meta/ee-bindep.txt' in ee
    assert 'mariadb-client' in _read('meta', 'ee-bindep.txt')


def test_license_and_metadata():
    assert 'GNU GENERAL PUBLIC LICENSE' in _read('LICENSE') and 'Version 3' in _read('LICENSE')
    galaxy = _read('galaxy.yml')
    assert 'GPL-3.0-or-later' in galaxy and 'example.invalid' not in galaxy
    for dev in ('bench', 'devtools', '.ci'):
        assert re.search(r'^\s*- %s\s*$' % re.escape(dev), galaxy, re.M), dev


def test_every_plugin_file_carries_the_license_header():
    from devtools import license_headers
    missing = [f for f in license_headers.files() if not license_headers.has_header(_read(f))]
    assert missing == [], 'run python -m devtools.license_headers:\n' + '\n'.join(missing)
