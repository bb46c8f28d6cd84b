"""The EQL sequence's detector: events of successive steps, sharing their join values, in order.

Fed by: the pipeline, with each event that matched one of the sequence's steps or its
``until`` query, in time order. The steps come as plain callables (:class:`Stage`:
``detectors.steps`` builds them from EQL; ``with runs=N`` is already N stages). Feeds: one
finding per completed sequence, its events as members, the last one as the finding's event.

Semantics are those of Elasticsearch's ``SequenceMatcher`` (elastic/elasticsearch,
``x-pack/plugin/eql/src/main/java/org/elasticsearch/xpack/eql/execution/sequence/``; read at
SequenceMatcher.java 16b5b76c, OrdinalGroup.java e46e35ec, KeyToSequences.java 259baf01,
search/Ordinal.java 3b680fc8, and the EQL syntax reference, ``eql-syntax.md`` 3d73c0a6):

- One state machine per join key, one pending sequence per key and step: a newer one replaces
  the one waiting at the same step ("How sequence queries handle matches"). The matcher keeps
  both, but an event continues only the newest one before it and drops the older ones
  (``match(stage, key, ...)`` L215-286 through ``OrdinalGroup.trimBefore`` L54-93), which
  comes to the same.
- An event continues only sequences whose last event came before it (``findBefore`` L100-115
  compares with ``<``), so never one it started itself; an event of several steps continues
  the sequence waiting before each of them and starts a new one. Steps are taken here from
  the last to the first, so that one event does not go through two steps at once. Equal
  times are ordered by arrival, as Elasticsearch orders them by its tiebreakers.
- ``maxspan``: from the first event to the last at most ``maxspan``, equal allowed
  (``exceedsMaxSpan`` L203-205 rejects ``delta > maxspan``). A sequence too old to complete
  is dropped when an event would continue it; :meth:`advance` drops it as time passes.
- ``until``: an until event ends every pending sequence of its join values, whatever its step,
  including the one the same event just started or continued; a sequence that the same event
  completes stands (L250-260: the nearest until strictly before the event, ``Ordinal.between``
  L101-103 inclusive of the sequence's last event). An until event before any sequence of
  its values does nothing (``KeyToSequences.until`` L96-105 ignores unknown keys). Its join
  values are compared whole, so they have the steps' shape: Elasticsearch parses ``until`` as
  one more step, the sequence's ``by`` then its own (``LogicalPlanBuilder.visitSequence``).
- A missing or null join value (``Stage.keys`` gives None): the event never joins, as for
  Elasticsearch's non-optional ``by`` fields.
- A completed sequence leaves the state: the same events never form a second finding
  (overlapping ones can: with ``runs``, four events make ``[1 2 3]`` and ``[2 3 4]``).

State: per join key and step, the pending sequence's events (auditID, stage, request time,
event time) and the excerpts of those of its events that can be among a finding's newest
:data:`findings.MAX_EXCERPTS`; pending sequences are kept in the order they were made. Past
:data:`MAX_PARTIALS` the oldest are given up (counted): a sequence given up never completes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from audithound.detectors import base, findings, threshold

#: Pending sequences one rule holds (unit: partial sequences; default 10,000). One waiting
#: after its first event costs about 1.2 KB, its excerpt most of it (tracemalloc, a two-step
#: sequence by user name over test events): some 12 MB at the cap, up to as much again per
#: further event it holds (an excerpt is kept for the last five steps only). One is held per
#: join key and step, so a sequence by user or service account reaches the cap only with ten
#: thousand of them midway at once; without ``maxspan`` only the cap and ``until`` end one.
MAX_PARTIALS: Final = 10_000

#: One event of a sequence: auditID, stage and request time (``findings.event_key``), event
#: time in seconds.
_Entry = tuple[str, str, str, float]


@dataclasses.dataclass(frozen=True, slots=True)
class Stage:
    """One step of a sequence (or its ``until`` query)."""

    #: The step's query.
    matches: Callable[[Mapping[str, Any]], bool]
    #: The event's join values: the sequence's ``by`` values, then the step's own; None when
    #: any is missing or null (such an event never joins); ``()`` for a sequence without keys.
    keys: Callable[[Mapping[str, Any]], tuple[Any, ...] | None]


@dataclasses.dataclass(frozen=True, slots=True)
class _Partial:
    """A sequence waiting for its next step."""

    #: Index of the last step it went through.
    step: int
    #: Its join values, kept for the snapshot (JSON values: a tuple comes back a list).
    values: tuple[Any, ...]
    entries: tuple[_Entry, ...]
    #: Excerpts of its events from step ``len(stages) - MAX_EXCERPTS`` on, oldest first.
    excerpts: tuple[findings.Excerpt, ...]

    @property
    def start(self) -> float:
        return self.entries[0][3]

    @property
    def last(self) -> float:
        return self.entries[-1][3]


class SequenceDetector:
    """Follows pending sequences per join key; see the module docstring."""

    stateful = True

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        key_names: tuple[str, ...],
        until: Stage | None,
        maxspan: float | None,
        excerpt: threshold.ExcerptOf,
        cap: int = MAX_PARTIALS,
    ) -> None:
        # Elasticsearch's grammar asks for two steps at least, and Sequence checks it.
        if len(stages) < 2:
            raise ValueError(f"a sequence needs at least 2 stages, got {len(stages)}")
        if maxspan is not None and maxspan <= 0:
            raise ValueError(f"maxspan must be positive seconds, got {maxspan}")
        self._stages = tuple(stages)
        self._key_names = key_names
        self._until = until
        self._maxspan = maxspan
        self._excerpt = excerpt
        self._cap = cap
        #: The first step whose event can be among a finding's newest excerpts.
        self._shown_from = len(self._stages) - findings.MAX_EXCERPTS
        #: (join values as JSON text, step) -> the sequence waiting there, oldest made first.
        self._partials: dict[tuple[str, int], _Partial] = {}
        self._evicted = 0

    def observe(
        self, event: Mapping[str, Any], at: float, alerting: bool, queries: Sequence[int] = (0,)
    ) -> list[findings.Finding]:
        # ``queries`` is not needed: each stage asks its own query, of these few events.
        found: list[findings.Finding] = []
        entry: _Entry = (*findings.event_key(event), at)
        excerpt: findings.Excerpt | None = None
        last_step = len(self._stages) - 1
        for step in range(last_step, -1, -1):
            stage = self._stages[step]
            if not stage.matches(event):
                continue
            keys = stage.keys(event)
            if keys is None:
                continue
            key = _key_text(keys)
            entries: tuple[_Entry, ...] = (entry,)
            excerpts: tuple[findings.Excerpt, ...] = ()
            if step:
                before = self._continued(key, step - 1, at)
                if before is None:
                    continue
                entries = (*before.entries, entry)
                excerpts = before.excerpts
            if step == last_step:
                if alerting:
                    excerpt = excerpt if excerpt is not None else self._excerpt(event)
                    found.append(self._finding(event, keys, entries, (*excerpts, excerpt)))
                continue
            if step >= self._shown_from:
                excerpt = excerpt if excerpt is not None else self._excerpt(event)
                excerpts = (*excerpts, excerpt)
            self._put(key, _Partial(step, keys, entries, excerpts))
        # After the steps: this event's own until ends what it started or continued.
        self._end_until(event, at)
        self._hold_cap()
        return found

    def _continued(self, key: str, step: int, at: float) -> _Partial | None:
        """Take the sequence waiting at ``step`` for an event at ``at``: None if there is none,
        if it ends after ``at``, or if ``at`` is beyond its maxspan (then it is dropped)."""
        slot = (key, step)
        partial = self._partials.get(slot)
        if partial is None or partial.last > at:
            return None
        del self._partials[slot]
        if self._maxspan is not None and at - partial.start > self._maxspan:
            return None
        return partial

    def _put(self, key: str, partial: _Partial) -> None:
        slot = (key, partial.step)
        held = self._partials.get(slot)
        if held is not None:
            # Only out of order input gets here with a later held one: every event still to
            # come would continue that one, as Elasticsearch continues the latest before it.
            if held.last > partial.last:
                return
            del self._partials[slot]  # re-inserted last: the dict stays in order made
        self._partials[slot] = partial

    def _end_until(self, event: Mapping[str, Any], at: float) -> None:
        until = self._until
        if until is None or not until.matches(event):
            return
        keys = until.keys(event)
        if keys is None:
            return
        key = _key_text(keys)
        for step in range(len(self._stages) - 1):
            partial = self._partials.get((key, step))
            if partial is not None and partial.last <= at:
                del self._partials[(key, step)]

    def _finding(
        self,
        event: Mapping[str, Any],
        values: tuple[Any, ...],
        entries: tuple[_Entry, ...],
        excerpts: tuple[findings.Excerpt, ...],
    ) -> findings.Finding:
        return findings.Finding(
            event,
            # The events' own identities: the same log read again gives the same key.
            key=tuple(part for entry in entries for part in entry[:3]),
            group=tuple(
                (name, str(value)) for name, value in zip(self._key_names, values, strict=True)
            ),
            count=len(entries),
            members=tuple(
                findings.Member(audit_id, stage, time)
                for audit_id, stage, _, time in entries[-findings.MAX_MEMBERS :]
            ),
            excerpts=excerpts,
            first_seen=entries[0][3],
            last_seen=entries[-1][3],
        )

    def _hold_cap(self) -> None:
        partials = self._partials
        while len(partials) > self._cap:
            del partials[next(iter(partials))]
            self._evicted += 1

    def advance(self, now: float) -> list[findings.Finding]:
        maxspan = self._maxspan
        if maxspan is None:
            return []
        # The same test as when an event arrives: one at ``now`` itself may still complete.
        expired = [
            slot for slot, partial in self._partials.items() if now - partial.start > maxspan
        ]
        for slot in expired:
            del self._partials[slot]
        return []

    def snapshot(self) -> base.State:
        return {
            "partials": [
                [partial.step, partial.values, partial.entries, partial.excerpts]
                for partial in self._partials.values()
            ]
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self._partials = {}
        last_step = len(self._stages) - 1
        for step, values, entries, excerpts in state.get("partials", []):
            # A snapshot of another shape of sequence has no place here.
            if not 0 <= step < last_step or len(entries) != step + 1:
                continue
            partial = _Partial(
                int(step),
                tuple(values),
                tuple(
                    (str(audit_id), str(stage), str(received), float(time))
                    for audit_id, stage, received, time in entries
                ),
                tuple(excerpts),
            )
            self._partials[(_key_text(partial.values), partial.step)] = partial
        self._hold_cap()

    def size(self) -> base.StateSize:
        return base.StateSize("partials", len(self._partials), self._cap, self._evicted)


def _key_text(values: Sequence[Any]) -> str:
    """Join values as compact JSON text: a key that reads the same before and after a JSON
    round trip of the state (a tuple comes back a list), and that keeps ``1``, ``1.0`` and
    ``true`` apart, as Elasticsearch's SequenceKey compares its values with Java's equals."""
    return json.dumps(values, separators=(",", ":"))
