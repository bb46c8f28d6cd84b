"""The parser reads EQL into the tree the grammar describes; rendering a tree and parsing it
again gives the same tree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from audithound.eql import nodes, parser, render
from tests.eql import strategies

F, S, N = nodes.Field, nodes.String, nodes.Number


def where(condition: nodes.Expression, category: str | None = None) -> nodes.EventQuery:
    return nodes.EventQuery(category, condition)


def eq(name: str, value: nodes.Expression) -> nodes.Comparison:
    return nodes.Comparison("==", F((name,)), value)


a1, b1, c1 = eq("a", N(1)), eq("b", N(1)), eq("c", N(1))

TREES = [
    ("process where a == 1", where(a1, "process")),
    ('"my-cat" where a == 1', where(a1, "my-cat")),
    ("any where a == 1 or b == 1 and c == 1", where(nodes.Or((a1, nodes.And((b1, c1)))))),
    ("any where not a == 1 and b == 1", where(nodes.And((nodes.Not(a1), b1)))),
    ("any where not (a == 1 and b == 1)", where(nodes.Not(nodes.And((a1, b1))))),
    ("any where a == 1 or (b == 1 or c == 1)", where(nodes.Or((a1, nodes.Or((b1, c1)))))),
    (
        "any where 2 + a * 3 == 14",
        where(
            nodes.Comparison(
                "==",
                nodes.Arithmetic("+", N(2), nodes.Arithmetic("*", F(("a",)), N(3))),
                N(14),
            )
        ),
    ),
    (
        "any where a - b - c",
        where(nodes.Arithmetic("-", nodes.Arithmetic("-", F(("a",)), F(("b",))), F(("c",)))),
    ),
    (
        "any where a - (b - c)",
        where(nodes.Arithmetic("-", F(("a",)), nodes.Arithmetic("-", F(("b",)), F(("c",))))),
    ),
    # The reference grammar binds a predicate to the primary before it.
    (
        "any where a + b in (1)",
        where(nodes.Arithmetic("+", F(("a",)), nodes.Membership(F(("b",)), (N(1),)))),
    ),
    ("any where -a in (1)", where(nodes.Sign("-", nodes.Membership(F(("a",)), (N(1),))))),
    (
        'any where a not in~ ("x", "y")',
        where(nodes.Membership(F(("a",)), (S("x"), S("y")), insensitive=True, negated=True)),
    ),
    ('any where a : ("x")', where(nodes.PatternMatch(F(("a",)), ":", (S("x"),)))),
    ('any where a : "x"', where(nodes.PatternMatch(F(("a",)), ":", (S("x"),)))),
    (
        'any where a like~ ("x*", "y?")',
        where(nodes.PatternMatch(F(("a",)), "like~", (S("x*"), S("y?")))),
    ),
    ('any where a regex~ "x"', where(nodes.PatternMatch(F(("a",)), "regex~", (S("x"),)))),
    (
        'any where startsWith~(process.name, "cmd")',
        where(nodes.Call("startsWith", (F(("process", "name")), S("cmd")), insensitive=True)),
    ),
    (
        "any where ?user.id != null",
        where(nodes.Comparison("!=", F(("user", "id"), True), nodes.Null())),
    ),
    (
        "any where `my field`.`a``b` == 1",
        where(nodes.Comparison("==", F(("my field", "a`b")), N(1))),
    ),
    ('any where a == """C:\\x"""', where(eq("a", S("C:\\x")))),
    ('any where a == "\\t\\n\\\\\\"\\u{1F600}"', where(eq("a", S('\t\n\\"\U0001f600')))),
    ("any where a == 1.5e3", where(eq("a", N(1500.0)))),
    ("any where android", where(F(("android",)))),
    ("any where @timestamp > 0", where(nodes.Comparison(">", F(("@timestamp",)), N(0)))),
    ("any where true // trailing\n", where(nodes.Boolean(True))),
    (
        "sequence by user.name with maxspan=5m\n"
        "  [process where a == 1] by x with runs=2\n"
        "  ![file where true]\n"
        "until [any where b == 1]",
        nodes.Sequence(
            (
                nodes.Step(where(a1, "process"), (F(("x",)),), runs=2),
                nodes.Step(where(nodes.Boolean(True), "file"), missing=True),
            ),
            (F(("user", "name")),),
            nodes.Duration(5, "m"),
            where(b1),
        ),
    ),
]


@pytest.mark.parametrize(("text", "tree"), TREES, ids=[text for text, _ in TREES])
def test_query_parses_to_the_expected_tree(text: str, tree: nodes.Query) -> None:
    assert parser.parse(text) == tree


@pytest.mark.parametrize(("text", "tree"), TREES, ids=[text for text, _ in TREES])
def test_rendering_an_example_parses_back_to_it(text: str, tree: nodes.Query) -> None:
    assert parser.parse(render.render(tree)) == tree


def test_rendering_is_canonical() -> None:
    tree = parser.parse('any   where (a==1)and not(b:("x"))')
    assert render.render(tree) == 'any where a == 1 and not b : "x"'


def test_positions_point_at_tokens_and_are_not_part_of_equality() -> None:
    tree = parser.parse("any where\n  length(f) == 1")
    assert isinstance(tree, nodes.EventQuery)
    condition = tree.condition
    assert isinstance(condition, nodes.Comparison)
    assert (condition.line, condition.column) == (2, 13)
    assert (condition.left.line, condition.left.column) == (2, 3)
    assert tree == nodes.EventQuery(None, condition)


@settings(max_examples=300, deadline=None)
@given(strategies.queries)
def test_rendering_any_tree_parses_back_to_it(tree: nodes.Query) -> None:
    assert parser.parse(render.render(tree)) == tree
