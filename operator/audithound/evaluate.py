"""One raw audit event against every active rule.

Fed by: the pipeline, with raw events from an input (and ``scan --jobs`` workers, each with an
evaluator of its own whose counts the pipeline's absorbs). Feeds: the pipeline's detectors,
with the rules that matched. A rule whose predicate raises is isolated: the error is counted
against that rule and the other rules still see the event; one bad rule never stops the
stream.
"""

from __future__ import annotations

import collections
import datetime
from collections.abc import Callable
from typing import Any

from audithound.rules import compiler, prescreen, ruleset
from audithound.source import decode


class Evaluator:
    """Runs a rule set over events and counts matches and failures per rule."""

    def __init__(self, rules: ruleset.RuleSet) -> None:
        self.rules = rules
        self.matches: collections.Counter[str] = collections.Counter()
        self.failures: collections.Counter[str] = collections.Counter()
        self._failed: list[compiler.CompiledRule] = []

    def evaluate(
        self, event: Any, now: datetime.datetime | None = None
    ) -> list[compiler.CompiledRule]:
        """The rules that match ``event``, in rule order.

        ``now`` is what date math in the rules' queries (``now-1d``) reads: the operator
        passes its read time; by default it is the event's own time (``scan``), else the
        wall clock. It is only worked out when a rule reads it.
        """
        if self.rules.clock.used:
            self.at(event, now)
        failed = self._failed
        matched = self.rules.match(event, failed)
        if failed:
            for rule in failed:
                self.failures[rule.name] += 1
            failed.clear()
        for rule in matched:
            self.matches[rule.name] += 1
        return matched

    def screen(
        self,
        *,
        read_at: Callable[[], datetime.datetime | None] | None = None,
        keep_user: str | None = None,
    ) -> decode.Screen | None:
        """A screen for readers (``source.files``, ``source.live``) of events this evaluator
        will see: an event no rule matches, and none fails on, is rejected after decoding only
        what the rules read. None when some rule reads the whole event (free text).

        ``read_at`` gives the time the rules' ``now`` stands for, as :meth:`evaluate` is
        given it (default: the event's own); the events of the user ``keep_user`` are all
        kept (the operator's own requests, which it looks at whatever its rules say).
        """
        paths = self.rules.raw_paths
        if paths is None:
            return None
        clock = self.rules.clock
        match = self.rules.match
        failed: list[compiler.CompiledRule] = []

        def wanted(event: dict[str, Any]) -> bool:
            if keep_user is not None:
                user = event.get("user")
                if type(user) is dict and user.get("username") == keep_user:
                    return True
            if clock.used:
                self.at(event, read_at() if read_at is not None else None)
            if match(event, failed):
                return True
            if failed:
                failed.clear()  # counted when the whole event is evaluated
                return True
            return False

        # The event projection decodes the keys that make an event itself; the event's time
        # is read for ``now`` only when a rule's date math reads it.
        times = {(key,) for key in decode.TIME_KEYS} if clock.used else set()
        kept = {("user", "username")} if keep_user is not None else set()
        projection = decode.Projection(paths | kept | times, event=True)
        return decode.Screen(projection, wanted, prescreen.prefilter(self.rules, keep_user))

    def at(self, event: Any, now: datetime.datetime | None = None) -> None:
        """Set the time the rules' ``now`` stands for, for ``event`` (see :meth:`evaluate`)."""
        moment = now or decode.event_time(event)
        if moment is not None:
            self.rules.clock.set(moment)
        else:
            self.rules.clock.millis = None

    def absorb(self, matches: collections.Counter[str], failures: collections.Counter[str]) -> None:
        """Add the counts of another evaluator of the same rules (a ``scan --jobs`` worker's)."""
        self.matches.update(matches)
        self.failures.update(failures)
