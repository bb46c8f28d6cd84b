"""Follow the live kube-apiserver audit log: complete lines, each with the position after it.

Fed by: the audit log file (one JSON event per line) and its rotated backups beside it, named
by lumberjack (the API server's own rotation) or by logrotate (``source.backups`` knows the
names), and a start: a saved :class:`~audithound.source.checkpoint.Position`, a look-back, or a
:class:`StartPolicy`. Feeds: the decoder, which turns each :class:`Record`'s ``line`` into
events, and the pipeline, which saves a record's ``position`` once the sinks acknowledged the
alerts up to it; restarting at that position yields exactly the next line. The operator reads
:attr:`Tailer.losses` for its metric and the rules' status.

The tailer reads bytes, never events: a line is yielded once its newline arrived, without the
newline. It polls (no inotify): each :meth:`Tailer.poll` reads what is there and never waits.
Each poll first looks at what changed on disk: an ``fstat`` and a ``pread`` of the first KiB
of the live file and a ``stat`` of its path; a ``scandir`` of the directory when those show a
change (or at least every :data:`LIST_SECONDS`); more only when the listing changed.

- Rotation by rename (lumberjack; logrotate's ``create``): the path names another file. The
  old file is read to its end, then every backup rotated after it, then the new file from 0.
- Every backup newer than the read position is opened as soon as a poll sees it and held open
  until it is drained (at most :data:`MAX_HELD_FILES`), so that a rotator deleting old backups
  (``--audit-log-maxbackup``, logrotate's ``rotate``) while the reader lags cannot take what
  the reader has not read: an unlinked file stays readable while it is open.
- Copy-truncate (logrotate's ``copytruncate``): the live file got shorter than what was seen
  or its first bytes changed. What was not read yet is in the copy, the backup whose first
  bytes are those the live file had: it is read on from the old offset, then the live file
  from 0. Lines written between the copy and the truncation are in neither file.
- A new backup is told from a known file renamed (logrotate's numbers shift at every
  rotation) or compressed by its inode and its first bytes, never by its name alone.

What cannot be read is a :class:`Gap` that says how many bytes (and lines) were lost when that
can be known; :attr:`Tailer.losses` keeps the running totals. Every notice (:class:`Rotated`,
:class:`Truncated`, :class:`Gap`) and every skipped line is logged here, once, with file and
offset, as structured fields; the caller counts notices (:meth:`Tailer.take_notices`) and
skipped records. Line contents are never logged: events can carry secrets.
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
import time
from collections.abc import Iterator
from typing import Final, NamedTuple

import orjson

from audithound.source import backups, checkpoint, decode

logger = logging.getLogger(__name__)

#: Bytes asked of the file per read (unit: bytes; default 64 KiB): large enough that a busy
#: log is read in few system calls, small enough to keep a poll's memory flat.
READ_BYTES: Final = 64 << 10

#: Lines read per step while scanning a file for the look-back window (unit: lines; default
#: 1000): bounds the memory of that scan.
BATCH_LINES: Final = 1000

#: Longest time between two listings of the log's directory while nothing else shows a change
#: (unit: seconds; default 1). A poll lists the directory when the live file was renamed or
#: truncated, or while its first bytes are unknown; this catches whatever else appears (a
#: backup not made by rotating the live file) soon, for the price of one ``scandir`` a second.
LIST_SECONDS: Final = 1.0

#: Rotated files held open at most (unit: files; default 16), besides the live one and the
#: last one finished (watched for writes that come after it was renamed away). A held
#: backup stays readable after the rotator deletes it, but its disk blocks stay in use until it
#: is drained and closed: this bounds the disk kept beyond what the rotation keeps (16 of the
#: API server's usual 100 MiB backups: 1.6 GiB) and the descriptors used. Past it, the newer
#: backups wait unopened, in order; the rotator deletes the oldest first, so the held ones are
#: those at risk. A waiting backup removed before the reader gets to it is a :class:`Gap` of
#: its size.
MAX_HELD_FILES: Final = 16


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

    ``copy`` is the rotated file that holds the old content (copy-truncate), read on from where
    the live file was left before the live file is read again from offset 0. Without a copy,
    what had not been read is lost: a :class:`Gap` says so when the tailer had seen it. Lines
    written between the copy and the truncation are in neither file, and no reader can tell.
    """

    path: str
    offset: int
    copy: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Gap:
    """Part of the log could not be read; ``detail`` says which part, as far as it is known.

    ``lost_bytes`` and ``lost_lines`` say how much was lost; None when that cannot be known
    (a file removed before it was seen, a corrupt gzip): what was never read cannot be counted.
    """

    path: str
    detail: str
    lost_bytes: int | None = None
    lost_lines: int | None = None


Notice = Rotated | Truncated | Gap


@dataclasses.dataclass(frozen=True, slots=True)
class Losses:
    """What a tailer could not read since it started: running totals of its :class:`Gap`\\ s.

    Meant for a metric and for each rule's status. ``lost_bytes`` and ``lost_lines`` add up
    the gaps whose size is known; ``unmeasured`` counts those whose size is not, so while it
    is above 0 the totals are lower bounds.
    """

    #: Gaps met; each was also a :class:`Gap` notice and a warning in the log.
    gaps: int = 0
    #: Bytes of audit log lost, over the gaps whose size is known.
    lost_bytes: int = 0
    #: Lines lost, over the gaps whose line count is known.
    lost_lines: int = 0
    #: Gaps whose size is not known.
    unmeasured: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Waiting:
    """A backup to read that is not open yet (past :data:`MAX_HELD_FILES`)."""

    #: Where it was last listed.
    file: backups.File
    #: Its first bytes (None when not read), to find it again once renamed or compressed.
    head: bytes | None
    #: Where to start reading it.
    start: int = 0


class _Reader:
    """One open file, read sequentially into lines: the live log or a rotated one."""

    __slots__ = (
        "buf",
        "dev",
        "error",
        "fh",
        "file",
        "identity",
        "ino",
        "limit",
        "live_at_ns",
        "offset",
        "prefix",
        "read_offset",
        "renamed",
        "report",
        "seen",
        "skipping",
    )

    def __init__(self, file: backups.File, limit: int, *, report: bool = True) -> None:
        self.file = file
        self.limit = limit
        #: Whether skipped lines are logged (not while looking for where a look-back starts).
        self.report = report
        #: Whether this was the live file and was renamed away while it was open.
        self.renamed = False
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
        #: The largest size seen (a plain file), to tell that the live file was truncated.
        self.seen = 0 if self.file.compressed else stat.st_size
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

    def grow_prefix(self, head: bytes) -> None:
        """Take ``head``, the file's first bytes now, as its prefix when it is longer."""
        if len(head) > len(self.prefix):
            self.prefix = head
            self.identity = self._identity()

    def head(self) -> bytes:
        """The file's first bytes now (a gzip's never change)."""
        if isinstance(self.fh, gzip.GzipFile):
            return self.prefix
        return os.pread(self.fh.fileno(), checkpoint.FINGERPRINT_BYTES, 0)

    def same_file(self, identity: checkpoint.FileIdentity) -> bool:
        """Whether this is the file ``identity`` names (same inode and same first bytes)."""
        return ((self.dev, self.ino) == (identity.dev, identity.ino)) and identity.same_content(
            self.prefix
        )

    def is_file(self, file: backups.File) -> bool:
        """Whether ``file`` (as listed) is this file under another name."""
        return not file.compressed and (file.dev, file.ino) == (self.dev, self.ino)

    def seek(self, offset: int) -> bool:
        """Continue reading at ``offset`` (a line start); False when the file is shorter."""
        if isinstance(self.fh, gzip.GzipFile):
            try:
                reached = self.fh.seek(offset)
            except backups.GZIP_ERRORS as exc:
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
        except backups.GZIP_ERRORS as exc:
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
                self.buf += chunk if b"\n" in chunk else self._gather(chunk)
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

    def _gather(self, chunk: bytes) -> bytes:
        """``chunk`` and the reads after it up to a newline, the limit or the end, joined.

        A line longer than one read is joined once, not copied again at every read (which
        would cost its length squared over ``READ_BYTES``).
        """
        pieces = [chunk]
        size = len(self.buf) + len(chunk)
        while size <= self.limit:
            chunk = self._read()
            if not chunk:
                break
            pieces.append(chunk)
            size += len(chunk)
            if b"\n" in chunk:
                break
        return b"".join(pieces)

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
                "Skipped audit line",
                extra={
                    "reason": str(reason),
                    "file": self.file.path,
                    "offset": self.offset,
                    "bytes": end - self.offset,
                    "limit": self.limit,
                },
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
    """Reads the audit log at ``path`` and its backups, in order, each line once.

    ``start`` is applied by the first :meth:`poll`. A saved position resumes there: in the
    live file when it is still the same file, else in the backup that holds it (found by inode
    and fingerprint, or by fingerprint alone for a gzipped backup or a copy), followed by every
    newer backup and the live file; when that file is gone, a :class:`Gap` says so and reading
    goes on with the backups rotated after it. A look-back starts at the first line whose event
    time (``stageTimestamp``, else ``requestReceivedTimestamp``, else v1beta1's ``timestamp``)
    is at or after ``now - lookback``, assuming files are in time order: it looks at the first
    line of each file from the newest back, then scans the file where the window begins.

    ``max_held_files`` bounds the backups held open (:data:`MAX_HELD_FILES`). Not thread-safe:
    one caller polls at a time; :attr:`losses` may be read from any thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: Start,
        *,
        max_line_bytes: int = decode.MAX_LINE_BYTES,
        max_held_files: int = MAX_HELD_FILES,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        if max_held_files < 1:
            raise ValueError(f"max_held_files must be at least 1, got {max_held_files}")
        if isinstance(start, datetime.timedelta) and start < datetime.timedelta(0):
            raise ValueError(f"a look-back must not be negative, got {start}")
        self.path = os.fspath(path)
        self._naming = backups.Naming(self.path)
        self._live_file = backups.File(self.path)
        self._limit = max_line_bytes
        self._max_held = max_held_files
        self._start: Start | None = start
        #: The file the path named when it was last opened; read after the backlog.
        self._live: _Reader | None = None
        #: Rotated files still to read, oldest first; the first one is being read.
        self._backlog: collections.deque[_Reader | _Waiting] = collections.deque()
        #: The end of the file finished last, until the next file is entered.
        self._after: checkpoint.Position | None = None
        #: The last file finished after it was renamed away, watched for writes that came late.
        self._watched: _Reader | None = None
        #: The listing last taken in; None: take the next one in whole.
        self._listing: backups.Listing | None = None
        #: When the directory was last listed (``time.monotonic``).
        self._listed_at = -LIST_SECONDS
        #: The backups of that listing by (device, inode), with their first bytes when read.
        self._listed: dict[tuple[int, int], tuple[backups.File, bytes | None]] = {}
        #: Whether backups are waiting unopened, past the bound (logged when that starts).
        self._bounded = False
        self._notices: list[Notice] = []
        self._losses = Losses()

    @property
    def losses(self) -> Losses:
        """What could not be read since the tailer started: totals over its gaps."""
        return self._losses

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
        # Before reading on: once copy-truncate's new content outgrows the old offset, reading
        # on would hand out the middle of the new content first.
        self._look()
        out: list[Record] = []
        looked_at = 0
        while len(out) < max_lines:
            reader = self._current()
            if reader is None:
                break
            if not reader.take(max_lines - len(out), out):
                continue
            if reader is not self._live:
                self._finish(reader, out)
            elif len(out) == looked_at or not self._look():
                # Caught up. Nothing read since the last look: looking again would see what
                # it saw (an idle poll looks once).
                break
            else:
                looked_at = len(out)
        return out

    def position(self) -> checkpoint.Position | None:
        """Just after the last line handed out (None before the first poll or with no file):
        where the next line starts."""
        following = self._backlog[0] if self._backlog else self._live
        if not isinstance(following, _Reader):
            return self._after  # the next file is not open yet
        if self._after is not None and following.offset == 0:
            return checkpoint.Position(following.identity, 0)  # a finished file behind
        return checkpoint.Position(following.identity, following.offset)

    def take_notices(self) -> list[Notice]:
        """The notices raised since the last call, oldest first."""
        notices, self._notices = self._notices, []
        return notices

    def close(self) -> None:
        """Close every open file; the tailer must not be polled afterwards."""
        for reader in list(self._readers()):
            reader.close()
        self._live = self._watched = None
        self._backlog.clear()

    # Starting

    def _begin(self, start: Start) -> None:
        # The live file is opened before the directory is listed: a rotator renames a file
        # before it creates the next, so every file older than the one held is then listed.
        live = self._open(self._live_file)
        files = _before(self._naming.backups(self._naming.scan()), live)
        self._listed = {
            (file.dev, file.ino): (file, None if file.compressed else backups.head(file))
            for file in files
        }
        self._live = live
        match start:
            case checkpoint.Position():
                self._resume(start, files, live)
            case StartPolicy.BEGINNING:
                self._start_at(files, 0, 0, live)
            case StartPolicy.END:
                if live is not None:
                    self._continue(live, _last_line_end(live))
            case datetime.timedelta():
                self._look_back(start, files, live)
            case _:
                raise TypeError(f"unknown start {start!r}")

    def _resume(
        self, position: checkpoint.Position, files: list[backups.File], live: _Reader | None
    ) -> None:
        identity = position.identity
        if live is not None and live.same_file(identity):
            self._continue(live, position.offset)
            return
        index, reader, unreadable = self._locate(identity, files)
        if reader is not None:
            self._plan(files[index + 1 :])
            self._continue(reader, position.offset)
            return
        self._plan(_rotated_after(files, identity))
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
        self, lookback: datetime.timedelta, files: list[backups.File], live: _Reader | None
    ) -> None:
        cutoff = datetime.datetime.now(datetime.UTC) - lookback
        candidates = [*files, self._live_file] if live is not None else files
        for index in reversed(range(len(candidates))):
            try:
                scanner = self._open_file(candidates[index], report=False)
            except backups.GZIP_ERRORS:
                # Reading it, if it comes to that, reports it as a gap.
                continue
            try:
                offset = _window_start(scanner, cutoff)
            finally:
                scanner.close()
            if offset is not None:
                self._start_at(files, index, offset, live)
                return
        self._start_at(files, 0, 0, live)

    def _start_at(
        self, files: list[backups.File], index: int, offset: int, live: _Reader | None
    ) -> None:
        """Read ``files[index]`` from ``offset``, then the newer ones, then ``live``.

        An ``index`` past the backups means ``live`` itself, from ``offset``.
        """
        if index >= len(files):
            if live is not None:
                self._continue(live, offset)
            return
        self._plan(files[index + 1 :])
        reader = self._open(files[index])
        if reader is not None:
            self._continue(reader, offset)

    def _plan(self, files: list[backups.File]) -> None:
        """Queue ``files`` (oldest first, older than the live file), each to read from 0."""
        for file in files:
            self._backlog.append(
                _Waiting(file, self._listed.get((file.dev, file.ino), (file, None))[1])
            )

    def _continue(self, reader: _Reader, offset: int) -> None:
        """Read ``reader`` first, from ``offset``."""
        if not reader.seek(offset):
            self._note_truncated(reader.file.path, offset)
        if reader is not self._live:
            self._backlog.appendleft(reader)

    # Reading in order

    def _current(self) -> _Reader | None:
        """The file to read now: the oldest of the backlog, else the live file."""
        while self._backlog:
            first = self._backlog[0]
            if isinstance(first, _Reader):
                return self._enter(first)
            reader = self._open_waiting(first)
            if reader is None:
                self._backlog.popleft()
            else:
                self._backlog[0] = reader
        if self._live is None:
            return None
        return self._enter(self._live)

    def _enter(self, reader: _Reader) -> _Reader:
        if self._after is not None:
            self._notices.append(Rotated(self._after, reader.file.path))
            logger.info(
                "Followed audit log rotation",
                extra={
                    "previous": self._after.identity.path,
                    "offset": self._after.offset,
                    "file": reader.file.path,
                },
            )
            self._after = None
        return reader

    def _finish(self, reader: _Reader, out: list[Record]) -> None:
        """Close the backlog's first file, read to its end, and hold what comes next."""
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
        self._backlog.popleft()
        if reader.renamed and not reader.file.compressed:
            if self._watched is not None:
                self._watched.close()
            self._watched = reader
        else:
            reader.close()
        self._hold()

    # Looking at the directory

    def _look(self) -> bool:
        """Take in what changed on disk since the last look; False when nothing did."""
        live = self._live
        # While the live file's first bytes are unknown, a copy of content never seen (written,
        # copied and truncated between two looks) could appear with nothing else changing.
        # And while they are fewer than a fingerprint: the copy is then how a truncation that
        # regrew the file past where it was read shows (see :meth:`_rewritten`).
        blind = live is None or len(live.prefix) < checkpoint.FINGERPRINT_BYTES
        # The first bytes known before this look: a copy starts with them.
        known = live.prefix if live is not None else b""
        truncated = live is not None and self._truncated(live)
        if self._watched is not None:
            self._check_watched(self._watched)
        try:
            stat: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            stat = None
        moved = live is not None and (
            stat is None or (stat.st_dev, stat.st_ino) != (live.dev, live.ino)
        )
        changed = truncated or moved or (live is None and stat is not None)
        now = time.monotonic()
        if not changed and not blind and now - self._listed_at < LIST_SECONDS:
            return False
        self._listed_at = now
        listing = self._naming.scan()
        if listing == self._listing and not changed:
            return False
        self._listing = listing
        files = self._naming.backups(listing)
        fresh = self._fresh(files)
        if live is not None and not truncated and not moved:
            truncated = self._rewritten(live, known, fresh)
        if truncated and live is not None:
            offset, read_offset, seen = live.offset, live.read_offset, live.seen
            live.rewind()
            self._follow_copy(live.file.path, known, offset, read_offset, seen, files, fresh)
        if moved and live is not None:
            # Drained to its end, then closed, like any backup: a rotator that renames closes
            # the file first (lumberjack) or has the writer reopen its log (logrotate).
            live.renamed = True
            self._backlog.append(live)
            self._live = None
        self._refresh_waiting(files)
        if fresh:
            if self._live is None or self._live.read_offset == 0:
                self._backlog.extend(_Waiting(file, head) for file, head in fresh)
            else:
                for file, _ in fresh:
                    logger.warning(
                        "Ignored rotated audit log that appeared without a rotation",
                        extra={"file": file.path, "live": self.path},
                    )
        watched = self._watched
        if watched is not None and not any(watched.is_file(file) for file in files):
            # Removed: whatever is written to it from now on is not anywhere to look.
            watched.close()
            self._watched = None
        if self._live is None and stat is not None:
            self._open_live()
        self._hold()
        return True

    def _truncated(self, live: _Reader) -> bool:
        """Whether the live file got shorter than seen, or its first bytes changed.

        Else takes in how far it grew, and its first bytes while they are fewer than a
        fingerprint: so that the copy of a file not read yet can be recognised.
        """
        fd = live.fh.fileno()
        size = os.fstat(fd).st_size
        head = os.pread(fd, checkpoint.FINGERPRINT_BYTES, 0)
        if size < max(live.seen, live.read_offset) or head[: len(live.prefix)] != live.prefix:
            return True
        live.seen = size
        live.grow_prefix(head)
        return False

    def _rewritten(
        self, live: _Reader, known: bytes, fresh: list[tuple[backups.File, bytes | None]]
    ) -> bool:
        """Whether the live file was copied, truncated and written again between two looks,
        growing past where it was read: neither its size nor the few first bytes known tell
        then, but a new backup holds those bytes (``known``, before this look) followed by
        others than the file holds now.

        A copy that agrees with the live file is no sign: logrotate copies before it
        truncates, and the truncation shows later.
        """
        if not known or len(known) >= checkpoint.FINGERPRINT_BYTES:
            return False
        now = live.head()
        for _, head in fresh:
            if head and head.startswith(known):
                common = min(len(head), len(now))
                if head[:common] != now[:common]:
                    return True
        return False

    def _fresh(self, files: list[backups.File]) -> list[tuple[backups.File, bytes | None]]:
        """The backups of ``files`` not known yet (rotated since the last look), oldest first.

        A backup is known when the last listing had its inode under the same name or a newer
        one (logrotate renames ``.1`` to ``.2``), when it is a file held open, or when its
        first bytes are those of a known file (it was compressed since). Empty ones hold
        nothing to read. Remembers ``files`` for the next look.
        """
        held = {(r.dev, r.ino): r for r in self._readers() if not r.file.compressed}
        known: list[bytes] | None = None
        listed: dict[tuple[int, int], tuple[backups.File, bytes | None]] = {}
        fresh: list[tuple[backups.File, bytes | None]] = []
        for file in files:
            key = (file.dev, file.ino)
            before = self._listed.get(key)
            if before is not None and file.may_be(*before):
                listed[key] = (file, before[1])
                continue
            reader = None if file.compressed else held.get(key)
            if reader is not None:
                listed[key] = (file, reader.head())
                continue
            head = backups.head(file)
            listed[key] = (file, head)
            if head == b"":
                continue
            if head is not None:
                if known is None:
                    known = self._known_heads()
                if any(backups.same_start(head, other) for other in known):
                    continue
            fresh.append((file, head))
        self._listed = listed
        return fresh

    def _known_heads(self) -> list[bytes]:
        """The first bytes of every file known: held open, waiting, or listed last time."""
        heads = [reader.head() for reader in self._readers()]
        heads += [item.head for item in self._backlog if isinstance(item, _Waiting) and item.head]
        heads += [head for _, head in self._listed.values() if head]
        return heads

    def _follow_copy(
        self,
        path: str,
        prefix: bytes,
        offset: int,
        read_offset: int,
        seen: int,
        files: list[backups.File],
        fresh: list[tuple[backups.File, bytes | None]],
    ) -> None:
        """After a truncation: read on in the copy of what the live file held, if there is one.

        ``prefix`` is the live file's first bytes before, ``offset`` where its next line
        started, ``read_offset`` how far it was read and ``seen`` how large it was seen.
        """
        # The oldest backup new since the last look that starts so: later ones are later
        # rotations (two between looks). Else the newest that does: copied and listed before
        # that look, truncated only after it.
        candidates = [file for file, _ in fresh] + list(reversed(files))
        copy = next(
            (file for file in candidates if backups.same_start(self._head_of(file), prefix)),
            None,
        )
        if copy is None:
            self._note_truncated(path, read_offset)
            if seen > offset:
                self._gap(
                    f"{path} was truncated and no rotated file starts with its first bytes: "
                    f"its lines after offset {offset} were not read (at least "
                    f"{seen - offset} bytes; how many in all is unknown)"
                )
            return
        fresh[:] = [(file, head) for file, head in fresh if file != copy]
        self._note_truncated(path, read_offset, copy.path)
        reader = self._open(copy)
        if reader is None:
            return
        if reader.seek(offset):
            self._backlog.append(reader)
        else:
            # Copied before the reader got there: what it holds was read from the live file.
            reader.close()

    def _head_of(self, file: backups.File) -> bytes:
        """The first bytes of a listed backup, read once."""
        key = (file.dev, file.ino)
        _, head = self._listed.get(key, (file, None))
        if head is None:
            head = backups.head(file)
            self._listed[key] = (file, head)
        return head or b""

    def _refresh_waiting(self, files: list[backups.File]) -> None:
        """Follow the waiting backups to their current names; a removed one is a gap."""
        kept: list[_Reader | _Waiting] = []
        for item in self._backlog:
            if isinstance(item, _Waiting):
                file = self._find(item, files)
                if file is None:
                    self._lost(item)
                    continue
                item = dataclasses.replace(item, file=file)
            kept.append(item)
        self._backlog = collections.deque(kept)

    def _find(self, waiting: _Waiting, files: list[backups.File]) -> backups.File | None:
        """Where ``waiting`` is now among ``files``: renamed (same inode) or compressed."""
        was = waiting.file
        for file in files:
            if file.may_be(was, waiting.head):
                return file
        if not was.compressed and waiting.head:
            for file in files:
                if file.compressed and backups.same_start(self._head_of(file), waiting.head):
                    return file
        return None

    def _lost(self, waiting: _Waiting) -> None:
        file = waiting.file
        if file.compressed:
            self._gap(
                f"The rotated file {file.path} ({file.size} bytes compressed) was removed "
                "before it could be read; how many bytes of log it held is unknown"
            )
        else:
            self._gap(
                f"The rotated file {file.path} ({file.size} bytes) was removed before it "
                "could be read",
                lost_bytes=max(0, file.size - waiting.start),
            )

    def _open_live(self) -> None:
        reader = self._open(self._live_file)
        if reader is None:
            return
        self._live = reader
        after = self._after
        if after is not None and not self._backlog and reader.same_file(after.identity):
            # The finished file is the live log again (moved back): go on where it ended.
            self._continue(reader, after.offset)
            self._after = None
            watched = self._watched
            if watched is not None and (watched.dev, watched.ino) == (reader.dev, reader.ino):
                watched.close()
                self._watched = None

    # Holding files open

    def _hold(self) -> None:
        """Open the oldest :data:`MAX_HELD_FILES` files of the backlog, and only those."""
        kept: list[_Reader | _Waiting] = []
        held = 0
        for index, item in enumerate(self._backlog):
            if isinstance(item, _Reader):
                if held >= self._max_held and index > 0:
                    waiting = self._release(item)
                    if waiting is not None:
                        kept.append(waiting)
                        continue
                held += 1
                kept.append(item)
            elif held < self._max_held:
                reader = self._open_waiting(item)
                if reader is not None:
                    held += 1
                    kept.append(reader)
            else:
                kept.append(item)
        self._backlog = collections.deque(kept)
        waiting_count = sum(isinstance(item, _Waiting) for item in kept)
        if waiting_count and not self._bounded:
            logger.warning(
                "Reached the limit of rotated audit logs held open",
                extra={"limit": self._max_held, "waiting": waiting_count, "live": self.path},
            )
        self._bounded = bool(waiting_count)

    def _release(self, reader: _Reader) -> _Waiting | None:
        """Close a held file past the bound; None when it is not listed (it stays open)."""
        for file, _ in self._listed.values():
            if reader.is_file(file):
                waiting = _Waiting(file, reader.head(), reader.offset)
                reader.close()
                return waiting
        return None

    def _open_waiting(self, waiting: _Waiting) -> _Reader | None:
        """Open a waiting backup where it is now; None (and a gap) when it is gone."""
        file = waiting.file
        for last in (False, True):
            try:
                reader = self._open_file(file)
            except FileNotFoundError:
                reader = None
            except backups.GZIP_ERRORS as exc:
                self._gap(f"Could not read {file.path} ({exc}); none of its lines were read")
                return None
            if reader is not None:
                if _is(reader, waiting):
                    reader.seek(waiting.start)
                    return reader
                reader.close()
            # Renamed or compressed since the last look: find it where it is now, once.
            found = None if last else self._find(waiting, self._naming.backups(self._naming.scan()))
            if found is None:
                break
            file = found
        self._lost(waiting)
        return None

    # Losses

    def _check_watched(self, reader: _Reader) -> None:
        """Count what was written to a renamed file after it was read to its end."""
        fd = reader.fh.fileno()
        end = os.fstat(fd).st_size
        start = at = reader.read_offset
        if end <= start:
            return
        lines = 0
        while at < end:
            chunk = os.pread(fd, min(READ_BYTES, end - at), at)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            at += len(chunk)
        # Reading ended at ``offset``; ``read_offset`` moves past it as late writes are counted.
        first = reader.offset == start
        reader.read_offset = at
        if not first:
            # Said once per file: a writer that never reopens would raise one gap per poll.
            self._losses = self._count(self._losses, at - start, lines)
            return
        self._gap(
            f"{at - start} bytes were written to {reader.file.path} after it was renamed away "
            "and read to its end: the writer kept writing to the renamed file (with "
            "logrotate, use copytruncate, or have the writer reopen its log); later writes "
            "to it are added to the losses without another notice",
            lost_bytes=at - start,
            lost_lines=lines,
        )

    def _gap(
        self, detail: str, *, lost_bytes: int | None = None, lost_lines: int | None = None
    ) -> None:
        self._notices.append(Gap(self.path, detail, lost_bytes, lost_lines))
        losses = self._losses
        self._losses = self._count(
            dataclasses.replace(
                losses, gaps=losses.gaps + 1, unmeasured=losses.unmeasured + (lost_bytes is None)
            ),
            lost_bytes or 0,
            lost_lines or 0,
        )
        logger.warning(
            "Lost audit log data",
            extra={
                "file": self.path,
                "detail": detail,
                "lost_bytes": lost_bytes,
                "lost_lines": lost_lines,
            },
        )

    @staticmethod
    def _count(losses: Losses, lost_bytes: int, lost_lines: int) -> Losses:
        return dataclasses.replace(
            losses,
            lost_bytes=losses.lost_bytes + lost_bytes,
            lost_lines=losses.lost_lines + lost_lines,
        )

    def _note_truncated(self, path: str, offset: int, copy: str | None = None) -> None:
        self._notices.append(Truncated(path, offset, copy))
        logger.warning(
            "Restarted audit log at offset 0 after truncation",
            extra={"file": path, "offset": offset, "copy": copy},
        )

    # Files

    def _readers(self) -> Iterator[_Reader]:
        """Every file held open."""
        for item in self._backlog:
            if isinstance(item, _Reader):
                yield item
        for reader in (self._live, self._watched):
            if reader is not None:
                yield reader

    def _open_file(self, file: backups.File, *, report: bool = True) -> _Reader:
        """Open ``file``; a plain backup compressed meanwhile is opened as its ``.gz``."""
        try:
            return _Reader(file, self._limit, report=report)
        except FileNotFoundError:
            if file.compressed or file.rotated_ns is None:
                raise
            gzipped = dataclasses.replace(file, path=file.path + ".gz", compressed=True)
            return _Reader(gzipped, self._limit, report=report)

    def _open(self, file: backups.File) -> _Reader | None:
        """Open ``file``; None when it cannot be read (a gap, for a backup) or is not there."""
        try:
            return self._open_file(file)
        except backups.GZIP_ERRORS as exc:
            if file.rotated_ns is not None:
                self._gap(f"Could not read {file.path} ({exc}); none of its lines were read")
            elif not isinstance(exc, FileNotFoundError):
                raise
            return None

    def _locate(
        self, identity: checkpoint.FileIdentity, files: list[backups.File]
    ) -> tuple[int, _Reader | None, list[str]]:
        """The backup ``identity`` names, opened; else the backups that could not be checked.

        Same inode and fingerprint first; then the fingerprint alone, which finds a gzipped
        backup or a copy.
        """
        for index, file in enumerate(files):
            if file.compressed or (file.dev, file.ino) != (identity.dev, identity.ino):
                continue
            try:
                reader = self._open_file(file)
            except backups.GZIP_ERRORS:
                continue
            if reader.same_file(identity):
                return index, reader, []
            reader.close()
        unreadable: list[str] = []
        if identity.fingerprint_size == 0:
            return -1, None, unreadable
        for index, file in enumerate(files):
            try:
                reader = self._open_file(file)
            except backups.GZIP_ERRORS:
                unreadable.append(file.path)
                continue
            if identity.same_content(reader.prefix):
                return index, reader, []
            reader.close()
        return -1, None, unreadable


def _is(reader: _Reader, waiting: _Waiting) -> bool:
    """Whether the file opened for ``waiting`` is the one it was listed as."""
    if reader.file.compressed == waiting.file.compressed:
        return (reader.dev, reader.ino) == (waiting.file.dev, waiting.file.ino)
    # The plain file was compressed in between: only its content can tell.
    return waiting.head is None or backups.same_start(reader.prefix, waiting.head)


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


def _before(files: list[backups.File], live: _Reader | None) -> list[backups.File]:
    """The backups older than ``live``, which was opened before they were listed.

    The live file may have been rotated in between: it then appears among the backups, and it
    and those after it are left for the next look, which sees that it was renamed.
    """
    if live is not None:
        for index, file in enumerate(files):
            if live.is_file(file):
                return files[:index]
    return files


def _rotated_after(
    files: list[backups.File], identity: checkpoint.FileIdentity
) -> list[backups.File]:
    """The backups that may have been rotated after the file ``identity`` names was live.

    At the resolution of the backup's time, and a tie counts as after: reading an older
    backup again (its alerts have the same names, so none is made twice) is better than
    skipping a newer one, and this runs only where a gap is reported anyway.
    """
    return [
        f
        for f in files
        if (rotated_by := f.rotated_by_ns()) is not None and rotated_by >= identity.live_at_ns
    ]
