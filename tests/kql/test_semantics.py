"""Every rule of KQL's meaning (ELASTIC-SEMANTICS.md section 2) as a row of semantics.toml:
a query over the shared corpus and the documents it must match."""

from __future__ import annotations

import pathlib
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

CASES: list[dict[str, Any]] = tomllib.loads(
    (pathlib.Path(__file__).parent / "semantics.toml").read_text(encoding="utf-8")
)["case"]


@pytest.mark.parametrize("case", CASES, ids=[case["query"].strip() for case in CASES])
def test_query_matches_exactly_the_expected_documents(
    case: dict[str, Any], matching_ids: Callable[[str], list[str]]
) -> None:
    assert matching_ids(case["query"]) == case["expected"], case["about"]


def test_every_expected_id_is_in_the_corpus(corpus: list[tuple[str, Any]]) -> None:
    ids = {doc_id for doc_id, _ in corpus}
    for case in CASES:
        assert set(case["expected"]) <= ids, case["query"]
