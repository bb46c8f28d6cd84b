"""Queries that are not EQL, or that Elasticsearch refuses, fail with an error that says what
and where (errors.toml), and the parser fails with nothing but its own error."""

from __future__ import annotations

import contextlib
import pathlib
import pickle
import tomllib
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audithound.eql import errors, evaluate, nodes, parser, verify
from audithound.kql import documents

TABLE = tomllib.loads((pathlib.Path(__file__).parent / "errors.toml").read_text("utf-8"))


@pytest.mark.parametrize("row", TABLE["syntax"], ids=[row["query"] for row in TABLE["syntax"]])
def test_syntax_error_names_the_position_and_what_was_expected(row: dict[str, Any]) -> None:
    with pytest.raises(errors.EqlSyntaxError) as caught:
        parser.parse(row["query"])
    error = caught.value
    assert (error.line, error.column) == (row["line"], row["column"]), error.message
    assert row["message"] in error.message


@pytest.mark.parametrize("row", TABLE["type"], ids=[row["query"] for row in TABLE["type"]])
def test_type_error_names_the_position_and_the_reason(row: dict[str, Any]) -> None:
    tree = parser.parse(row["query"])
    assert isinstance(tree, nodes.EventQuery)
    with pytest.raises(errors.EqlTypeError) as caught:
        evaluate.compile_event(tree, documents.JsonFieldAccess())
    error = caught.value
    assert (error.line, error.column) == (row["line"], row["column"]), error.message
    assert row["message"] in error.message


def test_every_problem_is_listed_at_once_in_text_order() -> None:
    tree = parser.parse("any where foo(a) and length~(b) == 1 and c == d")
    found = [(problem.column, problem.message) for problem in verify.problems(tree)]
    assert [column for column, _ in found] == [11, 22, 44]


def test_message_reads_line_column_message_then_the_excerpt() -> None:
    query = "any where a = 1"
    with pytest.raises(errors.EqlSyntaxError) as caught:
        parser.parse(query)
    assert str(caught.value) == (
        "line 1, column 13: '=' is no operator in EQL: write '==' (case-sensitive) or ':' "
        "(not)\n" + query + "\n" + " " * 12 + "^"
    )


def test_errors_are_value_errors_and_survive_pickling() -> None:
    with pytest.raises(ValueError) as caught:
        parser.parse("any where")
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)
    problem = verify.problems(parser.parse("any where foo()"))[0]
    assert str(pickle.loads(pickle.dumps(problem))) == str(problem)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = parser.MAX_DEPTH + 1
    with pytest.raises(errors.EqlSyntaxError) as caught:
        parser.parse("any where " + "not " * depth + "a")
    assert f"nesting deeper than {parser.MAX_DEPTH} levels" in caught.value.message


def test_deep_parentheses_leave_no_node_and_need_no_recursion() -> None:
    tree = parser.parse("any where " + "(" * 5000 + "a" + ")" * 5000)
    assert tree == parser.parse("any where a")


_EQL_ALPHABET = st.sampled_from(
    [
        *"abfnrtuxyz019 .,:;=!<>+-*/%()[]{}\"'`?~@_\\\n\t",
       "any", "where", "sequence", "by", "with", "maxspan", "runs", "until", "in~", "not",
       "and", "or", "like~", "regex", "null", "true", '"""', "//", "/*", "*/", "\\u{", "![",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_EQL_ALPHABET, max_size=30).map("".join) | st.text(max_size=40))
@example("any where ")
@example('any where f == "\\u{110000}"')
@example("sequence with maxspan=5m [any where a] ![any where b] until [any where c]")
def test_parser_raises_only_its_own_error_on_any_text(text: str) -> None:
    with contextlib.suppress(errors.EqlSyntaxError):
        parser.parse(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(_EQL_ALPHABET, max_size=30).map(lambda parts: "any where " + "".join(parts)))
def test_checking_and_compiling_any_parsed_text_raises_only_query_errors(text: str) -> None:
    try:
        tree = parser.parse(text)
    except errors.EqlSyntaxError:
        return
    if isinstance(tree, nodes.EventQuery):
        try:
            predicate = evaluate.compile_event(tree, documents.JsonFieldAccess())
        except errors.EqlTypeError:
            return
        predicate({"a": ["x", 1], "b": {"c": True}})
