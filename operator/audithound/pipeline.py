"""The one wiring of match -> detect -> limits -> identity -> sinks, used by every entry point.

Fed by: raw audit events from an input, each with the time it was read when that counts:
``scanner`` (finished files and stdin), ``parallel`` (``scan --jobs``: workers match, this
pipeline takes their matches in file order through :meth:`Pipeline.detect`) and
``controller.tailing`` (the live log). Feeds: a sink, through an outbox that
:meth:`Pipeline.deliver` empties; and the checkpoint, with the detectors' state
(:meth:`Pipeline.snapshot`).

Per event: the rule set's generated function says which rules match (``evaluate``); a match
that one of the rule's exception items holds for is counted as excepted and goes no further
(``rules.exceptions``); each remaining match goes to the rule's detector (``detectors``),
which turns it into findings; ``maxSignals`` and the global cap on creations per minute admit
them (``alerts.limits``, ``alerts.storm``); each becomes an alert named by its identity
(``alerts.evidence``, ``alerts.identity``) and waits in the outbox. Delivering hands the
outbox to the sink, concurrently when the sink allows; an alert that could not be written
stays in the outbox for the next :meth:`Pipeline.deliver`, so a failed write never loses a
finding and never spends the rule's budget twice. A replay after a crash finds the same
findings (the state was saved with the read position) under the same names: the sink answers
that they exist.

Anything one rule raises (its query, its detector, its evidence) is counted against that
rule and never reaches the others. The operator's thread runs the pipeline while the status
writer and the metrics endpoint read its counts: those readers take :attr:`Pipeline.lock`,
which the runner holds while it processes a batch.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, NamedTuple

from audithound import evaluate
from audithound.alerts import evidence, limits, suppression
from audithound.detectors import base, findings, kinds
from audithound.rules import compiler, ruleset
from audithound.sinks import base as sinks
from audithound.source import decode

LOG = logging.getLogger("audithound.pipeline")

#: Event time between two evictions of old state (unit: seconds; default 60): often enough to
#: keep memory near what the windows need, rarely enough to cost nothing per event.
ADVANCE_EVERY_SECONDS: Final = 60.0

#: Where a rule's detector state came from: ``new`` (nothing known yet), ``restored`` (from
#: the checkpoint), ``learned`` (from the logs on disk, at a warm start), ``kept`` (across a
#: spec change that did not touch what the state depends on), ``reset`` (a change of query,
#: fields or windows started it afresh).
Origin = Literal["new", "restored", "learned", "kept", "reset"]


@dataclasses.dataclass
class Counts:
    """Per-rule totals of one pipeline's life."""

    alerts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    duplicates: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    #: Alerts the sink refused for good (``sinks.base.Rejected``): counted, logged, dropped.
    rejected: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    #: Writes of a suppression group's alert in place (its count grew).
    updates: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass
class _Slot:
    """One active rule's detector and what its state depends on."""

    rule: compiler.CompiledRule
    key: str
    detector: base.Detector
    origin: Origin
    #: Events learned from history before alerting (warm start), and from how far back.
    learned: int = 0


@dataclasses.dataclass(frozen=True)
class RuleState:
    """What a rule's detector holds, for status and metrics."""

    origin: Origin
    size: base.StateSize | None
    learned: int


@dataclasses.dataclass(frozen=True)
class Summary:
    """One rule's current interval, as status reports it."""

    counts: limits.RuleCounts
    failures: int


@dataclasses.dataclass(frozen=True)
class Totals:
    """Per-rule totals since start, as metrics report them."""

    matches: collections.Counter[str]
    alerts: collections.Counter[str]
    duplicates: collections.Counter[str]
    rejected: collections.Counter[str]
    dropped: collections.Counter[str]
    excepted: collections.Counter[str]
    suppressed: collections.Counter[str]
    storm_dropped: collections.Counter[str]
    updates: collections.Counter[str]
    failures: collections.Counter[str]


class DeliveryError(Exception):
    """Some alerts could not be written; they stay in the outbox for the next delivery."""


class _Pending(NamedTuple):
    """An alert waiting in the outbox (a named tuple: one per alert, made in a third of a
    frozen dataclass's time)."""

    rule: compiler.CompiledRule
    alert: dict[str, Any]
    #: The suppression group whose alert this is, and its merges when the alert was taken.
    group: suppression.Group | None = None
    merged: int = 0
    #: Whether it updates the group's existing alert (``Sink.update``) rather than creating.
    update: bool = False


#: The pipeline's clock by default: a partial, not a lambda, as it is asked once per matching
#: event and a call that stays in C is cheaper.
_UTC_NOW: Final = functools.partial(datetime.datetime.now, datetime.UTC)


class Pipeline:
    """Matches, detects, limits and names; see the module docstring."""

    def __init__(
        self,
        rules: ruleset.RuleSet,
        sink: sinks.Sink,
        *,
        now: Callable[[], datetime.datetime] = _UTC_NOW,
        alerts_from: datetime.datetime | None = None,
        max_creations_per_minute: int = 0,
    ) -> None:
        self.evaluator = evaluate.Evaluator(rules)
        self.sink = sink
        self.limiter = limits.Limiter(max_creations_per_minute)
        self.suppressor = suppression.Suppressor(in_place=getattr(sink, "updates_in_place", False))
        self.counts = Counts()
        #: Events before this event time only build history (``scan --alerts-from``).
        self.alerts_from = alerts_from.timestamp() if alerts_from is not None else None
        #: Held by whoever runs the pipeline while it works, and by readers of its counts.
        self.lock = threading.RLock()
        self._now = now
        self._slots: dict[str, _Slot] = {}
        self._outbox: list[_Pending] = []
        self._advanced = float("-inf")
        #: Grows whenever a stateful detector may have changed: the checkpoint saves the state
        #: again only when this moved.
        self.state_version = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._sync(rules)

    # Rules and state.

    @property
    def rules(self) -> ruleset.RuleSet:
        return self.evaluator.rules

    def use(self, rules: ruleset.RuleSet) -> None:
        """Evaluate later events with ``rules`` (the operator swaps rule sets as rules change);
        per-rule counts and limits carry over by rule name, detector state while the rule's
        state key stays the same."""
        with self.lock:
            self.evaluator.rules = rules
            self._sync(rules)

    def _sync(self, rules: ruleset.RuleSet) -> None:
        slots: dict[str, _Slot] = {}
        for rule in rules.rules:
            key = kinds.state_key(rule)
            slot = self._slots.get(rule.name)
            if slot is not None and slot.key == key:
                if slot.rule is not rule and slot.origin not in ("new", "reset"):
                    slot.origin = "kept"  # a new generation that the state does not depend on
                slot.rule = rule
                slots[rule.name] = slot
                continue
            origin: Origin = "new" if slot is None else "reset"
            slots[rule.name] = _Slot(rule, key, kinds.create(rule, evidence.excerpt), origin)
            if slot is not None and slot.detector.stateful:
                LOG.info("Reset detector state", extra={"rule": rule.name})
        self._slots = slots
        self.suppressor.keep(
            rule.name for rule in rules.rules if rule.spec.alert_suppression is not None
        )

    def snapshot(self) -> dict[str, Any]:
        """The state of every stateful detector, by rule name, with its key (shares lists with
        the detectors: serialise it before the next event)."""
        with self.lock:
            saved: dict[str, Any] = {}
            for name, slot in self._slots.items():
                groups = self.suppressor.snapshot(name)
                if slot.detector.stateful or groups:
                    saved[name] = {"key": slot.key, "state": slot.detector.snapshot()}
                    if groups:
                        saved[name]["suppression"] = groups
            return saved

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Take back a :meth:`snapshot`; a rule whose key changed since starts afresh."""
        with self.lock:
            for name, entry in saved.items():
                slot = self._slots.get(name)
                if slot is None or not isinstance(entry, dict) or entry.get("key") != slot.key:
                    continue
                if slot.detector.stateful:
                    slot.detector.restore(entry.get("state") or {})
                    slot.origin = "restored"
                if slot.rule.spec.alert_suppression is not None:
                    self.suppressor.restore(name, entry.get("suppression") or [])

    def needs_history(self) -> list[str]:
        """Stateful rules whose detector knows nothing yet (new, or reset by a change)."""
        with self.lock:
            return [
                name
                for name, slot in self._slots.items()
                if slot.detector.stateful and slot.origin in ("new", "reset")
            ]

    def learn(self, event: Mapping[str, Any], names: frozenset[str]) -> None:
        """Feed ``event`` to the detectors of ``names`` as history, without alerting."""
        failed: list[compiler.CompiledRule] = []
        if self.evaluator.rules.clock.used:
            self.evaluator.at(event)  # history: ``now`` is the event's own time
        matched = [rule for rule in self.evaluator.rules.match(event, failed) if rule.name in names]
        # Excepted events are no history either: Kibana's exception filter is on every search.
        matched = [rule for rule in matched if not self._is_excepted(rule, event)]
        if not matched:
            return
        at = self._event_seconds(event, None)
        self.state_version += 1
        for rule in matched:
            slot = self._slots[rule.name]
            try:
                slot.detector.observe(event, at, False)
            except Exception:
                self.evaluator.failures[rule.name] += 1
                continue
            slot.learned += 1

    def learned(self, names: Iterable[str]) -> None:
        """History was read for ``names``: their state stands on what the logs on disk held."""
        with self.lock:
            for name in names:
                slot = self._slots.get(name)
                if slot is not None and slot.origin in ("new", "reset"):
                    slot.origin = "learned"

    def rule_states(self) -> dict[str, RuleState]:
        """Each active rule's detector state (origin, size, events learned)."""
        with self.lock:
            return {
                name: RuleState(slot.origin, slot.detector.size(), slot.learned)
                for name, slot in self._slots.items()
            }

    # Events.

    def process(self, event: Mapping[str, Any], read_at: datetime.datetime | None = None) -> None:
        """Match one event and take its matches through the rules' detectors.

        ``read_at`` is the time its alerts count against for ``maxSignals`` (the operator's
        read time, as Elastic counts by ingest time; default: the event's own time).
        """
        matched = self.evaluator.evaluate(event, read_at)
        if matched:
            self.detect(event, matched, read_at)

    def detect(
        self,
        event: Mapping[str, Any],
        matched: list[compiler.CompiledRule],
        read_at: datetime.datetime | None = None,
    ) -> None:
        """Take an event that ``matched`` these rules through their detectors into the outbox."""
        moment = decode.event_time(event)
        detected = self._now()
        at = (moment or read_at or detected).timestamp()
        # The time the limits count by: the read time where there is one, else the event's.
        when = at if read_at is None or moment is None else read_at.timestamp()
        alerting = self.alerts_from is None or at >= self.alerts_from
        rules = self.evaluator.rules
        if rules.excepted and rules.clock.used:
            self.evaluator.at(event, read_at)  # ``scan --jobs``: matched in a worker
        for rule in matched:
            if rule.name in rules.excepted and self._is_excepted(rule, event):
                self.limiter.except_(rule, when)
                continue
            detector = self._slots[rule.name].detector
            if detector.stateful:
                self.state_version += 1
            try:
                found = detector.observe(event, at, alerting)
            except Exception:
                self._failed(rule, "detector")
                continue
            for finding in found:
                self._admit(rule, finding, when, detected)
        if at - self._advanced >= ADVANCE_EVERY_SECONDS:
            self.advance(at)

    def _is_excepted(self, rule: compiler.CompiledRule, event: Mapping[str, Any]) -> bool:
        """Whether an exception item of ``rule`` holds for ``event``. One that raises counts
        as the rule's failure and excepts nothing: a broken exception never hides an alert."""
        test = self.evaluator.rules.excepted.get(rule.name)
        if test is None:
            return False
        try:
            return test(event)
        except Exception:
            self._failed(rule, "exceptions")
            return False

    def advance(self, now: float) -> None:
        """Event time reached ``now`` (seconds): detectors drop what left their windows, and
        suppression groups whose window ended close."""
        self._advanced = now
        for group in self.suppressor.closing(now):
            self._final(group)
        for name, slot in self._slots.items():
            if not slot.detector.stateful:
                continue
            self.state_version += 1
            try:
                slot.detector.advance(now)
            except Exception:
                self.evaluator.failures[name] += 1
                LOG.exception("Failed to advance detector", extra={"rule": name})

    def _event_seconds(self, event: Mapping[str, Any], read_at: datetime.datetime | None) -> float:
        moment = decode.event_time(event) or read_at or self._now()
        return moment.timestamp()

    def _admit(
        self,
        rule: compiler.CompiledRule,
        finding: findings.Finding,
        when: float,
        detected: datetime.datetime,
    ) -> None:
        config = rule.spec.alert_suppression
        if config is not None:
            try:
                groups = suppression.terms(rule, config, finding)
            except Exception:
                groups = None  # the finding alerts alone: suppression never hides an alert
                self._failed(rule, "suppression")
            if groups is not None:
                for key in groups:
                    self._suppress(rule, key, finding, when, detected)
                return
        alert = self._alert(rule, finding, when, detected)
        if alert is not None:
            self._outbox.append(_Pending(rule, alert))

    def _alert(
        self,
        rule: compiler.CompiledRule,
        finding: findings.Finding,
        when: float,
        detected: datetime.datetime,
    ) -> dict[str, Any] | None:
        """The alert of a finding the limits admit; None when they refuse it or its evidence
        fails (counted as the rule's failure, and its place in the limits given back)."""
        if not self.limiter.admit(rule, when):
            return None
        try:
            return evidence.build(rule, finding, detected)
        except Exception:
            self.limiter.unadmit_duplicate(rule)
            self._failed(rule, "evidence")
            return None

    def _suppress(
        self,
        rule: compiler.CompiledRule,
        key: suppression.Terms,
        finding: findings.Finding,
        when: float,
        detected: datetime.datetime,
    ) -> None:
        """Merge a finding into its open group, or open the group with the finding's alert."""
        self.state_version += 1
        group = self.suppressor.open_group(rule.name, key, when)
        if group is not None:
            self.suppressor.merge(group, finding, lambda: evidence.build(rule, finding, detected))
            self.limiter.suppress(rule, when)
            return
        alert = self._alert(rule, finding, when, detected)
        if alert is None:
            return
        group, evicted = self.suppressor.open(rule, key, finding, alert, when)
        if evicted is not None:
            self._final(evicted)
        if self.suppressor.in_place:
            self._outbox.append(_Pending(rule, group.current(), group, group.merged))

    def _final(self, group: suppression.Group) -> None:
        """A group closed: its alert as it ends, printed now (a stream) or written (in place,
        when it has merges its alert does not show yet)."""
        rule = self.evaluator.rules.by_name.get(group.rule)
        if rule is None:
            return
        if not self.suppressor.in_place:
            self._outbox.append(_Pending(rule, group.current(), group, group.merged))
        elif group.created and group.dirty:
            self._outbox.append(_Pending(rule, group.current(), group, group.merged, update=True))

    def _failed(self, rule: compiler.CompiledRule, stage: str) -> None:
        self.evaluator.failures[rule.name] += 1
        if self.evaluator.failures[rule.name] <= 10:
            LOG.exception("Rule failed on an event", extra={"rule": rule.name, "stage": stage})

    # Delivery.

    def pending(self) -> int:
        """Alerts waiting in the outbox."""
        return len(self._outbox)

    def deliver(self) -> None:
        """Hand the outbox to the sink. Raises :class:`DeliveryError` (after every alert was
        tried) when some could not be written; those stay for the next call."""
        outbox, self._outbox = self._outbox, []
        if len(outbox) == 1 and outbox[0].group is None and not self.suppressor.in_place:
            # One new alert, as a scan makes them (an event at a time): written and counted
            # without the batch's machinery, which cost more than the write; same accounting.
            pending = outbox[0]
            try:
                written = self._write(pending)
            except Exception as error:
                self._account(outbox, [error])
                return
            with self.lock:
                self._created(pending, written)
            return
        if self.suppressor.in_place:
            outbox += self._updates()
        if outbox:
            self._account(outbox, self._emit(outbox))

    def _account(self, outbox: list[_Pending], results: list[bool | BaseException]) -> None:
        """Count what the sink answered for each alert of ``outbox``; those not written go
        back to the outbox, and the first failure is raised."""
        failed: list[_Pending] = []
        first: BaseException | None = None
        with self.lock:  # the counts below are what status and metrics read
            for pending, result in zip(outbox, results, strict=True):
                name = pending.rule.name
                if pending.update:
                    self._updated(pending, result)
                    continue
                if pending.group is not None and not isinstance(result, BaseException):
                    self.suppressor.written(pending.group, pending.merged)
                if isinstance(result, sinks.Rejected):
                    self.counts.rejected[name] += 1
                    LOG.error(
                        "Dropped an alert the sink refused",
                        extra={
                            "rule": name,
                            "securityalert": pending.alert["name"],
                            "error": str(result),
                        },
                    )
                elif isinstance(result, BaseException):
                    failed.append(pending)
                    first = first or result
                else:
                    self._created(pending, result)
            if failed:
                self._outbox = failed + self._outbox
        if failed:
            if getattr(self.sink, "concurrency", 1) <= 1 and first is not None:
                raise first  # a sink that writes in order (a closed pipe): its own error
            raise DeliveryError(f"{len(failed)} of {len(outbox)} alert(s) not written") from first

    def _created(self, pending: _Pending, written: bool) -> None:
        """Count a creation the sink answered: written, or a duplicate of an existing alert
        (which gives its place in the limits back)."""
        if written:
            self.counts.alerts[pending.rule.name] += 1
        else:
            self.limiter.unadmit_duplicate(pending.rule)
            self.counts.duplicates[pending.rule.name] += 1

    def _updates(self) -> list[_Pending]:
        """Updates of the group alerts that are due (see ``alerts.suppression``)."""
        due = []
        for group in self.suppressor.due():
            rule = self.evaluator.rules.by_name.get(group.rule)
            if rule is not None:
                due.append(_Pending(rule, group.current(), group, group.merged, update=True))
        return due

    def _updated(self, pending: _Pending, result: bool | BaseException) -> None:
        """The answer to an update of a group's alert. A failed write is tried again when next
        due (the group stays as it is); a closed or deleted alert ends its group, and the
        merges since its last write open the next one."""
        group = pending.group
        assert group is not None
        if isinstance(result, BaseException):
            return
        self.state_version += 1
        if result:
            self.suppressor.written(group, pending.merged)
            self.counts.updates[pending.rule.name] += 1
            return
        successor = self.suppressor.drop(group, pending.rule, self._now().timestamp())
        if successor is not None:
            self._outbox.append(
                _Pending(pending.rule, successor.current(), successor, successor.merged)
            )

    def _emit(self, outbox: list[_Pending]) -> list[bool | BaseException]:
        concurrency = getattr(self.sink, "concurrency", 1)
        if concurrency <= 1 or len(outbox) == 1:
            results: list[bool | BaseException] = []
            for position, pending in enumerate(outbox):
                try:
                    results.append(self._write(pending))
                except sinks.Rejected as error:
                    results.append(error)  # this one alone: the next may pass
                except Exception as error:
                    # A sink that writes in order stops at its first failure: the rest wait.
                    results.append(error)
                    results.extend(error for _ in outbox[position + 1 :])
                    break
            return results
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                concurrency, thread_name_prefix="audithound-sink"
            )
        futures = [self._executor.submit(self._write, pending) for pending in outbox]
        out: list[bool | BaseException] = []
        for future in futures:
            try:
                out.append(future.result())
            except Exception as error:
                out.append(error)
        return out

    def _write(self, pending: _Pending) -> bool:
        if pending.update:
            update: Callable[[dict[str, Any]], bool] = getattr(self.sink, "update")  # noqa: B009
            return update(pending.alert)
        return self.sink.emit(pending.alert)

    # Finite inputs.

    def run(self, events: Iterable[tuple[str, int, Mapping[str, Any]]]) -> None:
        """Process every event of a finite source (``scan``) and deliver as it goes; most
        events match nothing, so the loop calls the evaluator directly."""
        evaluate_ = self.evaluator.evaluate
        detect = self.detect
        for _, _, event in events:
            matched = evaluate_(event)
            if matched:
                detect(event, matched)
                if self._outbox:
                    self.deliver()

    def close(self) -> None:
        """The input is finished: close every suppression group (a stream prints its alert
        now; in place, its last merges are written), deliver what waits, flush the sink."""
        try:
            for group in self.suppressor.closing(None):
                self._final(group)
            self.deliver()
        finally:
            self.sink.close()
            if self._executor is not None:
                self._executor.shutdown()
                self._executor = None

    # Readers from other threads (status, metrics).

    def summaries(self) -> dict[str, Summary]:
        """Each rule's counts in its current interval, copied under the lock."""
        with self.lock:
            return {
                name: Summary(dataclasses.replace(counts), self.evaluator.failures[name])
                for name, counts in self.limiter.current.items()
            }

    def totals(self) -> Totals:
        """Per-rule totals since start, copied under the lock."""
        with self.lock:
            return Totals(
                matches=collections.Counter(self.evaluator.matches),
                alerts=collections.Counter(self.counts.alerts),
                duplicates=collections.Counter(self.counts.duplicates),
                rejected=collections.Counter(self.counts.rejected),
                dropped=collections.Counter(self.limiter.dropped_total),
                excepted=collections.Counter(self.limiter.excepted_total),
                suppressed=collections.Counter(self.limiter.suppressed_total),
                storm_dropped=collections.Counter(self.limiter.storm_dropped_total),
                updates=collections.Counter(self.counts.updates),
                failures=collections.Counter(self.evaluator.failures),
            )

    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.evaluator.rules.rules]

    def rule(self, name: str) -> compiler.CompiledRule:
        return self.evaluator.rules.by_name[name]
