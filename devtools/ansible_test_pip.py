"""Give ansible-test the pip bootstrap script it would download (python devtools/ansible_test_pip.py).

ansible-test creates its own virtualenvs and bootstraps pip in them with a script it downloads
from ci-files.testing.ansible.com, which this network cannot reach. It looks for the script
first in a cache whose file name follows the pip version the installed ansible-test pins; this
writes a stand-in there (bootstrap pip from the interpreter's bundled wheel, then install what
ansible-test asks for from the configured index) and prints its path. Run it with the Python of
the virtualenv that holds the ansible-core to use; each ansible-core line pins its own pip.
"""
import os
import re
import sys

STANDIN = '''# dbbackup stand-in for ansible-test's get-pip bootstrap script (written by
# devtools/ansible_test_pip.py): bootstrap pip from the interpreter's bundled wheel, then
# install the pinned packages ansible-test asks for from the configured index.
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
os.environ.pop('PIP_CONFIG_FILE', None)  # ensurepip points it at os.devnull; the site pip.conf must apply
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
'''


def cache_path():
    import ansible_test
    base = os.path.dirname(ansible_test.__file__)
    try:
        from ansible_test._internal.python_requirements import get_venv_packages

        class _Py(object):
            version = '%d.%d' % sys.version_info[:2]
        pip_version = get_venv_packages(_Py())['pip']
    except Exception:
        with open(os.path.join(base, '_internal', 'python_requirements.py')) as f:
            m = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", f.read())
        if not m:
            raise SystemExit('cannot find the pip version pinned by ansible-test in %s' % base)
        pip_version = m.group(1)
    with open(os.path.join(base, '_util', 'target', 'setup', 'requirements.py')) as f:
        m = re.search(r"cache_path = os\.path\.expanduser\('([^']+)' % pip_version\.replace", f.read())
    if not m:
        raise SystemExit('cannot find where ansible-test caches its pip bootstrap script (%s)' % base)
    return os.path.expanduser(m.group(1) % pip_version.replace('.', '_'))


def main():
    path = cache_path()
    if os.path.exists(path):
        with open(path) as f:
            if 'dbbackup stand-in' not in f.read():
                print(path)       # a real script is cached already: keep it
                return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        f.write(STANDIN)
    os.rename(path + '.tmp', path)
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
