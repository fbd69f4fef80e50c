"""The spooler's bookkeeping of answers archive_command took (postgres/physical/wal_spool.py).

Between archive_command taking its answer (push/ok/<name>) and PostgreSQL renaming <name>.ready,
the file still looks ready and unanswered: pushing it again there only re-reads and compares the
stored copy (measured: a fifth of the spooler's CPU in the WAL bench). It is pushed again only
when it stays ready, as after an archive_command killed between taking the answer and exiting.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from plugins.module_utils.postgres.physical import wal_spool

A, B = '000000010000000000000003', '000000010000000000000004'


def test_a_taken_answer_is_not_pushed_again_at_once_but_after_a_while():
    stored, taken = {A, B}, {}
    wal_spool._taken_answers([A, B], {B}, stored, taken, 100.0)     # A's answer was taken, B's is waiting
    assert taken == {A: 100.0} and stored == {A, B}
    wal_spool._taken_answers([A, B], {B}, stored, taken, 100.0 + wal_spool.REPUSH_AFTER - 0.1)
    assert A in taken and A in stored                              # PostgreSQL has not renamed it yet
    wal_spool._taken_answers([A, B], {B}, stored, taken, 100.0 + wal_spool.REPUSH_AFTER + 0.1)
    assert A not in taken and A not in stored                      # still ready: asked again, push again


def test_files_postgresql_marked_done_are_forgotten():
    stored, taken = {A, B}, {}
    wal_spool._taken_answers([A, B], set(), stored, taken, 5.0)
    wal_spool._taken_answers([B], set(), stored, taken, 5.5)       # A.ready became A.done
    assert stored == {B} and list(taken) == [B]
