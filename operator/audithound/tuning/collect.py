"""The rules over audit logs, as ``scan`` runs them, keeping each alert with its event.

Fed by: a rule set and the inputs named on the command line. Feeds: ``advice``, with each
rule's alerts in the order ``scan`` would print them, and the pipeline whose counts the
summary reports.

The one pipeline does the work (match, detect, ``maxSignals``, duplicates), fed with
``scanner.matches``, so that ``tune`` sees exactly the alerts ``scan`` prints (inputs merged
by event time for stateful rules, ``--jobs`` for large files). It is driven one matching
event at a time and delivered after each, so the alerts delivered come from the finding
that event completed: that event's fields (``dimensions``) are what ``tune`` keeps. For a
query rule it is the alert's event; for a new_terms or threshold finding, the event with
the new term or that made its group reach the threshold (the one the alert's excerpt
shows). An alert keeps its reason, redacted as in every alert, for examples.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from audithound import pipeline, scanner
from audithound.rules import ruleset
from audithound.sinks import stream
from audithound.source import files
from audithound.tuning import dimensions


@dataclasses.dataclass(frozen=True)
class Alert:
    """One alert: the fields of the event that completed it, its time and reason."""

    values: dimensions.Values
    time: str | None
    reason: str


class _Collector:
    """A sink that keeps what it is given, once per alert name (as ``scan``'s sinks)."""

    concurrency = 1

    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []
        self._seen = stream.Seen()

    def emit(self, alert: dict[str, Any]) -> bool:
        admitted = self._seen.admit(alert)
        if admitted is None:
            return False
        self.delivered.append(admitted)
        return True

    def close(self) -> None:
        return None


def collect(
    rules: ruleset.RuleSet, inputs: Sequence[str], stats: files.ReadStats, jobs: int
) -> tuple[pipeline.Pipeline, dict[str, list[Alert]]]:
    """Every alert of every rule over ``inputs``, by rule name, with the pipeline run."""
    sink = _Collector()
    run = pipeline.Pipeline(rules, sink)
    found: dict[str, list[Alert]] = {rule.name: [] for rule in rules.rules}
    for event, matched in scanner.matches(run, inputs, stats, jobs):
        run.detect(event, matched)
        if not run.pending():
            continue
        run.deliver()
        values = dimensions.read(event)
        for alert in sink.delivered:
            spec = alert["spec"]
            found[spec["rule"]["name"]].append(Alert(values, spec.get("eventTime"), spec["reason"]))
        sink.delivered.clear()
    run.close()
    return run, found
