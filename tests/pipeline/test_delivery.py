"""The pipeline's outbox: an alert that could not be written waits for the next delivery,
keeps its place in the rule's budget, and is never made twice; readers of the counts on
other threads never see a half-updated dict."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from audithound import pipeline
from audithound.rules import ruleset
from audithound.sinks import base as sinks
from tests import recording
from tests.detectors.conftest import event, rule


class FlakySink(recording.Recorder):
    """Fails the first ``failures`` writes, as an API server outage would."""

    def __init__(self, failures: int, concurrency: int = 1) -> None:
        super().__init__()
        self.failures = failures
        self.concurrency = concurrency  # type: ignore[misc]
        self.calls = 0
        self._lock = threading.Lock()

    def emit(self, alert: dict[str, Any]) -> bool:
        with self._lock:
            self.calls += 1
            if self.failures:
                self.failures -= 1
                raise ConnectionError("API server unreachable")
            return super().emit(alert)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_failed_write_is_retried_and_keeps_its_budget(concurrency: int) -> None:
    sink = FlakySink(failures=1, concurrency=concurrency)
    scan = pipeline.Pipeline(ruleset.RuleSet([rule(maxSignals=1)]), sink)
    first, second = event(0), event(1)
    scan.process(first)
    with pytest.raises((pipeline.DeliveryError, ConnectionError)):
        scan.deliver()
    assert scan.pending() == 1
    scan.deliver()
    scan.process(second)  # over maxSignals: dropped, and said so
    scan.close()
    assert [alert["spec"]["event"]["auditID"] for alert in sink.alerts] == [first["auditID"]]
    assert scan.counts.alerts["r"] == 1
    assert scan.limiter.dropped_total["r"] == 1


def test_writes_go_out_concurrently_and_all_arrive() -> None:
    sink = FlakySink(failures=3, concurrency=8)
    scan = pipeline.Pipeline(ruleset.RuleSet([rule(maxSignals=1000)]), sink)
    events = [event(second) for second in range(50)]
    for raw in events:
        scan.process(raw)
    with pytest.raises(pipeline.DeliveryError, match="3 of 50"):
        scan.deliver()
    scan.deliver()
    assert sorted(a["spec"]["event"]["auditID"] for a in sink.alerts) == sorted(
        raw["auditID"] for raw in events
    )
    assert scan.counts.alerts["r"] == 50 and scan.counts.duplicates["r"] == 0


class RefusingSink(recording.Recorder):
    """Refuses alerts of one event for good, as an API server answers 422."""

    def __init__(self, refused: str, concurrency: int) -> None:
        super().__init__()
        self.refused = refused
        self.concurrency = concurrency  # type: ignore[misc]

    def emit(self, alert: dict[str, Any]) -> bool:
        if alert["spec"]["event"]["auditID"] == self.refused:
            raise sinks.Rejected("422 Unprocessable Entity")
        return super().emit(alert)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_alert_refused_for_good_is_counted_and_holds_nothing_back(concurrency: int) -> None:
    events = [event(second) for second in range(3)]
    sink = RefusingSink(events[0]["auditID"], concurrency)
    scan = pipeline.Pipeline(ruleset.RuleSet([rule()]), sink)
    for raw in events:
        scan.process(raw)
    scan.deliver()
    assert scan.pending() == 0
    assert [a["spec"]["event"]["auditID"] for a in sink.alerts] == [
        raw["auditID"] for raw in events[1:]
    ]
    assert scan.totals().rejected["r"] == 1


def test_a_duplicate_does_not_spend_the_budget() -> None:
    sink = recording.Recorder()
    scan = pipeline.Pipeline(ruleset.RuleSet([rule(maxSignals=2)]), sink)
    same = event(0)
    for raw in (same, same, event(1)):
        scan.process(raw)
        scan.deliver()
    assert scan.counts.alerts["r"] == 2 and scan.counts.duplicates["r"] == 1


def test_counts_read_from_another_thread_while_events_flow() -> None:
    rules = ruleset.RuleSet([rule(f"r{index}", maxSignals=10000) for index in range(50)])
    scan = pipeline.Pipeline(rules, recording.Recorder())
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                scan.summaries()
                scan.totals()
                scan.rule_states()
        except BaseException as error:  # pragma: no cover - what the test is about
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for second in range(300):
            with scan.lock:
                scan.process(event(second * 400.0))  # each in a new interval: dicts change
            scan.deliver()
    finally:
        done.set()
        reader.join()
    assert errors == []
    assert sum(scan.totals().alerts.values()) == 50 * 300


def test_a_rule_whose_detector_raises_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = rule("bad", type="new_terms", newTermsFields=["user.name"], historyWindowStart="now-1d")
    good = rule("good")
    sink = recording.Recorder()
    scan = pipeline.Pipeline(ruleset.RuleSet([bad, good]), sink)
    detector = scan._slots["bad"].detector

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("a hostile value")

    monkeypatch.setattr(detector, "observe", boom)
    scan.process(event(0))
    scan.close()
    assert [alert["spec"]["rule"]["name"] for alert in sink.alerts] == ["good"]
    assert scan.totals().failures["bad"] == 1
