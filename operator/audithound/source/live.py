"""The live audit log as an input: batches of decoded events, each batch with where it ends.

Fed by: the tailer (``source.tail``), which hands out complete lines with their positions.
Feeds: the operator's audit loop, with each batch's events (decoded by ``source.decode``),
what was skipped and why (with file and offset), and the position after the batch, which the
loop saves once the batch's alerts were written. The warm start of new_terms rules reads the
logs on disk through a second one of these.
"""

from __future__ import annotations

import dataclasses
import logging
import os

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

    def poll(self, max_lines: int) -> Batch:
        """Up to ``max_lines`` lines that are there now, decoded; never waits."""
        records = self._tailer.poll(max_lines)
        events: list[decode.RawEvent] = []
        positions: list[checkpoint.Position] = []
        skipped: list[Skip] = []
        for record in records:
            if record.line is None:
                # The tailer logged it already (file and offset).
                skipped.append(Skip(str(record.skipped), record.identity.path, record.offset))
                continue
            if not record.line.strip():
                continue  # blank lines are no events and no errors, as in scan
            decoded = decode.decode_line(record.line)
            for reason in decoded.rejected:
                skipped.append(Skip(str(reason), record.identity.path, record.offset))
            if decoded.events:
                events.extend(decoded.events)
                positions.extend(record.position for _ in decoded.events)
        end = records[-1].position if records else None
        return Batch(events, len(records), skipped, end, positions)

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
