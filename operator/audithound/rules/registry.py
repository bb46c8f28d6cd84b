"""The live rule set of the operator: rules come and go through the watch, one at a time.

Fed by: the controller's DetectionRule handler, with each rule's compile outcome. Feeds: the
tail loop, which takes ``registry.ruleset`` once per batch. Compiling happens once per
(name, generation); a new immutable RuleSet is built on every change and swapped in whole,
so a batch never sees half an update.
"""

from __future__ import annotations

import datetime

from audithound.rules import compiler, ruleset


class Registry:
    """Compile outcomes by rule name, and the RuleSet of the ones that run."""

    def __init__(self) -> None:
        self._outcomes: dict[str, compiler.Outcome] = {}
        self._generations: dict[str, int | None] = {}
        self.ruleset = ruleset.RuleSet(())

    def current(self, name: str, generation: int | None) -> compiler.Outcome | None:
        """The outcome already compiled for this generation of the rule, if any."""
        if name in self._outcomes and self._generations.get(name) == generation:
            return self._outcomes[name]
        return None

    def put(self, outcome: compiler.Outcome, generation: int | None) -> None:
        self._outcomes[outcome.name] = outcome
        self._generations[outcome.name] = generation
        self._rebuild()

    def remove(self, name: str) -> None:
        if self._outcomes.pop(name, None) is not None:
            self._generations.pop(name, None)
            self._rebuild()

    def _rebuild(self) -> None:
        rules = [
            self._outcomes[name].rule
            for name in sorted(self._outcomes)
            if self._outcomes[name].rule is not None
        ]
        self.ruleset = ruleset.RuleSet(rule for rule in rules if rule is not None)

    def invalid_count(self) -> int:
        """Rules whose spec or query has errors."""
        return sum(1 for outcome in self._outcomes.values() if outcome.rule is None)

    def longest_lookback(self) -> datetime.timedelta:
        """How far back to start without a saved position: the longest ``from`` of the rules."""
        return max((rule.lookback for rule in self.ruleset.rules), default=datetime.timedelta())
