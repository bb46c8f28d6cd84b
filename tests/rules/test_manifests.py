"""Rule files are read as kubectl reads them (go-yaml v2, then JSON), and whatever the YAML
gets wrong is an error with its line and column, never an exception."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from audithound.rules import manifests

HUGE = "1" * 4301


@pytest.fixture(params=["libyaml", "pure-python"], autouse=True)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs with both parsers PyYAML may have."""
    if request.param == "pure-python":
        monkeypatch.setattr(manifests, "PARSER", manifests.PurePythonParser)
    yield request.param


def value(text: str) -> Any:
    documents, problems = manifests.read(f"v: {text}\n")
    assert problems == []
    (document,) = documents
    assert document.problems == ()
    return document.value["v"]


# What kubectl sent for each plain scalar, read back from the API server (kubectl 1.32,
# kube-apiserver 1.36; the same rows run against it in tests/api/test_apply_agrees.py).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("y", True),
        ("Y", True),
        ("yes", True),
        ("on", True),
        ("TRUE", True),
        ("n", False),
        ("NO", False),
        ("off", False),
        ("nO", "nO"),
        ("'no'", "no"),
        ('"yes"', "yes"),
        ("1e1", 10),
        ("1.5e3", 1500),
        (".5e1", 5),
        ("50.0", 50),
        ("10.", 10),
        ("50.5", 50.5),
        (".5", 0.5),
        ("0x1F", 31),
        ("017", 15),
        ("0o17", 15),
        ("0b11", 3),
        ("1_0", 10),
        ("+10", 10),
        ("-0", 0),
        ("1:30", "1:30"),
        ("2024-01-01", "2024-01-01"),
        ("2024-02-30", "2024-02-30"),
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
        ("=", "="),
        ("~", None),
        ("null", None),
        ("1e400", "1e400"),
        (HUGE, HUGE),
        ("18446744073709551615", 18446744073709551615),
        ("99999999999999999999", 1e20),
        ("-9223372036854775809", -9.223372036854776e18),
        ("!!str 5", "5"),
        ("!!int '5'", 5),
        ("!!int 0o17", 15),
        ("!!float 5", 5),
        ("!!bool 'yes'", True),
        ("!!timestamp 2024-01-01", "2024-01-01"),
        ("!custom text", "text"),
        ("!!binary aGVsbG8=", "hello"),
    ],
    ids=lambda v: str(v)[:24],
)
def test_plain_scalars_resolve_as_go_yaml_resolves_them(text: str, expected: Any) -> None:
    found = value(text)
    assert (found, type(found)) == (expected, type(expected))


def test_keys_become_json_keys() -> None:
    (document,), _ = manifests.read("1: a\ny: b\n1.5: c\n'q': d\n")
    assert document.value == {"1": "a", "true": "b", "1.5": "c", "q": "d"}


def test_merge_keys_merge_in_order_as_go_yaml_does() -> None:
    text = "base: &b {a: 1, b: 2}\nother: &o {b: 3, c: 4}\nx:\n  a: 0\n  <<: [*b, *o]\n  c: 5\n"
    (document,), problems = manifests.read(text)
    assert problems == [] and document.problems == ()
    assert document.value["x"] == {"a": 1, "b": 2, "c": 5}


def test_a_duplicate_key_is_an_error_with_its_path_and_both_positions() -> None:
    text = "spec:\n  severity: low\n  riskScore: 1\n  severity: high\n"
    (document,), _ = manifests.read(text)
    (problem,) = document.problems
    assert problem.is_error
    assert (problem.path, problem.file_line, problem.file_column) == ("spec.severity", 4, 3)
    assert problem.message.startswith("duplicate key 'severity' (first at line 2, column 3)")
    assert document.value["spec"]["severity"] == "high"  # what kubectl sends


def test_keys_that_are_the_same_in_json_are_duplicates() -> None:
    (document,), _ = manifests.read("1: a\n'1': b\ny: c\ntrue: d\n")
    assert [p.path for p in document.problems] == ["1", "true"]


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("a:\n  b: .inf\n", ".inf is not a JSON number", 2, 6),
        ("a:\n  b: .nan\n", ".nan is not a JSON number", 2, 6),
        ("a: !!int abc\n", "cannot read 'abc' as !!int", 1, 4),
        (f"a: !!int {HUGE}\n", "cannot read '1111111111111111111111111111111111111...' as", 1, 4),
        ("a: !!bool maybe\n", "cannot read 'maybe' as !!bool", 1, 4),
        ("a: !!timestamp 2024-02-30\n", "cannot read '2024-02-30' as !!timestamp", 1, 4),
        ("a: !!binary '@@@'\n", "invalid !!binary", 1, 4),
        ("~: a\n", "a key cannot be null in JSON", 1, 1),
        ("? [a]\n: b\n", "a key cannot be a mapping or a list in JSON", 1, 3),
        ("a: {<<: 5}\n", "a merge key (<<) needs a mapping", 1, 9),
    ],
    ids=lambda v: str(v)[:24],
)
def test_values_kubectl_cannot_send_are_errors_at_their_position(
    text: str, message: str, line: int, column: int
) -> None:
    (document,), problems = manifests.read(text)
    assert problems == []
    (problem,) = document.problems
    assert problem.message.startswith(message)
    assert (problem.file_line, problem.file_column) == (line, column)


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("a: &x\n  b: *x\n", "invalid YAML: alias 'x' refers to a node that contains it", 2, 6),
        ("a: *nothing\n", "invalid YAML: found undefined alias 'nothing'", 1, 4),
        ("a: [b\n", "invalid YAML: ", 2, 1),
        ("a: 'b\n", "invalid YAML: found unexpected end of stream", 2, 1),
    ],
)
def test_broken_yaml_is_an_error_at_its_position(
    text: str, message: str, line: int, column: int
) -> None:
    documents, problems = manifests.read(text)
    assert documents == []
    (problem,) = problems
    assert problem.message.startswith(message)
    assert (problem.file_line, problem.file_column) == (line, column)


def test_documents_before_a_syntax_error_are_kept() -> None:
    documents, problems = manifests.read("a: 1\n---\nb: [\n")
    assert [document.value for document in documents] == [{"a": 1}]
    assert len(problems) == 1


@pytest.mark.parametrize("depth", [manifests.MAX_DEPTH, 600])
def test_nesting_too_deep_is_an_error_and_the_next_document_is_read(depth: int) -> None:
    # The mapping holding "a" is the first level: the 100th "[" is one too many.
    text = "a: " + "[" * depth + "]" * depth + "\n---\nb: 1\n"
    documents, problems = manifests.read(text)
    assert [document.value for document in documents] == [{"b": 1}]
    (problem,) = problems
    assert problem.message == "nesting deeper than 100 levels: document not read"
    assert (problem.file_line, problem.file_column) == (1, 3 + manifests.MAX_DEPTH)


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = manifests.MAX_DEPTH
    (document,), problems = manifests.read("[" * depth + "]" * depth)
    assert problems == []
    inner = document.value
    for _ in range(depth - 1):
        inner = inner[0]
    assert inner == []


def test_aliases_share_one_value_so_billion_laughs_costs_nothing() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    started = time.perf_counter()
    (document,), problems = manifests.read("\n".join(lines) + "\n")
    assert problems == []
    assert time.perf_counter() - started < 1
    assert document.value["a9"][0] is document.value["a8"]


def test_an_empty_document_is_skipped() -> None:
    documents, problems = manifests.read("---\n---\na: 1\n")
    assert [document.value for document in documents] == [{"a": 1}]
    assert problems == []


def test_nan_is_still_reported_in_a_list() -> None:
    (document,), _ = manifests.read("a: [1, .nan]\n")
    assert math.isnan(document.value["a"][1])
    assert [p.path for p in document.problems] == ["a[1]"]
