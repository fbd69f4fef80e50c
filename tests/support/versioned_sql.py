"""Fixture SQL for every server version: blocks a version does not have are left out.

A fixture marks what needs a newer server between two comment lines, and may give what
older servers load instead:

    -- @since 15
    ALTER TABLE t ADD UNIQUE NULLS NOT DISTINCT (a);
    -- @end
    -- @until 15
    -- | ALTER TABLE t ADD UNIQUE (a);
    -- @end

A @since block is dropped for an older server. The lines of an @until block start with
`-- | ` (a comment for PostgreSQL and MySQL alike: MySQL needs the space after `--`) and
are loaded, without that prefix, only by older servers. For everyone else all of
this is plain comments, so the core suite loads the fixtures unchanged with plain psql. Versions compare as numbers
(13 < 15 < 17; 10.5 < 10.11 < 11.8).
"""
import re

_SINCE = re.compile(r'^--\s*@(since|until)\s+([0-9.]+)\s*$')
_END = re.compile(r'^--\s*@end\s*$')


def version_key(version):
    return tuple(int(x) for x in str(version).split('.'))


def for_version(text, version):
    """The fixture text as `version` can load it."""
    have = version_key(version)
    out = []
    skipping = until = None
    for line in text.splitlines(True):
        since = _SINCE.match(line.strip())
        if since:
            if skipping is not None:
                raise ValueError('nested @since/@until blocks are not supported')
            bound = version_key(since.group(2))
            until = bound if since.group(1) == 'until' else None
            skipping = bound > have if until is None else have >= bound
            out.append(line)
            continue
        if _END.match(line.strip()):
            if skipping is None:
                raise ValueError('@end without @since/@until')
            skipping = until = None
            out.append(line)
            continue
        if until is not None:
            if not line.startswith('-- |'):
                raise ValueError('lines of an @until block start with "-- | ": %r' % line)
            if not skipping:
                out.append(line[5:] if line.startswith('-- | ') else line[4:])
        elif not skipping:
            out.append(line)
    if skipping is not None:
        raise ValueError('@since/@until block without @end')
    return ''.join(out)


def read_for_version(path, version):
    with open(path) as f:
        return for_version(f.read(), version)
