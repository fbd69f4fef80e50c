# -*- coding: utf-8 -*-
# Copyright (c) 2026, dbbackup developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Extracting a base backup (kind=base) into a data directory, ready for recovery.

extract_base_backup() verifies every stored file (size and SHA-256 of the stored
bytes, decryption tags, decompression) while it streams the tars out, refuses
anything that could escape the targets (absolute names, '..', links, devices),
restores each tablespace to the location the caller maps it to, or, only for an
encrypted backup (whose tablespace_map is authenticated), to its original one
(rewriting tablespace_map accordingly), writes backup_label and
tablespace_map, and hands everything to the server's OS user. On any failure it
removes what it created, so nothing half-extracted is left looking complete.

Recovery itself (recovery.signal, restore_command, targets, starting the
server) is recovery.py's business.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import pwd
import shutil
import tarfile

from ...common.errors import BadInput, IntegrityError, RestoreFailed
from ...stream.pipeline import StoredFile

READ_SIZE = 1 << 20
MAX_TEXT = 1 << 20        # backup_label / tablespace_map are small


def _read_text(repo, path, entry, compression, data_key):
    stored = StoredFile(repo, path, entry, compression, data_key)
    try:
        data = stored.reader.read(MAX_TEXT + 1)
        if len(data) > MAX_TEXT:
            raise IntegrityError('Backup file %s is larger than a %s can be.' % (entry['path'], entry['role']))
        stored.finish()
    finally:
        stored.close()
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        raise IntegrityError('Backup file %s is not text.' % entry['path'])


def parse_tablespace_map(text):
    """[(oid, location)] of a tablespace_map (locations backslash-escaped as the server writes them)."""
    result = []
    line = []
    escaped = False
    for ch in text:
        if escaped:
            line.append(ch)
            escaped = False
        elif ch == '\\':
            escaped = True
        elif ch == '\n':
            _map_line(''.join(line), result)
            line = []
        else:
            line.append(ch)
    _map_line(''.join(line), result)
    return result


def _map_line(line, result):
    if not line.strip():
        return
    oid, sep, location = line.partition(' ')
    if not sep or not oid.isdigit() or not location:
        raise IntegrityError('The tablespace_map of the backup has an invalid line %r.' % line)
    result.append((int(oid), location))


def format_tablespace_map(pairs):
    out = []
    for oid, location in pairs:
        escaped = ''.join('\\' + ch if ch in '\n\r\\' else ch for ch in location)
        out.append('%d %s\n' % (oid, escaped))
    return ''.join(out)


def _safe_member_name(name, label):
    """A tar member name as relative path components; refuses anything that could escape."""
    if not name or '\0' in name or name.startswith('/'):
        raise IntegrityError('Backup file %s holds an unsafe member name %r.' % (label, name),
                             'The backup cannot be trusted; nothing was kept.')
    parts = [x for x in name.split('/') if x not in ('', '.')]
    if not parts or '..' in parts:
        raise IntegrityError('Backup file %s holds an unsafe member name %r.' % (label, name),
                             'The backup cannot be trusted; nothing was kept.')
    return parts


class _Target(object):
    """A directory being filled; remembers what it created, to remove exactly that on failure."""

    def __init__(self, root):
        self.root = root
        self.existed = os.path.isdir(root)
        self.created_top = None       # topmost directory made for root (when it did not exist)
        self.created = set()          # first path components created inside an existing root
        self.files = 0
        self.bytes = 0

    def prepare(self):
        """Create root and its missing parents, each 0700 whatever the umask."""
        if self.existed:
            return
        missing = []
        path = self.root
        while not os.path.lexists(path) and os.path.dirname(path) != path:
            missing.append(path)
            path = os.path.dirname(path)
        for path in reversed(missing):
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)
            if self.created_top is None:
                self.created_top = path

    def remove(self):
        if self.created_top:
            shutil.rmtree(self.created_top, ignore_errors=True)
            return
        for name in self.created:
            target = os.path.join(self.root, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target, ignore_errors=True)
            else:
                try:
                    os.unlink(target)
                except OSError:
                    pass

    def path_for(self, parts):
        self.created.add(parts[0])
        return os.path.join(self.root, *parts)

    def make_dirs(self, parts, mode=0o700):
        current = self.root
        for i, part in enumerate(parts):
            current = os.path.join(current, part)
            if i == 0:
                self.created.add(part)
            try:
                os.mkdir(current, mode)
            except OSError as e:
                if e.errno != errno.EEXIST or os.path.islink(current) or not os.path.isdir(current):
                    raise
        return current

    def write_file(self, parts, source, mode=0o600):
        if len(parts) > 1:
            self.make_dirs(parts[:-1])
        target = self.path_for(parts)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), mode)
        with os.fdopen(fd, 'wb') as f:
            while True:
                data = source.read(READ_SIZE)
                if not data:
                    break
                f.write(data)
                self.bytes += len(data)
        self.files += 1

    def write_text(self, name, text):
        self.write_file([name], _BytesSource(text.encode('utf-8')))


class _BytesSource(object):
    def __init__(self, data):
        self._data = data

    def read(self, n=-1):
        data, self._data = self._data, b''
        return data


def check_member(member, label):
    """The path components of a tar member of a base backup; refuses unsafe names, links, devices."""
    parts = _safe_member_name(member.name, label)
    if not (member.isdir() or member.isreg()):
        raise IntegrityError('Backup file %s holds %s, which a base backup never contains (%s).'
                             % (label, member.name, 'a link' if member.issym() or member.islnk()
                                else 'a device or special file'),
                             'The backup cannot be trusted; nothing was kept.')
    return parts


def _extract_tar(stored, target):
    """Extract the tar of `stored` into `target`: regular files and directories only."""
    label = stored.label
    try:
        tar = tarfile.open(fileobj=stored.reader, mode='r|', bufsize=READ_SIZE)
        for member in tar:
            parts = check_member(member, label)
            if member.isdir():
                os.chmod(target.make_dirs(parts), (member.mode & 0o750) | 0o700)
            else:
                source = tar.extractfile(member)
                target.write_file(parts, source, (member.mode & 0o640) | 0o600)
        tar.close()
    except tarfile.TarError as e:
        raise IntegrityError('Backup file %s is not a valid tar archive (%s).' % (label, e),
                             'It is corrupted or truncated; use another backup.')
    stored.finish()


def _owner_ids(owner):
    if not owner or os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(owner)
    except KeyError:
        raise BadInput('The owner %r for the restored data directory is not a user on this host.' % (owner,),
                       'Give the server\'s OS user, usually postgres.')
    return pw.pw_uid, pw.pw_gid


def _chown_tree(path, ids):
    os.lchown(path, *ids)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), *ids)


def _check_empty(path, what, hint):
    if os.path.lexists(path):
        if os.path.islink(path) or not os.path.isdir(path):
            raise BadInput('%s %s exists and is not a directory.' % (what, path), hint)
        if os.listdir(path):
            raise BadInput('%s %s is not empty.' % (what, path), hint)


def _mapped_locations(pairs, mapping, backup_id, authenticated):
    """[(oid, old, new)] after applying {oid_or_old_location: new_location}.

    A tablespace not in the mapping goes back to its original location only when the
    tablespace_map is authenticated (an encrypted backup): an unencrypted one could
    have been edited to extract files into any directory.
    """
    mapping = dict(mapping or {})
    result, unmapped = [], []
    for oid, old in pairs:
        new = None
        for key in (oid, str(oid), old):
            if key in mapping:
                new = mapping.pop(key)
                break
        if new is None:
            if not authenticated:
                unmapped.append((oid, old))
                continue
            new = old
        if not new or not os.path.isabs(str(new)):
            raise BadInput('The new location of tablespace %d must be an absolute path, got %r.' % (oid, new))
        result.append((oid, old, os.path.normpath(str(new))))
    if mapping:
        raise BadInput('tablespace_mapping names tablespaces the backup does not have: %s.'
                       % ', '.join(sorted(str(k) for k in mapping)),
                       'The backup has: %s.' % (', '.join('%d (%s)' % (o, loc) for o, loc in pairs) or 'none'))
    if unmapped:
        raise BadInput('Base backup %s is not encrypted, so nothing proves its tablespace_map was written by the '
                       'backup; its tablespaces are restored only where tablespace_mapping says: %s.'
                       % (backup_id, ', '.join('%d (%s)' % (o, loc) for o, loc in unmapped)),
                       'Map each one (oid or old location -> new location; the same location restores it in '
                       'place), for example tablespace_mapping: {%s}. Nothing was changed.'
                       % ', '.join('"%s": "%s"' % (loc, loc) for o, loc in unmapped))
    news = [n for o, x, n in result]
    if len(set(news)) != len(news):
        raise BadInput('Two tablespaces would be restored into the same location.')
    return result


def extract_base_backup(repo, path, manifest, data_dir, data_key=None, tablespace_mapping=None, owner=None):
    """Write the base backup at path (manifest: its manifest) into data_dir; returns a summary dict.

    data_dir must not exist or be empty. tablespace_mapping: {oid or old location: new location};
    unmapped tablespaces of an encrypted backup go back to their original location (an
    unencrypted backup must map every one); the PG_<version>_<catversion> directory must not
    exist there. owner: user name that gets everything (when running as root).
    """
    if manifest.get('kind') != 'base':
        raise BadInput('Backup %s is a %s backup, not a base backup.' % (manifest.get('backup_id'), manifest.get('kind')))
    if not data_dir or not os.path.isabs(data_dir):
        raise BadInput('The data directory to restore into must be an absolute path, got %r.' % (data_dir,))
    if manifest.get('encryption') and data_key is None:
        raise BadInput('Base backup %s is encrypted and no data key was given.' % manifest.get('backup_id'),
                       'Give its key (encryption_key_file, encryption_key_env or encryption_passphrase).')
    data_dir = os.path.normpath(data_dir)
    hint = 'Give a new or empty directory; nothing was changed.'
    _check_empty(data_dir, 'The data directory', hint)
    ids = _owner_ids(owner)
    compression = manifest['compression']['algorithm']
    by_role = {}
    for entry in manifest['files']:
        by_role.setdefault(entry['role'], []).append(entry)
    if len(by_role.get('base', [])) != 1 or len(by_role.get('backup_label', [])) != 1:
        raise IntegrityError('The manifest of base backup %s lacks its base tar or backup_label.'
                             % manifest.get('backup_id'), 'The backup cannot be used.')

    label = _read_text(repo, path, by_role['backup_label'][0], compression, data_key)
    pairs = []
    if by_role.get('tablespace_map'):
        pairs = parse_tablespace_map(_read_text(repo, path, by_role['tablespace_map'][0], compression, data_key))
    tars = dict((int(e['oid']), e) for e in by_role.get('tablespace', []))
    if set(tars) != set(o for o, loc in pairs):
        raise IntegrityError('The tablespaces of base backup %s do not match its tablespace_map.'
                             % manifest.get('backup_id'), 'The backup cannot be used.')
    spaces = _mapped_locations(pairs, tablespace_mapping, manifest.get('backup_id'),
                               authenticated=data_key is not None)
    version_dir = manifest.get('tablespace_dir')
    for oid, old, new in spaces:
        if new == data_dir or new.startswith(data_dir + os.sep) or data_dir.startswith(new + os.sep):
            raise BadInput('Tablespace %d cannot be restored to %s: it overlaps the data directory %s.'
                           % (oid, new, data_dir), 'Map it elsewhere with tablespace_mapping.')
        if version_dir and os.path.lexists(os.path.join(new, version_dir)):
            raise BadInput('Tablespace %d cannot be restored to %s: %s exists there.' % (oid, new, version_dir),
                           'Map it to a new or empty directory with tablespace_mapping (oid or old location '
                           '-> new location); nothing was changed.')
        if os.path.lexists(new) and not os.path.isdir(new):
            raise BadInput('Tablespace %d cannot be restored to %s: it exists and is not a directory.' % (oid, new))

    targets = [_Target(data_dir)]
    try:
        main = targets[0]
        main.prepare()
        os.chmod(data_dir, 0o700)
        _extract_stored(repo, path, by_role['base'][0], compression, data_key, main)
        restored = []
        for oid, old, new in spaces:
            target = _Target(new)
            targets.append(target)
            target.prepare()
            _extract_stored(repo, path, tars[oid], compression, data_key, target)
            restored.append({'oid': oid, 'location': new, 'original_location': old})
        main.write_text('backup_label', label)
        if spaces:
            main.write_text('tablespace_map', format_tablespace_map([(o, n) for o, x, n in spaces]))
        main.make_dirs(['pg_wal', 'archive_status'])
        main.make_dirs(['pg_tblspc'])
        for oid, old, new in spaces:     # the server recreates them from tablespace_map too
            link = os.path.join(data_dir, 'pg_tblspc', str(oid))
            if not os.path.lexists(link):
                os.symlink(new, link)
        if ids:
            _chown_tree(data_dir, ids)
            for target in targets[1:]:
                for top in ([target.root] if not target.existed else
                            [os.path.join(target.root, name) for name in target.created]):
                    _chown_tree(top, ids)
    except BaseException as e:
        for target in reversed(targets):
            target.remove()
        if isinstance(e, OSError):
            raise RestoreFailed('Extracting base backup %s into %s failed: %s.'
                                % (manifest.get('backup_id'), data_dir, e),
                                'Nothing was kept; fix the cause (space, permissions) and run it again.')
        raise
    return {
        'backup_id': manifest.get('backup_id'), 'data_dir': data_dir, 'tablespaces': restored,
        'files': sum(t.files for t in targets), 'bytes': sum(t.bytes for t in targets),
        'owner': owner if ids else None, 'start_lsn': manifest.get('start_lsn'),
        'stop_lsn': manifest.get('stop_lsn'), 'timeline': manifest.get('timeline'),
        'start_wal_file': manifest.get('start_wal_file'), 'stop_wal_file': manifest.get('stop_wal_file'),
    }


def _extract_stored(repo, path, entry, compression, data_key, target):
    stored = StoredFile(repo, path, entry, compression, data_key)
    try:
        _extract_tar(stored, target)
    finally:
        stored.close()
