"""Shared ground for the KQL tests: the document corpus and a field access, as fixtures.

The corpus (corpus.json) is a handful of small JSON documents, each with an ``id`` that is
removed before a query sees the document. Each test module reads its own data table (*.toml).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from audithound.kql import compiler, documents, parser

HERE = pathlib.Path(__file__).resolve().parent

Corpus = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    """``(id, document)`` pairs in file order, ``id`` taken out of each document."""
    raw = json.loads((HERE / "corpus.json").read_text(encoding="utf-8"))
    return [(doc.pop("id"), doc) for doc in raw]


@pytest.fixture(scope="session")
def access() -> documents.JsonFieldAccess:
    return documents.JsonFieldAccess()


@pytest.fixture(scope="session")
def matching_ids(corpus: Corpus, access: documents.JsonFieldAccess) -> Callable[[str], list[str]]:
    """Ids of the corpus documents a query matches, in corpus order."""

    def run(query: str) -> list[str]:
        predicate = compiler.compile_query(parser.parse(query), access)
        return [doc_id for doc_id, doc in corpus if predicate(doc)]

    return run
