"""A reader with a screen (``scan``'s): a line is decoded only as far as the rules read, an
event no rule matches is counted and dropped there, and everything else (the matches, every
other shape, every bad line) comes out and is counted exactly as without the screen."""

from __future__ import annotations

import io
import pathlib
from typing import Any

import orjson
import pytest

from audithound import evaluate
from audithound.rules import compiler, ruleset
from audithound.source import decode, files, live, tail

RULES = {
    "secrets-by-alice": "kubernetes.audit.objectRef.resource:secrets and user.name:alice",
    "privileged": "kubernetes.audit.requestObject.spec.containers.securityContext.privileged:true",
    "decision": "kubernetes.audit.annotations.authorization_k8s_io/decision:forbid",
    "big-code": "kubernetes.audit.responseStatus.code >= 500",
}
EQL = {"eql-delete": 'any where kubernetes.audit.verb == "delete" and user.name : "BOB*"'}


def _event(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "auditID": f"id-{number}",
        "stage": "ResponseComplete",
        "verb": "get",
        "requestURI": "/api/v1/pods",
        "user": {"username": "carol", "groups": ["system:authenticated"]},
        "objectRef": {"resource": "pods", "namespace": "default"},
        "responseStatus": {"code": 200},
        "annotations": {"authorization.k8s.io/decision": "allow"},
        "requestObject": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}},
        **fields,
    }


def _line(value: Any) -> bytes:
    return orjson.dumps(value) + b"\n"


def _reader(lines: list[bytes]) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(b"".join(lines)))


SECRETS_BY_ALICE = {"user": {"username": "alice"}, "objectRef": {"resource": "secrets"}}
LINES = [
    _line(_event(1)),  # matches nothing
    _line(_event(2, **SECRETS_BY_ALICE)),
    # escaped strings: "secrets" and "alice" spelled with escapes
    b'{"auditID":"id-3","stage":"ResponseComplete","objectRef":{"resource":"sec\\u0072ets"},'
    b'"user":{"username":"\\u0061lice"}}\n',
    # duplicate keys: the last one counts, in both decoders
    b'{"auditID":"id-4","stage":"x","objectRef":{"resource":"secrets"},"user":{"username":"a"},'
    b'"user":{"username":"alice"}}\n',
    b'{"auditID":"id-5","stage":"x","objectRef":{"resource":"secrets"},"user":{"username":"alice"'
    b'},"objectRef":{"resource":"pods"}}\n',
    # dotted keys: a top-level "objectRef.resource" and a dotted key inside a map
    _line({**_event(6, user={"username": "alice"}), "objectRef.resource": "secrets"}),
    _line(
        _event(7, requestObject={"spec": {"containers": [{"securityContext.privileged": True}]}})
    ),
    # arrays of objects: the second container is privileged
    _line(
        _event(
            8,
            requestObject={
                "spec": {"containers": [{"name": "a"}, {"securityContext": {"privileged": True}}]}
            },
        )
    ),
    # a de-dotted annotation key, and the typed field
    _line(_event(9, annotations={"authorization.k8s.io/decision": "forbid"})),
    _line(_event(10, responseStatus={"code": 503})),
    _line(_event(11, responseStatus={"code": "503"})),
    _line(_event(12, verb="delete", user={"username": "bobby"})),
    # other shapes: an EventList, a JSON array, an AKS envelope; not events
    _line({"kind": "EventList", "items": [_event(13, **SECRETS_BY_ALICE), _event(14), 7]}),
    _line([_event(15, verb="delete", user={"username": "Bob"}), _event(16)]),
    _line({"category": "kube-audit", "properties": {"log": orjson.dumps(_event(17)).decode()}}),
    _line({"kind": "Pod"}),
    _line(7),
    # bad lines: invalid JSON, blank, invalid UTF-8, not ASCII but valid
    b'{"auditID":"id-18",\n',
    b"\n",
    b'{"auditID":"id-19","stage":"x","requestURI":"\xff"}\n',
    _line(_event(20, user={"username": "alice"}, objectRef={"resource": "secrets", "name": "é"})),
    _line(_event(21, user={"username": "éve"})),
    # nesting deeper than msgspec goes, in a key no rule reads
    b'{"auditID":"id-22","stage":"x","deep":' + b"[" * 1000 + b"]" * 1000 + b"}\n",
    # the last line, cut short
    b'{"auditID":"id-23"',
]


def _rules() -> ruleset.RuleSet:
    outcomes = [
        compiler.compile_rule(name, {"query": query, "severity": "low", "riskScore": 1})
        for name, query in RULES.items()
    ] + [
        compiler.compile_rule(
            name,
            {"type": "eql", "language": "eql", "query": q, "severity": "low", "riskScore": 1},
        )
        for name, q in EQL.items()
    ]
    rules = [outcome.rule for outcome in outcomes]
    assert all(rules), [outcome.errors for outcome in outcomes]
    return ruleset.RuleSet(rule for rule in rules if rule is not None)


def _read(screen: bool) -> tuple[list[tuple[int, str, list[str]]], files.ReadStats, int]:
    evaluator = evaluate.Evaluator(_rules())
    stats = files.ReadStats()
    used = evaluator.screen() if screen else None
    if screen:
        assert used is not None
    read = list(files._lines("t", _reader(LINES), (), stats, decode.MAX_LINE_BYTES, used))
    matched = [
        (number, event["auditID"], [rule.name for rule in evaluator.evaluate(event)])
        for _, number, event in read
    ]
    return [found for found in matched if found[2]], stats, len(read)


def test_the_screen_changes_nothing_a_user_sees() -> None:
    whole, whole_stats, whole_read = _read(screen=False)
    screened, screened_stats, screened_read = _read(screen=True)
    assert screened == whole
    assert [auditid for _, auditid, _ in whole] == [
        "id-2", "id-3", "id-4", "id-6", "id-7", "id-8", "id-9", "id-10", "id-11", "id-12",
        "id-13", "id-15", "id-20",
    ]  # fmt: skip
    assert screened_stats == whole_stats
    assert whole_stats.skipped == {
        decode.Reason.NOT_AN_EVENT: 3,
        decode.Reason.INVALID_JSON: 2,
        decode.Reason.TRUNCATED: 1,
    }
    # What matched nothing never left the screened reader, but was counted.
    assert screened_read < whole_read == whole_stats.events


def test_free_text_reads_every_key_so_there_is_no_screen() -> None:
    outcome = compiler.compile_rule("r", {"query": "secrets", "severity": "low", "riskScore": 1})
    assert outcome.rule is not None
    assert evaluate.Evaluator(ruleset.RuleSet([outcome.rule])).screen() is None


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b'{"verb":"\xc3\xa9"}', "not ASCII"),
        (b"[1]", "no object"),
        (b'{"verb":', "invalid"),
        (b'{"verb":1e400}', "out of range"),
        (b'{"verb":' + b"[" * 2000 + b"]" * 2000 + b"}", "too deep"),
    ],
)
def test_a_line_the_projection_cannot_answer_for_is_decoded_whole(line: bytes, why: str) -> None:
    assert decode.Projection({("verb",)}).decode(line) is None, why


def test_a_projection_holds_what_its_paths_reach_as_orjson_decodes_it() -> None:
    line = b'{"user":{"username":"a","groups":["g"]},"spec":[{"x":{"y":1},"z":2},3,null]}'
    assert decode.Projection({("user", "username"), ("spec", "x", "y")}).decode(line) == {
        "user": {"username": "a"},
        "spec": [{"x": {"y": 1}}, 3, None],
    }
    # a list in a list stands where the paths cannot cross it: the line is decoded whole
    assert decode.Projection({("spec", "x")}).decode(b'{"spec":[[{"x":1}]]}') is None


def test_a_projection_holds_the_listed_keys_as_orjson_decodes_them() -> None:
    line = b'{"verb":"g\\u00e9t","a":{"b":[1,2.5,null]},"verb":"get","user":{"x":true},"z":1e400}'
    assert decode.Projection({("verb",), ("user",), ("n",)}).decode(line) == {
        "verb": "get",
        "user": {"x": True},
    }


def test_what_the_two_decoders_still_differ_on(tmp_path: pathlib.Path) -> None:
    # Documented in the README: an integer beyond 64 bits among the keys read is exact in the
    # projection, a float from orjson; a number beyond a double in a key no rule reads makes
    # orjson refuse the line, while the projection reads the event.
    big = b'{"code":18446744073709551617}'
    assert decode.Projection({("code",)}).decode(big) == {"code": 18446744073709551617}
    assert orjson.loads(big) == {"code": 1.8446744073709552e19}
    huge = b'{"verb":"get","z":1e400}'
    assert decode.Projection({("verb",)}).decode(huge) == {"verb": "get"}
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(huge)


def test_the_operator_reads_the_live_log_through_the_same_screen(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(LINES[:-1]))  # the cut last line would wait for its newline
    answers = {}
    carols: dict[bool, list[str]] = {}
    for screened in (False, True):
        evaluator = evaluate.Evaluator(_rules())
        reader = live.LiveLog(log, tail.StartPolicy.BEGINNING)
        screen = evaluator.screen(keep_user="carol") if screened else None
        batch = reader.poll(1000, screen)
        reader.close()
        answers[screened] = (
            [(e["auditID"], [r.name for r in evaluator.evaluate(e)]) for e in batch.events],
            len(batch.events) + batch.screened,
            batch.skipped,
            batch.last_event_time,
        )
        carols[screened] = [
            e["auditID"] for e in batch.events if e.get("user", {}).get("username") == "carol"
        ]
        assert bool(batch.screened) is screened
    matched = [found for found in answers[True][0] if found[1]]
    assert matched == [found for found in answers[False][0] if found[1]]
    assert answers[True][1:] == answers[False][1:]
    # carol's events are all kept, whatever the rules say (as the operator's own identity's)
    assert carols[True] == carols[False] != []


def test_a_batch_knows_the_time_of_its_last_event_when_the_screen_turned_it_away(
    tmp_path: pathlib.Path,
) -> None:
    log = tmp_path / "audit.log"
    stamp = "2026-12-03T06:00:00.123456Z"
    log.write_bytes(_line(_event(1, **SECRETS_BY_ALICE)) + _line(_event(2, stageTimestamp=stamp)))
    reader = live.LiveLog(log, tail.StartPolicy.BEGINNING)
    batch = reader.poll(10, evaluate.Evaluator(_rules()).screen())
    reader.close()
    assert [e["auditID"] for e in batch.events] == ["id-1"]
    assert batch.screened == 1
    assert batch.last_event_time == decode.event_time({"stageTimestamp": stamp})


def test_past_a_share_of_events_let_through_the_rest_is_read_whole_with_the_same_answers() -> None:
    # Every other event is one alice reads a secret: past MAX_KEPT_SHARE of events let
    # through, the screen stops; what comes out is the same either way.
    lines = [
        _line(_event(n, **(SECRETS_BY_ALICE if n % 2 else {})))
        for n in range(3 * files.SCREEN_TRIAL_EVENTS)
    ]
    found = {}
    for screened in (False, True):
        evaluator = evaluate.Evaluator(_rules())
        stats = files.ReadStats()
        screen = evaluator.screen() if screened else None
        read = list(files._lines("t", _reader(lines), (), stats, decode.MAX_LINE_BYTES, screen))
        found[screened] = (
            [(e["auditID"], [r.name for r in evaluator.evaluate(e)]) for _, _, e in read],
            stats,
        )
    matched = [hit for hit in found[True][0] if hit[1]]
    assert matched == [hit for hit in found[False][0] if hit[1]]
    assert len(matched) == len(lines) // 2
    assert found[True][1] == found[False][1]
    # Read whole after the trial: every event from then on came out, matched or not.
    assert len(found[True][0]) > len(lines) - files.SCREEN_TRIAL_EVENTS


def _padded(number: int, size: int, **fields: Any) -> bytes:
    """An event line with exactly ``size`` bytes before its newline."""
    event = _event(number, userAgent="", **fields)
    short = len(orjson.dumps(event))
    assert short <= size
    return _line({**event, "userAgent": "x" * (size - short)})


LIMIT = 700  # max_line_bytes in the block tests: the events above are about 400 bytes

#: Inputs whose lines cross blocks of every size below: runs the native screen turns away,
#: matches, blank and invalid lines, lines just under, at and over the limit, an oversized
#: first line, and the ways an input can end. (The first line is read on its own, to tell
#: the format: each input has a second line to turn away.)
BLOCK_INPUTS = {
    "runs and matches": [_line(_event(n)) for n in range(5)]
    + [_line(_event(5, **SECRETS_BY_ALICE)), b"\n", b"{not json\n"]
    + [_line(_event(n)) for n in range(6, 9)],
    "at and over the limit": [
        _line(_event(1)),
        _padded(2, LIMIT),
        _padded(3, LIMIT + 1),
        _line(_event(4)),
        _padded(5, 3 * LIMIT, **SECRETS_BY_ALICE),
        _line(_event(6, **SECRETS_BY_ALICE)),
        _padded(7, LIMIT - 1),
    ],
    # Not JSON, so read as lines (an oversized "{..." first line is a document's start).
    "an oversized first line": [b"x" * (2 * LIMIT) + b"\n", _line(_event(2)), _line(_event(3))],
    "a last line without its newline": [_line(_event(n)) for n in range(3)]
    + [_line(_event(3))[:-1]],
    "a truncated last line": [_line(_event(n)) for n in range(3)] + [_line(_event(3))[:100]],
    "an oversized last line without its newline": [_line(_event(n)) for n in range(3)]
    + [_padded(3, 5 * LIMIT)[:-1]],
    "turned away to the end": [_line(_event(5, **SECRETS_BY_ALICE))]
    + [_line(_event(n)) for n in range(6, 20)],
}


@pytest.mark.parametrize("block", [1, 7, 64, 401, 4096])
@pytest.mark.parametrize("name", sorted(BLOCK_INPUTS))
def test_the_native_screen_reads_blocks_and_counts_and_cuts_lines_as_one_by_one(
    name: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a user sees of an input read a block at a time through the native screen is
    # what the line-by-line read without a screen shows: the same matches at the same line
    # numbers, the same counts of lines, events and skipped lines with their positions.
    monkeypatch.setattr(files, "SIFT_BYTES", block)
    rules = ruleset.RuleSet(
        outcome.rule
        for outcome in (
            compiler.compile_rule(rule, {"query": RULES[rule], "severity": "low", "riskScore": 1})
            for rule in ("secrets-by-alice", "decision")
        )
        if outcome.rule is not None
    )
    data = b"".join(BLOCK_INPUTS[name])
    seen = {}
    handed_on = {}
    for screened in (False, True):
        evaluator = evaluate.Evaluator(rules)
        screen = evaluator.screen() if screened else None
        assert screen is None or screen.prefilter is not None
        stats = files.ReadStats()
        read = files.read_stream("t", io.BytesIO(data), stats, max_line_bytes=LIMIT, screen=screen)
        matched = [
            (number, event["auditID"], [rule.name for rule in evaluator.evaluate(event)])
            for _, number, event in read
        ]
        seen[screened] = ([found for found in matched if found[2]], stats)
        handed_on[screened] = len(matched)
    assert seen[True] == seen[False]
    whole, stats = seen[False]
    assert stats.lines == len(BLOCK_INPUTS[name])
    assert whole or name not in {"runs and matches", "turned away to the end"}
    # The native screen did turn lines away (events that match nothing, in every input).
    assert handed_on[True] < handed_on[False]
