"""``maxSignals`` per rule per ``interval``, the global storm cap, and duplicates by alert name.

Fed by: the pipeline, with each new alert of a rule and the time that counts for it, in
seconds since the epoch (the event's time in ``scan``, the read time in the operator: Elastic
windows by ingest time).
Feeds: the decision to emit or drop, and the counts that ``scan``'s summary and the rule's
status report ("limit reached, N dropped").
"""

from __future__ import annotations

import collections
import dataclasses
import datetime

from audithound.alerts import storm
from audithound.rules import compiler

#: The earliest time datetime holds (0001-01-01 UTC), in seconds since the epoch.
_EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC).timestamp()


@dataclasses.dataclass
class RuleCounts:
    """What one rule did in its current interval."""

    interval_start: datetime.datetime
    matches: int = 0
    alerts: int = 0
    duplicates: int = 0
    dropped: int = 0
    #: Matches an exception item silenced (they never reached the detector).
    excepted: int = 0
    #: Findings merged into an open suppression group's alert instead of alerting.
    suppressed: int = 0
    #: Alerts within maxSignals that the global cap on creations per minute refused.
    storm_dropped: int = 0

    @property
    def limit_reached(self) -> bool:
        return self.dropped > 0


class Limiter:
    """Counts alerts per rule in fixed intervals aligned to the epoch, drops past maxSignals
    and past the global cap of ``max_creations_per_minute`` (0: none)."""

    def __init__(self, max_creations_per_minute: int = 0) -> None:
        self.storm = storm.StormCap(max_creations_per_minute)
        self.current: dict[str, RuleCounts] = {}
        #: Each current interval's start and end, in seconds since the epoch.
        self._spans: dict[str, tuple[float, float]] = {}
        self.dropped_total: collections.Counter[str] = collections.Counter()
        self.excepted_total: collections.Counter[str] = collections.Counter()
        self.suppressed_total: collections.Counter[str] = collections.Counter()
        self.storm_dropped_total: collections.Counter[str] = collections.Counter()

    def _counts(self, rule: compiler.CompiledRule, at: float) -> RuleCounts:
        name = rule.name
        span = self._spans.get(name)
        # Within the current interval: two comparisons. A new one (later, or earlier: a scan
        # that went back in time) starts its counts afresh.
        if span is not None and span[0] <= at < span[1]:
            return self.current[name]
        seconds = rule.interval.total_seconds()
        # Aligned back from a time near the year 1 (a crafted or broken line), an interval
        # would start before it, which datetime cannot hold: it starts at the year 1 then.
        start = max(at // seconds * seconds, _EARLIEST)
        counts = RuleCounts(interval_start=datetime.datetime.fromtimestamp(start, datetime.UTC))
        self.current[name] = counts
        self._spans[name] = (start, (at // seconds + 1) * seconds)
        return counts

    def admit(self, rule: compiler.CompiledRule, at: float) -> bool:
        """Count a match of ``rule`` at ``at`` (seconds since the epoch); True when it may
        become an alert."""
        counts = self._counts(rule, at)
        counts.matches += 1
        if counts.alerts >= rule.spec.max_signals:
            counts.dropped += 1
            self.dropped_total[rule.name] += 1
            return False
        if self.storm.enabled and not self.storm.take(rule.name, at):
            counts.storm_dropped += 1
            self.storm_dropped_total[rule.name] += 1
            return False
        counts.alerts += 1
        return True

    def except_(self, rule: compiler.CompiledRule, at: float) -> None:
        """Count a match of ``rule`` at ``at`` (seconds) that an exception item silenced."""
        self._counts(rule, at).excepted += 1
        self.excepted_total[rule.name] += 1

    def suppress(self, rule: compiler.CompiledRule, at: float) -> None:
        """Count a finding of ``rule`` at ``at`` (seconds) merged into an open suppression
        group."""
        counts = self._counts(rule, at)
        counts.matches += 1
        counts.suppressed += 1
        self.suppressed_total[rule.name] += 1

    def unadmit_duplicate(self, rule: compiler.CompiledRule) -> None:
        """An admitted alert turned out to exist already: it does not use up the limits."""
        self.storm.give_back(rule.name)
        counts = self.current.get(rule.name)
        if counts is not None:
            counts.alerts -= 1
            counts.duplicates += 1
