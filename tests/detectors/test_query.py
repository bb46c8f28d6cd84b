"""Query rules: every match is an alert of its own, named by the event, so that a replay
makes nothing new and a client choosing its own auditID cannot fold a flood into one alert."""

from __future__ import annotations

from tests import recording
from tests.detectors.conftest import event, rule


def test_the_same_event_read_twice_is_one_alert() -> None:
    once = event(0)
    assert len(recording.alerts([rule()], [once, dict(once)])) == 1


def test_requests_under_one_client_chosen_audit_id_are_alerts_apart() -> None:
    # `curl -H "Audit-ID: x"`: the API server logs the header's value as the auditID.
    flood = [event(second, auditID="x") for second in range(5)]
    found = recording.alerts([rule(maxSignals=100)], flood)
    assert len(found) == 5
    assert len({alert["name"] for alert in found}) == 5


def test_stages_of_one_request_are_alerts_apart() -> None:
    started = event(0, stage="ResponseStarted")
    complete = dict(started, stage="ResponseComplete")
    assert len(recording.alerts([rule()], [started, complete])) == 2
