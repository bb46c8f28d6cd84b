"""The live audit log as an input: batches of decoded events, each batch with where it ends.

Fed by: the tailer (``source.tail``), which hands out complete lines with their positions.
Feeds: the operator's audit loop, with each batch's events (decoded by ``source.decode``),
what was skipped and why (with file and offset), and the position after the batch, which the
loop saves once the batch's alerts were written. The warm start of new_terms rules reads the
logs on disk through a second one of these.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from collections.abc import Mapping
from typing import Any

from audithound.source import checkpoint, decode, tail

LOG = logging.getLogger("audithound.source.live")


@dataclasses.dataclass(frozen=True, slots=True)
class Skip:
    """A line that held no event, and where it was."""

    reason: str
    path: str
    offset: int


@dataclasses.dataclass(frozen=True)
class Batch:
    """What one poll read."""

    events: list[decode.RawEvent]
    #: Lines read (skipped and blank ones too).
    lines: int
    skipped: list[Skip]
    #: Just after the batch's last line; None for an empty batch.
    end: checkpoint.Position | None
    #: Each event's position: just after the line that held it (same order as ``events``).
    positions: list[checkpoint.Position]
    #: Events the screen turned away (read and counted, not in ``events``).
    screened: int = 0
    #: The time of the batch's last event, screened or not (None: no event, or no time).
    last_event_time: datetime.datetime | None = None


class LiveLog:
    """The audit log at ``path`` from ``start``, read as batches of events."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: tail.Start,
        *,
        max_line_bytes: int = decode.MAX_LINE_BYTES,
    ) -> None:
        self._tailer = tail.Tailer(path, start, max_line_bytes=max_line_bytes)

    def poll(self, max_lines: int, screen: decode.Screen | None = None) -> Batch:
        """Up to ``max_lines`` lines that are there now, decoded; never waits.

        With a ``screen``, an event it does not want is decoded only as far as its projection
        and left out of the batch's events (counted as ``screened``), as ``scan`` does.
        """
        records = self._tailer.poll(max_lines)
        events: list[decode.RawEvent] = []
        positions: list[checkpoint.Position] = []
        skipped: list[Skip] = []
        screened = 0
        # The last event, whole or projected (then with its line, to read its time from).
        last: Mapping[str, Any] | None = None
        last_line: bytes | None = None
        project = screen.projection.decode if screen is not None else None
        prefilter = screen.prefilter if screen is not None else None
        for record in records:
            line = record.line
            if line is None:
                # The tailer logged it already (file and offset).
                skipped.append(Skip(str(record.skipped), record.identity.path, record.offset))
                continue
            if not line.strip():
                continue  # blank lines are no events and no errors, as in scan
            if prefilter is not None:
                if not prefilter(line):
                    # An event no rule matches (the prefilter says so of events only).
                    last, last_line = None, line
                    screened += 1
                    continue
            elif project is not None and screen is not None:
                partial = project(line)
                if partial is not None:  # an event (the screen's projection decodes only those)
                    last, last_line = partial, line
                    if not screen.wanted(partial):
                        screened += 1
                        continue
            decoded = decode.decode_line(line)
            for reason in decoded.rejected:
                skipped.append(Skip(str(reason), record.identity.path, record.offset))
            if decoded.events:
                events.extend(decoded.events)
                positions.extend(record.position for _ in decoded.events)
                last, last_line = decoded.events[-1], None
        end = records[-1].position if records else None
        moment = _last_time(last, last_line)
        return Batch(events, len(records), skipped, end, positions, screened, moment)

    def position(self) -> checkpoint.Position | None:
        """Where the next line starts."""
        return self._tailer.position()

    @property
    def losses(self) -> tail.Losses:
        """What could not be read since start (gaps, bytes and lines lost)."""
        return self._tailer.losses

    def take_notices(self) -> list[tail.Notice]:
        return self._tailer.take_notices()

    def close(self) -> None:
        self._tailer.close()


def _last_time(last: Mapping[str, Any] | None, line: bytes | None) -> datetime.datetime | None:
    """The time of ``last``; projected (``line`` given), its line is decoded whole for it."""
    if line is not None:
        decoded = decode.decode_line(line)
        last = decoded.events[-1] if decoded.events else None
    return decode.event_time(last) if last is not None else None
