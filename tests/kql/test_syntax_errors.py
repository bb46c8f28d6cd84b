"""Queries that are not KQL fail with a KqlSyntaxError that says what and where."""

from __future__ import annotations

import pathlib
import pickle
import tomllib
from typing import Any

import pytest

from audithound.kql import compiler, documents, errors, parser, render

ERRORS: list[dict[str, Any]] = tomllib.loads(
    (pathlib.Path(__file__).parent / "syntax_errors.toml").read_text(encoding="utf-8")
)["error"]


@pytest.mark.parametrize("row", ERRORS, ids=[row["query"] for row in ERRORS])
def test_error_names_the_position_and_what_was_expected(row: dict[str, Any]) -> None:
    with pytest.raises(errors.KqlSyntaxError) as caught:
        parser.parse(row["query"])
    error = caught.value
    assert (error.line, error.column) == (row["line"], row["column"]), error.message
    assert row["message"] in error.message


def test_message_reads_line_column_message_then_the_excerpt() -> None:
    query = "event.dataset:kubernetes.audit_logs and kubernetes.audit.verb:"
    with pytest.raises(errors.KqlSyntaxError) as caught:
        parser.parse(query)
    assert str(caught.value) == (
        "line 1, column 63: expected a value after ':'\n" + query + "\n" + " " * 62 + "^"
    )


def test_excerpt_shows_the_offending_line_of_a_multiline_query() -> None:
    with pytest.raises(errors.KqlSyntaxError) as caught:
        parser.parse("verb:get\n  and uri:a:b\n  and x:y")
    assert caught.value.excerpt == "  and uri:a:b\n           ^"


def test_caret_keeps_tabs_so_it_lines_up_under_the_column() -> None:
    with pytest.raises(errors.KqlSyntaxError) as caught:
        parser.parse("\tverb:a:b")
    assert caught.value.excerpt == "\tverb:a:b\n\t      ^"


def test_excerpt_of_a_very_long_line_is_cut_around_the_column() -> None:
    query = "verb:get and " * 40 + "uri:a:b" + " and verb:get" * 40
    with pytest.raises(errors.KqlSyntaxError) as caught:
        parser.parse(query)
    error = caught.value
    source, caret = error.excerpt.split("\n")
    assert len(source) == errors.EXCERPT_WIDTH
    assert source[len(caret) - 1] == ":"
    assert query[error.column - 1] == ":"


def test_error_is_a_value_error_and_survives_pickling() -> None:
    with pytest.raises(ValueError) as caught:
        parser.parse("verb:")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)


def test_nesting_deeper_than_the_limit_is_refused_with_its_position() -> None:
    depth = parser.MAX_DEPTH + 1
    with pytest.raises(errors.KqlSyntaxError) as caught:
        parser.parse("(" * depth + "a:b" + ")" * depth)
    assert caught.value.column == depth
    assert f"nesting deeper than {parser.MAX_DEPTH} levels" in caught.value.message


def test_nesting_at_the_limit_parses() -> None:
    depth = parser.MAX_DEPTH
    tree = parser.parse("x:" + "(" * depth + "a" + ")" * depth)
    assert tree == parser.parse("x:a")


def test_deepest_allowed_query_renders_and_compiles_without_recursion_errors() -> None:
    depth = parser.MAX_DEPTH - 1
    # Each level is a "not" of a group: the deepest tree the limit lets through.
    query = "x:(" + "not (" * depth + "a" + ")" * depth + ")"
    tree = parser.parse(query)
    assert parser.parse(render.render(tree)) == tree
    predicate = compiler.compile_query(tree, documents.JsonFieldAccess())
    # An odd number of negations of "x is a".
    assert predicate({"x": "b"}) is True
    assert predicate({"x": "a"}) is False
