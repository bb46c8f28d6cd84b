"""A real audit log directory that tests write, rotate and truncate like kube-apiserver does.

Rotation copies lumberjack (gopkg.in/natefinch/lumberjack.v2, which kube-apiserver uses):
``audit.log`` is closed, renamed to ``audit-<UTC timestamp>.log`` and a new, empty
``audit.log`` is created; then its "mill" removes the oldest backups beyond ``maxbackup`` and
compresses the rest (writes ``.log.gz``, then removes the plain backup). Timestamps come from
the real clock (kept strictly increasing), because the tailer compares them with file
modification times when a file it knew is gone. :class:`Logrotate` runs the real logrotate.
"""

from __future__ import annotations

import datetime
import gzip
import os
import pathlib
import shutil
import subprocess

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

    def rotate(
        self, maxbackup: int = 0, compress: bool = False, at: datetime.datetime | None = None
    ) -> pathlib.Path:
        """Rename the live file to a timestamped backup and start an empty one.

        Then, as lumberjack's mill does, remove the oldest backups beyond ``maxbackup`` (0:
        keep all) and, with ``compress``, gzip the plain ones left. Returns the new backup's
        path as it was renamed (it may be compressed or removed already). ``at`` is the
        rotation's time (default: now); its name keeps the millisecond, as lumberjack's does.
        """
        now = at or datetime.datetime.now(datetime.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        stamp = max(now, self._last_stamp + datetime.timedelta(milliseconds=1))
        self._last_stamp = stamp
        name = f"audit-{stamp:%Y-%m-%dT%H-%M-%S}.{stamp.microsecond // 1000:03d}.log"
        backup = self.root / name
        os.rename(self.path, backup)
        with self.path.open("xb"):
            pass
        if maxbackup:
            for old in self.backups()[:-maxbackup]:
                old.unlink()
        if compress:
            for plain in self.root.glob("audit-*.log"):
                self.compress(plain)
        return backup

    def backups(self) -> list[pathlib.Path]:
        """The lumberjack backups there now, oldest first."""
        return sorted(self.root.glob("audit-*.log*"))

    def compress(self, backup: pathlib.Path) -> pathlib.Path:
        """Gzip a backup the way lumberjack does: write the .gz whole, then remove the plain one."""
        gzipped = backup.with_name(backup.name + ".gz")
        with backup.open("rb") as plain, gzip.open(gzipped, "wb") as packed:
            shutil.copyfileobj(plain, packed)
        backup.unlink()
        return gzipped

    def copy_truncate(self, compress: bool = False) -> pathlib.Path:
        """Copy the live file aside and truncate it in place (logrotate's copytruncate).

        With ``compress``, the copy is then gzipped and removed, as logrotate's ``compress``
        without ``delaycompress`` does.
        """
        copy = self.root / "audit.log.1"
        shutil.copyfile(self.path, copy)
        os.truncate(self.path, 0)
        return self.compress(copy) if compress else copy


def logrotate_binary() -> str | None:
    """Where logrotate is installed (Debian puts it in /usr/sbin, often not on PATH)."""
    return shutil.which("logrotate") or shutil.which("logrotate", path="/usr/sbin:/sbin")


class Logrotate:
    """The real logrotate, rotating one test's audit log with the given directives."""

    def __init__(self, binary: str, log_dir: AuditLogDir, directives: str) -> None:
        self.binary = binary
        self.log_dir = log_dir
        self.config = log_dir.root.parent / "logrotate.conf"
        self.state = log_dir.root.parent / "logrotate.state"
        body = "\n".join(f"    {line}" for line in directives.split(";") if line.strip())
        self.config.write_text(f"{log_dir.path} {{\n{body}\n    missingok\n}}\n")

    def rotate(self) -> None:
        """``logrotate -f -s state conf``: one forced rotation."""
        subprocess.run(
            [self.binary, "-f", "-s", str(self.state), str(self.config)],
            check=True,
            capture_output=True,
        )

    def backups(self) -> list[pathlib.Path]:
        """Every rotated file there now."""
        return [path for path in self.log_dir.root.iterdir() if path.name != "audit.log"]


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


def numbers(records: list[tail.Record]) -> list[int]:
    """The event numbers of the records, in order (every record must be an event)."""
    return [int(orjson.loads(record.line or b"null")["auditID"][-12:]) for record in records]


def numbered_rotation(
    log_dir: AuditLogDir, rotate: int, *, copytruncate: bool, compress: bool, delay: bool
) -> None:
    """One rotation by logrotate's numbered names, in the order its system calls come.

    As traced (strace) from logrotate 3.21: with ``delaycompress``, the previous ``.1`` is
    gzipped first; every ``.N.gz`` is renamed to ``.N+1.gz``, oldest first; the live file is
    renamed to ``.1`` and a new one created (``create``), or copied to ``.1`` and truncated
    (``copytruncate``); without ``delaycompress`` that ``.1`` is gzipped now; the backup beyond
    ``rotate`` is removed last.
    """
    root = log_dir.root

    def name(number: int, gz: bool) -> pathlib.Path:
        return root / f"audit.log.{number}{'.gz' if gz else ''}"

    if compress and delay and name(1, False).exists():
        log_dir.compress(name(1, False))
    for number in range(rotate, 0, -1):
        for gz in (True, False):
            if name(number, gz).exists():
                os.rename(name(number, gz), name(number + 1, gz))
    if copytruncate:
        shutil.copyfile(log_dir.path, name(1, False))
        os.truncate(log_dir.path, 0)
    else:
        os.rename(log_dir.path, name(1, False))
        with log_dir.path.open("xb"):
            pass
    if compress and not delay:
        log_dir.compress(name(1, False))
    for gz in (True, False):
        name(rotate + 1, gz).unlink(missing_ok=True)
