# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""LOAD DATA LOCAL INFILE fed from an engine stream instead of a client file.

PyMySQL answers the server's "send me file X" request by opening X on the
client. The subclass below answers it from the readable the caller attached
(conn.load_source) and only for the exact name the caller used, so the server
can never make the engine read a file of this host. Nothing touches disk and
no extra thread or FIFO is needed. PyMySQL exposes no public hook for this:
the override uses MySQLResult internals that have been stable since PyMySQL
0.7 (LoadLocalPacketWrapper, write_packet, _read_ok_packet); load.py falls
back to batched INSERT statements when they are missing or the server refuses
LOCAL INFILE.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

PACKET_BYTES = 64 * 1024
_classes = {}


class LoadSourceRefused(Exception):
    """The server asked for a file name the engine did not offer."""


def supported(pymysql):
    conns = getattr(pymysql, 'connections', None)
    return all(hasattr(conns, name) for name in ('MySQLResult', 'LoadLocalPacketWrapper', 'Connection')) \
        and hasattr(conns.MySQLResult, '_read_ok_packet')


def streaming_connection_class(pymysql):
    if 'cls' in _classes:
        return _classes['cls']
    conns = pymysql.connections
    if not supported(pymysql):
        _classes['cls'] = conns.Connection
        return conns.Connection

    class StreamingResult(conns.MySQLResult):
        def _read_load_local_packet(self, first_packet):
            conn = self.connection
            packet = conns.LoadLocalPacketWrapper(first_packet)
            name = packet.filename
            if isinstance(name, bytes):
                name = name.decode('utf-8', 'replace')
            source = getattr(conn, 'load_source', None)
            failure = None
            try:
                if source is None or name != getattr(conn, 'load_name', None):
                    failure = LoadSourceRefused('the server asked for file %r, which this engine does not send'
                                                % name)
                else:
                    while True:
                        chunk = source.read(PACKET_BYTES)
                        if not chunk:
                            break
                        conn.write_packet(chunk)
            finally:
                conn.write_packet(b'')     # end of data: the server answers OK or an error
                ok_packet = conn._read_packet()
            if failure is not None:
                raise failure
            if not ok_packet.is_ok_packet():
                raise pymysql.err.OperationalError(2014, 'Commands out of sync')
            self._read_ok_packet(ok_packet)

    class StreamingConnection(conns.Connection):
        load_source = None
        load_name = None
        streaming = True

        def _read_query_result(self, unbuffered=False):
            if unbuffered:
                return super(StreamingConnection, self)._read_query_result(unbuffered=True)
            self._result = None
            result = StreamingResult(self)
            result.read()
            self._result = result
            if result.server_status is not None:
                self.server_status = result.server_status
            return result.affected_rows

    _classes['cls'] = StreamingConnection
    return StreamingConnection
