"""A sink that keeps what it gets, and the pipeline run the way production runs it.

Tests that ask "does this rule alert on that event" go through :class:`pipeline.Pipeline`,
the one path every entry point takes, and read the alerts this sink recorded.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from audithound import pipeline
from audithound.rules import compiler, ruleset
from audithound.sinks import stream


class Recorder:
    """Records every alert; an alert of a name seen before is a duplicate, unless it renews
    it (a term new again), as the stream sinks decide."""

    concurrency = 1

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self._seen = stream.Seen()

    def emit(self, alert: dict[str, Any]) -> bool:
        admitted = self._seen.admit(alert)
        if admitted is None:
            return False
        self.alerts.append(admitted)
        return True

    def close(self) -> None:
        """Nothing to flush."""


def alerts(
    rules: Iterable[compiler.CompiledRule],
    events: Iterable[Mapping[str, Any]],
    *,
    alerts_from: datetime.datetime | None = None,
) -> list[dict[str, Any]]:
    """The alerts ``rules`` raise over ``events``, in order, through the pipeline."""
    sink = Recorder()
    scan = pipeline.Pipeline(ruleset.RuleSet(rules), sink, alerts_from=alerts_from)
    for event in events:
        scan.process(event)
        scan.deliver()
    scan.close()
    return sink.alerts
