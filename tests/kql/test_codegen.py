"""The generated rule-set function: every query it holds gives the answers the compiler gives,
fields shared between queries are read once per document, a query that raises fails alone,
and nothing of a query's text becomes code."""

from __future__ import annotations

import pathlib
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audithound.kql import analysis, codegen, compiler, documents, nodes, parser
from audithound.normalize import view
from tests.kql import strategies
from tests.kql.test_compiler import reference

JSON = documents.JsonFieldAccess()
CASES: list[dict[str, Any]] = tomllib.loads(
    (pathlib.Path(__file__).parent / "semantics.toml").read_text(encoding="utf-8")
)["case"]


def _matching(queries: list[str], docs: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Per query, the ids of ``docs`` it matches, all queries run as one generated function."""
    entries = [(parser.parse(query), None, query) for query in queries]
    match = codegen.generate(entries, JSON)
    found: dict[str, list[str]] = {query: [] for query in queries}
    for doc_id, doc in docs:
        failed: list[str] = []
        for query in match(doc, failed):
            found[query].append(doc_id)
        assert failed == []
    return found


def test_every_semantics_case_holds_with_all_cases_in_one_function(
    corpus: list[tuple[str, Any]],
) -> None:
    queries = list(dict.fromkeys(case["query"] for case in CASES))
    found = _matching(queries, corpus)
    for case in CASES:
        assert found[case["query"]] == case["expected"], case["about"]


@settings(max_examples=600, deadline=None)
@given(st.lists(strategies.small_trees(), min_size=1, max_size=4), strategies.small_documents())
def test_generated_function_agrees_with_the_plain_reading(
    trees: list[nodes.Node], doc: dict[str, Any]
) -> None:
    entries = [(tree, None, position) for position, tree in enumerate(trees)]
    expected = [position for position, tree in enumerate(trees) if reference(tree, doc)]
    assert codegen.generate(entries, JSON)(doc, []) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(strategies.small_trees(), min_size=1, max_size=4), strategies.small_documents())
def test_guards_from_required_values_never_change_an_answer(
    trees: list[nodes.Node], doc: dict[str, Any]
) -> None:
    entries: list[tuple[nodes.Node, codegen.Guard | None, int]] = []
    for position, tree in enumerate(trees):
        required = analysis.required_values(tree)
        guard = min(required.items()) if required else None
        entries.append((tree, guard, position))
    expected = [position for position, tree in enumerate(trees) if reference(tree, doc)]
    assert codegen.generate(entries, JSON)(doc, []) == expected


class _CountingAccess(documents.JsonFieldAccess):
    """JSON access that counts how often each field's values are read."""

    def __init__(self) -> None:
        self.reads: dict[str, int] = {}

    def values(self, field: str) -> documents.Getter:
        read = super().values(field)

        def counted(doc: Any) -> list[Any]:
            self.reads[field] = self.reads.get(field, 0) + 1
            return read(doc)

        return counted


def test_a_field_is_read_once_per_document_however_many_queries_test_it() -> None:
    access = _CountingAccess()
    queries = ["verb:get and user:alice", "verb:(get or list)", "not verb:get and user:bob"]
    match = codegen.generate([(parser.parse(q), None, q) for q in queries], access)
    assert match({"verb": "get", "user": "alice"}, []) == queries[:2]
    assert access.reads == {"verb": 1, "user": 1}


def test_a_query_that_raises_fails_alone() -> None:
    class Exploding(documents.JsonFieldAccess):
        def values(self, field: str) -> documents.Getter:
            if field == "boom":

                def explode(doc: Any) -> list[Any]:
                    raise RuntimeError("bad field")

                return explode
            return super().values(field)

    queries = ["verb:get", "boom:x and verb:get", "verb:get and not boom:y", "verb:*"]
    match = codegen.generate([(parser.parse(q), None, q) for q in queries], Exploding())
    failed: list[str] = []
    assert match({"verb": "get"}, failed) == ["verb:get", "verb:*"]
    assert failed == [queries[1], queries[2]]


def test_queries_too_deep_to_inline_run_as_their_closure() -> None:
    deep = "verb:get"
    for _ in range(codegen.MAX_DEPTH + 20):
        deep = f"not ({deep})"
    query = f"user:alice and ({deep})"  # an even number of `not`: verb:get
    generated = codegen.Generated([(parser.parse(query), None, "deep")], JSON)
    assert generated.match({"user": "alice", "verb": "get"}, []) == ["deep"]
    assert generated.match({"user": "alice", "verb": "list"}, []) == []
    assert "(document)" in generated.source


def test_query_text_never_becomes_code() -> None:
    hostile = r'verb:"__import__(\"os\").system(\"false\")" or user:("x\n" or ") or True or (")'
    generated = codegen.Generated([(parser.parse(hostile), None, "q")], JSON)
    assert "__import__" not in generated.source
    assert "True" not in generated.source
    assert generated.match({"verb": "get", "user": "y"}, []) == []
    assert generated.match({"verb": '__import__("os").system("false")'}, []) == ["q"]


def test_conditions_on_constant_fields_leave_no_code() -> None:
    access = view.AuditEventAccess()
    queries = {
        "never": "event.dataset:something.else and kubernetes.audit.verb:get",
        "always": "event.dataset:kubernetes.audit_logs",
        "verb": "event.dataset:kubernetes.audit_logs and kubernetes.audit.verb:get",
    }
    entries = [(parser.parse(query), None, name) for name, query in queries.items()]
    generated = codegen.Generated(entries, access)
    event = {"auditID": "a", "stage": "ResponseComplete", "verb": "list"}
    assert generated.match(event, []) == ["always"]
    assert generated.match(event | {"verb": "get"}, []) == ["always", "verb"]
    assert generated.source.count("try:") == 2  # "never" is not there at all
    assert compiler.compile_query(parser.parse(queries["never"]), access)(event) is False


VALUE_LISTS_WITH_EXISTS = [
    "f:(a and b and *)",
    "f:(a or b or not *)",
    "f:(a and not *)",
    "f:(not a and *)",
    "f:(a or (b and *))",
    "f:(not (a or *))",
    "f:(a and (b or not *))",
]
LIST_DOCUMENTS = [{}, {"f": "a"}, {"f": ["a", "b"]}, {"f": "b"}, {"f": {"x": 1}}, {"f": ["a", "c"]}]


@pytest.mark.parametrize("query", VALUE_LISTS_WITH_EXISTS)
def test_a_value_list_holding_a_star_is_inlined_with_the_compilers_answers(query: str) -> None:
    # Each part of the list tests the same values; an ``and`` needs every exact text.
    access = documents.JsonFieldAccess()
    tree = parser.parse(query)
    generated = codegen.Generated([(tree, None, query)], access)
    # inlined: no call of the compiler's two-argument test of values and document
    assert "), document)" not in generated.source
    expected = compiler.compile_query(tree, access)
    for document in LIST_DOCUMENTS:
        assert bool(generated.match(document, [])) is expected(document), (query, document)
