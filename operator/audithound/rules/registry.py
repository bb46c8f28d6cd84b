"""The live rule set of the operator: rules come and go through the watch, one at a time.

Fed by: the controller's DetectionRule and DetectionException handlers. Feeds: the tail
loop, which takes ``registry.ruleset`` once per batch. Compiling happens once per (name,
generation) and, for rules that use shared lists, again when a DetectionException changes
(:meth:`Registry.put_exceptions` recompiles exactly those rules); a new immutable RuleSet is
built when it is next asked for after a change (so the hundreds of rules listed at start-up
cost one build, not one each) and swapped in whole, so a batch never sees half an update.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping
from typing import Any

from audithound.rules import compiler, exceptions, library, ruleset


class Registry:
    """Compile outcomes by rule name, and the RuleSet of the ones that run.

    The watch handlers change it on kopf's event loop while the audit loop reads
    :attr:`ruleset` from its thread: a lock keeps the rebuild whole.
    """

    def __init__(self) -> None:
        self._outcomes: dict[str, compiler.Outcome] = {}
        self._generations: dict[str, int | None] = {}
        #: Each rule's spec as last seen, to compile it again when the shared lists change.
        self._specs: dict[str, Mapping[str, Any]] = {}
        self._exception_specs: dict[str, Any] = {}
        self._library = exceptions.EMPTY
        self._checked: dict[str, library.Checked] = {}
        #: Grows with every change of the shared lists.
        self._version = 0
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

    def compile(
        self, name: str, spec: Mapping[str, Any], generation: int | None
    ) -> tuple[compiler.Outcome, bool]:
        """The outcome of this generation of the rule, compiled now unless it was already
        (True when it was compiled now)."""
        outcome = self.current(name, generation)
        if outcome is not None:
            return outcome, False
        while True:
            with self._lock:
                shared, version = self._library, self._version
            outcome = compiler.compile_rule(name, spec, generation, library=shared)
            with self._lock:
                if version != self._version:
                    continue  # the lists changed while it compiled: again, with the new ones
                self._specs[name] = spec
                self._outcomes[name] = outcome
                self._generations[name] = generation
                self._stale = True
            return outcome, True

    def put_exceptions(self, name: str, spec: Any | None) -> dict[str, compiler.Outcome]:
        """A DetectionException was created or changed (``spec``) or deleted (None): the
        rules that use shared lists are compiled again; those whose outcome changed, with it."""
        with self._lock:
            if spec is None:
                self._exception_specs.pop(name, None)
            else:
                self._exception_specs[name] = spec
            self._library, self._checked = library.build(self._exception_specs)
            self._version += 1
            shared = self._library
            dependent = {
                rule: (rule_spec, self._generations.get(rule))
                for rule, rule_spec in self._specs.items()
                if exceptions.uses_library(rule_spec)
            }
        changed = {}
        for rule, (rule_spec, generation) in dependent.items():
            outcome = compiler.compile_rule(rule, rule_spec, generation, library=shared)
            with self._lock:
                previous = self._outcomes.get(rule)
                if self._specs.get(rule) is not rule_spec:
                    continue  # the rule changed meanwhile: its own handler compiled it
                self._outcomes[rule] = outcome
                self._stale = True
            if previous is None or previous.problems != outcome.problems:
                changed[rule] = outcome  # what its status says changes
        return changed

    def exception_names(self) -> list[str]:
        with self._lock:
            return sorted(self._exception_specs)

    def exception_status(self, name: str) -> tuple[library.Checked | None, list[str]]:
        """What was found in a DetectionException, and the rules that use it."""
        with self._lock:
            checked = self._checked.get(name)
            specs = dict(self._specs)
        if checked is None:
            return None, []
        return checked, library.users(name, specs, checked)

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
            self._specs.pop(name, None)
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
