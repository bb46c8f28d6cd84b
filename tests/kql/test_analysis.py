"""Static facts for the rule engine: fields read (with positions), warnings for costly
constructs, and the exact values a query requires of a field (sound for rule indexing)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from audithound.kql import analysis, compiler, documents, nodes, parser
from tests.kql import strategies


def test_fields_are_listed_in_source_order_with_positions() -> None:
    tree = parser.parse(
        "event.dataset:x and not user.name:(a or b)\n"
        "  or (ts > 5 and containers:{ image:x* and securityContext.privileged:true })\n"
        "  and free and user.name:*"
    )
    assert analysis.fields(tree) == [
        ("event.dataset", 1, 1),
        ("user.name", 1, 25),
        ("ts", 2, 7),
        ("containers", 2, 18),
        ("containers.image", 2, 31),
        ("containers.securityContext.privileged", 2, 44),
        ("user.name", 3, 16),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("uri:/healthz*", []),
        ("uri:*healthz", [(1, 5, analysis.LEADING_WILDCARD)]),
        ("uri:(a or not *b*)", [(1, 15, analysis.LEADING_WILDCARD)]),
        ("uri:*", []),
        ("admin", [(1, 1, analysis.FREE_TEXT)]),
        ("a:x or *admin", [(1, 8, analysis.FREE_TEXT), (1, 8, analysis.LEADING_WILDCARD)]),
        ("n:{ v:*x }", [(1, 7, analysis.LEADING_WILDCARD)]),
        ("kubernetes.audit.stageTimestamp > now-1d", []),
        ("user.name > 1000", []),
        ("t > 2024-01-01 and n <= 5", []),
    ],
)
def test_warnings_point_at_the_costly_construct(
    query: str, expected: list[tuple[int, int, str]]
) -> None:
    found = analysis.warnings(parser.parse(query))
    assert [(w.line, w.column, w.message) for w in found] == expected


REQUIRED = [
    ("verb:get", {"verb": {"get"}}),
    ('verb:"get"', {"verb": {"get"}}),
    ("verb:(get or list)", {"verb": {"get", "list"}}),
    ("verb:get or verb:list", {"verb": {"get", "list"}}),
    ("verb:get and user.name:(a or b)", {"verb": {"get"}, "user.name": {"a", "b"}}),
    ("verb:get and (user.name:a and uri:/x)", {"verb": {"get"}, "user.name": {"a"}, "uri": {"/x"}}),
    ("verb:(get or list) and verb:get", {"verb": {"get"}}),
    ("verb:(get and list)", {"verb": {"get"}}),
    ("verb:(get or list and watch)", {"verb": {"get", "list"}}),
    ("(verb:get and a:x) or (verb:list and b:y)", {"verb": {"get", "list"}}),
    ("verb:get or a:x", {}),
    ("verb:get*", {}),
    ("verb:(get or li*)", {}),
    ("verb:*", {}),
    ("verb:(get or not *)", {}),
    ("not verb:get", {}),
    ("not (not verb:get)", {}),
    ("verb:(* and not get)", {}),
    ("verb:(get and not list)", {"verb": {"get"}}),
    ("code:200", {}),
    ("flag:(true or yes)", {}),
    ("verb > a", {}),
    ("items:{ verb:get }", {}),
    ("get", {}),
    (
        "event.dataset:kubernetes.audit_logs and a:allow"
        ' and u:("system:anonymous" or not *) and not uri:(/healthz* or /livez*)',
        {"event.dataset": {"kubernetes.audit_logs"}, "a": {"allow"}},
    ),
]


@pytest.mark.parametrize(("query", "expected"), REQUIRED, ids=[q for q, _ in REQUIRED])
def test_required_values_lists_what_every_match_must_hold(
    query: str, expected: dict[str, set[str]]
) -> None:
    found = analysis.required_values(parser.parse(query))
    assert found == {field: frozenset(values) for field, values in expected.items()}


JSON = documents.JsonFieldAccess()


@settings(max_examples=1500, deadline=None)
@given(strategies.small_trees(), strategies.small_documents())
def test_required_values_are_sound(tree: nodes.Node, doc: dict[str, Any]) -> None:
    required = analysis.required_values(tree)
    if compiler.compile_query(tree, JSON)(doc):
        for field, allowed in required.items():
            assert not allowed.isdisjoint(JSON.values(field)(doc)), field
