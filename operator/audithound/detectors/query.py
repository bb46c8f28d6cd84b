"""The query rule's detector: every matching event is a finding of its own.

Fed by: the pipeline, with each event the rule's query matched. Feeds: one finding per
event, named by the event (``findings.event_key``), so a replay, an overlapping look-back
or a second reader of the same log creates nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audithound.detectors import base, findings


class QueryDetector:
    """Passes each match through."""

    stateful = False

    def observe(
        self, event: Mapping[str, Any], at: float, alerting: bool, queries: Sequence[int] = (0,)
    ) -> list[findings.Finding]:
        if not alerting:
            return []
        return [findings.Finding(event, findings.event_key(event))]

    def advance(self, now: float) -> list[findings.Finding]:
        return []

    def snapshot(self) -> base.State:
        return {}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore."""

    def size(self) -> base.StateSize | None:
        return None
