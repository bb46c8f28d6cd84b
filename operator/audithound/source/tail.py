"""Follow the live kube-apiserver audit log: complete lines, each with the position after it.

Fed by: the audit log file (one JSON event per line, rotated by lumberjack: ``audit.log`` is
renamed to ``audit-<UTC timestamp>.log``, optionally gzipped later, and a new ``audit.log`` is
opened) and a start: a saved :class:`~audithound.source.checkpoint.Position`, a look-back, or a
:class:`StartPolicy`. Feeds: the decoder, which turns each :class:`Record`'s ``line`` into
events, and the pipeline, which saves a record's ``position`` once the sinks acknowledged the
alerts up to it; restarting at that position yields exactly the next line.

The tailer reads bytes, never events: a line is yielded once its newline arrived, without the
newline. It polls (no inotify): each :meth:`Tailer.poll` reads what is there and never waits.
Each poll first checks (``fstat``, and a ``pread`` of the first 1 KiB) whether the live file got
shorter than what was read or its first bytes changed (copy-truncate: restart at offset 0).
At the end of the live file it checks with ``stat`` whether the path now names another file
(rotation: drain the old file to its end, then every backup rotated after it, then the new
file from offset 0). Lumberjack closes a file before renaming it, so a drained backup is final.

Every notice (:class:`Rotated`, :class:`Truncated`, :class:`Gap`) and every skipped line is
logged here, once, with file and offset; the caller counts notices (:meth:`Tailer.take_notices`)
and skipped records. Line contents are never logged: events can carry secrets.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import gzip
import io
import logging
import os
import re
import zlib
from typing import NamedTuple

import orjson

from audithound.source import checkpoint, decode

logger = logging.getLogger(__name__)

#: Longest line kept (unit: bytes, excluding the newline; default 1 MiB). Longer lines are
#: skipped and reported as a ``decode.Reason.OVERSIZED`` record, never holding more than this
#: plus one read in memory. The API server's own request limit is 3 MiB, but an audit event
#: that large is a request body logged at level RequestResponse: rare, and not worth letting
#: one line pin megabytes per reader.
MAX_LINE_BYTES = 1 << 20

#: Bytes asked of the file per read (unit: bytes; default 64 KiB): large enough that a busy
#: log is read in few system calls, small enough to keep a poll's memory flat.
READ_BYTES = 64 << 10

#: Lines read per step while scanning a file for the look-back window (unit: lines; default
#: 1000): bounds the memory of that scan.
BATCH_LINES = 1000


#: Lumberjack's backup timestamp (Go layout ``2006-01-02T15-04-05.000``), UTC by default.
_BACKUP_STAMP = r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})"
_BACKUP_STAMP_FORMAT = "%Y-%m-%dT%H-%M-%S.%f"

_GZIP_ERRORS = (OSError, EOFError, zlib.error)


class Record(NamedTuple):
    """One line of the log, or one line that was skipped.

    ``position`` is just after the line (after its newline): saving it and restarting there
    resumes with the next line. ``line`` is None exactly when ``skipped`` says why; the only
    reason here is ``decode.Reason.OVERSIZED``. The last line of a rotated file that ends
    without a newline is yielded as it is (it will never be completed); the decoder judges it.
    A tuple of the position's parts, not a dataclass holding a position: one small object
    per line instead of two, on the hot path.
    """

    line: bytes | None
    identity: checkpoint.FileIdentity
    offset: int
    skipped: decode.Reason | None = None

    @property
    def position(self) -> checkpoint.Position:
        return checkpoint.Position(self.identity, self.offset)


class StartPolicy(enum.Enum):
    """Where to start without a saved position (besides a look-back ``timedelta``)."""

    #: The oldest backup still there, then every newer file.
    BEGINNING = "beginning"
    #: After the last complete line of the live file: only what is written from now on.
    END = "end"


#: A saved position, a policy, or a look-back: start at the first line whose event time is at
#: or after ``now - lookback`` (lines without a readable time count as inside the window).
Start = checkpoint.Position | StartPolicy | datetime.timedelta


@dataclasses.dataclass(frozen=True, slots=True)
class Rotated:
    """A file was read to its end and the next one was opened (``path``, from offset 0)."""

    previous: checkpoint.Position
    path: str


@dataclasses.dataclass(frozen=True, slots=True)
class Truncated:
    """The live file became shorter than ``offset`` or its content was replaced.

    Reading restarted at offset 0; whatever was written between the last read and the
    truncation is lost (copy-truncate rotation cannot promise otherwise).
    """

    path: str
    offset: int


@dataclasses.dataclass(frozen=True, slots=True)
class Gap:
    """Part of the log could not be read; ``detail`` says which part, as far as it is known."""

    path: str
    detail: str


Notice = Rotated | Truncated | Gap


@dataclasses.dataclass(frozen=True, slots=True)
class _File:
    """A file that may hold part of the log: the live one (``rotated_ns`` None) or a backup."""

    path: str
    compressed: bool
    rotated_ns: int | None


class _Reader:
    """One open file, read sequentially into lines: the live log or a finished backup."""

    __slots__ = (
        "buf",
        "dev",
        "error",
        "fh",
        "file",
        "final",
        "identity",
        "ino",
        "limit",
        "live_at_ns",
        "offset",
        "prefix",
        "read_offset",
        "report",
        "skipping",
    )

    def __init__(self, file: _File, limit: int, *, report: bool = True) -> None:
        self.file = file
        self.limit = limit
        #: Whether skipped lines are logged (not while looking for where a look-back starts).
        self.report = report
        #: Whether the file gets no more writes: read it to its end, then move on.
        self.final = file.rotated_ns is not None
        #: Why a compressed file could not be read to its end.
        self.error: str | None = None
        self.fh: io.FileIO | gzip.GzipFile
        if file.compressed:
            self.fh = gzip.GzipFile(file.path, "rb")
        else:
            self.fh = io.FileIO(file.path, "rb")
        try:
            self.rewind()
        except BaseException:
            self.fh.close()
            raise

    def rewind(self) -> None:
        """Read from offset 0 again, taking the file's identity anew (after a truncation)."""
        self.fh.seek(0)
        stat = os.fstat(self.fh.fileno())
        self.dev = stat.st_dev
        self.ino = stat.st_ino
        if self.file.compressed and self.file.rotated_ns is not None:
            # A gzipped backup's mtime is when it was compressed, after newer rotations.
            self.live_at_ns = self.file.rotated_ns
        else:
            self.live_at_ns = stat.st_mtime_ns
        self.prefix = self._read_prefix()
        self.identity = self._identity()
        #: Offset just after the last line handed out: where ``buf`` starts.
        self.offset = 0
        #: Offset of the next byte to read from the file.
        self.read_offset = 0
        #: Bytes read but not yet handed out: the start of a line still waiting for its newline.
        self.buf = b""
        #: Whether an oversized line is being read past; ``offset`` is where it started.
        self.skipping = False

    def _read_prefix(self) -> bytes:
        if isinstance(self.fh, gzip.GzipFile):
            prefix = self.fh.read(checkpoint.FINGERPRINT_BYTES)
            self.fh.seek(0)
            return prefix
        return os.pread(self.fh.fileno(), checkpoint.FINGERPRINT_BYTES, 0)

    def _identity(self) -> checkpoint.FileIdentity:
        return checkpoint.FileIdentity(
            dev=self.dev,
            ino=self.ino,
            fingerprint_size=len(self.prefix),
            fingerprint=checkpoint.fingerprint(self.prefix),
            path=self.file.path,
            live_at_ns=self.live_at_ns,
        )

    def same_file(self, identity: checkpoint.FileIdentity) -> bool:
        """Whether this is the file ``identity`` names (same inode and same first bytes)."""
        return ((self.dev, self.ino) == (identity.dev, identity.ino)) and identity.same_content(
            self.prefix
        )

    def is_file(self, file: _File) -> bool:
        """Whether ``file`` (a plain file) is this file under another name."""
        if file.compressed:
            return False
        try:
            stat = os.stat(file.path)
        except FileNotFoundError:
            return False
        return (stat.st_dev, stat.st_ino) == (self.dev, self.ino)

    def seek(self, offset: int) -> bool:
        """Continue reading at ``offset`` (a line start); False when the file is shorter."""
        if isinstance(self.fh, gzip.GzipFile):
            try:
                reached = self.fh.seek(offset)
            except _GZIP_ERRORS as exc:
                # Reading stops here; the caller reports the rest of the file as a gap.
                self.error = str(exc)
                reached = offset
        else:
            reached = min(offset, os.fstat(self.fh.fileno()).st_size)
            self.fh.seek(reached)
        if reached < offset:
            self.fh.seek(0)
            return False
        self.offset = self.read_offset = offset
        return True

    def position(self) -> checkpoint.Position:
        return checkpoint.Position(self.identity, self.read_offset)

    def close(self) -> None:
        self.fh.close()

    def _read(self) -> bytes:
        if self.error is not None:
            return b""
        try:
            chunk = self.fh.read(READ_BYTES)
        except _GZIP_ERRORS as exc:
            # A corrupt or half-written backup: what was read stands, the rest is a gap.
            self.error = str(exc)
            return b""
        if (
            chunk
            and len(self.prefix) < checkpoint.FINGERPRINT_BYTES
            and self.read_offset <= len(self.prefix)
        ):
            grown = (self.prefix[: self.read_offset] + chunk)[: checkpoint.FINGERPRINT_BYTES]
            if len(grown) > len(self.prefix):
                self.prefix = grown
                self.identity = self._identity()
        self.read_offset += len(chunk)
        return chunk

    def take(self, want: int, out: list[Record]) -> bool:
        """Append up to ``want`` records to ``out``; True when the file has no more bytes now."""
        taken = 0
        while True:
            if not self.skipping:
                taken += self._split(want - taken, out)
                if taken >= want:
                    return False
                if len(self.buf) > self.limit:
                    # The rest of this line is read past, never held.
                    self.skipping = True
                    self.buf = b""
            chunk = self._read()
            if not chunk:
                return True
            if not self.skipping:
                self.buf += chunk
                continue
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            end = self.read_offset - len(chunk) + newline + 1
            out.append(self.skip(decode.Reason.OVERSIZED, end))
            taken += 1
            self.skipping = False
            self.buf = chunk[newline + 1 :]
            if taken >= want:
                return False

    def _split(self, want: int, out: list[Record]) -> int:
        """Hand out up to ``want`` complete lines from ``buf``; how many were handed out."""
        lines = self.buf.split(b"\n", want)
        # After the last newline used: a partial line, or more lines once ``want`` is reached.
        rest = lines.pop()
        identity = self.identity
        limit = self.limit
        offset = self.offset
        append = out.append
        for line in lines:
            offset += len(line) + 1
            if len(line) > limit:
                self.offset = offset - len(line) - 1
                append(self.skip(decode.Reason.OVERSIZED, offset))
            else:
                append(Record(line, identity, offset))
        self.buf = rest
        self.offset = offset
        return len(lines)

    def last_line(self) -> Record:
        """The bytes after the last newline of a finished file, as its last line."""
        line, self.buf = self.buf, b""
        self.offset = self.read_offset
        return Record(line, self.identity, self.offset)

    def skip(self, reason: decode.Reason, end: int) -> Record:
        """The record of the line from ``offset`` to ``end`` that is not handed out."""
        if self.report:
            logger.warning(
                "Skipped audit log line reason=%s path=%s offset=%d bytes=%d limit=%d",
                reason,
                self.file.path,
                self.offset,
                end - self.offset,
                self.limit,
            )
        self.offset = end
        return Record(None, self.identity, end, reason)


def _event_time(line: bytes | None) -> datetime.datetime | None:
    """The event time of one audit line, or None when it cannot be read."""
    if line is None:
        return None
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return decode.event_time(event) if isinstance(event, dict) else None


class Tailer:
    """Reads the audit log at ``path`` and its lumberjack backups, in order, each line once.

    ``start`` is applied by the first :meth:`poll`. A saved position resumes there: in the
    live file when it is still the same file, else in the backup that holds it (found by inode
    and fingerprint, or by fingerprint alone for a gzipped backup), followed by every
    newer backup and the live file; when that file is gone, a :class:`Gap` says so and reading
    goes on with the backups rotated after it. A look-back starts at the first line whose event
    time (``stageTimestamp``, else ``requestReceivedTimestamp``, else v1beta1's ``timestamp``)
    is at or after ``now - lookback``, assuming files are in time order: it looks at the first
    line of each file from the newest back, then scans the file where the window begins.

    Not thread-safe: one caller polls at a time.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: Start,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        if isinstance(start, datetime.timedelta) and start < datetime.timedelta(0):
            raise ValueError(f"a look-back must not be negative, got {start}")
        self.path = os.fspath(path)
        directory, name = os.path.split(os.path.abspath(self.path))
        stem, extension = os.path.splitext(name)
        self._directory = directory
        self._backup_name = re.compile(
            re.escape(stem) + "-" + _BACKUP_STAMP + re.escape(extension) + r"(\.gz)?"
        )
        self._live = _File(self.path, compressed=False, rotated_ns=None)
        self._limit = max_line_bytes
        self._start: Start | None = start
        #: The file being read, if any.
        self._reader: _Reader | None = None
        #: Backups to read, oldest first, once the current file is finished.
        self._queue: collections.deque[_File] = collections.deque()
        #: The live file, opened before the backups in the queue were listed, read after them.
        self._pending: _Reader | None = None
        #: The end of the file finished last, while no other file was opened after it.
        self._after: checkpoint.Position | None = None
        self._notices: list[Notice] = []

    def poll(self, max_lines: int) -> list[Record]:
        """Up to ``max_lines`` records that are there now, in log order; never waits.

        Fewer than ``max_lines`` means the reader caught up with the live file (or there is
        no live file yet).
        """
        if max_lines < 1:
            raise ValueError(f"max_lines must be at least 1, got {max_lines}")
        if self._start is not None:
            self._begin(self._start)
            self._start = None
        reader = self._reader
        if reader is not None and not reader.final and self._truncated(reader):
            # Checked before reading on: once copy-truncate's new content outgrows the old
            # offset, reading on would hand out the middle of the new content first.
            reader.rewind()
        out: list[Record] = []
        while len(out) < max_lines:
            reader = self._reader or self._next_reader()
            if reader is None:
                break
            if not reader.take(max_lines - len(out), out):
                continue
            if reader.final:
                self._finish(reader, out)
            elif self._replaced(reader):
                # Drain what was written before the rename, then follow the new file.
                reader.final = True
            else:
                break
        return out

    def position(self) -> checkpoint.Position | None:
        """Just after the last line handed out (None before the first poll or with no file):
        where the next line starts."""
        reader = self._reader
        if reader is None:
            return self._after
        return checkpoint.Position(reader.identity, reader.offset)

    def take_notices(self) -> list[Notice]:
        """The notices raised since the last call, oldest first."""
        notices, self._notices = self._notices, []
        return notices

    def close(self) -> None:
        """Close the open file; the tailer must not be polled afterwards."""
        for reader in (self._reader, self._pending):
            if reader is not None:
                reader.close()
        self._reader = self._pending = None
        self._queue.clear()

    def _begin(self, start: Start) -> None:
        # The live file is opened before the directory is listed: lumberjack renames a file
        # before it creates the next, so every file older than the one held is then listed.
        live = self._open(self._live)
        backups = _before(self._backups(), live)
        match start:
            case checkpoint.Position():
                self._resume(start, backups, live)
            case StartPolicy.BEGINNING:
                self._start_at(backups, 0, 0, live)
            case StartPolicy.END:
                if live is not None:
                    self._continue(live, _last_line_end(live))
            case datetime.timedelta():
                self._look_back(start, backups, live)
            case _:
                raise TypeError(f"unknown start {start!r}")

    def _resume(
        self, position: checkpoint.Position, backups: list[_File], live: _Reader | None
    ) -> None:
        identity = position.identity
        if live is not None and live.same_file(identity):
            self._continue(live, position.offset)
            return
        index, reader, unreadable = self._locate(identity, backups)
        if reader is not None:
            self._plan(backups[index + 1 :], live)
            self._continue(reader, position.offset)
            return
        self._plan(_rotated_after(backups, identity), live)
        detail = (
            f"The saved file {identity.path} (dev={identity.dev}, ino={identity.ino}) is gone "
            "or was overwritten: "
            f"its lines after offset {position.offset}, and those of any file rotated and "
            "removed since, were not read; how many lines or bytes is unknown"
        )
        if unreadable:
            detail += f"; backups that could not be checked: {', '.join(unreadable)}"
        self._gap(detail)

    def _look_back(
        self, lookback: datetime.timedelta, backups: list[_File], live: _Reader | None
    ) -> None:
        cutoff = datetime.datetime.now(datetime.UTC) - lookback
        files = [*backups, self._live] if live is not None else backups
        for index in reversed(range(len(files))):
            try:
                scanner = self._open_file(files[index], report=False)
            except _GZIP_ERRORS:
                # Reading it, if it comes to that, reports it as a gap.
                continue
            try:
                offset = _window_start(scanner, cutoff)
            finally:
                scanner.close()
            if offset is not None:
                self._start_at(backups, index, offset, live)
                return
        self._start_at(backups, 0, 0, live)

    def _start_at(
        self, backups: list[_File], index: int, offset: int, live: _Reader | None
    ) -> None:
        """Read ``backups[index]`` from ``offset``, then the newer ones, then ``live``.

        An ``index`` past the backups means ``live`` itself, from ``offset``.
        """
        if index >= len(backups):
            if live is not None:
                self._continue(live, offset)
            return
        self._plan(backups[index + 1 :], live)
        reader = self._open(backups[index])
        if reader is not None:
            self._continue(reader, offset)

    def _plan(self, backups: list[_File], live: _Reader | None) -> None:
        """Queue ``backups`` (oldest first, older than ``live``), then ``live``."""
        self._queue.extend(backups)
        self._pending = live

    def _continue(self, reader: _Reader, offset: int) -> None:
        if not reader.seek(offset):
            self._note_truncated(reader.file.path, offset)
        self._reader = reader

    def _next_reader(self) -> _Reader | None:
        if not self._queue and self._pending is None:
            live = self._open(self._live)
            if self._after is None:
                self._pending = live
            else:
                # Files rotated since the last plan: a lagging reader can be several behind.
                self._plan(_before(self._successors(self._after.identity), live), live)
        while self._queue:
            reader = self._open(self._queue.popleft())
            if reader is not None:
                return self._enter(reader)
        reader, self._pending = self._pending, None
        if reader is None:
            return None
        if self._after is not None and reader.same_file(self._after.identity):
            # The finished file is the live log again (moved back): go on where it ended.
            self._continue(reader, self._after.offset)
            self._after = None
            return reader
        return self._enter(reader)

    def _enter(self, reader: _Reader) -> _Reader:
        if self._after is not None:
            self._notices.append(Rotated(self._after, reader.file.path))
            logger.info(
                "Followed audit log rotation previous=%s offset=%d path=%s",
                self._after.identity.path,
                self._after.offset,
                reader.file.path,
            )
            self._after = None
        self._reader = reader
        return reader

    def _finish(self, reader: _Reader, out: list[Record]) -> None:
        if reader.error is not None:
            self._gap(
                f"Could not read {reader.file.path} past offset {reader.offset} "
                f"({reader.error}); the rest of that file was not read"
            )
        elif reader.skipping:
            out.append(reader.skip(decode.Reason.OVERSIZED, reader.read_offset))
        elif reader.buf:
            out.append(reader.last_line())
        self._after = reader.position()
        reader.close()
        self._reader = None

    def _truncated(self, reader: _Reader) -> bool:
        """Whether the live file got shorter than what was read, or its first bytes changed."""
        fd = reader.fh.fileno()
        if os.fstat(fd).st_size >= reader.read_offset and (
            os.pread(fd, len(reader.prefix), 0) == reader.prefix
        ):
            return False
        self._note_truncated(reader.file.path, reader.read_offset)
        return True

    def _note_truncated(self, path: str, offset: int) -> None:
        self._notices.append(Truncated(path, offset))
        logger.warning(
            "Restarted audit log at offset 0 after truncation path=%s offset=%d", path, offset
        )

    def _replaced(self, reader: _Reader) -> bool:
        """Whether the log's path now names another file, or none (mid-rotation)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != (reader.dev, reader.ino)

    def _gap(self, detail: str) -> None:
        self._notices.append(Gap(self.path, detail))
        logger.warning("Skipped unreadable audit log data path=%s detail=%s", self.path, detail)

    def _open_file(self, file: _File, *, report: bool = True) -> _Reader:
        """Open ``file``; a plain backup compressed meanwhile is opened as its ``.gz``."""
        try:
            return _Reader(file, self._limit, report=report)
        except FileNotFoundError:
            if file.compressed or file.rotated_ns is None:
                raise
            gzipped = _File(file.path + ".gz", compressed=True, rotated_ns=file.rotated_ns)
            return _Reader(gzipped, self._limit, report=report)

    def _open(self, file: _File) -> _Reader | None:
        """Open ``file``; None when it cannot be read (a gap, for a backup) or is not there."""
        try:
            return self._open_file(file)
        except _GZIP_ERRORS as exc:
            if file.rotated_ns is not None:
                self._gap(f"Could not read {file.path} ({exc}); none of its lines were read")
            elif not isinstance(exc, FileNotFoundError):
                raise
            return None

    def _backups(self) -> list[_File]:
        """Lumberjack backups of the log, oldest first, one per rotation (plain over gzipped)."""
        by_stamp: dict[str, _File] = {}
        with os.scandir(self._directory) as entries:
            for entry in entries:
                match = self._backup_name.fullmatch(entry.name)
                if match is None:
                    continue
                stamp = match.group(1)
                compressed = match.group(2) is not None
                if compressed and stamp in by_stamp:
                    # Lumberjack removes the plain file only once the .gz is complete.
                    continue
                by_stamp[stamp] = _File(entry.path, compressed, _stamp_ns(stamp))
        return [by_stamp[stamp] for stamp in sorted(by_stamp)]

    def _successors(self, identity: checkpoint.FileIdentity) -> list[_File]:
        """Backups rotated after the file ``identity`` names."""
        backups = self._backups()
        index, reader, _ = self._locate(identity, backups)
        if reader is not None:
            reader.close()
            return backups[index + 1 :]
        return _rotated_after(backups, identity)

    def _locate(
        self, identity: checkpoint.FileIdentity, backups: list[_File]
    ) -> tuple[int, _Reader | None, list[str]]:
        """The backup ``identity`` names, opened; else the backups that could not be checked.

        Same inode and fingerprint first; then the fingerprint alone, which finds a gzipped
        backup.
        """
        for index, file in enumerate(backups):
            if file.compressed:
                continue
            try:
                stat = os.stat(file.path)
            except FileNotFoundError:
                continue
            if (stat.st_dev, stat.st_ino) != (identity.dev, identity.ino):
                continue
            try:
                reader = self._open_file(file)
            except _GZIP_ERRORS:
                continue
            if reader.same_file(identity):
                return index, reader, []
            reader.close()
        unreadable: list[str] = []
        if identity.fingerprint_size == 0:
            return -1, None, unreadable
        for index, file in enumerate(backups):
            try:
                reader = self._open_file(file)
            except _GZIP_ERRORS:
                unreadable.append(file.path)
                continue
            if identity.same_content(reader.prefix):
                return index, reader, []
            reader.close()
        return -1, None, unreadable


def _window_start(reader: _Reader, cutoff: datetime.datetime) -> int | None:
    """Where the look-back window starts in this file, or None when it starts in an older one.

    None when the file's first line is already inside the window (or it has no line); else the
    offset of its first line inside the window, or the end of its last line.
    """
    records: list[Record] = []
    end: int | None = None
    while True:
        records.clear()
        at_end = reader.take(BATCH_LINES, records)
        for record in records:
            moment = _event_time(record.line)
            if moment is None or moment >= cutoff:
                return end
            end = record.offset
        if at_end:
            return end


def _last_line_end(reader: _Reader) -> int:
    """The offset just after the last newline of a plain file (0 when it has none)."""
    fd = reader.fh.fileno()
    end = os.fstat(fd).st_size
    while end > 0:
        begin = max(0, end - READ_BYTES)
        newline = os.pread(fd, end - begin, begin).rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0


def _stamp_ns(stamp: str) -> int:
    """A lumberjack backup timestamp as nanoseconds since the epoch (UTC)."""
    moment = datetime.datetime.strptime(stamp, _BACKUP_STAMP_FORMAT).replace(tzinfo=datetime.UTC)
    return (moment - _EPOCH) // datetime.timedelta(microseconds=1) * 1000


def _before(backups: list[_File], live: _Reader | None) -> list[_File]:
    """The backups older than ``live``, which was opened before they were listed.

    The live file may have been rotated in between: it then appears among the backups, and it
    and those after it are left for when it is drained.
    """
    if live is not None:
        for index, backup in enumerate(backups):
            if live.is_file(backup):
                return backups[:index]
    return backups


def _rotated_after(backups: list[_File], identity: checkpoint.FileIdentity) -> list[_File]:
    """The backups rotated after the moment the file ``identity`` names was the live log."""
    return [b for b in backups if b.rotated_ns is not None and b.rotated_ns > identity.live_at_ns]


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
