"""EQL rules compile like KQL rules: errors with their position, the fields they read, the
catalogue's warnings, the rule index, and one generated function for a set of both."""

from __future__ import annotations

from typing import Any

import pytest
from tests.detectors.conftest import event

from audithound.rules import compiler, ruleset

BASE = {"type": "eql", "language": "eql", "severity": "low", "riskScore": 10}


def outcome(query: str, name: str = "r", **spec: Any) -> compiler.Outcome:
    return compiler.compile_rule(name, {**BASE, "query": query, **spec})


def errors(query: str, **spec: Any) -> list[str]:
    return [problem.short() for problem in outcome(query, **spec).errors]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            'any where verb == "get" and',
            ["spec.query: line 1, column 28: unexpected end of the query: expected an expression"],
        ),
        (
            "any where startsWith(verb)\n  or length(verb, 2) == 1",
            [
                "spec.query: line 1, column 11: 'startsWith' takes 2 arguments, not 1",
                "spec.query: line 2, column 6: 'length' takes 1 argument, not 2",
            ],
        ),
        ("any where nosuch(verb)", ["spec.query: line 1, column 11: unknown function 'nosuch'"]),
        (
            "sequence with maxspan=1m [any where true] ![any where true]",
            ["spec.query: line 1, column 43: missing-event steps ![...] are not supported yet"],
        ),
        (
            "sequence [any where true] by user.name [any where true]",
            [
                "spec.query: line 1, column 10: every step of a sequence joins on the same "
                "number of keys (found [0, 1])"
            ],
        ),
        (
            "sequence [any where true] by user.name [any where true] by user.name "
            "until [any where true]",
            [
                "spec.query: line 1, column 77: 'until' joins on the sequence's keys only: put "
                "the steps' keys in 'sequence by ...'"
            ],
        ),
    ],
)
def test_a_query_that_cannot_run_is_the_rules_error_at_its_position(
    query: str, expected: list[str]
) -> None:
    assert errors(query) == expected


def test_the_language_goes_with_the_type_as_in_kibana() -> None:
    assert errors("any where true", language="kuery") == [
        "spec: Value error, type eql needs language eql"
    ]
    kql = {"query": "verb:get", "type": "query", "language": "eql"}
    found = [p.short() for p in compiler.compile_rule("r", {**BASE, **kql}).errors]
    assert found == ["spec: Value error, language eql is only for type eql rules, not query"]


def test_fields_read_and_the_catalogues_warnings_cover_eql_references() -> None:
    compiled = outcome(
        'sequence by user.name\n  [any where kubernetes.audit.verb == "create"]\n'
        '  [any where kubernetes.audit.verbb : "patch"]'
    )
    assert compiled.rule is not None
    assert compiled.rule.fields == (
        "user.name",
        "kubernetes.audit.verb",
        "kubernetes.audit.verbb",
    )
    assert [problem.short() for problem in compiled.warnings] == [
        "spec.query: line 3, column 14: unknown field 'kubernetes.audit.verbb': no Kubernetes "
        "audit document has it, so it never matches (exists checks are always false)"
    ]


def test_exact_strings_index_a_rule_and_a_sequence_by_what_every_step_requires() -> None:
    single = outcome(
        'any where kubernetes.audit.objectRef.resource in ("pods", "secrets") and '
        'kubernetes.audit.verb == "create"',
        "single",
    ).rule
    steps = outcome(
        'sequence [any where kubernetes.audit.objectRef.resource == "roles" and '
        'kubernetes.audit.verb == "create"] [any where kubernetes.audit.objectRef.resource '
        '== "daemonsets" and kubernetes.audit.verb == "create"]',
        "steps",
    ).rule
    negated = outcome('any where kubernetes.audit.objectRef.resource != "pods"', "negated").rule
    assert single is not None and steps is not None and negated is not None
    rules = ruleset.RuleSet([single, steps, negated])
    assert single.required["kubernetes.audit.verb"] == frozenset({"create"})
    assert steps.required == {
        "kubernetes.audit.objectRef.resource": frozenset({"roles", "daemonsets"}),
        "kubernetes.audit.verb": frozenset({"create"}),
    }
    assert negated.required == {}
    assert rules.index_fields == {
        "single": "kubernetes.audit.objectRef.resource",
        "steps": "kubernetes.audit.objectRef.resource",
    }


def test_a_set_mixing_kql_and_eql_is_one_function_that_answers_for_each() -> None:
    kql = compiler.compile_rule(
        "kql", {"query": "kubernetes.audit.verb:get", "severity": "low", "riskScore": 10}
    ).rule
    eql = compiler.compile_rule(
        "eql",
        {
            **BASE,
            "query": 'any where kubernetes.audit.objectRef.resource == "secrets" and '
            'not kubernetes.audit.user.username : "SYSTEM:*"',
        },
    ).rule
    assert kql is not None and eql is not None
    rules = ruleset.RuleSet([kql, eql])
    assert rules.source.startswith("def match(document, failed):")
    assert rules.source.count("def ") == 1
    names = [
        [rule.name for rule in rules.match(raw, [])]
        for raw in (
            event(0),
            event(1, verb="list"),
            event(2, user={"username": "system:kube-scheduler"}),
            event(3, verb="list", objectRef={"resource": "pods"}),
        )
    ]
    assert names == [["kql", "eql"], ["eql"], ["kql"], []]
