"""The threshold rule's detector: a group of matching events reaching a count in a window.

Fed by: the pipeline, with each event the rule's query matched, in time order. Feeds: one
finding per group that reaches ``threshold.value`` events (and, with a cardinality, that many
distinct values of its field) within a sliding window as long as the rule's look-back
(``from``, default 6 minutes), with the group's values in ``group`` and its events as members.

Groups are the combinations of the group-by fields' values (``detectors.terms``); an event
missing one of them is left out; no group-by fields: one group. The events counted into a
finding are not counted again for that group: the group starts empty after it. A sliding window
alerts on every burst that Elastic's scheduled windows catch, and also on bursts that straddle
two of them.

State: per open group, the events inside the window (time, auditID, stage and the digests of
their cardinality values) and the excerpts of its newest few events; groups are kept in the
order they last grew. Past :data:`MAX_ENTRIES` the oldest events of the least recently grown
groups are given up (counted): those groups may then need more events to alert.
"""

from __future__ import annotations

import collections
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from audithound.detectors import base, findings, terms

#: Events held in open groups of one rule (unit: events; default 100,000), about 200 bytes
#: each: 20 MB at the cap. A threshold of 100 per 6 minutes reaches it only with a thousand
#: groups just below their threshold at once.
MAX_ENTRIES: Final = 100_000

#: Turns an event into its allowlisted evidence excerpt (``alerts.evidence.excerpt``).
ExcerptOf = Callable[[Mapping[str, Any]], findings.Excerpt]

# One counted event: time, auditID, stage, digests of its cardinality values.
_Entry = tuple[float, str, str, tuple[str, ...]]


class _Group:
    """One open group: its events inside the window, oldest first, and the excerpts of its
    newest ones. Lists with a moving start rather than deques: most groups hold a few events,
    and a deque costs some 600 bytes even empty."""

    __slots__ = ("distinct", "excerpts", "head", "items")

    def __init__(self) -> None:
        self.items: list[_Entry] = []
        #: Index of the oldest event still in the window.
        self.head = 0
        #: Excerpts of the newest events, with their times, oldest first.
        self.excerpts: list[tuple[float, findings.Excerpt]] = []
        #: Cardinality digest -> events in the window holding it (None: no cardinality).
        self.distinct: collections.Counter[str] | None = None

    def __len__(self) -> int:
        return len(self.items) - self.head

    @property
    def entries(self) -> list[_Entry]:
        return self.items[self.head :]

    def oldest(self) -> float:
        return self.items[self.head][0]

    def add(self, entry: _Entry, excerpt: findings.Excerpt | None) -> None:
        self.items.append(entry)
        if self.distinct is not None:
            self.distinct.update(entry[3])
        if excerpt is not None:
            self.excerpts.append((entry[0], excerpt))
            del self.excerpts[: -findings.MAX_EXCERPTS]

    def drop_before(self, cutoff: float) -> int:
        """Forget events older than ``cutoff``; returns how many."""
        dropped = 0
        items = self.items
        while self.head < len(items) and items[self.head][0] < cutoff:
            self._forget(items[self.head])
            self.head += 1
            dropped += 1
        self._compact()
        self._drop_excerpts()
        return dropped

    def drop_oldest(self) -> None:
        self._forget(self.items[self.head])
        self.head += 1
        self._compact()
        self._drop_excerpts()

    def _compact(self) -> None:
        # Amortised: the list is rewritten only when its dead front is as long as the rest.
        if self.head and self.head * 2 >= len(self.items):
            del self.items[: self.head]
            self.head = 0

    def _drop_excerpts(self) -> None:
        oldest = self.oldest() if len(self) else float("inf")
        while self.excerpts and self.excerpts[0][0] < oldest:
            del self.excerpts[0]

    def _forget(self, entry: _Entry) -> None:
        if self.distinct is None:
            return
        for value in entry[3]:
            self.distinct[value] -= 1
            if not self.distinct[value]:
                del self.distinct[value]


class ThresholdDetector:
    """Counts matching events per group over ``window``; see the module docstring."""

    stateful = True

    def __init__(
        self,
        fields: Sequence[str],
        value: int,
        window: datetime.timedelta,
        excerpt: ExcerptOf,
        *,
        cardinality: tuple[str, int] | None = None,
        cap: int = MAX_ENTRIES,
    ) -> None:
        self._terms = terms.Terms(fields)
        self._value = value
        self._window = window.total_seconds()
        self._excerpt = excerpt
        self._cardinality = (
            (terms.Terms((cardinality[0],)), cardinality[1]) if cardinality else None
        )
        self._cap = cap
        #: Group digest -> group, least recently grown first.
        self._groups: dict[str, _Group] = {}
        self._held = 0
        self._evicted = 0

    def observe(
        self, event: Mapping[str, Any], at: float, alerting: bool, queries: Sequence[int] = (0,)
    ) -> list[findings.Finding]:
        group_terms = self._terms.of(event)
        if not group_terms:
            return []
        distinct: tuple[str, ...] = ()
        if self._cardinality is not None:
            distinct = tuple(terms.digest(value) for value in self._cardinality[0].of(event))
        entry: _Entry = (at, str(event.get("auditID", "")), str(event.get("stage", "")), distinct)
        cutoff = at - self._window
        excerpt: findings.Excerpt | None = None
        found: list[findings.Finding] = []
        for term in group_terms:
            key = terms.digest(term)
            group = self._groups.pop(key, None)
            if group is None:
                group = _Group()
                if self._cardinality is not None:
                    group.distinct = collections.Counter()
            self._held -= group.drop_before(cutoff)
            # Only the newest few events of a finding are shown: an event that can never be
            # among them (the group still needs more than that many) keeps no excerpt.
            if len(group) + 1 > self._value - findings.MAX_EXCERPTS:
                excerpt = excerpt or self._excerpt(event)
                group.add(entry, excerpt)
            else:
                group.add(entry, None)
            self._held += 1
            if self._reached(group):
                if alerting:
                    found.append(self._finding(event, term, group))
                # Counted into a finding (or into history): not counted again.
                self._held -= len(group)
            else:
                self._groups[key] = group  # last: the order of growth
        self._hold_cap()
        return found

    def _reached(self, group: _Group) -> bool:
        if len(group) < self._value:
            return False
        return group.distinct is None or (
            self._cardinality is not None and len(group.distinct) >= self._cardinality[1]
        )

    def _finding(
        self, event: Mapping[str, Any], term: terms.Term, group: _Group
    ) -> findings.Finding:
        entries = group.entries
        members = tuple(
            findings.Member(audit_id, stage, time)
            for time, audit_id, stage, _ in list(entries)[-findings.MAX_MEMBERS :]
        )
        return findings.Finding(
            event,
            key=(*term, *findings.event_key(event)),
            group=self._terms.group(term),
            count=len(entries),
            members=members,
            excerpts=tuple(excerpt for _, excerpt in group.excerpts),
            first_seen=entries[0][0],
            last_seen=entries[-1][0],
        )

    def _hold_cap(self) -> None:
        while self._held > self._cap:
            key = next(iter(self._groups))
            group = self._groups[key]
            group.drop_oldest()
            self._held -= 1
            self._evicted += 1
            if not len(group):
                del self._groups[key]

    def advance(self, now: float) -> list[findings.Finding]:
        cutoff = now - self._window
        emptied = []
        for key, group in self._groups.items():
            self._held -= group.drop_before(cutoff)
            if not len(group):
                emptied.append(key)
        for key in emptied:
            del self._groups[key]
        return []

    def snapshot(self) -> base.State:
        return {
            "groups": {
                # Tuples and lists as they are: orjson writes both as arrays, and a snapshot of
                # a hundred thousand events must not cost a Python loop over each.
                key: {"entries": group.entries, "excerpts": group.excerpts}
                for key, group in self._groups.items()
            }
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self._groups = {}
        self._held = 0
        for key, saved in state.get("groups", {}).items():
            group = _Group()
            if self._cardinality is not None:
                group.distinct = collections.Counter()
            for time, audit_id, stage, distinct in saved.get("entries", []):
                group.add((float(time), str(audit_id), str(stage), tuple(distinct)), None)
            group.excerpts = [(float(time), excerpt) for time, excerpt in saved.get("excerpts", [])]
            if len(group):
                self._groups[str(key)] = group
                self._held += len(group)

    def size(self) -> base.StateSize:
        return base.StateSize("entries", self._held, self._cap, self._evicted)
