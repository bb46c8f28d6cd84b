"""Typed fields answer as Elasticsearch answers on their mapping (ELASTIC-SEMANTICS.md section
2, "Typed fields"): every row of typed.toml, run the way production runs a rule (compiled,
in the generated rule set, evaluated at a time ``now``) and by the compiler alone; errors are
the rule's, with the position of the value."""

from __future__ import annotations

import datetime
import io
import pathlib
import tomllib
from typing import Any

import orjson
import pytest

from audithound import evaluate
from audithound.kql import compiler, dates, parser
from audithound.normalize import view
from audithound.rules import compiler as rule_compiler
from audithound.rules import ruleset
from audithound.source import files

CASES: list[dict[str, Any]] = tomllib.loads(
    (pathlib.Path(__file__).parent / "typed.toml").read_text(encoding="utf-8")
)["case"]
MATCHES = [case for case in CASES if "expected" in case]
REFUSED = [case for case in CASES if "error" in case]

DEFAULT_NOW = "2026-11-27T12:00:00Z"
BASE: dict[str, Any] = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "level": "Metadata",
    "auditID": "a1",
    "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/default/pods",
    "verb": "list",
    "user": {"username": "alice", "groups": ["system:authenticated"]},
    "sourceIPs": ["192.0.2.10"],
    "userAgent": "kubectl/v1.36.0",
    "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
    "responseStatus": {"code": 200},
    "requestReceivedTimestamp": "2026-11-27T10:00:01.123456Z",
    "stageTimestamp": "2026-11-27T10:00:01.234567Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
}


def spec(query: str) -> dict[str, Any]:
    return {"query": query, "severity": "low", "riskScore": 21}


def event_of(case: dict[str, Any]) -> dict[str, Any]:
    return {**BASE, **case.get("event", {})}


def now_of(case: dict[str, Any]) -> datetime.datetime:
    return datetime.datetime.fromisoformat(case.get("now", DEFAULT_NOW))


@pytest.mark.parametrize("case", MATCHES, ids=[case["query"] for case in MATCHES])
def test_a_rule_on_typed_fields_matches_as_elasticsearch_would(case: dict[str, Any]) -> None:
    outcome = rule_compiler.compile_rule("r", spec(case["query"]))
    assert outcome.rule is not None, outcome.errors
    evaluator = evaluate.Evaluator(ruleset.RuleSet([outcome.rule]))
    matched = [rule.name for rule in evaluator.evaluate(event_of(case), now_of(case))]
    assert matched == (["r"] if case["expected"] else []), case["about"]
    assert evaluator.failures == {}


@pytest.mark.parametrize("case", MATCHES, ids=[case["query"] for case in MATCHES])
def test_the_compiler_alone_gives_the_same_answers(case: dict[str, Any]) -> None:
    clock = dates.Clock()
    clock.set(now_of(case))
    predicate = compiler.compile_query(parser.parse(case["query"]), view.AuditEventAccess(), clock)
    assert predicate(event_of(case)) is case["expected"], case["about"]


@pytest.mark.parametrize("case", REFUSED, ids=[case["query"] for case in REFUSED])
def test_a_query_elasticsearch_refuses_is_an_error_at_the_value(case: dict[str, Any]) -> None:
    outcome = rule_compiler.compile_rule("r", spec(case["query"]))
    assert outcome.rule is None, case["about"]
    (error,) = outcome.errors
    assert case["error"] in error.message.lower(), error.message
    assert (error.path, error.line, error.column) == ("spec.query", 1, case["column"])
    assert "bug" not in error.message
    assert error.excerpt is not None and error.excerpt.endswith("^")


def test_date_math_follows_the_time_each_event_is_evaluated_at() -> None:
    outcome = rule_compiler.compile_rule("r", spec("kubernetes.audit.stageTimestamp >= now-1h"))
    assert outcome.rule is not None
    evaluator = evaluate.Evaluator(ruleset.RuleSet([outcome.rule]))
    event = event_of({})
    soon = datetime.datetime(2026, 11, 27, 10, 30, tzinfo=datetime.UTC)
    late = datetime.datetime(2026, 11, 27, 11, 30, tzinfo=datetime.UTC)
    assert [rule.name for rule in evaluator.evaluate(event, soon)] == ["r"]
    assert evaluator.evaluate(event, late) == []
    # Without a time given (``scan``), ``now`` is the event's own time.
    assert [rule.name for rule in evaluator.evaluate(event)] == ["r"]


def test_rules_without_date_math_never_ask_for_the_time() -> None:
    outcome = rule_compiler.compile_rule("r", spec("kubernetes.audit.stageTimestamp >= 2026-11"))
    assert outcome.rule is not None
    assert not ruleset.RuleSet([outcome.rule]).clock.used


def test_exact_values_of_typed_fields_never_index_a_rule() -> None:
    # An index on the string "10.0.0.1" would miss the same address written "::ffff:10.0.0.1".
    outcome = rule_compiler.compile_rule("r", spec("source.ip:10.0.0.1 and event.action:get"))
    assert outcome.rule is not None
    assert "source.ip" not in outcome.rule.required
    rules = ruleset.RuleSet([outcome.rule])
    event = {**BASE, "sourceIPs": ["::ffff:10.0.0.1"], "verb": "get"}
    assert [rule.name for rule in evaluate.Evaluator(rules).evaluate(event)] == ["r"]


@pytest.mark.parametrize(
    "case",
    [case for case in MATCHES if "now" not in case["query"]],
    ids=[case["query"] for case in MATCHES if "now" not in case["query"]],
)
def test_a_reader_that_decodes_only_what_the_rules_read_gives_the_same_answers(
    case: dict[str, Any],
) -> None:
    # ``scan`` decodes a line as far as the rules read, rejects what no rule matches there, and
    # evaluates the rest whole: the answer is the same as on the whole event.
    outcome = rule_compiler.compile_rule("r", spec(case["query"]))
    assert outcome.rule is not None, outcome.errors
    evaluator = evaluate.Evaluator(ruleset.RuleSet([outcome.rule]))
    screen = evaluator.screen()
    assert screen is not None
    line = orjson.dumps(event_of(case)) + b"\n"
    reader = io.BufferedReader(io.BytesIO(line))
    read = list(files._lines("t", reader, (), files.ReadStats(), 1 << 20, screen))
    matched = [rule.name for _, _, event in read for rule in evaluator.evaluate(event)]
    assert matched == (["r"] if case["expected"] else []), case["about"]
