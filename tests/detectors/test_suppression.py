"""Alert suppression as Kibana's alert_suppression runs it, through the pipeline to a stream
(``scan``): one alert per group window with its final count; missing fields, arrays, the
rule types, maxSignals and the saved state."""

from __future__ import annotations

from typing import Any

from audithound import pipeline
from audithound.rules import ruleset
from tests import recording
from tests.detectors.conftest import event, rule

BY_USER = {"groupBy": ["user.name"], "duration": {"value": 5, "unit": "m"}}


def _summary(alerts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(a["spec"]["event"]["auditID"], a["spec"]["group"], a["spec"]["count"]) for a in alerts]


def test_one_alert_per_group_window_with_its_final_count() -> None:
    suppressing = rule(alertSuppression=BY_USER)
    events = [
        first := event(0, user={"username": "alice"}),
        event(10, user={"username": "alice"}),
        bob := event(20, user={"username": "bob"}),
        last := event(299, user={"username": "alice"}),  # inside the 5 minutes
        later := event(301, user={"username": "alice"}),  # a new window
    ]
    alerts = recording.alerts([suppressing], events)
    assert _summary(alerts) == [
        (first["auditID"], {"user.name": "alice"}, 3),
        (bob["auditID"], {"user.name": "bob"}, 1),
        (later["auditID"], {"user.name": "alice"}, 1),
    ]
    alice = alerts[0]["spec"]
    assert alice["auditIDs"] == [first["auditID"], events[1]["auditID"], last["auditID"]]
    assert alice["suppression"]["docsCount"] == 2
    assert alice["suppression"]["terms"] == [{"field": "user.name", "value": "alice"}]
    assert alice["firstSeen"] == "2026-11-20T10:00:00.000Z"
    assert alice["lastSeen"] == "2026-11-20T10:04:59.000Z"
    assert len({a["name"] for a in alerts}) == 3


def test_without_a_duration_a_group_lasts_one_rule_interval() -> None:
    suppressing = rule(interval="1m", alertSuppression={"groupBy": ["user.name"]})
    events = [event(0), event(30), event(59), event(60), event(61)]
    assert [a["spec"]["count"] for a in recording.alerts([suppressing], events)] == [3, 2]


def test_a_missing_field_is_a_group_of_its_own_or_alerts_alone() -> None:
    events = [event(0, user={}), event(1, user={}), event(2)]
    grouped = rule(alertSuppression={**BY_USER, "missingFieldsStrategy": "suppress"})
    assert [
        (a["spec"]["group"], a["spec"]["count"]) for a in recording.alerts([grouped], events)
    ] == [
        ({"user.name": None}, 2),
        ({"user.name": "alice"}, 1),
    ]
    alone = rule(alertSuppression={**BY_USER, "missingFieldsStrategy": "doNotSuppress"})
    alerts = recording.alerts([alone], events)
    assert [a["spec"].get("count") for a in alerts] == [None, None, 1]


def test_each_value_of_an_array_is_a_group_of_a_query_rule() -> None:
    by_group = {"groupBy": ["kubernetes.audit.user.groups"], "duration": {"value": 5, "unit": "m"}}
    events = [
        event(0, user={"username": "a", "groups": ["devs", "ops"]}),
        event(1, user={"username": "b", "groups": ["ops"]}),
    ]
    alerts = recording.alerts([rule(alertSuppression=by_group)], events)
    assert sorted(
        (a["spec"]["group"]["kubernetes.audit.user.groups"], a["spec"]["count"]) for a in alerts
    ) == [
        ("devs", 1),
        ("ops", 2),
    ]


def test_suppressed_findings_do_not_use_max_signals() -> None:
    capped = rule(maxSignals=2, interval="1h", alertSuppression=BY_USER)
    events = [event(i, user={"username": "alice"}) for i in range(50)]
    events += [event(60, user={"username": "bob"})]
    alerts = recording.alerts([capped], events)
    assert [(a["spec"]["group"]["user.name"], a["spec"]["count"]) for a in alerts] == [
        ("alice", 50),
        ("bob", 1),
    ]


def test_a_threshold_rule_suppresses_by_its_own_group() -> None:
    threshold = rule(
        type="threshold",
        threshold={"field": ["user.name"], "value": 2},
        alertSuppression={"duration": {"value": 10, "unit": "m"}},
    )
    events = [event(i, user={"username": "alice"}) for i in range(6)]
    (alert,) = recording.alerts([threshold], events)
    assert alert["spec"]["group"] == {"user.name": "alice"}
    assert alert["spec"]["count"] == 6  # three findings of two events, one alert
    assert alert["spec"]["suppression"]["docsCount"] == 2


def test_counts_say_what_was_suppressed() -> None:
    sink = recording.Recorder()
    scan = pipeline.Pipeline(ruleset.RuleSet([rule(alertSuppression=BY_USER)]), sink)
    for seconds in range(4):
        scan.process(event(seconds))
    scan.close()
    assert scan.totals().suppressed["r"] == 3
    assert scan.limiter.current["r"].suppressed == 3
    assert len(sink.alerts) == 1


def test_open_groups_are_saved_with_the_state_and_taken_back() -> None:
    suppressing = rule(alertSuppression=BY_USER)
    first = pipeline.Pipeline(ruleset.RuleSet([suppressing]), recording.Recorder())
    for seconds in range(3):
        first.process(event(seconds))
    saved = first.snapshot()
    assert "raw" not in str(saved)
    sink = recording.Recorder()
    second = pipeline.Pipeline(ruleset.RuleSet([suppressing]), sink)
    second.restore(saved)
    second.process(event(10))
    second.close()
    (alert,) = sink.alerts
    assert alert["spec"]["count"] == 4
