"""Hypothesis strategies for the KQL tests: query trees, and small documents to run them on.

``trees()`` builds any tree the parser could produce (weird field names and values included),
for the round trip ``parse(render(t)) == t``. ``small_trees()`` and ``small_documents()`` share
a tiny vocabulary of fields and values so that generated queries often match generated
documents, for comparing the compiler with a plain reference and for soundness checks.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from audithound.kql import nodes

_NAME_CHARS = string.ascii_letters + string.digits + "_-/@"

field_names = st.one_of(
    st.lists(st.text(_NAME_CHARS, min_size=1, max_size=6), min_size=1, max_size=3).map(".".join),
    st.text(min_size=1, max_size=8).filter(lambda name: "" not in name.split(".")),
)

# Unquoted values are trimmed when parsed (as Kibana trims them): none starts or ends with
# white space.
unquoted_texts = st.builds(
    nodes.Text,
    st.text(min_size=1, max_size=10).filter(lambda text: text.strip(nodes.TRIMMED) == text),
    st.just(False),
)
quoted_texts = st.builds(nodes.Text, st.text(max_size=10), st.just(True))
patterns = st.builds(
    nodes.Pattern,
    st.lists(st.text(max_size=4), min_size=2, max_size=4)
    .map(tuple)
    .filter(lambda parts: parts != ("", ""))
    .filter(
        lambda parts: (
            parts[0].lstrip(nodes.TRIMMED) == parts[0]
            and parts[-1].rstrip(nodes.TRIMMED) == parts[-1]
        )
    ),
)
leaves: st.SearchStrategy[nodes.Leaf] = st.one_of(
    unquoted_texts, quoted_texts, patterns, st.builds(nodes.Exists)
)


def _value_branches(
    inner: st.SearchStrategy[nodes.ValueNode],
) -> st.SearchStrategy[nodes.ValueNode]:
    several = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(nodes.ValueOr, several),
        st.builds(nodes.ValueAnd, several),
        st.builds(nodes.ValueNot, inner),
    )


def value_trees(
    base: st.SearchStrategy[nodes.Leaf] = leaves,
) -> st.SearchStrategy[nodes.ValueNode]:
    return st.recursive(base, _value_branches, max_leaves=6)


def _query_branches(
    inner: st.SearchStrategy[nodes.Node], fields: st.SearchStrategy[str]
) -> st.SearchStrategy[nodes.Node]:
    several = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(nodes.And, several),
        st.builds(nodes.Or, several),
        st.builds(nodes.Not, inner),
        st.builds(nodes.Nested, fields, inner),
    )


def trees() -> st.SearchStrategy[nodes.Node]:
    """Any query tree."""
    bounds = st.one_of(unquoted_texts, quoted_texts)
    base = st.one_of(
        st.builds(nodes.Match, field_names, value_trees()),
        st.builds(nodes.Range, field_names, st.sampled_from(nodes.RANGE_OPS), bounds),
        st.builds(nodes.FreeText, leaves),
    )
    return st.recursive(base, lambda inner: _query_branches(inner, field_names), max_leaves=8)


# --- a small world where queries and documents meet ------------------------------------------

SMALL_FIELDS = ("a", "b", "c.d")
SMALL_WORDS = ("x", "y", "xy", "1", "2.5", "true", "false", "2024-01-01T00:00:00Z")

small_leaves: st.SearchStrategy[nodes.Leaf] = st.one_of(
    st.builds(nodes.Text, st.sampled_from(SMALL_WORDS), st.booleans()),
    st.builds(
        nodes.Pattern,
        st.lists(st.sampled_from(("", "x", "y", "1")), min_size=2, max_size=3)
        .map(tuple)
        .filter(lambda parts: parts != ("", "")),
    ),
    st.builds(nodes.Exists),
)


def small_trees() -> st.SearchStrategy[nodes.Node]:
    fields = st.sampled_from(SMALL_FIELDS)
    base = st.one_of(
        st.builds(nodes.Match, fields, value_trees(small_leaves)),
        st.builds(
            nodes.Range,
            fields,
            st.sampled_from(nodes.RANGE_OPS),
            st.builds(nodes.Text, st.sampled_from(SMALL_WORDS), st.booleans()),
        ),
        st.builds(nodes.FreeText, small_leaves),
    )
    # Nested queries go through "n", the one array of objects in small documents.
    return st.recursive(base, lambda inner: _query_branches(inner, st.just("n")), max_leaves=6)


_scalars = st.one_of(
    st.sampled_from(SMALL_WORDS),
    st.sampled_from(("", "2023-06-01T00:00:00+02:00", "a")),
    st.integers(-2, 3),
    st.sampled_from((2.5, 0.5)),
    st.booleans(),
    st.none(),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3))


def small_documents() -> st.SearchStrategy[dict[str, Any]]:
    element = st.fixed_dictionaries({}, optional={"a": _values, "b": _values})
    return st.fixed_dictionaries(
        {},
        optional={
            "a": _values,
            "b": _values,
            "c": st.one_of(
                st.fixed_dictionaries({}, optional={"d": _values}),
                st.lists(st.fixed_dictionaries({}, optional={"d": _values}), max_size=2),
            ),
            "c.d": _values,
            "n": st.lists(element, max_size=3),
        },
    )
