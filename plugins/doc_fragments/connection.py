# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared documentation of the database connection options (names as in community.postgresql)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  db_type:
    description:
      - Kind of database server to connect to.
      - V(mysql) covers MySQL and MariaDB (connections through PyMySQL; see C(docs/mysql.md)).
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
      - Defaults to V(5432) with O(db_type=postgresql) and V(3306) with O(db_type=mysql).
    type: int
  login_user:
    description:
      - Role to log in as. Backups need read access to every object of the database;
        restores need a superuser (the target database is created, owners and grants are set).
      - Defaults to V(postgres) with O(db_type=postgresql) and V(root) with O(db_type=mysql).
    type: str
  login_password:
    description:
      - Password of O(login_user). Never logged or returned.
      - When not set, the client library's usual sources apply (C(PGPASSWORD), C(~/.pgpass)).
      - With O(db_type=mysql) no environment variable or option file is read, so give it here.
    type: str
  login_unix_socket:
    description:
      - Directory of the server's Unix-domain socket, used instead of TCP when O(login_host) is not set.
      - With O(db_type=mysql), the path of the socket file itself (for example C(/run/mysqld/mysqld.sock)).
    type: str
  ssl_mode:
    description:
      - Whether or with what priority an SSL/TLS connection is negotiated with the server,
        as libpq's C(sslmode).
      - See U(https://www.postgresql.org/docs/current/libpq-ssl.html) for the modes.
      - With O(db_type=mysql) the same names apply; V(allow) and V(prefer) use TLS when the server
        offers it without checking its certificate, V(require) insists on TLS, V(verify-ca) and
        V(verify-full) also check the certificate against O(ca_cert) (and the host name).
    type: str
    default: prefer
    choices: [ allow, disable, prefer, require, verify-ca, verify-full ]
  ca_cert:
    description:
      - Path of a file with the certificate authority certificate(s) the server certificate
        must be signed by (libpq's C(sslrootcert)).
    type: str
requirements:
  - psycopg2 (C(psycopg2-binary) or C(psycopg2)) on the host that runs the module, for O(db_type=postgresql)
  - PyMySQL on the host that runs the module, for O(db_type=mysql)
'''
