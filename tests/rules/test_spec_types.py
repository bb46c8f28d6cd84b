"""A spec's values are read as the API server's schema types them: no coercion, wire names
only, nulls of known fields pruned as the API server prunes them."""

from __future__ import annotations

from typing import Any

import pytest

from audithound.rules import compiler

BASE = {"query": "user.name:x", "severity": "low", "riskScore": 10}


def errors(**spec: Any) -> list[str]:
    return [problem.short() for problem in compiler.compile_rule("r", {**BASE, **spec}).errors]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("riskScore", True, "spec.riskScore: Input should be a valid integer, not a boolean"),
        ("riskScore", "50", "spec.riskScore: Input should be a valid integer, not a string"),
        ("riskScore", 50.5, "spec.riskScore: Input should be a valid integer, not a number"),
        ("enabled", "no", "spec.enabled: Input should be a valid boolean, not a string"),
        ("enabled", 0, "spec.enabled: Input should be a valid boolean, not an integer"),
        ("description", 5, "spec.description: Input should be a valid string, not an integer"),
        ("tags", "a", "spec.tags: Input should be a valid list, not a string"),
        ("tags", ["a", None], "spec.tags[1]: Input should be a valid string, not null"),
        ("maxSignals", False, "spec.maxSignals: Input should be a valid integer, not a boolean"),
    ],
)
def test_values_of_another_type_are_errors_not_coerced(
    field: str, value: object, expected: str
) -> None:
    assert errors(**{field: value}) == [expected]


def test_fields_go_by_their_wire_names_only() -> None:
    spec = {"query": "user.name:x", "severity": "low", "risk_score": 10}
    found = [p.short() for p in compiler.compile_rule("r", spec).errors]
    assert found == [
        "spec.riskScore: Field required",
        "spec.risk_score: Extra inputs are not permitted",
    ]


def test_null_of_a_known_field_is_absent_as_the_api_server_prunes_it() -> None:
    outcome = compiler.compile_rule(
        "r", {**BASE, "description": None, "tags": None, "enabled": None, "displayName": None}
    )
    assert outcome.errors == []
    assert outcome.rule is not None
    assert (outcome.rule.spec.description, outcome.rule.spec.enabled) == ("", True)
    assert errors(query=None) == ["spec.query: Field required"]


def test_null_of_an_unknown_field_is_still_unknown() -> None:
    assert errors(typo=None) == ["spec.typo: Extra inputs are not permitted"]


def test_nested_models_are_strict_too() -> None:
    threat = [{"tactic": {"id": "TA0001", "name": "Initial Access", "reference": 1}}]
    assert errors(threat=threat) == [
        "spec.threat[0].tactic.reference: Input should be a valid string, not an integer"
    ]
