"""The parser reads KQL into the tree the grammar describes, and fails only with KqlSyntaxError."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audithound.kql import errors, nodes, parser, render
from tests.kql import strategies

Text, Pattern, Exists = nodes.Text, nodes.Pattern, nodes.Exists
Match, And, Or, Not = nodes.Match, nodes.And, nodes.Or, nodes.Not


def m(field: str, value: str) -> nodes.Match:
    return Match(field, Text(value))


TREES = [
    ("a:x", m("a", "x")),
    ('a:"x"', Match("a", Text("x", quoted=True))),
    ("a:x or b:y and c:z", Or((m("a", "x"), And((m("b", "y"), m("c", "z")))))),
    ("a:x and b:y or c:z", Or((And((m("a", "x"), m("b", "y"))), m("c", "z")))),
    ("not a:x and b:y", And((Not(m("a", "x")), m("b", "y")))),
    ("not (a:x and b:y)", Not(And((m("a", "x"), m("b", "y"))))),
    ("a:x or b:y or c:z", Or((m("a", "x"), m("b", "y"), m("c", "z")))),
    ("a:x or (b:y or c:z)", Or((m("a", "x"), Or((m("b", "y"), m("c", "z")))))),
    ("a:x And b:y OR NOT c:z", Or((And((m("a", "x"), m("b", "y"))), Not(m("c", "z"))))),
    ("not(a:x)", Not(m("a", "x"))),
    ("(a:x)and(b:y)", And((m("a", "x"), m("b", "y")))),
    ("f:*", Match("f", Exists())),
    ("f:**", Match("f", Pattern(("", "", "")))),
    ("f:a*b*", Match("f", Pattern(("a", "b", "")))),
    ("f:what?", m("f", "what?")),
    ('f:"a*"', Match("f", Text("a*", quoted=True))),
    ("f:a\\*", m("f", "a*")),
    (
        "f:(a or b and not c)",
        Match(
            "f",
            nodes.ValueOr((Text("a"), nodes.ValueAnd((Text("b"), nodes.ValueNot(Text("c")))))),
        ),
    ),
    ("f:(not (not a))", Match("f", nodes.ValueNot(nodes.ValueNot(Text("a"))))),
    (
        "f:{ a:x and b:* }",
        nodes.Nested("f", And((m("a", "x"), Match("b", Exists())))),
    ),
    ("f < 5", nodes.Range("f", "<", Text("5"))),
    ("f<=x", nodes.Range("f", "<=", Text("x"))),
    ('f >= "a b"', nodes.Range("f", ">=", Text("a b", quoted=True))),
    ("f > 2024-01-01T00:00:00Z", nodes.Range("f", ">", Text("2024-01-01T00:00:00Z"))),
    ("ua:foo bar", m("ua", "foo bar")),
    ("ua:foo  \t bar baz", m("ua", "foo  \t bar baz")),
    ("ua:cannot be", m("ua", "cannot be")),
    ("ua:notable or x:y", Or((m("ua", "notable"), m("x", "y")))),
    ("f:\\or", m("f", "or")),
    ("f:\\AND", m("f", "AND")),
    ("f:\\NOT", m("f", "NOT")),
    # ``\n`` is read first, then the value is trimmed (Kibana): ``\not`` is ``ot``.
    ("f:\\not", m("f", "ot")),
    ("f:\\tadmin\\u0020", m("f", "admin")),
    ("f:\\u0020*x\\t", Match("f", nodes.Pattern(("", "x")))),
    ("f:\\t", Match("f", Text("", quoted=True))),
    ("n > \\u00205\\t", nodes.Range("n", ">", Text("5"))),
    ("f:a\\tb\\rc\\nd", m("f", "a\tb\rc\nd")),
    ("f:\\u00e9\\u00C9", m("f", "éÉ")),
    ("f:\\ud83d\\ude00", m("f", "\U0001f600")),
    ('f:"a\\b"', Match("f", Text("a\\b", quoted=True))),
    ('f:"\\\\ \\" \\t \\u0041"', Match("f", Text('\\ " \t A', quoted=True))),
    ('f:\\(\\)\\:\\<\\>\\"\\*\\{\\}\\\\', m("f", '():<>"*{}\\')),
    ("f:true", m("f", "true")),
    ("f:null", m("f", "null")),
    ("f:007", m("f", "007")),
    ("or:x", m("or", "x")),
    ("not:x", m("not", "x")),
    ('"a b":x', m("a b", "x")),
    ("@timestamp:x", m("@timestamp", "x")),
    (
        "kubernetes.audit.annotations.pod-security_kubernetes_io/enforce-policy:x",
        m("kubernetes.audit.annotations.pod-security_kubernetes_io/enforce-policy", "x"),
    ),
    ("x", nodes.FreeText(Text("x"))),
    ('"x y"', nodes.FreeText(Text("x y", quoted=True))),
    ("*", nodes.FreeText(Exists())),
    ("x or y", Or((nodes.FreeText(Text("x")), nodes.FreeText(Text("y"))))),
    ("\u00a0a:x\u00a0", m("a", "x")),
]


@pytest.mark.parametrize(("query", "tree"), TREES, ids=[query for query, _ in TREES])
def test_query_parses_to_the_tree(query: str, tree: nodes.Node) -> None:
    assert parser.parse(query) == tree


def test_fields_and_values_carry_their_source_positions() -> None:
    tree = parser.parse('a:x\n  and bb : "y"\n  and not c:{ d < 5 }')
    assert isinstance(tree, nodes.And)
    first, second, third = tree.children
    assert isinstance(first, nodes.Match) and isinstance(second, nodes.Match)
    assert isinstance(first.value, nodes.Text) and isinstance(second.value, nodes.Text)
    assert (first.line, first.column, first.value.line, first.value.column) == (1, 1, 1, 3)
    assert (second.line, second.column) == (2, 7)
    assert (second.value.line, second.value.column) == (2, 12)
    assert isinstance(third, nodes.Not) and isinstance(third.child, nodes.Nested)
    nested = third.child
    assert (nested.line, nested.column) == (3, 11)
    assert isinstance(nested.query, nodes.Range)
    assert (nested.query.line, nested.query.column, nested.query.value.column) == (3, 15, 19)


def test_the_seed_rule_parses() -> None:
    tree = parser.parse(
        "event.dataset:kubernetes.audit_logs\n"
        "  and kubernetes.audit.annotations.authorization_k8s_io/decision:allow\n"
        '  and kubernetes.audit.user.username:("system:anonymous" or '
        '"system:unauthenticated" or not *)\n'
        "  and not kubernetes.audit.requestURI:(/healthz* or /livez* or /readyz*)"
    )
    assert render.render(tree) == (
        "event.dataset:kubernetes.audit_logs"
        " and kubernetes.audit.annotations.authorization_k8s_io/decision:allow"
        ' and kubernetes.audit.user.username:("system:anonymous" or "system:unauthenticated"'
        " or not *)"
        " and not kubernetes.audit.requestURI:(/healthz* or /livez* or /readyz*)"
    )


def test_nodes_are_frozen_and_hashable() -> None:
    tree = parser.parse("a:(x or y) and not b:*")
    assert len({tree, parser.parse("a:(x or y) and not b:*")}) == 1
    assert isinstance(tree, nodes.And)
    with pytest.raises(AttributeError):
        tree.children = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    "broken",
    [
        lambda: Text("", quoted=False),
        lambda: Pattern(("a",)),
        lambda: Pattern(("", "")),
        lambda: And((m("a", "x"),)),
        lambda: nodes.ValueOr((Text("x"),)),
    ],
)
def test_trees_the_parser_could_not_produce_are_refused(broken: object) -> None:
    with pytest.raises(ValueError):
        broken()  # type: ignore[operator]


# Characters that matter to the grammar, to make fuzzed text interesting.
_SYNTAX = st.sampled_from([*' \t\n:()"{}*\\<>=', "or", "and", "not", "\\u00", "a", "é"])


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(_SYNTAX, max_size=25).map("".join)))
@example("not " * 2000 + "a")
@example("(" * 5000)
@example("a:" + "(" * 99 + "x" + ")" * 98)
def test_any_text_parses_or_raises_a_syntax_error_only(text: str) -> None:
    try:
        parser.parse(text)
    except errors.KqlSyntaxError as error:
        assert error.line >= 1 and error.column >= 1
        assert error.message


@settings(max_examples=300, deadline=None)
@given(strategies.trees(), st.data())
def test_mutated_queries_parse_or_raise_a_syntax_error_only(
    tree: nodes.Node, data: st.DataObject
) -> None:
    text = render.render(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 2))
        text = text[:where] + data.draw(_SYNTAX) + text[where + cut :]
    try:
        parser.parse(text)
    except errors.KqlSyntaxError as error:
        assert error.message
