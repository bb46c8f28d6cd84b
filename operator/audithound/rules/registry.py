"""The live rule set of the operator: rules come and go through the watch, one at a time.

Fed by: the controller's DetectionRule handler, with each rule's compile outcome. Feeds: the
tail loop, which takes ``registry.ruleset`` once per batch. Compiling happens once per
(name, generation); a new immutable RuleSet is built when it is next asked for after a change
(so the hundreds of rules listed at start-up cost one build, not one each) and swapped in
whole, so a batch never sees half an update.
"""

from __future__ import annotations

import datetime
import threading

from audithound.rules import compiler, ruleset


class Registry:
    """Compile outcomes by rule name, and the RuleSet of the ones that run.

    The watch handlers change it on kopf's event loop while the audit loop reads
    :attr:`ruleset` from its thread: a lock keeps the rebuild whole.
    """

    def __init__(self) -> None:
        self._outcomes: dict[str, compiler.Outcome] = {}
        self._generations: dict[str, int | None] = {}
        self._ruleset = ruleset.RuleSet(())
        self._stale = False
        self._lock = threading.Lock()

    @property
    def ruleset(self) -> ruleset.RuleSet:
        """The enabled, valid rules, as one rule set (the same object until a change)."""
        with self._lock:
            if self._stale:
                rules = [
                    outcome.rule
                    for name, outcome in sorted(self._outcomes.items())
                    if outcome.rule is not None
                ]
                self._ruleset = ruleset.RuleSet(rules)
                self._stale = False
            return self._ruleset

    def current(self, name: str, generation: int | None) -> compiler.Outcome | None:
        """The outcome already compiled for this generation of the rule, if any."""
        with self._lock:
            if name in self._outcomes and self._generations.get(name) == generation:
                return self._outcomes[name]
            return None

    def put(self, outcome: compiler.Outcome, generation: int | None) -> None:
        with self._lock:
            self._outcomes[outcome.name] = outcome
            self._generations[outcome.name] = generation
            self._stale = True

    def remove(self, name: str) -> None:
        with self._lock:
            if self._outcomes.pop(name, None) is not None:
                self._generations.pop(name, None)
                self._stale = True

    def invalid_count(self) -> int:
        """Rules whose spec or query has errors."""
        with self._lock:
            return sum(1 for outcome in self._outcomes.values() if outcome.rule is None)

    def longest_lookback(self) -> datetime.timedelta:
        """How far back to start without a saved position: the longest ``from`` of the rules."""
        return max((rule.lookback for rule in self.ruleset.rules), default=datetime.timedelta())
