"""Globs with `*` only: anchored, case-sensitive, and linear on hostile input."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audithound.kql import wildcard

# (glob written with *, value, matches)
GLOBS = [
    ("a*", "abc", True),
    ("a*", "bac", False),
    ("*c", "abc", True),
    ("*c", "abcd", False),
    ("*b*", "abc", True),
    ("*b*", "ac", False),
    ("a*c", "abc", True),
    ("a*c", "ac", True),
    ("a*c", "a", False),
    ("ab*bc", "abc", False),
    ("ab*bc", "abbc", True),
    ("a*b*c", "aXbYc", True),
    ("a*b*c", "aXcYb", False),
    ("*a*a*", "a", False),
    ("*a*a*", "aa", True),
    ("a**b", "ab", True),
    ("**", "", True),
    ("/healthz*", "/healthz?verbose", True),
    ("/healthz*", "/Healthz", False),
    ("system:serviceaccount:*:default", "system:serviceaccount:kube-system:default", True),
    ("*kubernetes/$Format", "kube-controller/v1.29 kubernetes/$Format", True),
    ("wh?*", "why", False),
    ("wh?*", "wh?", True),
]


@pytest.mark.parametrize(("glob", "value", "expected"), GLOBS)
def test_glob_matches_the_whole_value(glob: str, value: str, expected: bool) -> None:
    assert wildcard.compile_glob(glob.split("*"))(value) is expected


def test_a_glob_needs_a_wildcard() -> None:
    with pytest.raises(ValueError):
        wildcard.compile_glob(["abc"])


def _reference(parts: list[str], value: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in parts)
    return re.fullmatch(pattern, value, re.DOTALL) is not None


@settings(max_examples=1000)
@given(
    st.lists(st.text("ab", max_size=3), min_size=2, max_size=5),
    st.text("ab", max_size=12),
)
def test_glob_agrees_with_a_regular_expression(parts: list[str], value: str) -> None:
    assert wildcard.compile_glob(parts)(value) is _reference(parts, value)


@pytest.mark.parametrize(
    ("parts", "value"),
    [
        (["", *["a"] * 50, "b"], "a" * 100_000),
        (["", *["a"] * 50, "b", ""], "a" * 100_000),
        (["", *["ab"] * 50, ""], "a" * 100_000),
        (["a", *["a"] * 50, "c"], "a" * 100_000 + "c" + "a" * 10),
    ],
    ids=["*a*a...*b", "*a*a...*b*", "*ab*ab...*", "a*a...*c"],
)
def test_hostile_patterns_finish_in_milliseconds(parts: list[str], value: str) -> None:
    glob = wildcard.compile_glob(parts)
    start = time.perf_counter()
    glob(value)
    assert time.perf_counter() - start < 0.05
