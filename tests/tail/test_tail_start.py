"""Where the tailer starts: a saved checkpoint (across rotations while down), or a look-back."""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
from collections.abc import Callable

import orjson
import tailkit
from tailkit import drain, event, lines

from audithound.source import checkpoint, tail

OpenTailer = Callable[..., tail.Tailer]


def stripped(*numbers: int) -> list[bytes | None]:
    return [event(number).rstrip(b"\n") for number in numbers]


def saved_after(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path, count: int
) -> checkpoint.Checkpoint:
    """Read ``count`` lines from the beginning, save the position after them, stop."""
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    records = tailer.poll(count)
    assert len(records) == count
    store = checkpoint.Checkpoint(state_dir)
    store.save(records[-1].position)
    tailer.close()
    return store


def test_a_restart_at_a_saved_position_yields_exactly_the_next_line(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(b"".join(event(n) for n in range(1, 6)))
    store = saved_after(log_dir, open_tailer, state_dir, 2)
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(3, 4, 5)


def test_two_rotations_while_down_are_read_in_order_from_the_checkpoint(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(event(1) + event(2))
    store = saved_after(log_dir, open_tailer, state_dir, 1)
    log_dir.write(event(3))
    log_dir.rotate()
    log_dir.write(event(4))
    log_dir.rotate()
    log_dir.write(event(5))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(2, 3, 4, 5)
    assert [type(notice) for notice in resumed.take_notices()] == [tail.Rotated, tail.Rotated]


def test_a_gzipped_backup_is_found_by_its_fingerprint(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(event(1) + event(2))
    store = saved_after(log_dir, open_tailer, state_dir, 1)
    log_dir.compress(log_dir.rotate())
    log_dir.write(event(3))
    resumed = open_tailer(log_dir.path, store.load())
    records = drain(resumed)
    assert lines(records) == stripped(2, 3)
    assert records[0].position.identity.path.endswith(".log.gz")
    assert not [n for n in resumed.take_notices() if isinstance(n, tail.Gap)]

    # The position in the gzipped backup is itself a valid checkpoint.
    again = open_tailer(log_dir.path, records[0].position)
    assert lines(drain(again)) == stripped(3)


def test_an_unreadable_gzipped_backup_is_reported_as_a_gap(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(event(1) + event(2))
    store = saved_after(log_dir, open_tailer, state_dir, 1)
    gzipped = log_dir.compress(log_dir.rotate())
    gzipped.write_bytes(b"\x1f\x8b not gzip at all")
    log_dir.write(event(3))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(3)
    # One gap for the saved file not found, one for the backup that may hold it.
    first, second = resumed.take_notices()
    assert isinstance(first, tail.Gap)
    assert "how many lines or bytes is unknown" in first.detail
    assert f"backups that could not be checked: {gzipped}" in first.detail
    assert isinstance(second, tail.Gap)
    assert str(gzipped) in second.detail


def test_a_backup_rotated_in_the_millisecond_of_the_last_write_is_still_read_after_it(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    # Lumberjack's names keep the millisecond, file times the nanosecond: a rotation within
    # the same millisecond as the saved file's last write has a name that sorts before it.
    rotated_at = datetime.datetime.now(datetime.UTC).replace(microsecond=123_000)
    written_ns = int(rotated_at.timestamp()) * 1_000_000_000 + 123_900_000
    log_dir.write(event(1) + event(2))
    os.utime(log_dir.path, ns=(written_ns, written_ns))
    store = saved_after(log_dir, open_tailer, state_dir, 1)
    gzipped = log_dir.compress(log_dir.rotate(at=rotated_at))
    gzipped.write_bytes(b"\x1f\x8b not gzip at all")
    log_dir.write(event(3))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(3)
    # The backup is not skipped as older: reading it is tried, and its loss reported.
    assert [str(gzipped) in n.detail for n in resumed.take_notices()] == [True, True]


def test_a_backup_last_written_in_the_tick_of_the_saved_file_is_read(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    # logrotate's names carry no time, so its backups are ordered by mtime, which the kernel
    # takes from a coarse clock: a file written right after the saved one can share its mtime.
    log_dir.write(event(1) + event(2))
    store = saved_after(log_dir, open_tailer, state_dir, 1)
    saved_mtime_ns = log_dir.path.stat().st_mtime_ns
    log_dir.path.unlink()
    log_dir.write(event(3))
    newer = log_dir.root / "audit.log.1"
    log_dir.path.rename(newer)
    os.utime(newer, ns=(saved_mtime_ns, saved_mtime_ns))
    log_dir.write(event(4))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(3, 4)


def test_a_gzipped_backup_cut_short_is_read_up_to_the_cut_then_a_gap(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    log_dir.write(b"".join(event(n) for n in range(1, 2000)))
    gzipped = log_dir.compress(log_dir.rotate())
    gzipped.write_bytes(gzipped.read_bytes()[:3000])
    log_dir.write(event(2000))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    records = drain(tailer)
    assert 0 < len(records) < 2000
    assert lines(records) == stripped(*range(1, len(records)), 2000)
    gap = next(n for n in tailer.take_notices() if isinstance(n, tail.Gap))
    assert str(gzipped) in gap.detail


def test_when_the_saved_file_is_gone_a_gap_is_reported_and_newer_files_are_read(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(event(1))
    # A second before: a rotation in the millisecond of the saved file's mtime counts as newer.
    older = log_dir.rotate(at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1))
    log_dir.write(event(2) + event(3))
    store = saved_after(log_dir, open_tailer, state_dir, 2)
    log_dir.rotate().unlink()
    log_dir.write(event(4))
    log_dir.rotate()
    log_dir.write(event(5))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(4, 5)
    [gap, _] = resumed.take_notices()
    assert isinstance(gap, tail.Gap)
    assert "how many lines or bytes is unknown" in gap.detail
    assert older.exists()


def test_a_reused_inode_number_is_not_taken_for_the_saved_file(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    log_dir.write(event(1) + event(2))
    live = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING).poll(1)[0].position
    other = checkpoint.fingerprint(event(9))
    saved = dataclasses.replace(
        live,
        identity=dataclasses.replace(live.identity, fingerprint=other, live_at_ns=0),
    )
    resumed = open_tailer(log_dir.path, saved)
    assert lines(drain(resumed)) == stripped(1, 2)
    assert [type(notice) for notice in resumed.take_notices()] == [tail.Gap]


def test_a_file_truncated_below_the_saved_offset_restarts_at_zero(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(b"".join(event(n) for n in range(1, 11)))
    store = saved_after(log_dir, open_tailer, state_dir, 8)
    with log_dir.path.open("r+b") as live:
        live.truncate(5 * len(event(1)))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(1, 2, 3, 4, 5)
    [truncated] = resumed.take_notices()
    assert truncated == tail.Truncated(str(log_dir.path), 8 * len(event(1)))


def test_a_file_copy_truncated_while_down_resumes_in_the_copy(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(event(1) + event(2) + event(3))
    store = saved_after(log_dir, open_tailer, state_dir, 1)
    log_dir.copy_truncate()
    log_dir.write(event(4))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(2, 3, 4)
    assert [type(notice) for notice in resumed.take_notices()] == [tail.Rotated]


def test_a_file_overwritten_while_down_is_read_from_zero_after_a_gap(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, state_dir: pathlib.Path
) -> None:
    log_dir.write(event(1) + event(2))
    store = saved_after(log_dir, open_tailer, state_dir, 2)
    log_dir.copy_truncate().unlink()
    log_dir.write(event(3))
    resumed = open_tailer(log_dir.path, store.load())
    assert lines(drain(resumed)) == stripped(3)
    assert [type(notice) for notice in resumed.take_notices()] == [tail.Gap]
    assert resumed.losses == tail.Losses(gaps=1, unmeasured=1)


def at(minutes_ago: int) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)


def write_history(log_dir: tailkit.AuditLogDir) -> None:
    """Events 1-2 in a gzipped backup, 3-4 in a plain one, 5-7 live, by age in minutes."""
    ages = {1: 300, 2: 240, 3: 180, 4: 120, 5: 90, 6: 30, 7: 10}
    log_dir.write(event(1, at(ages[1])) + event(2, at(ages[2])))
    log_dir.compress(log_dir.rotate())
    log_dir.write(event(3, at(ages[3])) + event(4, at(ages[4])))
    log_dir.rotate()
    log_dir.write(b"".join(event(n, at(ages[n])) for n in (5, 6, 7)))


def numbers(records: list[tail.Record]) -> list[int]:
    """The event numbers of the records that are events."""
    found = []
    for record in records:
        if record.line and record.line.startswith(b"{"):
            found.append(int(orjson.loads(record.line)["auditID"][-12:]))
    return found


def test_a_look_back_starts_at_the_first_event_inside_the_window(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    write_history(log_dir)
    cases = {60: [6, 7], 100: [5, 6, 7], 150: [4, 5, 6, 7], 270: [2, 3, 4, 5, 6, 7]}
    for minutes, expected in cases.items():
        tailer = open_tailer(log_dir.path, datetime.timedelta(minutes=minutes))
        assert numbers(drain(tailer)) == expected, minutes


def test_a_look_back_longer_than_the_history_starts_at_the_oldest_backup(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    write_history(log_dir)
    tailer = open_tailer(log_dir.path, datetime.timedelta(days=1))
    assert numbers(drain(tailer)) == [1, 2, 3, 4, 5, 6, 7]


def test_a_look_back_shorter_than_the_newest_event_waits_for_new_lines(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    write_history(log_dir)
    tailer = open_tailer(log_dir.path, datetime.timedelta(minutes=5))
    assert tailer.poll(10) == []
    log_dir.write(event(8, at(0)))
    assert numbers(tailer.poll(10)) == [8]


def test_a_line_without_a_readable_time_counts_as_inside_the_window(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    log_dir.write(event(1, at(120)) + b"not json\n" + event(2, at(90)) + event(3, at(10)))
    tailer = open_tailer(log_dir.path, datetime.timedelta(minutes=60))
    records = drain(tailer)
    assert records[0].line == b"not json"
    assert numbers(records) == [2, 3]
