"""Every rule of EQL's meaning as a row of semantics.toml: a query, documents, and whether
each document matches (ELASTIC-SEMANTICS.md section 4, docs/EQL.md)."""

from __future__ import annotations

import pathlib
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

CASES: list[dict[str, Any]] = tomllib.loads(
    (pathlib.Path(__file__).parent / "semantics.toml").read_text(encoding="utf-8")
)["case"]


@pytest.mark.parametrize("case", CASES, ids=[case["query"] for case in CASES])
def test_query_matches_exactly_the_expected_documents(
    case: dict[str, Any], matches: Callable[[str, dict[str, Any]], bool]
) -> None:
    documents = case.get("documents") or [case["document"]]
    expected = case["expected"] if isinstance(case["expected"], list) else [case["expected"]]
    assert len(documents) == len(expected), case["about"]
    found = [matches(case["query"], document) for document in documents]
    assert found == expected, case["about"]
