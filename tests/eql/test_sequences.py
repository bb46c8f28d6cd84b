"""EQL sequences as DetectionRules, through the pipeline every entry point takes: each row of
sequences.toml is a query, events in time order, and the alerts expected (their events)."""

from __future__ import annotations

import pathlib
import tomllib
from typing import Any

import pytest

from tests import recording
from tests.detectors.conftest import event, rule

CASES: list[dict[str, Any]] = tomllib.loads(
    (pathlib.Path(__file__).parent / "sequences.toml").read_text(encoding="utf-8")
)["case"]


def _event(row: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "verb": row["verb"],
        "user": {"username": row["user"]} if "user" in row else {},
        "objectRef": {"resource": row.get("resource", "pods"), "name": row.get("name", "x")},
    }
    return event(row["t"], **fields)


@pytest.mark.parametrize("case", CASES, ids=[case["about"] for case in CASES])
def test_a_sequence_alerts_on_exactly_the_expected_events(case: dict[str, Any]) -> None:
    events = [_event(row) for row in case["events"]]
    compiled = rule(type="eql", language="eql", query=case["query"], maxSignals=10000)
    found = recording.alerts([compiled], events)
    got = [alert["spec"]["auditIDs"] for alert in found]
    assert got == [[events[i]["auditID"] for i in indexes] for indexes in case["expected"]]


def test_a_completed_sequence_is_one_alert_that_shows_every_event_in_order() -> None:
    events = [
        _event({"t": 0, "user": "a", "verb": "get", "resource": "roles"}),
        _event({"t": 30, "user": "a", "verb": "create", "resource": "daemonsets"}),
    ]
    query = (
        "sequence by user.name with maxspan=5m "
        '[any where kubernetes.audit.objectRef.resource == "roles"] '
        '[any where kubernetes.audit.objectRef.resource == "daemonsets"]'
    )
    (alert,) = recording.alerts([rule(type="eql", language="eql", query=query)], events)
    spec = alert["spec"]
    assert spec["event"]["auditID"] == events[1]["auditID"]
    assert spec["group"] == {"user.name": "a"}
    assert spec["count"] == 2
    assert [sample["objectRef"]["resource"] for sample in spec["sampleEvents"]] == [
        "roles",
        "daemonsets",
    ]
    assert spec["firstSeen"] == "2026-11-20T10:00:00.000Z"
    assert spec["lastSeen"] == "2026-11-20T10:00:30.000Z"
    assert spec["reason"].startswith("sequence of 2 events by user.name=a; last: a was allowed")
    # Read again (a replay after a crash, a second reader): the same alert, nothing new.
    again = recording.alerts([rule(type="eql", language="eql", query=query)], events)
    assert [a["metadata"]["name"] if "metadata" in a else a["name"] for a in again] == [
        alert["metadata"]["name"] if "metadata" in alert else alert["name"]
    ]
