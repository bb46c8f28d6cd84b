"""Property: for any event shape, the lazy view and the built document never disagree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from audithound.normalize import view

ACCESS = view.AuditEventAccess()

# Keys from a tiny alphabet so that dotted keys collide with nested paths ("a.b" and a -> b).
KEYS = st.one_of(st.from_regex(r"[ab](\.[ab]|[ab_])?", fullmatch=True), st.just("metadata"))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "x", "1.2.3.4"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=12,
)
EVENTS = st.fixed_dictionaries(
    {"auditID": st.just("id"), "verb": st.sampled_from(["get", ""])},
    optional={
        "user": JSON,
        "sourceIPs": st.lists(st.sampled_from(["10.0.0.1", "::1", "nope", ""]), max_size=3),
        "annotations": st.dictionaries(KEYS, JSON, max_size=4),
        "requestObject": JSON,
        "responseObject": JSON,
        "objectRef": JSON,
    },
)


def _leaf_paths(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for item in node:
            yield from _leaf_paths(item, path)
    else:
        yield path, node


def _canonical(values: list[Any]) -> list[str]:
    return sorted(json.dumps(value) for value in values)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_view_and_document_agree_on_every_leaf(raw: dict[str, Any]) -> None:
    by_path: dict[str, list[Any]] = {}
    for path, value in _leaf_paths(view.document(raw)):
        by_path.setdefault(path, []).append(value)
    for path, values in by_path.items():
        assert _canonical(ACCESS.values(path)(raw)) == _canonical(values), path
        assert ACCESS.present(path)(raw), path
    leaves = [value for values in by_path.values() for value in values]
    assert _canonical(ACCESS.everything()(raw)) == _canonical(leaves)
