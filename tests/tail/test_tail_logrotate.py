"""logrotate's names and modes, with the real logrotate: numbered (``audit.log.1``,
``audit.log.2.gz``), ``dateext``, ``compress`` with and without ``delaycompress``, in ``create``
mode (rename, new file) and ``copytruncate`` mode (the unread rest is read from the copy)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
import tailkit
from tailkit import drain, event, numbers

from audithound.source import tail

OpenTailer = Callable[..., tail.Tailer]

#: Lines written between two rotations, and read by the lagging reader in the same time.
WRITTEN, READ = 30, 7

MODES = {
    "create": "create",
    "create-compress": "create;compress",
    "create-delaycompress": "create;compress;delaycompress",
    "create-dateext": "create;dateext;dateformat -%Y%m%d-%s;compress;delaycompress",
    "copytruncate": "copytruncate",
    "copytruncate-compress": "copytruncate;compress",
    "copytruncate-delaycompress": "copytruncate;compress;delaycompress",
    "copytruncate-dateext": "copytruncate;dateext;dateformat -%Y%m%d-%s;compress",
}


@pytest.mark.parametrize("directives", MODES.values(), ids=MODES.keys())
def test_a_lagging_reader_loses_nothing_to_logrotate(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, logrotate: str, directives: str
) -> None:
    rotator = tailkit.Logrotate(logrotate, log_dir, "rotate 2;" + directives)
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    records: list[tail.Record] = []
    written = 0
    rotations = 6
    for _ in range(rotations):
        for _ in range(WRITTEN):
            log_dir.write(event(written))
            written += 1
        records += tailer.poll(READ)
        if "dateext" in directives:
            time.sleep(1.05)  # one rotation per second: the date format counts seconds
        rotator.rotate()
    log_dir.write(event(written))
    records += drain(tailer)
    assert numbers(records) == list(range(written + 1))
    # logrotate did remove backups the reader had not read yet.
    assert len(rotator.backups()) == 2
    assert all(not isinstance(notice, tail.Gap) for notice in tailer.take_notices())
    assert tailer.losses == tail.Losses()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_copy_truncate_reads_the_unread_rest_from_the_copy(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, compress: bool
) -> None:
    log_dir.write(b"".join(event(n) for n in range(1000)))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    assert numbers(tailer.poll(100)) == list(range(100))
    copy = log_dir.copy_truncate(compress=compress)
    log_dir.write(b"".join(event(n) for n in range(1000, 1100)))
    assert numbers(drain(tailer)) == list(range(100, 1100))
    truncated = next(n for n in tailer.take_notices() if isinstance(n, tail.Truncated))
    assert truncated.copy == str(copy)
    assert tailer.losses == tail.Losses()


def test_copy_truncate_of_a_live_file_not_read_yet_is_followed(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    # The reader is still in a backup while the live file is copied and truncated twice.
    log_dir.write(b"".join(event(n) for n in range(50)))
    log_dir.rotate()
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    assert numbers(tailer.poll(10)) == list(range(10))
    log_dir.write(b"".join(event(n) for n in range(50, 60)))
    assert numbers(tailer.poll(1)) == [10]
    os.rename(log_dir.copy_truncate(), log_dir.root / "audit.log.2")
    log_dir.write(b"".join(event(n) for n in range(60, 70)))
    log_dir.copy_truncate()
    log_dir.write(event(70))
    assert numbers(drain(tailer)) == list(range(11, 71))
    assert tailer.losses == tail.Losses()


def test_truncation_without_a_copy_is_a_gap_when_lines_were_unread(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    log_dir.write(b"".join(event(n) for n in range(10)))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    assert numbers(tailer.poll(4)) == list(range(4))
    os.truncate(log_dir.path, 0)
    log_dir.write(event(10))
    assert numbers(drain(tailer)) == [10]
    truncated, gap = tailer.take_notices()
    # Read to the end of the file (offset), but only four lines handed out.
    assert truncated == tail.Truncated(str(log_dir.path), 10 * len(event(0)))
    assert isinstance(gap, tail.Gap)
    assert f"at least {6 * len(event(0))} bytes" in gap.detail
    assert tailer.losses == tail.Losses(gaps=1, unmeasured=1)


def test_writes_to_a_renamed_file_after_it_was_drained_are_counted_as_lost(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, logrotate: str
) -> None:
    # kube-apiserver never reopens its log: under logrotate's `create` it keeps writing to the
    # renamed file, and the new audit.log stays empty. The tailer cannot read those lines in
    # order, but it says how many there were.
    rotator = tailkit.Logrotate(logrotate, log_dir, "rotate 2;create")
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    with log_dir.path.open("ab", buffering=0) as writer:
        writer.write(event(0) + event(1))
        assert numbers(tailer.poll(10)) == [0, 1]
        rotator.rotate()
        writer.write(event(2))
        assert numbers(drain(tailer)) == [2]
        writer.write(event(3) + event(4))
        assert drain(tailer) == []
        writer.write(event(5))
        assert drain(tailer) == []
    # One gap says so when it starts; the totals keep counting without a notice per poll.
    [gap] = [notice for notice in tailer.take_notices() if isinstance(notice, tail.Gap)]
    assert (gap.lost_bytes, gap.lost_lines) == (len(event(3) + event(4)), 2)
    assert "kept writing to the renamed file" in gap.detail
    lost = len(event(3) + event(4) + event(5))
    assert tailer.losses == tail.Losses(gaps=1, lost_bytes=lost, lost_lines=3)
