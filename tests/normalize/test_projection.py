"""Property: a field's closures answer on a projection of the event (only the paths
``raw_paths`` names, decoded by the reader's partial decoder) exactly as on the whole event."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audithound.normalize import catalogue, view
from audithound.source import decode

ACCESS = view.AuditEventAccess()

# A tiny alphabet, so that dotted keys collide with nested paths ("a.b" and a -> b), and the
# names the view knows, so that the fields below find something.
KEYS = st.one_of(
    st.from_regex(r"[ab](\.[ab]|[ab_])?", fullmatch=True),
    st.sampled_from(["metadata", "spec", "username", "resource", "name", "uid", "code"]),
    st.sampled_from(["a.b", "spec.a", "metadata.name"]),
    st.sampled_from(["authorization.k8s.io/decision", "authorization_k8s.io/decision"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "x", "allow", "forbid", "10.0.0.1", 'q"uote\\', "tab\tand\nnewline", "é"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=12,
)
TOP = st.sampled_from(
    [
        "spec",
        "user",
        "impersonatedUser",
        "objectRef",
        "objectRef.resource",
        "requestObject",
        "requestObject.spec",
        "responseObject",
        "responseStatus",
        "annotations",
        "sourceIPs",
        "userAgent",
        "verb",
        "a",
        "a.b",
    ]
)
ANNOTATIONS = st.dictionaries(
    st.sampled_from(["authorization.k8s.io/decision", "authorization_k8s.io/decision", "a.b"]),
    st.one_of(st.sampled_from(["allow", "forbid"]), JSON),
    max_size=3,
)
EVENTS = st.tuples(st.dictionaries(TOP, JSON, max_size=6), ANNOTATIONS).map(
    lambda parts: {"auditID": "id", **parts[0], "annotations": parts[1]}
)

FIELDS = sorted(
    {field.name.removesuffix(".*") for field in catalogue.FIELDS}
    | set(view.DERIVED_FIELDS)
    | {
        "kubernetes.audit.a.b",
        "kubernetes.audit.objectRef.resource",
        "kubernetes.audit.requestObject.spec.a",
        "kubernetes.audit.requestObject.a.b",
        "kubernetes.audit.user.a.b",
        "kubernetes.audit.requestObject.metadata.name",
        "kubernetes.audit.annotations.a_b",
        "kubernetes.audit.annotations.authorization_k8s_io/decision",
        "kubernetes.audit.user.username",
        "orchestrator",
        "orchestrator.resource",
        "user",
        "no.such.field",
    }
)


def _answers(field: str, event: dict[str, Any]) -> tuple[Any, ...]:
    objects, inner = ACCESS.elements(field)
    found = objects(event)
    return (
        sorted(json.dumps(value) for value in ACCESS.values(field)(event)),
        ACCESS.present(field)(event),
        len(found),
        [sorted(json.dumps(value) for value in inner.everything()(item)) for item in found],
    )


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=60, deadline=None)
@given(event=EVENTS)
@example(  # dotted keys at each level, where a path may also be spelled
    event={
        "auditID": "id",
        "objectRef.resource": "r",
        "requestObject": {"a.b": "x", "spec.a": "y", "spec": {"a": ["z", {"b": 1}]}},
        "user": {"a.b": "u", "username": "alice"},
        "a": [{"b": 2}, 3],
        "annotations": {"authorization.k8s.io/decision": "allow", "a.b": "c"},
    }
)
def test_a_field_reads_the_same_from_its_projection(field: str, event: dict[str, Any]) -> None:
    paths = ACCESS.raw_paths(field)
    assert paths is not None, field
    line = orjson.dumps(event)
    projected = decode.Projection(paths | {("auditID",)}).decode(line)
    whole = orjson.loads(line)
    if projected is None:  # the reader decodes such a line whole
        assert not line.isascii() or _list_in_list(whole), line
        return
    assert _answers(field, projected) == _answers(field, whole), field


def _list_in_list(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_list_in_list(value) for value in node.values())
    if isinstance(node, list):
        return any(isinstance(item, list) or _list_in_list(item) for item in node)
    return False


def test_the_whole_event_reads_every_path() -> None:
    assert ACCESS.raw_paths("kubernetes.audit") is None
    assert ACCESS.raw_paths("kubernetes") is None
    assert ACCESS.raw_paths("") is None


def test_every_derived_field_names_the_paths_it_reads() -> None:
    for field in view.DERIVED_FIELDS:
        assert ACCESS.raw_paths(field), field
    assert ACCESS.raw_paths("event.dataset") == frozenset()


def test_a_path_is_read_through_every_dotted_spelling() -> None:
    assert ACCESS.raw_paths("kubernetes.audit.objectRef.resource") == {
        ("objectRef", "resource"),
        ("objectRef.resource",),
    }
    assert ACCESS.raw_paths("kubernetes.audit.requestObject.spec.hostPID") == {
        ("requestObject", "spec", "hostPID"),
        ("requestObject", "spec.hostPID"),
    }
    assert ACCESS.raw_paths("kubernetes.audit.annotations.a_b") == {
        ("annotations", "a.b"),
        ("annotations", "a_b"),
    }
    assert ACCESS.raw_paths("kubernetes.audit.annotations") == {("annotations",)}
    # Past MAX_SPELLED_SEGMENTS, the 2**(n-1) spellings are not listed: the first keys whole.
    segments = list("abcdefghij")
    assert ACCESS.raw_paths("kubernetes.audit." + ".".join(segments)) == {
        (".".join(segments[:n]),) for n in range(1, len(segments) + 1)
    }
