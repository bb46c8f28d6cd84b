"""Which SecurityAlerts retention deletes: expired ones, then the surplus over the cap, the
ones people dealt with first."""

from __future__ import annotations

import datetime

from audithound.controller import retention

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)


def alert(name: str, hours_ago: float, workflow: str = "open") -> retention.Stored:
    return retention.Stored(name, NOW - datetime.timedelta(hours=hours_ago), workflow)


def test_time_to_live_deletes_every_older_alert_whatever_its_state() -> None:
    alerts = [alert("old-open", 30), alert("old-closed", 25, "closed"), alert("new", 1)]
    assert retention.expired(alerts, now=NOW, ttl=datetime.timedelta(hours=24), cap=None) == [
        "old-open",
        "old-closed",
    ]


def test_cap_gives_up_closed_then_acknowledged_then_open_oldest_first() -> None:
    alerts = [
        alert("open-old", 9),
        alert("ack-new", 1, "acknowledged"),
        alert("closed-new", 2, "closed"),
        alert("ack-old", 8, "acknowledged"),
        alert("open-new", 0.5),
        alert("closed-old", 7, "closed"),
    ]
    assert retention.expired(alerts, now=NOW, ttl=None, cap=2) == [
        "closed-old",
        "closed-new",
        "ack-old",
        "ack-new",
    ]


def test_nothing_goes_under_the_limits() -> None:
    alerts = [alert("a", 1), alert("b", 2, "closed")]
    assert retention.expired(alerts, now=NOW, ttl=datetime.timedelta(days=30), cap=2) == []
    assert retention.expired(alerts, now=NOW, ttl=None, cap=None) == []


def test_stored_reads_an_alert_as_the_api_returns_it() -> None:
    item = {
        "metadata": {"name": "r-1", "creationTimestamp": "2026-11-28T11:00:00Z"},
        "spec": {"workflowStatus": "acknowledged"},
    }
    assert retention.stored(item) == retention.Stored(
        "r-1", datetime.datetime(2026, 11, 28, 11, 0, tzinfo=datetime.UTC), "acknowledged"
    )
    # The detection time orders alerts created within the same second.
    item["spec"]["detectedTime"] = "2026-11-28T11:00:00.250000Z"
    assert retention.stored(item).created == datetime.datetime(
        2026, 11, 28, 11, 0, 0, 250000, tzinfo=datetime.UTC
    )
