"""WAL names, LSNs, timeline histories and the chain check (pure functions, plus a local listing)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from plugins.module_utils.common.errors import BadInput, IntegrityError
from plugins.module_utils.postgres.physical import wal_archive, wal_chain, wal_names
from plugins.module_utils.storage.local import LocalRepository

MIB = 1 << 20
SEG16 = 16 * MIB


def names(tli, first, last, seg_size=SEG16):
    return [wal_names.segment_file(tli, s, seg_size) for s in range(first, last + 1)]


# --- names and LSNs -------------------------------------------------------------------

def test_lsn_round_trip_and_segment_names():
    assert wal_names.parse_lsn('16/B374D848') == (0x16 << 32) | 0xB374D848
    assert wal_names.format_lsn(wal_names.parse_lsn('0/2000028')) == '0/2000028'
    assert wal_names.segment_name(1, '0/2000028', SEG16) == '000000010000000000000002'
    assert wal_names.segment_name(3, '1/FF000000', SEG16) == '0000000300000001000000FF'
    assert wal_names.segment_of('0000000300000001000000FF', SEG16) == (3, 0x1FF)
    # 1 MiB segments: 4096 per log id; 64 MiB: 64 per log id
    assert wal_names.segment_name(1, '1/00100000', MIB) == '000000010000000100000001'
    assert wal_names.segment_of('000000010000000100000001', MIB) == (1, 4097)
    assert wal_names.segment_name(1, '0/FC000000', 64 * MIB) == '00000001000000000000003F'
    with pytest.raises(BadInput, match='not a valid segment name'):
        wal_names.segment_of('000000010000000000000040', 64 * MIB)
    with pytest.raises(BadInput):
        wal_names.parse_lsn('0/xyz')
    with pytest.raises(BadInput, match='power of two'):
        wal_names.check_segment_size(3 * MIB)


@pytest.mark.parametrize('name,kind', [
    ('000000010000000000000003', 'segment'),
    ('000000010000000000000003.partial', 'partial'),
    ('000000010000000000000002.00000028.backup', 'backup'),
    ('00000002.history', 'history'),
])
def test_valid_wal_names(name, kind):
    assert wal_names.wal_kind(name) == kind
    assert wal_names.check_wal_name(name) == name


@pytest.mark.parametrize('name', [
    '', None, '../000000010000000000000003', '000000010000000000000003/', 'pg_wal/000000010000000000000003',
    '00000001000000000000000g', '0000000100000000000000003', '000000000000000000000003', 'RECOVERYXLOG',
    '000000010000000000000003.zst', '00000002.history\n', '00000002.history;rm', '..', '00000000.history',
])
def test_invalid_wal_names_are_refused(name):
    assert wal_names.wal_kind(name) is None
    with pytest.raises(BadInput, match='not a WAL file name'):
        wal_names.check_wal_name(name)


def test_stored_names_round_trip():
    for comp in ('zstd', 'gzip', 'none'):
        for enc in (False, True):
            path = wal_archive.object_path('srv', '000000010000000000000003', comp, enc)
            assert path.startswith('srv/wal/00000001/000000010000000000000003')
            assert wal_archive.parse_stored_name(path.rsplit('/', 1)[1]) == ('000000010000000000000003', comp, enc)
    assert wal_archive.object_path('srv', '00000002.history') == 'srv/wal/00000002/00000002.history.zst'
    assert wal_archive.parse_stored_name('.000000010000000000000003.zst.tmp-abc') is None
    assert wal_archive.parse_stored_name('wal-key.json') is None


def test_archive_and_restore_command_strings():
    cmd = wal_archive.archive_command('/usr/local/bin/dbbackup', '/etc/dbbackup/wal.conf')
    assert cmd == '/usr/local/bin/dbbackup wal-push --config /etc/dbbackup/wal.conf %p %f'
    assert wal_archive.restore_command('/opt/db backup/dbbackup', '/etc/x%y.conf') == \
        "'/opt/db backup/dbbackup' wal-fetch --config /etc/x%%y.conf %f %p"
    assert wal_archive.conf_quote("it's a\\b") == "'it''s a\\\\b'"
    with pytest.raises(BadInput):
        wal_archive.archive_command('/bin/x\nrm -rf /', '/etc/c')


# --- history files --------------------------------------------------------------------

HISTORY_3 = """1\t0/3000158\tno recovery target specified

# a comment
2\t0/5000000\tbefore 2025-01-31 12:00:00+00
"""


def test_parse_history():
    entries = wal_chain.parse_history(HISTORY_3)
    assert [(e['parent'], e['switchpoint']) for e in entries] == [(1, '0/3000158'), (2, '0/5000000')]
    assert entries[1]['reason'].startswith('before 2025-01-31')
    assert wal_chain.parse_history(b'') == []
    with pytest.raises(IntegrityError, match='line 1'):
        wal_chain.parse_history('x\t0/1\tbad')
    with pytest.raises(IntegrityError, match='switch point'):
        wal_chain.parse_history('1\tnot-an-lsn\tbad')
    with pytest.raises(IntegrityError, match='increase'):
        wal_chain.parse_history('2\t0/1\ta\n1\t0/2\tb')


# --- the chain ------------------------------------------------------------------------

def test_complete_chain_on_one_timeline():
    archive = {1: names(1, 1, 6) + ['000000010000000000000002.00000028.backup']}
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16)
    assert r['ok'] and r['gaps'] == [] and r['timeline'] == 1
    assert (r['first'], r['last'], r['segments']) == ('000000010000000000000002', '000000010000000000000006', 5)


def test_gap_is_reported_with_its_bounds():
    archive = {1: names(1, 2, 4) + names(1, 7, 9)}
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16)
    assert not r['ok']
    assert r['gaps'] == [{'after': '000000010000000000000004', 'missing_from': '000000010000000000000005',
                          'missing_to': '000000010000000000000006'}]
    assert r['last'] == '000000010000000000000004' and r['segments'] == 3
    assert r['last_archived'] == '000000010000000000000009'


def test_missing_start_and_end_asked_for():
    archive = {1: names(1, 3, 5)}
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16)
    assert not r['ok'] and r['first'] is None
    assert r['gaps'][0]['after'] is None and r['gaps'][0]['missing_from'] == '000000010000000000000002'
    r = wal_chain.plan_chain({1: names(1, 2, 5)}, '000000010000000000000002', SEG16,
                             end_wal_file='000000010000000000000008')
    assert not r['ok'] and r['gaps'][-1]['missing_to'] == '000000010000000000000008'
    r = wal_chain.plan_chain({1: names(1, 2, 5)}, '000000010000000000000002', SEG16,
                             end_wal_file='000000010000000000000004')
    assert r['ok'] and r['last'] == '000000010000000000000004'


def test_timeline_switch_follows_the_history_file():
    # timeline 2 branched off timeline 1 at 0/5000100 (in segment 5): segments 1..4 from
    # timeline 1, segment 5 and later from timeline 2; timeline 1's own 5..6 are not on the path
    archive = {1: names(1, 1, 6) + ['000000010000000000000005.partial'],
               2: ['00000002.history'] + names(2, 5, 8)}
    histories = {2: wal_chain.parse_history('1\t0/5000100\tno recovery target specified\n')}
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16, histories)
    assert r['ok'], r
    assert r['timeline'] == 2 and r['last'] == '000000020000000000000008' and r['segments'] == 7
    assert r['history'][0]['switchpoint'] == '0/5000100'
    assert [t['timeline'] for t in r['timelines']] == [1, 2]
    # segment 5 of timeline 2 missing: a gap, even though timeline 1 has a segment 5
    archive[2].remove('000000020000000000000005')
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16, histories)
    assert not r['ok'] and r['gaps'][0]['missing_from'] == '000000020000000000000005'
    assert r['gaps'][0]['after'] == '000000010000000000000004'
    # staying on timeline 1 when asked
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16, histories, timeline=1)
    assert r['ok'] and r['last'] == '000000010000000000000006'


def test_three_timelines_and_a_foreign_branch():
    archive = {1: names(1, 1, 4), 2: ['00000002.history'] + names(2, 3, 6),
               3: ['00000003.history'] + names(3, 5, 7),
               4: ['00000004.history'] + names(4, 2, 3)}
    histories = {2: wal_chain.parse_history('1\t0/3000000\ta\n'),
                 3: wal_chain.parse_history(HISTORY_3.replace('0/3000158', '0/3000000')),
                 # timeline 4 branched from timeline 1 at 0/2000000, before the backup's start: not ours
                 4: wal_chain.parse_history('1\t0/2000000\tx\n')}
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16, histories)
    assert r['ok'] and r['timeline'] == 3, r
    assert r['last'] == '000000030000000000000007'
    r = wal_chain.plan_chain(archive, '000000010000000000000002', SEG16, histories, timeline=4)
    assert not r['ok'] and 'does not descend' in r['problems'][0]
    # a timeline whose history file is missing cannot be followed
    r = wal_chain.plan_chain({1: names(1, 1, 3), 2: names(2, 3, 4)}, '000000010000000000000001', SEG16,
                             timeline=2)
    assert not r['ok'] and 'history file 00000002.history' in r['problems'][0]


@pytest.mark.parametrize('seg_size', [MIB, 64 * MIB])
def test_other_segment_sizes_cross_log_id_boundaries(seg_size):
    per = (1 << 32) // seg_size
    first = per - 2                      # ... last two segments of log id 0, first two of log id 1
    archive = {1: names(1, first, first + 3, seg_size)}
    start = wal_names.segment_file(1, first, seg_size)
    r = wal_chain.plan_chain(archive, start, seg_size)
    assert r['ok'] and r['segments'] == 4
    assert r['last'] == '00000001000000010000000%X' % 1
    archive = {1: [n for n in archive[1] if n != '000000010000000100000000']}
    r = wal_chain.plan_chain(archive, start, seg_size)
    assert r['gaps'] == [{'after': wal_names.segment_file(1, per - 1, seg_size),
                          'missing_from': '000000010000000100000000', 'missing_to': '000000010000000100000000'}]
    # a 16 MiB name is no 1 MiB segment past 0x1000 per log id and vice versa
    if seg_size == MIB:
        assert wal_names.segment_of('000000010000000000000FFF', seg_size) == (1, 0xFFF)


def test_list_archive_reads_local_layout(tmp_path):
    repo = LocalRepository(str(tmp_path))
    for path in ('srv/wal/00000001/000000010000000000000001.zst', 'srv/wal/00000001/000000010000000000000002.zst.enc',
                 'srv/wal/00000001/.000000010000000000000003.zst.tmp-abc', 'srv/wal/00000002/00000002.history.gz',
                 'srv/wal/00000002/000000020000000000000002', 'srv/wal/wal-key.json', 'srv/wal/junk/x',
                 'srv/wal/00000003/000000010000000000000009.zst'):
        repo.write_bytes(path, b'x')
    assert wal_chain.list_archive(repo, 'srv') == {
        1: ['000000010000000000000001', '000000010000000000000002'],
        2: ['00000002.history', '000000020000000000000002']}
    assert wal_chain.list_archive(repo, 'other') == {}


# --- host CLI parsing -----------------------------------------------------------------

def test_cli_wal_commands_need_no_database(tmp_path):
    from plugins.module_utils.cli import COMMANDS, QUIET_COMMANDS, _parser
    args = _parser().parse_args(['wal-push', '--repository', '/srv/r', 'pg_wal/000000010000000000000003',
                                 '000000010000000000000003'])
    assert (args.src_path, args.wal_name, args.database, args.db_type) == (
        'pg_wal/000000010000000000000003', '000000010000000000000003', None, 'postgresql')
    args = _parser().parse_args(['wal-fetch', '--repository', '/srv/r', '00000002.history', 'pg_wal/RECOVERYHISTORY'])
    assert (args.wal_name, args.dest_path, args.compression) == ('00000002.history', 'pg_wal/RECOVERYHISTORY', 'zstd')
    assert COMMANDS['wal-push'] == 'run_wal_push' and 'wal-fetch' in QUIET_COMMANDS
    # the repository may come from the config file alone
    conf = tmp_path / 'wal.ini'
    conf.write_text('[dbbackup]\nrepository = %s\nserver_name = db1\n' % tmp_path)
    from plugins.module_utils.cli import main
    assert main(['wal-fetch', '--config', str(conf), '000000010000000000000001', str(tmp_path / 'x')]) == 1
    assert not (tmp_path / 'x').exists()
