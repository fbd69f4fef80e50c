# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The only engine-side file that imports ansible: option specs and result mapping.

Modules build their argument_spec from the pieces here (documented in
plugins/doc_fragments/) and hand one engine entry point to run(), which turns
engine results into exit_json and engine errors into fail_json. Everything
else in module_utils stays free of ansible so the host CLI reuses it.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import signal
import traceback

from ansible.module_utils.basic import missing_required_lib

from .common.errors import DbBackupError, MissingDependency

SSL_MODES = ['allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full']


def connection_argument_spec():
    """Connection options, named as in community.postgresql (doc fragment: connection)."""
    return dict(
        db_type=dict(type='str', default='postgresql', choices=['postgresql', 'mysql']),
        login_host=dict(type='str'),
        login_port=dict(type='int'),   # default by db_type: 5432 / 3306 (api.DEFAULT_PORT)
        login_user=dict(type='str'),   # default by db_type: postgres / root (api.DEFAULT_USER)
        login_password=dict(type='str', no_log=True),
        login_unix_socket=dict(type='str'),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='str'),
    )


def repository_argument_spec():
    """Where backups live (doc fragment: repository)."""
    return dict(
        repository=dict(type='str', required=True),
        server_name=dict(type='str'),
        # S3-compatible repositories (storage/s3.py); ignored for local directories
        s3_endpoint_url=dict(type='str'),
        s3_region=dict(type='str'),
        s3_addressing_style=dict(type='str', choices=['auto', 'path', 'virtual']),
        aws_access_key=dict(type='str', no_log=False),
        aws_secret_key=dict(type='str', no_log=True),
        aws_session_token=dict(type='str', no_log=True),
        aws_profile=dict(type='str'),
        s3_storage_class=dict(type='str'),
        s3_sse=dict(type='str', choices=['AES256', 'aws:kms']),
        s3_sse_kms_key_id=dict(type='str', no_log=False),
        s3_ca_bundle=dict(type='path'),
        s3_validate_certs=dict(type='bool', default=True),
        # Azure Blob Storage (storage/azure.py) and Google Cloud Storage (storage/gcs.py)
        azure_account_name=dict(type='str'),
        azure_account_url=dict(type='str'),
        azure_account_key=dict(type='str', no_log=True),
        azure_sas_token=dict(type='str', no_log=True),
        azure_connection_string=dict(type='str', no_log=True),
        azure_access_tier=dict(type='str', choices=['Hot', 'Cool', 'Cold', 'Archive']),
        azure_encryption_scope=dict(type='str'),
        gcs_endpoint_url=dict(type='str'),
        gcs_project=dict(type='str'),
        gcs_credentials_file=dict(type='path'),
        gcs_credentials_json=dict(type='str', no_log=True),
        gcs_storage_class=dict(type='str', choices=['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE']),
        gcs_kms_key_name=dict(type='str', no_log=False),
    )


def encryption_argument_spec(prefix=''):
    """Encryption key options (doc fragment: encryption); prefix 'new_' for the rekey module's new key."""
    return {
        prefix + 'encryption_key_file': dict(type='path', no_log=False),
        prefix + 'encryption_key_env': dict(type='str', no_log=False),
        prefix + 'encryption_passphrase': dict(type='str', no_log=True),
    }


def encryption_mutually_exclusive(prefix=''):
    """Only one key source at a time."""
    return [[prefix + 'encryption_key_file', prefix + 'encryption_key_env', prefix + 'encryption_passphrase']]


def common_argument_spec(**extra):
    """Connection + repository options, plus the module's own ones."""
    spec = connection_argument_spec()
    spec.update(repository_argument_spec())
    spec.update(extra)
    return spec


def _params(module):
    """Module params without Ansible's internal keys, as the engine expects them."""
    return dict((k, v) for k, v in module.params.items() if not k.startswith('_'))


def _stop(signum, frame):
    raise KeyboardInterrupt()


def run(module, engine_fn, import_error=None):
    """Call engine_fn(params, check_mode=...) and exit the module with its result.

    import_error: an ImportError caught while importing the engine module, if
    any; it is reported as a missing library instead of a bare traceback.
    """
    if import_error is not None:
        _fail_missing(module, getattr(import_error, 'name', None) or str(import_error),
                      import_error)
    signal.signal(signal.SIGTERM, _stop)     # a timeout's SIGTERM cleans up as an interrupt does
    try:
        result = engine_fn(_params(module), check_mode=module.check_mode)
    except KeyboardInterrupt:
        module.fail_json(msg='The task was stopped (SIGTERM or SIGINT); nothing incomplete was recorded.',
                         error_type='Interrupted')
    except MissingDependency as e:
        _fail_missing(module, e.library, e.error or e, traceback.format_exc())
    except DbBackupError as e:
        module.fail_json(msg=str(e), error_type=type(e).__name__)
    except ImportError as e:  # a third-party import the engine did not guard
        _fail_missing(module, getattr(e, 'name', None) or str(e), e, traceback.format_exc())
    result = dict(result or {})
    result.setdefault('changed', False)
    module.exit_json(**result)


# What to do about it on a managed host: the agent role's virtualenv has every library (docs/fleet.md).
AGENT_HINT = ('On managed hosts, install the engine and its libraries with the dbbackup.dbbackup.agent role '
              '(a virtualenv, /opt/dbbackup/venv by default) and set ansible_python_interpreter to its Python '
              '(/opt/dbbackup/venv/bin/python) for the plays that use dbbackup modules; see docs/fleet.md.')


def _fail_missing(module, library, error, exc=None):
    """fail_json with Ansible's standard missing-library message and the agent role as the remedy."""
    module.fail_json(msg='%s %s' % (missing_required_lib(library, reason='by the dbbackup engine (%s)' % error),
                                    AGENT_HINT),
                     exception=exc or traceback.format_exc())
