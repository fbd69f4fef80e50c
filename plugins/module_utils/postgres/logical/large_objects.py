# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Large-object contents in one data file: a header line per object, then its bytes.

    b"<oid> <length>\\n" + <length bytes>   ... repeated, in oid order

Metadata (lo_create with the same OID, owner, comment, ACL) are schema items;
this file carries only the contents, read in 1 MiB pieces.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ...common.errors import IntegrityError

PIECE = 1 << 20


def dump_large_objects(conn, writer):
    """Write every large object visible in conn's snapshot; returns the count."""
    cur = conn.cursor()
    cur.execute('SELECT oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid')
    oids = [r[0] for r in cur.fetchall()]
    for oid in oids:
        lo = conn.lobject(oid, 'rb')
        try:
            size = lo.seek(0, 2)
            lo.seek(0, 0)
            writer.write(b'%d %d\n' % (oid, size))
            left = size
            while left > 0:
                data = lo.read(min(PIECE, left))
                if not data:
                    raise IntegrityError('Large object %d ended early while dumping.' % oid)
                writer.write(data)
                left -= len(data)
        finally:
            lo.close()
    return len(oids)


def iter_large_object_pieces(reader, label):
    """(oid, offset, piece) for the whole file; a zero-length object yields one empty piece."""
    buf = b''
    while True:
        while b'\n' not in buf:
            more = reader.read(64)
            if not more:
                if buf:
                    raise IntegrityError('Large-object file %s ends inside a header.' % label)
                return
            buf += more
        header, buf = buf.split(b'\n', 1)
        try:
            oid, size = (int(x) for x in header.split(b' '))
        except ValueError:
            raise IntegrityError('Large-object file %s has a bad header %r.' % (label, header[:40]))
        if size == 0:
            yield oid, 0, b''
        offset = 0
        while offset < size:
            if not buf:
                buf = reader.read(min(PIECE, size - offset))
                if not buf:
                    raise IntegrityError('Large-object file %s is truncated in object %d.' % (label, oid))
            piece, buf = buf[:size - offset], buf[size - offset:]
            yield oid, offset, piece
            offset += len(piece)


def restore_large_objects(conn, reader, label):
    """Write contents into large objects created by the schema; returns the count."""
    cur = conn.cursor()
    oids = set()
    for oid, offset, piece in iter_large_object_pieces(reader, label):
        oids.add(oid)
        if piece:
            cur.execute('SELECT pg_catalog.lo_put(%s, %s, %s)', (oid, offset, piece))
    return len(oids)
