"""new_terms rules, through the pipeline: an event alerts when one of its terms did not occur,
in an event that matched the query, within the history window before it."""

from __future__ import annotations

import datetime

import pytest

from audithound import pipeline
from audithound.detectors import newterms
from audithound.rules import ruleset
from tests import recording
from tests.detectors.conftest import DAY, START, event, rule

AGENT = {
    "type": "new_terms",
    "newTermsFields": ["user_agent.original"],
    "historyWindowStart": "now-7d",
}


def agents(found: list[dict[str, object]]) -> list[object]:
    return [alert["spec"]["group"]["user_agent.original"] for alert in found]  # type: ignore[index]


def test_a_term_alerts_once_per_history_window() -> None:
    events = [
        event(0, userAgent="curl/8.0"),
        event(60, userAgent="curl/8.0"),
        event(2 * DAY, userAgent="kubectl/v1.36.3"),
        event(3 * DAY, userAgent="curl/8.0"),  # seen 3 days ago: not new
        event(10 * DAY + 1, userAgent="curl/8.0"),  # last seen 7 days and 1 s ago: new again
    ]
    found = recording.alerts([rule(**AGENT)], events)
    assert agents(found) == ["curl/8.0", "kubectl/v1.36.3", "curl/8.0"]
    assert [alert["spec"]["event"]["auditID"] for alert in found] == [
        events[0]["auditID"],
        events[2]["auditID"],
        events[4]["auditID"],
    ]
    # The term that came back is a new alert, not a duplicate of the first.
    assert len({alert["name"] for alert in found}) == 3
    first = found[0]["spec"]
    assert first["count"] == 1
    assert first["reason"].startswith("new user_agent.original=curl/8.0: alice was allowed")


def test_every_event_that_matches_refreshes_a_term() -> None:
    events = [event(day * DAY, userAgent="curl/8.0") for day in range(0, 30, 5)]
    assert agents(recording.alerts([rule(**AGENT)], events)) == ["curl/8.0"]


def test_only_events_that_match_the_query_make_history() -> None:
    spec = {**AGENT, "query": "kubernetes.audit.verb:get"}
    events = [
        event(0, verb="list", userAgent="curl/8.0"),
        event(60, userAgent="curl/8.0"),
    ]
    found = recording.alerts([rule(**spec)], events)
    assert [alert["spec"]["event"]["auditID"] for alert in found] == [events[1]["auditID"]]


@pytest.mark.parametrize(
    ("case", "users", "expected"),
    [
        ("one value each", [["alice"]], [("alice", "10.0.0.1")]),
        (
            "arrays: every combination, each its own alert",
            [["alice", "bob"]],
            [("alice", "10.0.0.1"), ("bob", "10.0.0.1")],
        ),
        ("a field missing: no term", [[]], []),
    ],
)
def test_several_fields_make_combinations(
    case: str, users: list[list[str]], expected: list[tuple[str, str]]
) -> None:
    groups = "kubernetes.audit.user.groups"
    spec = {**AGENT, "newTermsFields": [groups, "source.ip"]}
    events = [event(0, user={"username": "x", "groups": names}) for names in users]
    found = recording.alerts([rule(**spec)], events)
    assert [
        (alert["spec"]["group"][groups], alert["spec"]["group"]["source.ip"]) for alert in found
    ] == expected


def test_combinations_per_event_are_capped_as_elastic_caps_them() -> None:
    many = event(0, sourceIPs=[f"10.0.{i // 250}.{i % 250}" for i in range(300)])
    spec = {**AGENT, "newTermsFields": ["source.ip"]}
    assert len(recording.alerts([rule(**spec, maxSignals=1000)], [many])) == 100


def test_history_only_before_alerts_from() -> None:
    events = [
        event(0, userAgent="curl/8.0"),
        event(DAY, userAgent="curl/8.0"),
        event(DAY + 5, userAgent="wget/1.21"),
    ]
    found = recording.alerts(
        [rule(**AGENT)], events, alerts_from=START + datetime.timedelta(hours=12)
    )
    assert agents(found) == ["wget/1.21"]


def test_state_restored_answers_as_if_never_stopped() -> None:
    first, second = [event(0, userAgent="curl/8.0")], [event(DAY, userAgent="curl/8.0")]
    rules = ruleset.RuleSet([rule(**AGENT)])
    before = pipeline.Pipeline(rules, recording.Recorder())
    for raw in first:
        before.process(raw)
    saved = before.snapshot()
    assert "curl" not in str(saved), "the state keeps digests, never the terms"
    sink = recording.Recorder()
    after = pipeline.Pipeline(rules, sink)
    after.restore(saved)
    for raw in second:
        after.process(raw)
    after.close()
    assert sink.alerts == []
    assert after.rule_states()["r"].origin == "restored"


def test_past_the_cap_the_longest_unseen_term_goes_and_it_is_counted() -> None:
    detector = newterms.NewTermsDetector(["user_agent.original"], datetime.timedelta(days=7), cap=2)
    for at, agent in enumerate(["a", "b", "a", "c"]):
        detector.observe(event(at, userAgent=agent), float(at), True)
    size = detector.size()
    assert (size.held, size.evicted, size.cap_reached) == (2, 1, True)
    # "b" was given up: met again, it alerts again (a cap repeats, never hides, a detection).
    assert detector.observe(event(9, userAgent="b"), 9.0, True)


def test_old_terms_are_evicted_as_time_passes() -> None:
    detector = newterms.NewTermsDetector(["user_agent.original"], datetime.timedelta(days=1))
    detector.observe(event(0, userAgent="a"), 0.0, True)
    detector.observe(event(0, userAgent="b"), DAY / 2, True)
    detector.advance(DAY + 1)
    assert detector.size().held == 1


def test_an_address_is_one_term_however_it_is_written() -> None:
    spec = {"type": "new_terms", "newTermsFields": ["source.ip"], "historyWindowStart": "now-7d"}
    events = [
        event(0, sourceIPs=["10.0.0.1"]),
        event(60, sourceIPs=["::ffff:10.0.0.1"]),
        event(120, sourceIPs=["2001:DB8:0:0:0:0:0:1"]),
        event(180, sourceIPs=["2001:db8::1"]),
    ]
    found = recording.alerts([rule(**spec)], events)
    assert [alert["spec"]["group"]["source.ip"] for alert in found] == [  # type: ignore[index]
        "10.0.0.1",
        "2001:db8::1",
    ]
