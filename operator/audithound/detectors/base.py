"""The seam every rule type's detector fits: observe matches in time order, report findings,
let time pass, snapshot and restore state.

Fed by: the pipeline, with each event that the rule's query matched, its event time, and
whether alerting has begun (before that, events only build history: ``scan --alerts-from``,
the operator's warm start from the logs on disk). Feeds: the pipeline, with findings.

State is plain data: :meth:`Detector.snapshot` returns JSON-ready values that
:meth:`Detector.restore` takes back, so the pipeline can save it atomically with the read
position (the pipeline owns when). Time is event time in seconds since the epoch.

What comes next fits the same seam: an EQL sequence is a detector observing which of its
queries matched (``queries``), keyed by its join fields, that expires partial sequences in
:meth:`Detector.advance`; an ES|QL aggregation closes windows there; alert suppression works
on findings, after the detectors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from audithound.detectors import findings

#: A detector's snapshot: JSON values only (dicts, lists, strings, numbers).
State = dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class StateSize:
    """How much a detector holds, for status and metrics."""

    #: What it counts: ``terms`` (new_terms), ``entries`` (threshold: events in open groups).
    unit: str
    held: int
    cap: int
    #: Items given up because the cap was reached, since the detector was created.
    evicted: int = 0

    @property
    def cap_reached(self) -> bool:
        return self.evicted > 0


class Detector(Protocol):
    """One rule's detector; see the module docstring."""

    #: Whether it keeps state between events (False: every match is a finding on its own).
    stateful: bool

    def observe(
        self, event: Mapping[str, Any], at: float, alerting: bool, queries: Sequence[int] = (0,)
    ) -> list[findings.Finding]:
        """Take an event that matched at event time ``at``; ``queries`` are the indexes of
        the rule's queries that matched (one query: ``(0,)``). Returns what it completed;
        nothing while ``alerting`` is False."""
        ...

    def advance(self, now: float) -> list[findings.Finding]:
        """Event time reached ``now``: drop what fell out of the windows, report what the
        passing of time completed."""
        ...

    def snapshot(self) -> State:
        """The state, as JSON values."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back a snapshot of a detector of the same rule and key."""
        ...

    def size(self) -> StateSize | None:
        """What it holds; None for a detector without state."""
        ...
