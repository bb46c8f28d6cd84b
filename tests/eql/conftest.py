"""Shared ground for the EQL tests: a field access and a matcher, as fixtures.

Each test module reads its own data table (*.toml); documents are plain JSON objects. The
matcher runs each query both ways a rule can: the evaluator's closures, and lowered into the
rule set's generated function (``eql.lowering``): the same table must give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audithound.eql import evaluate, lowering, nodes, parser
from audithound.kql import codegen, documents


@pytest.fixture(scope="session")
def access() -> documents.JsonFieldAccess:
    return documents.JsonFieldAccess()


@pytest.fixture(scope="session", params=["evaluator", "generated"])
def matches(
    access: documents.JsonFieldAccess, request: pytest.FixtureRequest
) -> Callable[[str, dict[str, Any]], bool]:
    """Whether a single-event query matches a document."""

    def evaluated(query: str, document: dict[str, Any]) -> bool:
        tree = parser.parse(query)
        assert isinstance(tree, nodes.EventQuery)
        return evaluate.compile_event(tree, access)(document)

    def generated(query: str, document: dict[str, Any]) -> bool:
        tree = parser.parse(query)
        assert isinstance(tree, nodes.EventQuery)
        match = codegen.generate([(lowering.Lowered([tree], access), None, "rule")], access)
        failed: list[str] = []
        found = match(document, failed)
        assert failed == []
        return found == ["rule"]

    return evaluated if request.param == "evaluator" else generated
