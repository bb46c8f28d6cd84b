"""The one wiring of evaluate -> alerts -> sinks, used by ``scan`` and by the operator.

Fed by: raw audit events from ``source`` (finished files for ``scan``, the live tail for the
operator), each with the time that counts for rate limits. Feeds: a sink. Returns nothing
per event; what happened is counted in :class:`Counts` for summaries and rule status.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from audithound import evaluate
from audithound.alerts import evidence, limits
from audithound.rules import compiler, ruleset
from audithound.sinks import base
from audithound.source import decode


@dataclasses.dataclass
class Counts:
    """Per-rule totals of one pipeline's life."""

    alerts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    duplicates: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


class Pipeline:
    """Evaluates events, turns matches into alerts, applies limits, hands alerts to a sink."""

    def __init__(
        self,
        rules: ruleset.RuleSet,
        sink: base.Sink,
        *,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.evaluator = evaluate.Evaluator(rules)
        self.sink = sink
        self.limiter = limits.Limiter()
        self.counts = Counts()
        self._now = now

    def use(self, rules: ruleset.RuleSet) -> None:
        """Evaluate later events with ``rules`` (the operator swaps rule sets as rules change);
        per-rule counts and limits carry over by rule name."""
        self.evaluator.rules = rules

    def handle(self, event: Mapping[str, Any], at: datetime.datetime | None = None) -> int:
        """Process one event; ``at`` is the time its alerts count against (default: its own
        time, else now). Returns the number of new alerts."""
        matched = self.evaluator.evaluate(event)
        if not matched:
            return 0
        return self.alert(event, matched, at)

    def alert(
        self,
        event: Mapping[str, Any],
        matched: list[compiler.CompiledRule],
        at: datetime.datetime | None,
    ) -> int:
        """Turn the rules that matched ``event`` into alerts; returns how many were new."""
        detected = self._now()
        when = at or decode.event_time(event) or detected
        created = 0
        for rule in matched:
            if not self.limiter.admit(rule, when):
                continue
            alert = evidence.build(rule, event, detected)
            if self.sink.emit(alert):
                self.counts.alerts[rule.name] += 1
                created += 1
            else:
                self.limiter.unadmit_duplicate(rule)
                self.counts.duplicates[rule.name] += 1
        return created

    def run(self, events: Iterable[tuple[str, int, Mapping[str, Any]]]) -> None:
        """Process every event of a finite source (``scan``), as :meth:`handle` does; most
        events match nothing, so the loop calls the evaluator directly."""
        evaluate = self.evaluator.evaluate
        alert = self.alert
        for _, _, event in events:
            matched = evaluate(event)
            if matched:
                alert(event, matched, None)

    def close(self) -> None:
        """The source is finished: flush the sink."""
        self.sink.close()

    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.evaluator.rules.rules]

    def rule(self, name: str) -> compiler.CompiledRule:
        return self.evaluator.rules.by_name[name]
