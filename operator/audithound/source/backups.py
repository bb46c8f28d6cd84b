"""The rotated files beside the live audit log: which names are backups, in which order.

Fed by: the tailer (``source.tail``), which lists the log's directory when a poll sees a
change. Feeds: the tailer again, with each backup's path, inode, order and first bytes (its
"head"), from which it tells a new rotation from a known file renamed or compressed.

Three naming schemes are followed, as their rotators write them (for a live log ``audit.log``):

- lumberjack, kube-apiserver's own rotation (``--audit-log-maxsize``, ``-maxbackup``):
  ``audit-2026-12-01T08-12-41.123.log``, ``.log.gz`` with ``--audit-log-compress``; the UTC
  time in the name orders them.
- logrotate's default numbered names: ``audit.log.1`` (newest), ``audit.log.2.gz``...; a higher
  number is older, and each rotation renames every backup to the next number.
- logrotate's ``dateext``: ``audit.log-20261201``, or any ``dateformat`` of digits, ``-`` and
  ``_`` that sorts in time order (``-%Y%m%d-%s`` for several rotations a day); ``.gz`` with
  ``compress``.

A directory is expected to hold backups of one scheme: nothing in the names says which of two
schemes came first, so they are ordered scheme by scheme (lumberjack, dateext, numbered). While
a backup is being compressed, both ``name`` and ``name.gz`` exist and the ``.gz`` may be
incomplete: the plain file is used until it is removed. Other compressors (``.bz2``, ``.xz``,
``.zst``) are not read.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import os
import re
import zlib
from typing import Final

from audithound.source import checkpoint

#: Lumberjack's backup timestamp (Go layout ``2006-01-02T15-04-05.000``), UTC by default.
_STAMP: Final = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}"
_STAMP_FORMAT: Final = "%Y-%m-%dT%H-%M-%S.%f"

#: Rank of each scheme in the order of backups (see the module docstring).
_LUMBERJACK, _DATEEXT, _NUMBERED = 0, 1, 2

#: What reading a gzip file can raise besides a missing file: corrupt or cut short.
GZIP_ERRORS: Final = (OSError, EOFError, zlib.error)

_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

#: What a lumberjack backup's name resolves: one millisecond.
_STAMP_RESOLUTION_NS: Final = 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class File:
    """A file that may hold part of the log: the live one (``rotated_ns`` None) or a backup."""

    path: str
    compressed: bool = False
    #: When it was rotated, in nanoseconds since the epoch: the time in a lumberjack name, else
    #: the file's mtime (logrotate's names carry no time, or only a date); None for the live log.
    rotated_ns: int | None = None
    #: Its device and inode when it was listed (0 for the live log, opened by path).
    dev: int = 0
    ino: int = 0
    #: Its size in bytes and its mtime when it was listed (compressed, for a gzip).
    size: int = 0
    mtime_ns: int = 0
    #: Where it sorts among the backups, oldest first: (scheme, minus the number, time).
    order: tuple[int, int, str] = (0, 0, "")

    def rotated_by_ns(self) -> int | None:
        """The latest moment this backup can have been rotated (None for the live log).

        A lumberjack name keeps the millisecond, floored: the rotation was within the
        millisecond after ``rotated_ns``. A file's mtime is the clock's own reading.
        """
        if self.rotated_ns is None or self.order[0] != _LUMBERJACK:
            return self.rotated_ns
        return self.rotated_ns + _STAMP_RESOLUTION_NS - 1

    def may_be(self, before: File, head: bytes | None) -> bool:
        """Whether this listed file can be ``before`` (listed earlier, first bytes ``head``).

        The same inode, under the same name or an older one (logrotate renames ``.1`` to
        ``.2``), is not enough: a file system reuses the inode of a removed file at once, and
        logrotate creates a new ``.1`` right after removing the old one. So a plain file must
        still start with ``head``, and a gzip, which never changes, keep its size and mtime.
        """
        if (self.dev, self.ino, self.compressed) != (before.dev, before.ino, before.compressed):
            return False
        if self.order > before.order:
            return False
        if self.compressed:
            return (self.size, self.mtime_ns) == (before.size, before.mtime_ns)
        if not head:
            return self.size == 0  # empty then, and still: nothing to read either way
        return same_start(head_of_plain(self) or b"", head)


#: One directory listing: the names that look like backups, with their inodes. Comparing two is
#: how a poll sees that nothing was rotated, renamed, compressed or removed since the last one.
Listing = frozenset[tuple[str, int]]


class Naming:
    """The backup names of one live log ``path``, in all three schemes."""

    def __init__(self, path: str) -> None:
        directory, name = os.path.split(os.path.abspath(path))
        stem, extension = os.path.splitext(name)
        self.directory = directory
        self._pattern = re.compile(
            rf"(?:{re.escape(stem)}-(?P<stamp>{_STAMP}){re.escape(extension)}"
            rf"|{re.escape(name)}-(?P<date>[0-9][0-9_-]*)"
            rf"|{re.escape(name)}\.(?P<number>[1-9][0-9]*))"
            r"(?P<gz>\.gz)?"
        )

    def scan(self) -> Listing:
        """The names and inodes of the backups there now (one ``scandir``, no ``stat``)."""
        match = self._pattern.fullmatch
        try:
            with os.scandir(self.directory) as entries:
                return frozenset((e.name, e.inode()) for e in entries if match(e.name))
        except FileNotFoundError:
            return frozenset()

    def backups(self, listing: Listing) -> list[File]:
        """The backups of ``listing``, oldest first, one per rotation (plain over gzipped)."""
        by_key: dict[tuple[int, int, str], File] = {}
        for name, _ in listing:
            found = self._pattern.fullmatch(name)
            if found is None:
                continue
            compressed = found.group("gz") is not None
            path = os.path.join(self.directory, name)
            try:
                # The inode from stat, not from the listing: on some file systems (overlayfs)
                # the directory's inode numbers differ from those of the open files.
                stat = os.stat(path)
            except FileNotFoundError:
                continue  # removed since it was listed
            stamp, date, number = found.group("stamp", "date", "number")
            rotated_ns = stat.st_mtime_ns
            if stamp is not None:
                order, rotated_ns = (_LUMBERJACK, 0, stamp), _stamp_ns(stamp)
            elif date is not None:
                order = (_DATEEXT, 0, date)
            else:
                order = (_NUMBERED, -int(number), "")
            if compressed and order in by_key:
                continue  # the plain file is removed only once the .gz is complete
            by_key[order] = File(
                path,
                compressed,
                rotated_ns,
                stat.st_dev,
                stat.st_ino,
                stat.st_size,
                stat.st_mtime_ns,
                order,
            )
        return [by_key[order] for order in sorted(by_key)]


def head_of_plain(file: File) -> bytes | None:
    """The first bytes of a plain file, None when it is gone."""
    try:
        with open(file.path, "rb", buffering=0) as plain:
            return os.pread(plain.fileno(), checkpoint.FINGERPRINT_BYTES, 0)
    except OSError:
        return None


def head(file: File) -> bytes | None:
    """The first :data:`~checkpoint.FINGERPRINT_BYTES` of ``file``'s content (decompressed).

    None when it cannot be read (gone, or a gzip that is corrupt or cut short).
    """
    if not file.compressed:
        return head_of_plain(file)
    try:
        with gzip.GzipFile(file.path, "rb") as packed:
            return packed.read(checkpoint.FINGERPRINT_BYTES)
    except GZIP_ERRORS:
        return None


def same_start(one: bytes, other: bytes) -> bool:
    """Whether two heads can be of the same content: one starts with the other, neither empty.

    A head shorter than the fingerprint is the whole file at that moment, which may have grown
    since; the first event of an audit log carries a unique ``auditID`` within its first few
    hundred bytes, so two different files do not start alike.
    """
    if not one or not other:
        return False
    return one.startswith(other) if len(one) >= len(other) else other.startswith(one)


def _stamp_ns(stamp: str) -> int:
    """A lumberjack backup timestamp as nanoseconds since the epoch (UTC)."""
    moment = datetime.datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=datetime.UTC)
    return (moment - _EPOCH) // datetime.timedelta(microseconds=1) * 1000
