# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`dbbackup --config FILE`: option values (and secrets) from a file instead of the command line.

Timers and archive_command call the host CLI with `--config /etc/dbbackup/dbbackup.conf`
so that no password or passphrase is ever part of a command line. The file uses
the option names of the CLI and the modules (login_host or login-host), in INI
or JSON:

    [dbbackup]                 # INI: applies to every command
    login_host = 127.0.0.1
    login_user = backup
    login_password = secret    # secrets only here or in the environment
    repository = /var/backups/dbbackup     # or azure://container/prefix with azure_account_key = ...
    metrics_dir = /var/lib/prometheus/node-exporter
    [backup]                   # applies to `dbbackup backup` only (also [restore], [list], ...)
    jobs = 4

    {"login_host": "127.0.0.1", "repository": "/srv/backups", "backup": {"jobs": 4}}   # JSON

Command-line options win over the file, the environment (PGPASSWORD,
DBBACKUP_LOGIN_PASSWORD, DBBACKUP_ENCRYPTION_PASSPHRASE; for the cloud secrets
azure_account_key, azure_sas_token, azure_connection_string and
gcs_credentials_json any of AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN,
AZURE_STORAGE_CONNECTION_STRING, GOOGLE_APPLICATION_CREDENTIALS) wins over
secrets in the file. A file holding a secret must not be readable by others (mode 0600,
or 0640 with a group of the backup user). Unknown names are an error, so a typo
does not silently fall back to a default.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat

from .common.errors import BadInput

SECTION = 'dbbackup'
# Cloud credentials may live here too; their standard environment variable, when set, wins.
CLOUD_SECRETS = {'azure_connection_string': 'AZURE_STORAGE_CONNECTION_STRING', 'azure_account_key': 'AZURE_STORAGE_KEY',
                 'azure_sas_token': 'AZURE_STORAGE_SAS_TOKEN', 'gcs_credentials_json': 'GOOGLE_APPLICATION_CREDENTIALS'}
SECRETS = ('login_password', 'encryption_passphrase', 'new_encryption_passphrase') + tuple(sorted(CLOUD_SECRETS))


def config_path(argv):
    """The value of --config FILE / --config=FILE in argv, or None."""
    argv = list(argv or [])
    for i, arg in enumerate(argv):
        if arg == '--config' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--config='):
            return arg.split('=', 1)[1]
    return None


def _normalize(values, where):
    if not isinstance(values, dict):
        raise BadInput('%s must hold option names and values.' % where)
    return dict((str(k).strip().replace('-', '_'), v) for k, v in values.items())


def read_config(path):
    """{'common': {...}, '<command>': {...}} from an INI or JSON file."""
    try:
        st = os.stat(path)
        with open(path) as f:
            text = f.read()
    except (IOError, OSError) as e:
        raise BadInput('Cannot read the config file %s: %s.' % (path, e.strerror or e))
    if text.lstrip().startswith('{'):
        try:
            data = _normalize(json.loads(text), 'The config file %s' % path)
        except ValueError as e:
            raise BadInput('The config file %s is not valid JSON: %s.' % (path, e))
        sections = {'common': dict((k, v) for k, v in data.items() if not isinstance(v, dict))}
        for k, v in data.items():
            if isinstance(v, dict):
                sections[k] = _normalize(v, 'Section %s of %s' % (k, path))
    else:
        import configparser
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=path)
        except configparser.Error as e:
            raise BadInput('The config file %s is not valid INI: %s' % (path, e))
        sections = {}
        for name in parser.sections():
            key = 'common' if name == SECTION else name
            sections[key] = _normalize(dict(parser.items(name)), 'Section %s of %s' % (name, path))
    has_secret = any(k in SECRETS and v not in (None, '') for s in sections.values() for k, v in s.items())
    if has_secret and st.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        raise BadInput('The config file %s holds a secret and is readable by others (mode %o).'
                       % (path, stat.S_IMODE(st.st_mode)), 'chmod 600 (or 640 with the backup group) it.')
    return sections


def _subparsers(parser):
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def apply_config(parser, argv):
    """Load --config (if given) into the parser's defaults; returns the secrets it holds (a dict)."""
    path = config_path(argv)
    if not path:
        return {}
    sections = read_config(path)
    commands = _subparsers(parser)
    known = set(SECRETS)
    for sub in commands.values():
        known.update(a.dest for a in sub._actions if a.dest not in ('help', 'config', 'check'))
    for name, values in sections.items():
        if name != 'common' and name not in commands:
            raise BadInput('The config file %s has a section %r; sections are %s and the commands %s.'
                           % (path, name, SECTION, ', '.join(sorted(commands))))
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadInput('The config file %s names unknown options: %s.' % (path, ', '.join(unknown)),
                           'Use the CLI option names, for example login_host or repository.')
    # subcommands share the parent's option objects: set defaults for the invoked command only
    command = next((a for a in argv if a in commands), None)
    if command is None:
        return {}
    values = dict(sections.get('common', {}))
    values.update(sections.get(command, {}))
    for action in commands[command]._actions:
        if action.dest in values and action.dest not in ('help', 'config', 'check'):
            value = values[action.dest]
            if action.type is not None and isinstance(value, str):
                try:
                    value = action.type(value)
                except (TypeError, ValueError):
                    raise BadInput('%s in the config file %s must be %s, got %r.'
                                   % (action.dest, path, getattr(action.type, '__name__', 'valid'), value))
            if action.choices is not None and value not in action.choices:
                raise BadInput('%s in the config file %s must be one of %s, got %r.'
                               % (action.dest, path, ', '.join(map(str, action.choices)), value))
            action.default = value
            action.required = False
    return {command: dict((k, values[k]) for k in SECRETS if values.get(k) not in (None, ''))}


def fill_secrets(params, secrets, command):
    """Secrets of the config file for params the environment left empty."""
    cloud_env = [k for k, env in CLOUD_SECRETS.items() if os.environ.get(env)]
    for key, value in (secrets.get(command) or {}).items():
        if cloud_env and key in CLOUD_SECRETS:
            continue        # AZURE_STORAGE_* / GOOGLE_APPLICATION_CREDENTIALS set: the environment decides
        if not params.get(key):
            params[key] = value
    params.pop('config', None)
    return params
