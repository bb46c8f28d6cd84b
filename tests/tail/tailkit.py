"""A real audit log directory that tests write, rotate and truncate like kube-apiserver does.

Rotation copies lumberjack: ``audit.log`` is renamed to ``audit-<UTC timestamp>.log`` and a
new, empty ``audit.log`` is created; compression writes ``.log.gz`` and then removes the plain
backup. Timestamps come from the real clock (kept strictly increasing), because the tailer
compares them with file modification times when a file it knew is gone.
"""

from __future__ import annotations

import datetime
import gzip
import os
import pathlib
import shutil

import orjson

from audithound.source import tail

_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


class AuditLogDir:
    """The audit log directory of one test."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = root / "audit.log"
        self.path.touch()
        self._last_stamp = datetime.datetime.min.replace(tzinfo=datetime.UTC)

    def write(self, data: bytes) -> None:
        """Append ``data`` with one write, as the API server's log backend does per event."""
        with self.path.open("ab") as log:
            log.write(data)

    def rotate(self) -> pathlib.Path:
        """Rename the live file to a timestamped backup and start an empty one."""
        now = datetime.datetime.now(datetime.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        stamp = max(now, self._last_stamp + datetime.timedelta(milliseconds=1))
        self._last_stamp = stamp
        name = f"audit-{stamp:%Y-%m-%dT%H-%M-%S}.{stamp.microsecond // 1000:03d}.log"
        backup = self.root / name
        os.rename(self.path, backup)
        self.path.touch()
        return backup

    def compress(self, backup: pathlib.Path) -> pathlib.Path:
        """Gzip a backup the way lumberjack does: write the .gz whole, then remove the plain one."""
        gzipped = backup.with_name(backup.name + ".gz")
        with backup.open("rb") as plain, gzip.open(gzipped, "wb") as packed:
            shutil.copyfileobj(plain, packed)
        backup.unlink()
        return gzipped

    def copy_truncate(self) -> pathlib.Path:
        """Copy the live file aside and truncate it in place (logrotate's copytruncate)."""
        copy = self.root / "audit.log.1"
        shutil.copyfile(self.path, copy)
        os.truncate(self.path, 0)
        return copy


def event(number: int, at: datetime.datetime | None = None) -> bytes:
    """One audit event line (with its newline), unique by ``number``; ``at`` is its time."""
    moment = at or _EPOCH + datetime.timedelta(seconds=number)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        orjson.dumps(
            {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "level": "Metadata",
                "auditID": f"00000000-0000-0000-0000-{number:012d}",
                "stage": "ResponseComplete",
                "requestURI": f"/api/v1/namespaces/default/pods/p{number}",
                "verb": "get",
                "requestReceivedTimestamp": stamp,
                "stageTimestamp": stamp,
            }
        )
        + b"\n"
    )


def drain(tailer: tail.Tailer, max_lines: int = 1000) -> list[tail.Record]:
    """Every record there is now, polling until the tailer has caught up."""
    records: list[tail.Record] = []
    while True:
        batch = tailer.poll(max_lines)
        records.extend(batch)
        if len(batch) < max_lines:
            return records


def lines(records: list[tail.Record]) -> list[bytes | None]:
    return [record.line for record in records]
