# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the database connection options (names as in community.postgresql)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  db_type:
    description:
      - Kind of database server to connect to.
      - Only V(postgresql) is implemented so far; V(mysql) fails with a clear message.
    type: str
    default: postgresql
    choices: [ postgresql, mysql ]
  login_host:
    description:
      - Host name or IP address of the database server.
      - When neither O(login_host) nor O(login_unix_socket) is set, the client library's
        default (a local Unix socket) is used.
    type: str
  login_port:
    description:
      - TCP port of the database server.
    type: int
    default: 5432
  login_user:
    description:
      - Role to log in as. Backups need read access to every object of the database;
        restores need a superuser (the target database is created, owners and grants are set).
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Never logged or returned.
      - When not set, the client library's usual sources apply (C(PGPASSWORD), C(~/.pgpass)).
    type: str
  login_unix_socket:
    description:
      - Directory of the server's Unix-domain socket, used instead of TCP when O(login_host) is not set.
    type: str
  ssl_mode:
    description:
      - Whether or with what priority an SSL/TLS connection is negotiated with the server,
        as libpq's C(sslmode).
      - See U(https://www.postgresql.org/docs/current/libpq-ssl.html) for the modes.
    type: str
    default: prefer
    choices: [ allow, disable, prefer, require, verify-ca, verify-full ]
  ca_cert:
    description:
      - Path of a file with the certificate authority certificate(s) the server certificate
        must be signed by (libpq's C(sslrootcert)).
    type: str
requirements:
  - psycopg2 (C(psycopg2-binary) or C(psycopg2)) on the host that runs the module
'''
