"""A global cap on alert creations per minute, over all rules: what a flood may cost etcd.

Fed by: the limiter, with each alert a rule's ``maxSignals`` admitted and the time that
counts for it (the read time in the operator). Feeds: the decision to create it or drop it
as storm-dropped.

Per-rule ``maxSignals`` bounds each rule, but a cluster with many rules, or rules with a
high ``maxSignals``, can still create thousands of objects a minute in an attack or a
misbehaving controller's loop. The cap holds the sum. It must not let one flooding rule
silence the others, so a minute's budget has two halves: the first half goes to whoever
asks first; past it, a rule that already created a tenth of the budget this minute is
refused, and the second half stays for the rules that did not. A flood of up to five rules
thus leaves room for every other rule's first alerts of the minute.
"""

from __future__ import annotations

import collections
import logging

LOG = logging.getLogger("audithound.alerts.storm")

#: Length of a window (unit: seconds): the cap counts per minute, aligned to the epoch.
WINDOW_SECONDS = 60.0


class StormCap:
    """Counts creations per minute and refuses past the cap (see the module docstring)."""

    def __init__(self, per_minute: int) -> None:
        #: Creations per minute at most; 0: no cap.
        self.per_minute = per_minute
        #: What a rule may take once the first half of the budget is gone.
        self.share = max(1, per_minute // 10)
        self._window: float | None = None
        self._total = 0
        self._by_rule: collections.Counter[str] = collections.Counter()
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def take(self, rule: str, at: float) -> bool:
        """Count a creation by ``rule`` at ``at`` (seconds since the epoch); False when the
        cap refuses it."""
        if not self.enabled:
            return True
        window = at // WINDOW_SECONDS
        if window != self._window:
            self._window, self._total, self._warned = window, 0, False
            self._by_rule.clear()
        if self._total >= self.per_minute or (
            self._total >= self.per_minute // 2 and self._by_rule[rule] >= self.share
        ):
            self._refused(rule)
            return False
        self._total += 1
        self._by_rule[rule] += 1
        return True

    def _refused(self, rule: str) -> None:
        if not self._warned:  # once a minute: a storm must not flood the log either
            self._warned = True
            LOG.warning(
                "Alert storm: the cap on alert creations per minute refuses alerts; they are "
                "counted as storm-dropped per rule",
                extra={
                    "rule": rule,
                    "per_minute": self.per_minute,
                    "created_this_minute": self._total,
                },
            )

    def give_back(self, rule: str) -> None:
        """A creation counted by :meth:`take` did not happen (the alert existed already, or
        could not be built): it does not use up the minute's budget."""
        if self._by_rule[rule] > 0:
            self._by_rule[rule] -= 1
            self._total -= 1
