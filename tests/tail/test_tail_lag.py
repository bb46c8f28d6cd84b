"""A reader that lags behind the rotation: backups are held open until drained, so a rotator
deleting old backups (lumberjack's maxbackup) takes nothing unread; past the bound on files
held, what is lost is counted in the gap and in the tailer's running totals."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import pytest
import tailkit
from tailkit import drain, event, numbers

from audithound.source import tail

OpenTailer = Callable[..., tail.Tailer]

#: Lines written between two rotations, and read by the lagging reader in the same time.
WRITTEN, READ = 40, 4


def lag(
    log_dir: tailkit.AuditLogDir,
    tailer: tail.Tailer,
    rotations: int,
    *,
    maxbackup: int,
    compress: bool = False,
) -> tuple[list[tail.Record], int]:
    """Write and rotate ``rotations`` times while the tailer reads a tenth of what comes.

    Returns what the tailer read, everything included, and how many lines were written.
    """
    records: list[tail.Record] = []
    written = 0
    for _ in range(rotations):
        for _ in range(WRITTEN):
            log_dir.write(event(written))
            written += 1
        records += tailer.poll(READ)
        log_dir.rotate(maxbackup=maxbackup, compress=compress)
    log_dir.write(event(written))
    return records + drain(tailer), written + 1


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_reader_many_rotations_behind_loses_nothing_to_maxbackup(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, compress: bool
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    records, written = lag(log_dir, tailer, 8, maxbackup=2, compress=compress)
    assert numbers(records) == list(range(written))
    # The rotator did delete backups the reader had not reached yet.
    assert len(log_dir.backups()) == 2
    notices = tailer.take_notices()
    assert not [notice for notice in notices if not isinstance(notice, tail.Rotated)]
    assert tailer.losses == tail.Losses()


def test_backups_rotated_while_the_reader_is_inside_an_old_one_are_held(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    log_dir.write(b"".join(event(n) for n in range(100)))
    log_dir.rotate()
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    assert numbers(tailer.poll(10)) == list(range(10))
    for number in range(100, 105):
        log_dir.write(event(number))
        log_dir.rotate()
        assert len(tailer.poll(1)) == 1
    # The API server removes every backup, the one being read included.
    for backup in log_dir.backups():
        backup.unlink()
    log_dir.write(event(105))
    assert numbers(drain(tailer)) == list(range(15, 106))
    assert tailer.losses == tail.Losses()


def test_past_the_bound_a_removed_backup_is_a_gap_of_its_size(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING, max_held_files=2)
    records, written = lag(log_dir, tailer, 8, maxbackup=2)
    read = numbers(records)
    assert read == sorted(set(read))
    missing = sorted(set(range(written)) - set(read))
    assert missing, "nothing was lost: the test did not reach the bound"
    gaps = [notice for notice in tailer.take_notices() if isinstance(notice, tail.Gap)]
    # Whole files are lost (one per rotation), each one gap that says how many bytes it held.
    files: dict[int, int] = {}
    for number in missing:
        files[number // WRITTEN] = files.get(number // WRITTEN, 0) + len(event(number))
    assert len(missing) == WRITTEN * len(files)
    assert [gap.lost_bytes for gap in gaps] == list(files.values())
    assert tailer.losses == tail.Losses(
        gaps=len(gaps), lost_bytes=sum(len(event(n)) for n in missing)
    )


def test_held_files_never_exceed_the_bound(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    log_dir.write(event(0))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING, max_held_files=3)
    read = tailer.poll(1)
    for rotation in range(9):
        log_dir.write(b"".join(event(1 + 3 * rotation + n) for n in range(3)))
        log_dir.rotate()
        read += tailer.poll(1)
    # At most three backups, the live file and the last file finished (watched for late
    # writes) are open.
    assert len(open_files(log_dir)) <= 3 + 2
    assert numbers(read + drain(tailer)) == list(range(28))
    assert tailer.losses == tail.Losses()


def open_files(log_dir: tailkit.AuditLogDir) -> list[str]:
    """The files of the log directory this process holds open (Linux)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        # The descriptor of the listing itself is closed by now.
        with contextlib.suppress(FileNotFoundError):
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [path for path in targets if path.startswith(str(log_dir.root))]
