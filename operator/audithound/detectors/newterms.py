"""The new_terms rule's detector: an event whose term was not seen within the history window.

Fed by: the pipeline, with each event the rule's query matched, in time order. Feeds: one
finding per new term of an event (an event with an array can bring several, as in Kibana),
with the term in ``group``.

Semantics, on event time: a term is new when no event that matched the query held it within
the history window (``historyWindowStart``) before this one. Every matched event refreshes
the last-seen time of each of its terms, alerting or not, so a term seen every day stays
known. State is the digest and last-seen time of every term seen within the window, in the
order they were last seen: terms older than the window are evicted as time passes, and past
:data:`MAX_TERMS` the longest-unseen term is given up (counted; that term, met again, alerts
again: a cap never hides a detection, it can only repeat one).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Final

from audithound.detectors import base, findings, terms

#: Terms one rule remembers (unit: terms; default 200,000). About 120 bytes each in memory
#: (``bench/state.py`` measures it): 24 MB at the cap, within the DaemonSet's memory limit
#: for a few such rules. Elastic's shipped new_terms rules key on user agents, users and
#: source addresses, which stay far below it in one cluster.
MAX_TERMS: Final = 200_000


class NewTermsDetector:
    """Remembers terms for ``history``; see the module docstring."""

    stateful = True

    def __init__(
        self, fields: Sequence[str], history: datetime.timedelta, *, cap: int = MAX_TERMS
    ) -> None:
        self._terms = terms.Terms(fields)
        self._history = history
        self._window = history.total_seconds()
        self._cap = cap
        #: Term digest -> last-seen event time, least recently seen first.
        self._seen: dict[str, float] = {}
        self._evicted = 0

    def observe(
        self, event: Mapping[str, Any], at: float, alerting: bool, queries: Sequence[int] = (0,)
    ) -> list[findings.Finding]:
        found: list[findings.Finding] = []
        seen = self._seen
        for term in self._terms.of(event):
            key = terms.digest(term)
            last = seen.pop(key, None)
            if alerting and (last is None or at - last > self._window):
                found.append(self._finding(event, term, at))
            # Re-inserted last: the dict stays ordered by when terms were last seen.
            seen[key] = at if last is None or at > last else last
        while len(seen) > self._cap:
            del seen[next(iter(seen))]
            self._evicted += 1
        return found

    def _finding(self, event: Mapping[str, Any], term: terms.Term, at: float) -> findings.Finding:
        return findings.Finding(
            event,
            key=term,
            group=self._terms.group(term),
            first_seen=at,
            last_seen=at,
            renewal=findings.Renewal(
                unique=(*term, *findings.event_key(event)), after=self._history
            ),
        )

    def advance(self, now: float) -> list[findings.Finding]:
        cutoff = now - self._window
        expired = []
        for key, last in self._seen.items():
            if last >= cutoff:
                break
            expired.append(key)
        for key in expired:
            del self._seen[key]
        return []

    def snapshot(self) -> base.State:
        return {"terms": dict(self._seen)}

    def restore(self, state: Mapping[str, Any]) -> None:
        saved = state.get("terms", {})
        self._seen = {str(key): float(last) for key, last in saved.items()}

    def size(self) -> base.StateSize:
        return base.StateSize("terms", len(self._seen), self._cap, self._evicted)
