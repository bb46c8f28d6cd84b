"""EQL sequences as Elasticsearch's SequenceMatcher runs them, on the detector alone: stages
are lambdas over raw audit events (EQL itself is wired in elsewhere)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from audithound.detectors import base, findings, sequence, threshold
from audithound.source import decode
from tests.detectors.conftest import START, event

Keys = Callable[[Mapping[str, Any]], tuple[Any, ...] | None]


def user(raw: Mapping[str, Any]) -> tuple[Any, ...] | None:
    name = raw["user"].get("username")
    return (name,) if name else None


def user_and_addresses(raw: Mapping[str, Any]) -> tuple[Any, ...] | None:
    # A join value of several items, as ``detectors.steps`` gives one of an array field.
    return (raw["user"]["username"], tuple(raw["sourceIPs"]))


def verb(name: str, keys: Keys = user) -> sequence.Stage:
    """A step matching the events of this verb, joined by ``keys`` (the user name)."""
    return sequence.Stage(lambda raw: raw["verb"] == name, keys)


def excerpt(raw: Mapping[str, Any]) -> findings.Excerpt:
    return {"auditID": raw["auditID"]}


def detector(
    verbs: list[str],
    until: str | None = None,
    maxspan: float | None = None,
    *,
    excerpt: threshold.ExcerptOf = excerpt,
    cap: int = sequence.MAX_PARTIALS,
) -> sequence.SequenceDetector:
    return sequence.SequenceDetector(
        [verb(name) for name in verbs],
        key_names=("user.name",),
        until=verb(until) if until else None,
        maxspan=maxspan,
        excerpt=excerpt,
        cap=cap,
    )


def timed(seconds: float, name: str, who: str | None = "alice") -> dict[str, Any]:
    """An audit event of verb ``name`` by ``who`` (None: no user name), ``seconds`` in."""
    return event(seconds, verb=name, user={"username": who} if who else {})


def at(raw: Mapping[str, Any]) -> float:
    """The event time the pipeline passes with ``raw``."""
    moment = decode.event_time(raw)
    assert moment is not None
    return moment.timestamp()


def feed(
    found_by: sequence.SequenceDetector, events: list[dict[str, Any]], alerting: bool = True
) -> list[findings.Finding]:
    found: list[findings.Finding] = []
    for raw in events:
        found += found_by.observe(raw, at(raw), alerting)
    return found


def positions(found: list[findings.Finding], events: list[dict[str, Any]]) -> list[list[int]]:
    """Each finding as the indexes of its events in ``events``."""
    index = {raw["auditID"]: number for number, raw in enumerate(events)}
    return [[index[member.audit_id] for member in finding.members] for finding in found]


_START = START.timestamp()
C, P, D, G = "create", "patch", "delete", "get"

CASES = [
    pytest.param([C, D], None, None, [(0, C), (1, D)], [[0, 1]], id="two steps"),
    pytest.param([C, D], None, None, [(0, D), (1, C)], [], id="steps out of order"),
    pytest.param([C, D], None, None, [(0, C), (0, D)], [[0, 1]], id="same second, by arrival"),
    # Out of order input: an event earlier than a sequence's last one comes before it.
    pytest.param([C, D], None, None, [(5, C), (4, D)], [], id="late, earlier step"),
    pytest.param([C, D], None, None, [(5, C), (4, C), (6, D)], [[0, 2]], id="late, earlier start"),
    pytest.param([C, D], P, None, [(5, C), (4, P), (6, D)], [[0, 2]], id="late, earlier until"),
    pytest.param([C, P, D], None, None, [(0, C), (1, P), (2, D)], [[0, 1, 2]], id="three steps"),
    pytest.param([C, P, D], None, None, [(0, C), (1, D), (2, P)], [], id="three steps skipped"),
    pytest.param([C, D], None, 10, [(0, C), (9, D)], [[0, 1]], id="inside maxspan"),
    pytest.param([C, D], None, 10, [(0, C), (10, D)], [[0, 1]], id="exactly at maxspan"),
    pytest.param([C, D], None, 10, [(0, C), (11, D)], [], id="outside maxspan"),
    pytest.param(
        [C, P, D], None, 10, [(0, C), (6, P), (11, D)], [], id="maxspan from the first event"
    ),
    pytest.param(
        [C, D], None, 10, [(0, C), (11, D), (12, C), (13, D)], [[2, 3]], id="late, then anew"
    ),
    pytest.param([C, D], P, None, [(0, P), (1, C), (2, D)], [[1, 2]], id="until first"),
    pytest.param([C, D], P, None, [(0, C), (1, P), (2, D)], [], id="until in the middle"),
    pytest.param([C, D], P, None, [(0, C), (1, D), (2, P)], [[0, 1]], id="until after"),
    pytest.param(
        [C, P, D], G, None, [(0, C), (1, P), (2, G), (3, D)], [], id="until at a later step"
    ),
    pytest.param(
        [C, D], P, None, [(0, C), (1, P), (2, C), (3, D)], [[2, 3]], id="until, then anew"
    ),
    pytest.param(
        [C, D], P, None, [(0, C), (1, P, "bob"), (2, D)], [[0, 2]], id="until of other keys"
    ),
    pytest.param([C, D], D, None, [(0, C), (1, D)], [[0, 1]], id="until completing stands"),
    pytest.param(
        [C, P, D], P, None, [(0, C), (1, P), (2, D)], [], id="until ends what it continued"
    ),
    pytest.param(
        [C, D],
        None,
        None,
        [(0, C), (1, C, "bob"), (2, D, "bob"), (3, D)],
        [[1, 2], [0, 3]],
        id="keys interleaved",
    ),
    pytest.param([C, D], None, None, [(0, C), (1, D, "bob")], [], id="other key no match"),
    pytest.param([C, D], None, None, [(0, C, None), (1, D, None)], [], id="no key never"),
    pytest.param([C, D], None, None, [(0, C), (1, D, None)], [], id="no key never ends"),
    pytest.param([C, D], None, None, [(0, C, None), (1, D)], [], id="no key never starts"),
    pytest.param(
        [C, D], None, None, [(0, C), (1, C), (2, D), (3, D)], [[1, 2]], id="newest first step"
    ),
    pytest.param(
        [C, P, D],
        None,
        None,
        [(0, C), (1, P), (2, C), (3, P), (4, D)],
        [[2, 3, 4]],
        id="newest later step",
    ),
    pytest.param(
        [C, P, D],
        None,
        None,
        [(0, C), (1, P), (2, C), (3, D)],
        [[0, 1, 3]],
        id="a newer first step keeps a later one",
    ),
    pytest.param([G, G], None, None, [(0, G)], [], id="never continues itself"),
    pytest.param(
        [G, G], None, None, [(0, G), (1, G), (2, G)], [[0, 1], [1, 2]], id="one query twice"
    ),
    pytest.param(
        [G, G, G],
        None,
        None,
        [(0, G), (1, G), (2, G), (3, G)],
        [[0, 1, 2], [1, 2, 3]],
        id="runs=3 overlaps",
    ),
    # The example of the EQL syntax reference ("How sequence queries handle matches"):
    # attrib, bash, cat by user.name; it finds [2, 4, 9] and [6, 8, 10] (counted from 1).
    pytest.param(
        [C, P, D],
        None,
        None,
        [
            (1, C, "root"),
            (2, C, "root"),
            (3, P, "elkbee"),
            (4, P, "root"),
            (5, P, "root"),
            (6, C, "elkbee"),
            (7, C, "root"),
            (8, P, "elkbee"),
            (9, D, "root"),
            (10, D, "elkbee"),
            (11, D, "root"),
        ],
        [[1, 3, 8], [5, 7, 9]],
        id="the reference's state machine",
    ),
]


@pytest.mark.parametrize(("verbs", "until", "maxspan", "steps", "expected"), CASES)
def test_sequences_complete_as_elasticsearch_completes_them(
    verbs: list[str],
    until: str | None,
    maxspan: float | None,
    steps: list[tuple[Any, ...]],
    expected: list[list[int]],
) -> None:
    events = [timed(*step) for step in steps]
    found = feed(detector(verbs, until, maxspan), events)
    assert positions(found, events) == expected


def test_a_finding_names_its_events_in_order() -> None:
    events = [timed(0, C), timed(5, P), timed(9, D)]
    found = feed(detector([C, P, D]), events)
    assert len(found) == 1
    finding = found[0]
    assert finding.event is events[2]
    assert finding.key == tuple(part for raw in events for part in findings.event_key(raw))
    assert finding.group == (("user.name", "alice"),)
    assert finding.count == 3
    assert finding.members == tuple(
        findings.Member(raw["auditID"], "ResponseComplete", at(raw)) for raw in events
    )
    assert finding.excerpts == tuple(excerpt(raw) for raw in events)
    assert (finding.first_seen, finding.last_seen) == (at(events[0]), at(events[2]))
    assert finding.multiple


def test_a_long_sequence_keeps_the_newest_members_and_excerpts_only() -> None:
    steps = findings.MAX_MEMBERS + 2
    asked: list[str] = []

    def counted(raw: Mapping[str, Any]) -> findings.Excerpt:
        asked.append(raw["auditID"])
        return excerpt(raw)

    found_by = detector([G] * steps, excerpt=counted)
    events = [timed(second, G) for second in range(steps)]
    found = feed(found_by, events)
    assert len(found) == 1
    newest = [raw["auditID"] for raw in events[-findings.MAX_MEMBERS :]]
    assert [member.audit_id for member in found[0].members] == newest
    assert found[0].count == steps
    assert len(found[0].key) == 3 * steps
    shown = [raw["auditID"] for raw in events[-findings.MAX_EXCERPTS :]]
    assert [shown_excerpt["auditID"] for shown_excerpt in found[0].excerpts] == shown
    # Excerpts are made only for events that can be shown, each once.
    assert asked == shown


def test_an_event_that_joins_nothing_costs_no_excerpt() -> None:
    asked: list[str] = []

    def counted(raw: Mapping[str, Any]) -> findings.Excerpt:
        asked.append(raw["auditID"])
        return excerpt(raw)

    found_by = detector([C, D], excerpt=counted)
    assert feed(found_by, [timed(0, D), timed(1, C, None)]) == []
    assert asked == []


def test_advance_drops_what_can_no_longer_complete() -> None:
    found_by = detector([C, D], maxspan=10)
    feed(found_by, [timed(0, C), timed(5, C, "bob")])
    assert found_by.size() == base.StateSize("partials", 2, sequence.MAX_PARTIALS, 0)
    found_by.advance(_START + 10)  # alice's could still complete at 10 s exactly
    assert found_by.size().held == 2
    found_by.advance(_START + 10.5)
    assert found_by.size().held == 1
    assert feed(found_by, [timed(10.5, D)]) == []
    found_by.advance(_START + 100)
    assert found_by.size() == base.StateSize("partials", 0, sequence.MAX_PARTIALS, 0)


def test_without_maxspan_a_sequence_waits_however_long() -> None:
    found_by = detector([C, D])
    events = [timed(0, C), timed(30 * 86400, D)]
    feed(found_by, events[:1])
    found_by.advance(at(events[1]))
    assert positions(feed(found_by, events[1:]), events) == [[0, 1]]


def test_the_cap_gives_up_the_oldest_and_counts_it() -> None:
    found_by = detector([C, D], cap=2)
    events = [timed(0, C), timed(1, C, "bob"), timed(2, C, "carol"), timed(3, D), timed(4, C)]
    feed(found_by, events)
    assert found_by.size() == base.StateSize("partials", 2, 2, 2)  # alice's, then bob's
    assert found_by.size().cap_reached
    ends = [timed(5, D, "bob"), timed(6, D, "carol"), timed(7, D)]
    assert positions(feed(found_by, ends), events + ends) == [[2, 6], [4, 7]]


def test_state_restored_after_a_json_round_trip_completes_the_same() -> None:
    def made() -> sequence.SequenceDetector:
        return sequence.SequenceDetector(
            [verb(name, user_and_addresses) for name in (C, P, D)],
            key_names=("user.name", "source.ip"),
            until=verb(G, user_and_addresses),
            maxspan=60,
            excerpt=excerpt,
        )

    addresses = ["10.0.0.1", "10.0.0.2"]
    before = [
        event(0, verb=C, sourceIPs=addresses),
        event(1, verb=C, user={"username": "bob"}),
        event(2, verb=P, sourceIPs=addresses),
        event(3, verb=P, user={"username": "bob"}),
        event(4, verb=C, user={"username": "carol"}),
    ]
    after = [
        event(5, verb=G, user={"username": "bob"}),  # ends bob's
        event(6, verb=D, sourceIPs=addresses),
        event(7, verb=D, user={"username": "bob"}),
        event(8, verb=P, user={"username": "carol"}),
        event(9, verb=D, user={"username": "carol"}),
    ]
    original = made()
    feed(original, before)
    saved = json.loads(json.dumps(original.snapshot()))
    restored = made()
    restored.restore(saved)
    assert restored.size() == original.size()
    assert json.loads(json.dumps(restored.snapshot())) == saved
    expected = feed(original, after)
    assert feed(restored, after) == expected
    assert positions(expected, before + after) == [[0, 2, 6], [4, 8, 9]]
    assert expected[0].group == (("user.name", "alice"), ("source.ip", str(tuple(addresses))))


def test_while_not_alerting_state_builds_without_findings() -> None:
    found_by = detector([C, P, D])
    events = [timed(0, C), timed(1, P), timed(2, D), timed(3, C), timed(4, P), timed(5, D)]
    assert feed(found_by, events[:4], alerting=False) == []
    # The first sequence completed into history; the second, begun then, completes now.
    assert positions(feed(found_by, events[4:]), events) == [[3, 4, 5]]


def test_reading_the_same_log_again_finds_the_same_keys() -> None:
    events = [
        timed(0, C),
        timed(1, C, "bob"),
        timed(2, D),
        timed(3, D, "bob"),
        timed(4, C),
        timed(5, D),
    ]
    first = feed(detector([C, D], maxspan=60), events)
    again = feed(detector([C, D], maxspan=60), events)
    assert len(first) == 3
    assert [finding.key for finding in again] == [finding.key for finding in first]
    assert len({finding.key for finding in first}) == 3


def test_the_queries_argument_is_not_needed() -> None:
    found_by = detector([C, D])
    events = [timed(0, C), timed(1, D)]
    found = [
        finding for raw in events for finding in found_by.observe(raw, at(raw), True, queries=())
    ]
    assert positions(found, events) == [[0, 1]]


@pytest.mark.parametrize(
    ("verbs", "maxspan"),
    [pytest.param([C], None, id="one stage"), pytest.param([C, D], 0, id="zero maxspan")],
)
def test_a_sequence_that_cannot_be_is_refused(verbs: list[str], maxspan: float | None) -> None:
    with pytest.raises(ValueError):
        detector(verbs, maxspan=maxspan)


def test_a_snapshot_of_another_shape_of_sequence_restores_only_what_fits() -> None:
    longer = detector([C, P, D])
    feed(longer, [timed(0, C), timed(1, P), timed(2, C, "bob")])
    shorter = detector([C, D])
    shorter.restore(json.loads(json.dumps(longer.snapshot())))
    assert shorter.size().held == 1  # bob's first step; alice's second has no place
    events = [timed(3, D), timed(4, D, "bob")]
    assert [finding.group for finding in feed(shorter, events)] == [(("user.name", "bob"),)]
