"""Compiling one rule never raises: whatever fails is that rule's error, with the field path
and the position in the query when it is known, so the rule is Invalid and the others run."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.kql import strategies

from audithound.api import rule as rule_api
from audithound.kql import codegen, nodes, parser, render
from audithound.kql import compiler as kql_compiler
from audithound.rules import compiler, ruleset

BASE = {"severity": "low", "riskScore": 10}


def _explode_on(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the KQL compiler raise on conditions of ``field``, as a bug in it would."""
    original = kql_compiler.compile_condition

    def compile_condition(node: nodes.Node, access: Any, *rest: Any) -> Any:
        if isinstance(node, nodes.Match) and node.field == field:
            raise OverflowError("injected " + "x" * 1000)
        return original(node, access, *rest)

    monkeypatch.setattr(kql_compiler, "compile_condition", compile_condition)


def test_an_exception_while_compiling_is_the_rules_error_at_the_condition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _explode_on("boom", monkeypatch)
    outcome = compiler.compile_rule("r", {**BASE, "query": "user.name:x and\n  boom:1"})
    assert outcome.rule is None
    (problem,) = outcome.problems
    assert problem.is_error
    assert (problem.path, problem.line, problem.column) == ("spec.query", 2, 3)
    assert problem.message.startswith("the query could not be compiled (OverflowError: injected")
    assert problem.message.endswith("...); this is a bug in AuditHound, please report it")
    assert len(problem.message) < compiler.ERROR_TEXT_LIMIT + 100
    assert problem.excerpt == "  boom:1\n  ^"
    # The other rules are untouched.
    good = compiler.compile_rule("good", {**BASE, "query": "user.name:x"})
    assert good.rule is not None
    assert ruleset.RuleSet([good.rule]).match({"user": {"username": "x"}}, []) == [good.rule]


def test_an_exception_while_validating_is_an_error_of_the_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def validate(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("injected")

    monkeypatch.setattr(rule_api.DetectionRuleSpec, "model_validate", validate)
    (problem,) = compiler.compile_rule("r", {**BASE, "query": "user.name:x"}).problems
    assert (problem.path, problem.level) == ("spec", "error")
    assert "RecursionError: injected" in problem.message


def test_an_exception_while_parsing_is_an_error_of_the_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def parse(text: str) -> nodes.Node:
        raise MemoryError

    monkeypatch.setattr(parser, "parse", parse)
    (problem,) = compiler.compile_rule("r", {**BASE, "query": "user.name:x"}).problems
    assert (problem.path, problem.line) == ("spec.query", None)
    assert problem.message.startswith("the query could not be parsed (MemoryError: )")


def test_an_exception_while_generating_the_rule_sets_code_is_the_rules_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def generate(*args: Any) -> Any:
        raise SyntaxError("injected")

    monkeypatch.setattr(codegen, "generate", generate)
    outcome = compiler.compile_rule("r", {**BASE, "query": "user.name:x"})
    assert outcome.rule is None
    assert "SyntaxError: injected" in outcome.problems[0].message


@settings(max_examples=300, deadline=None)
@given(st.one_of(strategies.trees().map(render.render), st.text(max_size=40)))
def test_any_query_text_gives_an_outcome(text: str) -> None:
    outcome = compiler.compile_rule("r", {**BASE, "query": text})
    assert (outcome.rule is None) == bool(outcome.errors)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=12),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_any_spec_gives_an_outcome(spec: dict[str, Any]) -> None:
    outcome = compiler.compile_rule("r", {**BASE, "query": "user.name:x", **spec})
    assert (outcome.rule is None) == bool(outcome.errors)
