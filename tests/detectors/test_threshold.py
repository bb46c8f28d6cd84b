"""threshold rules, through the pipeline: a group of matching events reaching a count within a
sliding window as long as the rule's look-back."""

from __future__ import annotations

from typing import Any

from audithound import pipeline
from audithound.rules import ruleset
from tests import recording
from tests.detectors.conftest import event, rule


def threshold(value: int, *fields: str, **extra: Any) -> dict[str, Any]:
    return {"type": "threshold", "threshold": {"field": list(fields), "value": value, **extra}}


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [alert["spec"]["event"]["auditID"] for alert in found]


def test_a_group_alerts_when_it_reaches_the_value_and_then_counts_afresh() -> None:
    events = [event(second) for second in range(0, 60, 10)]  # six events in a minute
    found = recording.alerts([rule(**threshold(3, "user.name"))], events)
    assert ids(found) == [events[2]["auditID"], events[5]["auditID"]]
    spec = found[0]["spec"]
    assert spec["group"] == {"user.name": "alice"}
    assert spec["count"] == 3
    assert spec["auditIDs"] == [raw["auditID"] for raw in events[:3]]
    assert spec["auditIDsOmitted"] == 0
    assert [sample["auditID"] for sample in spec["sampleEvents"]] == spec["auditIDs"]
    assert spec["firstSeen"] == "2026-11-20T10:00:00.000Z"
    assert spec["lastSeen"] == "2026-11-20T10:00:20.000Z"
    assert spec["reason"].startswith("3 matching events with user.name=alice within 6m; last:")


def test_events_further_apart_than_the_window_never_add_up() -> None:
    events = [event(minute * 60 * 4) for minute in range(5)]  # one every 4 minutes
    assert recording.alerts([rule(**threshold(3))], events) == []


def test_a_burst_across_two_of_elastics_scheduled_windows_alerts() -> None:
    # Elastic's windows [0, 6m) and [5m, 11m) each see two of these; the sliding one, three.
    events = [event(270), event(330), event(390)]
    found = recording.alerts([rule(**threshold(3))], events)
    assert ids(found) == [events[2]["auditID"]]


def test_groups_are_apart_and_events_missing_the_field_are_left_out() -> None:
    events = [
        event(0, user={"username": "alice"}),
        event(1, user={"username": "bob"}),
        event(2, user={}),
        event(3, user={"username": "alice"}),
        event(4, user={"username": "bob"}),
    ]
    found = recording.alerts([rule(**threshold(2, "user.name"))], events)
    assert [alert["spec"]["group"]["user.name"] for alert in found] == ["alice", "bob"]


def test_each_value_of_an_array_is_a_group_of_its_own() -> None:
    events = [event(0, sourceIPs=["10.0.0.1", "10.0.0.2"]), event(1, sourceIPs=["10.0.0.2"])]
    found = recording.alerts([rule(**threshold(2, "source.ip"))], events)
    assert [alert["spec"]["group"] for alert in found] == [{"source.ip": "10.0.0.2"}]


def test_cardinality_needs_that_many_distinct_values() -> None:
    names = ["db", "db", "api", "db", "tls"]
    events = [
        event(second, objectRef={"resource": "secrets", "namespace": "shop", "name": name})
        for second, name in enumerate(names)
    ]
    limit = [{"field": "kubernetes.audit.objectRef.name", "value": 3}]
    found = recording.alerts(
        [rule(**threshold(3, "user.name", "source.ip", cardinality=limit))], events
    )
    assert ids(found) == [events[4]["auditID"]]
    spec = found[0]["spec"]
    assert spec["count"] == 5
    assert "(3+ distinct kubernetes.audit.objectRef.name)" in spec["reason"]


def test_a_large_burst_keeps_a_bounded_excerpt() -> None:
    events = [event(second / 10) for second in range(250)]
    (found,) = recording.alerts([rule(**threshold(250))], events)
    spec = found["spec"]
    assert spec["count"] == 250
    assert len(spec["auditIDs"]) == 100 and spec["auditIDsOmitted"] == 150
    assert spec["auditIDs"][-1] == events[-1]["auditID"]
    assert len(spec["sampleEvents"]) == 5


def test_state_restored_counts_on() -> None:
    rules = ruleset.RuleSet([rule(**threshold(3, "user.name"))])
    before = pipeline.Pipeline(rules, recording.Recorder())
    for second in (0, 1):
        before.process(event(second))
    sink = recording.Recorder()
    after = pipeline.Pipeline(rules, sink)
    after.restore(before.snapshot())
    last = event(2)
    after.process(last)
    after.close()
    assert ids(sink.alerts) == [last["auditID"]]
    assert sink.alerts[0]["spec"]["count"] == 3
