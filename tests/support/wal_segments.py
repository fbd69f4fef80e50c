"""Synthetic WAL segments for the archive tests: the page headers PostgreSQL writes, any payload.

wal-push and wal-fetch check every page header of a segment against its name (the page's WAL
position must be the segment's), so a test segment carries real headers: a long header on the
first page (system identifier, segment size, block size), short ones on the others.
"""
import os
import struct

BLCKSZ = 8192
MAGIC_PG15 = 0xD110
SYSID = 7300000000000000001
_SHORT = struct.Struct('<HHIQI4x')
_LONG = struct.Struct('<HHIQI4xQII')


def segment_bytes(name, size=1 << 20, fill=b'seg', random_head=True, sysid=SYSID, page_tli=None,
                  zero_from=None):
    """The bytes of segment `name` (24 hex digits) of `size` bytes: headers + fill (+4 KiB random head).

    page_tli: the timeline written into the headers (default: the name's); zero_from: offset of the
    first page left all zero (as after pg_switch_wal).
    """
    tli = int(name[:8], 16)
    per = (1 << 32) // size
    segno = int(name[8:16], 16) * per + int(name[16:24], 16)
    body = bytearray((fill * (size // len(fill) + 1))[:size])
    if random_head:
        body[64:4096] = os.urandom(4096 - 64)
    for offset in range(0, size, BLCKSZ):
        if zero_from is not None and offset >= zero_from:
            body[offset:] = b'\0' * (size - offset)
            break
        addr = segno * size + offset
        if offset == 0:
            _LONG.pack_into(body, 0, MAGIC_PG15, 0x0002, page_tli or tli, addr, 0, sysid, size, BLCKSZ)
        else:
            _SHORT.pack_into(body, offset, MAGIC_PG15, 0, page_tli or tli, addr, 0)
    return bytes(body)


def write_segment(path, name, size=1 << 20, fill=b'seg', **kw):
    with open(path, 'wb') as f:
        f.write(segment_bytes(name, size, fill, **kw))
    return path
