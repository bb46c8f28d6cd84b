"""Shared ground for the EQL tests: a field access and a matcher, as fixtures.

Each test module reads its own data table (*.toml); documents are plain JSON objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audithound.eql import evaluate, nodes, parser
from audithound.kql import documents


@pytest.fixture(scope="session")
def access() -> documents.JsonFieldAccess:
    return documents.JsonFieldAccess()


@pytest.fixture(scope="session")
def matches(access: documents.JsonFieldAccess) -> Callable[[str, dict[str, Any]], bool]:
    """Whether a single-event query matches a document."""

    def run(query: str, document: dict[str, Any]) -> bool:
        tree = parser.parse(query)
        assert isinstance(tree, nodes.EventQuery)
        return evaluate.compile_event(tree, access)(document)

    return run
