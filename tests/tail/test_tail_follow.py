"""Following the live audit log: appends, partial lines, rotation, truncation, long lines."""

from __future__ import annotations

import os
from collections.abc import Callable

import tailkit
from tailkit import drain, event, lines

from audithound.source import decode, tail


def test_a_partial_line_waits_for_its_newline(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    log_dir.write(b"first\nsec")
    assert lines(tailer.poll(10)) == [b"first"]
    log_dir.write(b"ond\nthi")
    assert lines(tailer.poll(10)) == [b"second"]
    assert tailer.poll(10) == []
    log_dir.write(b"rd\n")
    records = tailer.poll(10)
    assert lines(records) == [b"third"]
    assert records[0].position.offset == len(b"first\nsecond\nthird\n")
    assert records[0].skipped is None


def test_each_record_carries_the_offset_after_its_line(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    log_dir.write(b"a\nbb\n\nccc\n")
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    records = tailer.poll(10)
    assert lines(records) == [b"a", b"bb", b"", b"ccc"]
    assert [record.position.offset for record in records] == [2, 5, 6, 10]


def test_poll_returns_at_most_max_lines_and_goes_on_from_there(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    log_dir.write(b"".join(b"line-%d\n" % n for n in range(7)))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    assert lines(tailer.poll(3)) == [b"line-0", b"line-1", b"line-2"]
    assert lines(tailer.poll(3)) == [b"line-3", b"line-4", b"line-5"]
    assert lines(tailer.poll(3)) == [b"line-6"]


def test_end_starts_after_the_last_complete_line(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    log_dir.write(b"old\nbeing writ")
    tailer = open_tailer(log_dir.path, tail.StartPolicy.END)
    assert tailer.poll(10) == []
    log_dir.write(b"ten\nnew\n")
    assert lines(tailer.poll(10)) == [b"being written", b"new"]


def test_beginning_reads_the_backups_first(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    log_dir.write(event(1))
    log_dir.compress(log_dir.rotate())
    log_dir.write(event(2))
    log_dir.rotate()
    log_dir.write(event(3))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    assert lines(drain(tailer)) == [event(n).rstrip(b"\n") for n in (1, 2, 3)]


def test_the_live_file_may_appear_after_the_tailer_started(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    log_dir.path.unlink()
    tailer = open_tailer(log_dir.path, tail.StartPolicy.END)
    assert tailer.poll(10) == []
    log_dir.write(b"first\n")
    assert lines(tailer.poll(10)) == [b"first"]


def test_lines_written_before_a_rotation_are_read_before_the_new_file(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    log_dir.write(b"one\n")
    assert lines(tailer.poll(10)) == [b"one"]
    log_dir.write(b"two\n")
    backup = log_dir.rotate()
    log_dir.write(b"three\n")
    assert lines(tailer.poll(10)) == [b"two", b"three"]
    [rotated] = tailer.take_notices()
    assert isinstance(rotated, tail.Rotated)
    assert rotated.previous.offset == len(b"one\ntwo\n")
    assert rotated.path == str(log_dir.path)
    assert backup.exists()


def test_the_old_file_is_drained_while_the_new_one_is_not_there_yet(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    log_dir.write(b"one\n")
    assert lines(tailer.poll(10)) == [b"one"]
    log_dir.write(b"two\n")
    os.rename(log_dir.path, log_dir.root / "audit-2026-11-28T08-12-41.123.log")
    assert lines(tailer.poll(10)) == [b"two"]
    assert tailer.poll(10) == []
    log_dir.write(b"three\n")
    assert lines(tailer.poll(10)) == [b"three"]


def test_two_rotations_between_polls_lose_nothing(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    log_dir.write(event(1))
    assert len(tailer.poll(10)) == 1
    log_dir.write(event(2))
    log_dir.rotate()
    log_dir.write(event(3))
    log_dir.compress(log_dir.rotate())
    log_dir.write(event(4))
    assert lines(drain(tailer)) == [event(n).rstrip(b"\n") for n in (2, 3, 4)]
    notices = tailer.take_notices()
    assert [type(notice) for notice in notices] == [tail.Rotated, tail.Rotated]


def test_copy_truncate_restarts_at_zero_and_says_so(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    log_dir.write(b"first line\nsecond line\n")
    assert len(tailer.poll(10)) == 2
    copy = log_dir.copy_truncate()
    log_dir.write(b"third\n")
    assert lines(tailer.poll(10)) == [b"third"]
    truncated, rotated = tailer.take_notices()
    assert truncated == tail.Truncated(str(log_dir.path), 23, str(copy))
    assert isinstance(rotated, tail.Rotated)
    assert tailer.losses == tail.Losses()


def test_copy_truncate_is_seen_when_the_new_content_is_already_longer(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    log_dir.write(event(1))
    assert len(tailer.poll(10)) == 1
    log_dir.copy_truncate()
    log_dir.write(event(2) + event(3))
    assert lines(tailer.poll(10)) == [event(2).rstrip(b"\n"), event(3).rstrip(b"\n")]
    assert [type(notice) for notice in tailer.take_notices()] == [tail.Truncated, tail.Rotated]


def test_an_oversized_line_is_skipped_with_its_position(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING, max_line_bytes=64)
    log_dir.write(b"short\n" + b"x" * 50)
    assert lines(tailer.poll(10)) == [b"short"]
    log_dir.write(b"x" * 100)
    assert tailer.poll(10) == []
    log_dir.write(b"x" * 10 + b"\nafter\n")
    skipped, after = tailer.poll(10)
    assert skipped.line is None
    assert skipped.skipped is decode.Reason.OVERSIZED
    assert skipped.position.offset == len(b"short\n") + 161
    assert after.line == b"after"

    resumed = open_tailer(log_dir.path, skipped.position)
    assert lines(resumed.poll(10)) == [b"after"]


def test_an_oversized_line_read_at_once_is_skipped(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    log_dir.write(b"a" * 64 + b"\n" + b"b" * 65 + b"\nc\n")
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING, max_line_bytes=64)
    records = tailer.poll(10)
    assert lines(records) == [b"a" * 64, None, b"c"]
    assert [record.skipped for record in records] == [None, decode.Reason.OVERSIZED, None]
    assert records[1].position.offset == 65 + 66


def test_an_oversized_line_longer_than_many_reads_is_skipped(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    log_dir.write(b"y" * (3 * tail.READ_BYTES) + b"\nnext\n")
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING, max_line_bytes=1000)
    records = tailer.poll(10)
    assert lines(records) == [None, b"next"]
    assert records[0].position.offset == 3 * tail.READ_BYTES + 1


def test_a_rotated_file_ending_without_newline_yields_its_last_bytes(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    log_dir.write(b"one\ncut sh")
    assert lines(tailer.poll(10)) == [b"one"]
    log_dir.rotate()
    log_dir.write(b"two\n")
    records = tailer.poll(10)
    assert lines(records) == [b"cut sh", b"two"]
    assert records[0].position.offset == len(b"one\ncut sh")


def test_a_backup_that_is_the_live_file_under_another_name_is_read_once(
    log_dir: tailkit.AuditLogDir, open_tailer: Callable[..., tail.Tailer]
) -> None:
    # What the tailer sees when the live file is rotated between opening it and listing the
    # backups: the same file under both names.
    log_dir.write(b"one\ntwo\n")
    os.link(log_dir.path, log_dir.root / "audit-2026-11-28T08-12-41.123.log")
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    assert lines(drain(tailer)) == [b"one", b"two"]
