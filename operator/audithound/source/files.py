"""Reading finished inputs: audit log files (plain or gzip) and stdin, event by event.

Fed by: paths given to ``audithound scan`` (``-`` is stdin). Feeds: the pipeline, with
``(file label, line number, raw event)`` for every event found, in input order; and a
:class:`ReadStats` that the scan summary prints.

Each input is detected, not trusted by name: gzip by its magic bytes (``source.gunzip``);
one JSON value per line (``source.decode`` says which values hold events), or JSON spanning
lines (a pretty-printed ``EventList`` or array, or pretty-printed values one after another,
read item by item by ``source.documents``), recognised when the first line does not parse on
its own but starts a JSON object or array and the second line does not parse either. Bad
input never stops the read: each bad line or item is counted by reason and skipped, and the
events around it are still yielded; a gzip problem (trailing garbage, a cut, corrupt data,
too much expansion) is counted as ``unreadable`` where it stopped the read, after every
event decompressed before it.

The per-line loop is the hot path of ``scan``: it does one bounded ``readline``, one
``orjson.loads`` and the event test (inline for the common shape), and keeps its counters in
locals.
"""

from __future__ import annotations

import codecs
import collections
import dataclasses
import functools
import io
import itertools
import sys
from collections.abc import Generator, Iterable, Iterator
from typing import IO, Any, Final, NamedTuple

import orjson

from audithound.source import decode, documents, gunzip

#: How many skipped items of each reason the summary names with their position; the rest
#: are only counted.
MAX_EXAMPLES_PER_REASON: Final = 3

#: The label of standard input in positions and summaries.
STDIN_LABEL: Final = "<stdin>"

#: Past this share of events let through by a screen (after the first
#: :data:`SCREEN_TRIAL_EVENTS`), the rest of the input is decoded whole without it: an event
#: let through is decoded twice, and a rule that matches many events (a new_terms rule over
#: every allowed request) makes that cost more than the events turned away save.
MAX_KEPT_SHARE: Final = 0.1
SCREEN_TRIAL_EVENTS: Final = 1000

#: Past this share of lines that a screen's prefilter cannot turn away (after the trial), the
#: prefilter is left out and the projection screens the rest: each line it lets through costs
#: its parse on top of the whole decode.
MAX_DOUBTED_SHARE: Final = 0.5

#: Bytes buffered per decompressed or ranged input (the read size of the line reader).
_BUFFER_BYTES: Final = 64 * 1024

#: Bytes handed to the native screen at a time (:class:`_Sift`): lines it turns away never
#: become Python objects, and this bounds what it holds besides one line. (1 MiB blocks
#: took 5 MiB more peak memory and saved 0.6% of the instructions.)
SIFT_BYTES: Final = 64 * 1024


class SkipExample(NamedTuple):
    """Where a skipped line was and why."""

    label: str
    line: int
    reason: decode.Reason
    #: More about what happened there, when the line alone does not say it.
    detail: str = ""

    @property
    def where(self) -> str:
        """``file:line``, and the detail after a comma."""
        return f"{self.label}:{self.line}" + (f", {self.detail}" if self.detail else "")


@dataclasses.dataclass(slots=True)
class ReadStats:
    """What a read went through: inputs, lines, events, and what was skipped and why.

    The counts are complete once the iterator of :func:`read` is exhausted or closed.
    A skipped item is a line, or an item within a line or document (an ``EventList``
    entry that is not an event); blank lines are counted apart, they are no error.
    """

    files: int = 0
    lines: int = 0
    events: int = 0
    blank_lines: int = 0
    skipped: collections.Counter[decode.Reason] = dataclasses.field(
        default_factory=collections.Counter
    )
    examples: list[SkipExample] = dataclasses.field(default_factory=list)

    def skip(self, label: str, line: int, reason: decode.Reason, detail: str = "") -> None:
        """Count a skipped item at ``label:line``; remember the first few of each reason."""
        if self.skipped[reason] < MAX_EXAMPLES_PER_REASON:
            self.examples.append(SkipExample(label, line, reason, detail))
        self.skipped[reason] += 1

    def merge(self, other: ReadStats) -> None:
        """Count in what the read of other inputs went through (their positions stand)."""
        for example in other.examples:
            if sum(mine.reason == example.reason for mine in self.examples) < (
                MAX_EXAMPLES_PER_REASON
            ):
                self.examples.append(example)
        self.skipped.update(other.skipped)
        self.files += other.files
        self.lines += other.lines
        self.events += other.events
        self.blank_lines += other.blank_lines

    def add(self, later: ReadStats) -> None:
        """Count in what the read of the next piece of the same input went through; its line
        numbers count from the piece's first line."""
        for example in later.examples:
            if self.skipped[example.reason] < MAX_EXAMPLES_PER_REASON:
                self.examples.append(example._replace(line=example.line + self.lines))
            self.skipped[example.reason] += 1
        for reason, count in later.skipped.items():
            # Examples were counted above; the rest of each reason's count comes here.
            shown = sum(example.reason == reason for example in later.examples)
            self.skipped[reason] += count - shown
        self.lines += later.lines
        self.events += later.events
        self.blank_lines += later.blank_lines


def read(
    paths: Iterable[str],
    stats: ReadStats,
    *,
    stdin: IO[bytes] | None = None,
    max_line_bytes: int = decode.MAX_LINE_BYTES,
    screen: decode.Screen | None = None,
) -> Generator[tuple[str, int, decode.RawEvent]]:
    """Every event of every input, in order, as ``(file label, line number, event)``.

    ``-`` reads ``stdin`` (default: the process's standard input, binary). An input that
    cannot be opened or read to its end is counted as ``unreadable`` and the next is read.
    With a ``screen``, only the events it wants are yielded (all are counted).
    """
    for path in paths:
        if path == "-":
            yield from read_stream(
                STDIN_LABEL,
                stdin if stdin is not None else sys.stdin.buffer,
                stats,
                max_line_bytes=max_line_bytes,
                screen=screen,
            )
            continue
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below, after the generator ran
        except OSError:
            stats.skip(path, 0, decode.Reason.UNREADABLE)
            continue
        with stream:
            yield from read_stream(
                path, stream, stats, max_line_bytes=max_line_bytes, screen=screen
            )


def read_stream(
    label: str,
    stream: IO[bytes],
    stats: ReadStats,
    *,
    max_line_bytes: int = decode.MAX_LINE_BYTES,
    screen: decode.Screen | None = None,
) -> Generator[tuple[str, int, decode.RawEvent]]:
    """Every event of one open binary stream (plain or gzip); the caller closes it (a
    ``screen`` as for :func:`read`; a document spanning lines is read whole)."""
    stats.files += 1
    lines_before = stats.lines
    reader = _buffered(stream)
    unpacked: gunzip.Gunzip | None = None
    # The format detection runs here rather than in a helper generator: each generator level
    # between ``_lines`` and the pipeline costs a resumption per event.
    try:
        if reader.peek(2)[:2] == gunzip.MAGIC:
            unpacked = gunzip.Gunzip(reader)
            reader = io.BufferedReader(unpacked, _BUFFER_BYTES)
        first = reader.readline(max_line_bytes + 1)
        if first.startswith(codecs.BOM_UTF8):
            first = first[len(codecs.BOM_UTF8) :]
        if not first:
            pass
        elif first.lstrip()[:1] not in (b"{", b"[") or _parses(first):
            yield from _lines(label, reader, (first,), stats, max_line_bytes, screen)
        else:
            second = reader.readline(max_line_bytes + 1)
            if _parses(second):
                yield from _lines(label, reader, (first, second), stats, max_line_bytes, screen)
            else:
                document = documents.Stream(first + second, reader, max_line_bytes)
                yield from _document(label, document, stats)
    except OSError:
        # A read failed midway (an I/O error): keep what was read.
        stats.skip(label, stats.lines - lines_before + 1, decode.Reason.UNREADABLE)
    if unpacked is not None and unpacked.problem is not None:
        where = stats.lines - lines_before + 1
        stats.skip(label, where, decode.Reason.UNREADABLE, str(unpacked.problem))


def is_json_lines(path: str, max_line_bytes: int = decode.MAX_LINE_BYTES) -> bool:
    """Whether :func:`read` would read the plain file ``path`` line by line from its first
    byte (not gzip, no byte order mark, not one JSON document), so that any line-aligned
    piece of it can be read on its own (:func:`read_range`)."""
    try:
        with open(path, "rb") as stream:
            first = stream.readline(max_line_bytes + 1)
    except OSError:
        return False
    if not first or first[:2] == gunzip.MAGIC or first.startswith(codecs.BOM_UTF8):
        return False
    return first.lstrip()[:1] not in (b"{", b"[") or _parses(first)


def line_ranges(path: str, piece_bytes: int) -> list[tuple[int, int]]:
    """``[start, end)`` byte ranges covering ``path``, each about ``piece_bytes`` long and
    each starting at the beginning of a line, so that no line is split."""
    ranges: list[tuple[int, int]] = []
    with open(path, "rb") as stream:
        size = stream.seek(0, io.SEEK_END)
        start = 0
        while start < size:
            end = _line_start_after(stream, min(start + piece_bytes, size), size)
            ranges.append((start, end))
            start = end
    return ranges


def _line_start_after(stream: IO[bytes], position: int, size: int) -> int:
    """The first line start at or after ``position`` (``size`` if none); reads in blocks so
    that a hostile, endless line costs no memory."""
    if position >= size:
        return size
    stream.seek(position - 1)  # a line starts at ``position`` when the byte before is \n
    while block := stream.read(64 * 1024):
        newline = block.find(b"\n")
        if newline >= 0:
            return min(stream.tell() - len(block) + newline + 1, size)
    return size


def read_range(
    label: str,
    path: str,
    start: int,
    end: int,
    stats: ReadStats,
    max_line_bytes: int = decode.MAX_LINE_BYTES,
    screen: decode.Screen | None = None,
) -> Iterator[tuple[str, int, decode.RawEvent]]:
    """The events of bytes ``[start, end)`` of a JSON-lines file (:func:`is_json_lines`), a
    range from :func:`line_ranges`, read line by line as :func:`read` reads them (so memory
    holds one line, never the range); line numbers count from the range's first line
    (:meth:`ReadStats.add` puts them in place)."""
    try:
        raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below, after the read
    except OSError:
        stats.skip(label, 1, decode.Reason.UNREADABLE)
        return
    with raw:
        try:
            raw.seek(start)
            reader = io.BufferedReader(_Range(raw, end - start), _BUFFER_BYTES)
            yield from _lines(label, reader, (), stats, max_line_bytes, screen)
        except OSError:
            stats.skip(label, stats.lines + 1, decode.Reason.UNREADABLE)


class _Range(io.RawIOBase):
    """The next ``size`` bytes of a raw file, then its end."""

    def __init__(self, raw: io.RawIOBase, size: int) -> None:
        self._raw = raw
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self._left)
        if size <= 0:
            return 0
        got = self._raw.readinto(memoryview(buffer)[:size]) or 0
        self._left -= got
        return got


def _buffered(stream: IO[bytes]) -> io.BufferedReader:
    if isinstance(stream, io.BufferedReader):
        return stream
    return io.BufferedReader(stream)  # type: ignore[arg-type]


def _parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _rest(reader: io.BufferedIOBase, max_line_bytes: int) -> Iterator[bytes]:
    """The remaining lines, each cut at ``max_line_bytes + 1`` bytes (a longer one is bad)."""
    return iter(functools.partial(reader.readline, max_line_bytes + 1), b"")


def _document(
    label: str, document: documents.Stream, stats: ReadStats
) -> Iterator[tuple[str, int, decode.RawEvent]]:
    """The events of an input read item by item, each at the line its item starts on."""
    parts = document.parts()
    events = 0
    try:
        for number, decoded in parts:
            for reason in decoded.rejected:
                stats.skip(label, number, reason)
            for event in decoded.events:
                events += 1
                yield label, number, event
    finally:
        parts.close()  # so that its line count is complete
        stats.lines += document.lines
        stats.blank_lines += document.blank_lines
        stats.events += events


class _Sift:
    """The lines of a reader as ``readline(max_line_bytes + 1)`` cuts them, less those the
    native screen turns away: each piece with how many lines it turned away before it.

    The reader is read a block at a time (:data:`SIFT_BYTES`), and the screen sees each block
    in one call (``Prefilter.sift``). The pieces are those of the line-by-line read: a line
    with more than ``max_line_bytes`` bytes before its newline comes as its first
    ``max_line_bytes + 1`` bytes, then the rest of it in pieces, the last one ending with
    the newline (what ``_drain`` reads); and a last line without a newline comes as it is. Past
    the last piece, lines turned away after it come as a count with an empty piece.
    ``screening = False`` keeps every line from the next block on.
    """

    def __init__(
        self,
        reader: io.BufferedIOBase,
        head: tuple[bytes, ...],
        max_line_bytes: int,
        prefilter: decode.Prefilter,
    ) -> None:
        self._reader = reader
        self._head = head
        self._limit = max_line_bytes
        self._sift = prefilter.sift
        self.screening = True

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        limit = self._limit
        for piece in self._head:
            yield 0, piece
        # The head's last piece may be the start of an oversized line: the rest is its.
        draining = bool(self._head) and not self._head[-1].endswith(b"\n")
        carry = b""
        pending = 0  # lines turned away since the last piece
        while chunk := self._reader.read1(SIFT_BYTES):
            data = carry + chunk if carry else chunk
            carry = b""
            if draining:
                newline = data.find(b"\n")
                if newline < 0:
                    yield 0, data
                    continue
                yield 0, data[: newline + 1]
                data = data[newline + 1 :]
                draining = False
            kept, lines, end = self._sift(data, limit, self.screening)
            after = 0  # the index after the last line yielded
            for index, start, stop in kept:
                line = data[start:stop]
                if len(line) - 1 > limit:  # cut where readline would cut it
                    yield pending + index - after, line[: limit + 1]
                    yield 0, line[limit + 1 :]
                else:
                    yield pending + index - after, line
                pending = 0
                after = index + 1
            pending += lines - after
            carry = data[end:]  # no newline in it
            if len(carry) > limit:
                yield pending, carry[: limit + 1]
                pending = 0
                carry = carry[limit + 1 :]
                draining = True
        if draining:
            return
        if carry or pending:
            yield pending, carry


def _lines(
    label: str,
    reader: io.BufferedIOBase,
    head: tuple[bytes, ...],
    stats: ReadStats,
    max_line_bytes: int,
    screen: decode.Screen | None = None,
) -> Iterator[tuple[str, int, decode.RawEvent]]:
    """The hot loop: one JSON value per line; anything unusual leaves the fast path.

    The lines are ``head`` (read already), then the reader's, cut at ``max_line_bytes + 1``
    bytes: a piece that long without its newline belongs to an oversized line (even when
    the piece happens to parse). With a ``screen``, a line is first decoded only as far as
    its projection: an event it does not want is counted and dropped there, any other line
    is decoded whole, as without it (and every line, once the screen lets too many through:
    :data:`MAX_KEPT_SHARE`). Its prefilter (the native screen), when it has one, sees the
    reader's lines a block at a time before that (:class:`_Sift`): the lines it turns away
    are events, counted; the others come here.
    """
    loads = orjson.loads
    invalid = orjson.JSONDecodeError
    is_event = decode.is_event
    v1 = decode.AUDIT_V1
    # ``Projection.decode``, inlined: the call costs a tenth of what the loop does per line.
    project = screen.projection.decode_ascii if screen is not None else None
    assert screen is None or screen.projection.event, "a screen decodes events only"
    unanswered = decode.PROJECTION_ERRORS
    wanted = screen.wanted if screen is not None else None
    prefilter = screen.prefilter if screen is not None else None
    sift = _Sift(reader, head, max_line_bytes, prefilter) if prefilter is not None else None
    pieces: Iterator[tuple[int, bytes]] = (
        iter(sift)
        if sift is not None
        else zip(itertools.repeat(0), itertools.chain(head, _rest(reader, max_line_bytes)))
    )
    number = 0
    events = 0
    kept = 0  # events the screen let through
    doubted = 0  # lines the prefilter let through
    try:
        for away, line in pieces:
            if away:
                # Native: it says "no" only of ASCII lines holding an event no rule matches.
                number += away
                events += away
                if not line:
                    continue  # the end, past the last line it kept
            number += 1
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                _drain(pieces)
                stats.skip(label, number, decode.Reason.OVERSIZED)
                continue
            if sift is not None and sift.screening:
                # A line the native screen kept is decoded whole: those are mostly matches,
                # or hold what the Python screen reads slowly too (pod specs).
                doubted += 1
                if number >= SCREEN_TRIAL_EVENTS and doubted > MAX_DOUBTED_SHARE * number:
                    # It turns too few away to pay for itself here: the Python screen's turn.
                    sift.screening = False
            elif project is not None and line.isascii():
                # An event of the usual shape, decoded only as far as the rules read.
                try:
                    partial = project(line)
                except unanswered:
                    partial = None  # decoded whole below
                if partial is not None:
                    assert wanted is not None
                    events += 1
                    if not wanted(partial):
                        continue
                    kept += 1
                    if events >= SCREEN_TRIAL_EVENTS and kept > MAX_KEPT_SHARE * events:
                        project = None  # the screen costs more than it saves here
                    try:
                        value = loads(line)
                    except invalid:
                        events -= 1  # orjson refuses what msgspec skipped (``1e400``)
                        _bad_line(label, number, line, stats)
                        continue
                    yield label, number, value
                    continue
            try:
                value = loads(line)
            except invalid:
                _bad_line(label, number, line, stats)
                continue
            if type(value) is dict:
                # The shape API servers write, accepted without a call: a subset of what
                # ``is_event`` accepts (which decides every other shape).
                audit_id = value.get("auditID")
                if (
                    type(audit_id) is str
                    and audit_id
                    and type(value.get("stage")) is str
                    and value.get("kind") == "Event"
                    and value.get("apiVersion") == v1
                ) or is_event(value):
                    events += 1
                    # A ``dict`` that passed ``is_event`` is a RawEvent; no cast on the hot path.
                    yield label, number, value  # type: ignore[misc]
                    continue
            decoded = decode.decode_value(value)
            for reason in decoded.rejected:
                stats.skip(label, number, reason)
            for event in decoded.events:
                events += 1
                yield label, number, event
    finally:
        stats.lines += number
        stats.events += events


def _bad_line(label: str, number: int, line: bytes, stats: ReadStats) -> None:
    """Classify a line that is not JSON: blank, cut short (last, no newline), or invalid."""
    if not line.strip():
        stats.blank_lines += 1
    elif line.endswith(b"\n"):
        stats.skip(label, number, decode.Reason.INVALID_JSON)
    else:
        stats.skip(label, number, decode.Reason.TRUNCATED)


def _drain(pieces: Iterator[tuple[int, bytes]]) -> None:
    """Drop the rest of an oversized line, piece by piece, up to and with its newline."""
    for _, piece in pieces:
        if piece.endswith(b"\n"):
            return
