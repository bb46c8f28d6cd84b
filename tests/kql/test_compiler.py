"""The compiled predicate: it agrees with a plain reading of the semantics, folds constant
fields away, and evaluates nested queries with the access each element comes with."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audithound.kql import compiler, documents, nodes, parser
from tests.kql import strategies

JSON = documents.JsonFieldAccess()
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _equals(text: str, value: Any) -> bool:
    if isinstance(value, bool):
        return text == ("true" if value else "false")
    if isinstance(value, int | float):
        return _NUMBER.fullmatch(text) is not None and float(text) == value
    return bool(text == value)


def _globs(parts: tuple[str, ...], value: Any) -> bool:
    pattern = ".*".join(re.escape(part) for part in parts)
    return isinstance(value, str) and re.fullmatch(pattern, value, re.DOTALL) is not None


def _in_range(op: str, text: str, value: Any) -> bool:
    compare = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
    compare |= {">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    if _NUMBER.fullmatch(text):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and compare[op](value, float(text))
    bound = compiler.parse_date(text)
    if bound is not None:
        found = compiler.parse_date(value) if isinstance(value, str) else None
        return found is not None and compare[op](found, bound)
    return isinstance(value, str) and compare[op](value, text)


def _value_holds(value: nodes.ValueNode, found: list[Any], present: bool) -> bool:
    match value:
        case nodes.Text(text):
            return any(_equals(text, item) for item in found)
        case nodes.Pattern(parts):
            return any(_globs(parts, item) for item in found)
        case nodes.Exists():
            return present
        case nodes.ValueOr(children):
            return any(_value_holds(child, found, present) for child in children)
        case nodes.ValueAnd(children):
            return all(_value_holds(child, found, present) for child in children)
        case nodes.ValueNot(child):
            return not _value_holds(child, found, present)
        case _:
            raise TypeError(value)


def reference(node: nodes.Node, doc: Any, access: documents.FieldAccess = JSON) -> bool:
    """Section 2 read literally: no folding, no merging, no ordering, no sets."""
    match node:
        case nodes.Or(children):
            return any(reference(child, doc, access) for child in children)
        case nodes.And(children):
            return all(reference(child, doc, access) for child in children)
        case nodes.Not(child):
            return not reference(child, doc, access)
        case nodes.Match(field, value):
            found = access.values(field)(doc)
            return _value_holds(value, found, access.present(field)(doc))
        case nodes.Range(field, op, bound):
            return any(_in_range(op, bound.text, item) for item in access.values(field)(doc))
        case nodes.Nested(field, query):
            elements, inner = access.elements(field)
            return any(reference(query, element, inner) for element in elements(doc))
        case nodes.FreeText(value):
            found = access.everything()(doc)
            return _value_holds(value, found, bool(found))
        case _:
            raise TypeError(node)


@settings(max_examples=1500, deadline=None)
@given(strategies.small_trees(), strategies.small_documents())
def test_compiled_predicate_agrees_with_the_plain_reading(
    tree: nodes.Node, doc: dict[str, Any]
) -> None:
    assert compiler.compile_query(tree, JSON)(doc) is reference(tree, doc)


_AFFIX_WORDS = ("x", "y", "xy", "1", "/h")
_affix_globs = st.one_of(
    st.builds(lambda word: nodes.Pattern((word, "")), st.sampled_from(_AFFIX_WORDS)),
    st.builds(lambda word: nodes.Pattern(("", word)), st.sampled_from(_AFFIX_WORDS)),
)
_affix_lists = st.lists(
    st.one_of(
        _affix_globs,
        st.builds(nodes.Text, st.sampled_from(_AFFIX_WORDS), st.booleans()),
        st.builds(nodes.Pattern, st.sampled_from([("x", "y", ""), ("", "x", "")])),
        st.builds(nodes.Exists),
    ),
    min_size=2,
    max_size=5,
)
_affix_values = st.one_of(
    _affix_lists.map(lambda children: nodes.ValueOr(tuple(children))),
    _affix_lists.map(lambda children: nodes.ValueNot(nodes.ValueOr(tuple(children)))),
    _affix_globs,
)
_affix_scalars = st.one_of(
    st.sampled_from(("x", "xy", "yx", "/hx", "a/h", "1", "")), st.integers(0, 2), st.none()
)


@settings(max_examples=800, deadline=None)
@given(
    st.sampled_from(strategies.SMALL_FIELDS),
    _affix_values,
    st.one_of(_affix_scalars, st.lists(_affix_scalars, max_size=3)),
)
def test_prefix_and_suffix_lists_agree_with_the_plain_reading(
    field: str, value: nodes.ValueNode, found: Any
) -> None:
    """Value lists of ``p*`` and ``*s`` globs compile to one startswith/endswith test."""
    doc: dict[str, Any] = {}
    if "." in field:
        head, tail = field.split(".")
        doc[head] = {tail: found}
    else:
        doc[field] = found
    tree = nodes.Match(field, value)
    assert compiler.compile_query(tree, JSON)(doc) is reference(tree, doc)


class ConstantAccess(documents.JsonFieldAccess):
    """JSON documents that all carry fixed fields, as normalized audit events do."""

    def __init__(self, constants: dict[str, list[Any]]) -> None:
        self.constants = constants
        self.asked: list[str] = []

    def values(self, field: str) -> documents.Getter:
        self.asked.append(field)
        return super().values(field)

    def present(self, field: str) -> documents.Presence:
        self.asked.append(field)
        return super().present(field)

    def constant(self, field: str) -> list[Any] | None:
        return self.constants.get(field)


DATASET = {"event.dataset": ["kubernetes.audit_logs"], "event.kind": ["event"]}


@pytest.mark.parametrize(
    ("query", "on_get", "on_list"),
    [
        ("event.dataset:kubernetes.audit_logs and verb:get", True, False),
        ("event.dataset:(kubernetes.audit_logs or other) and verb:get", True, False),
        ("event.dataset:kubernetes.* and verb:get", True, False),
        ("event.dataset:* and not event.kind:alert and verb:get", True, False),
        ("event.dataset:other or verb:get", True, False),
        ("not event.dataset:other and verb:list", False, True),
        ("event.kind < f and verb:get", True, False),
    ],
)
def test_conditions_on_constant_fields_are_decided_when_compiling(
    query: str, on_get: bool, on_list: bool
) -> None:
    access = ConstantAccess(DATASET)
    predicate = compiler.compile_query(parser.parse(query), access)
    assert access.asked == ["verb"]
    assert predicate({"verb": "get"}) is on_get
    assert predicate({"verb": "list"}) is on_list


@pytest.mark.parametrize(
    ("query", "always"),
    [
        ("event.dataset:kubernetes.audit_logs", True),
        ("event.dataset:other", False),
        ("event.dataset:other and verb:get", False),
        ("event.dataset:kubernetes.audit_logs or verb:get", True),
        ("not event.kind:*", False),
        ("event.kind:(event and not alert)", True),
    ],
)
def test_a_query_decided_by_constants_never_reads_the_document(query: str, always: bool) -> None:
    access = ConstantAccess(DATASET)
    predicate = compiler.compile_query(parser.parse(query), access)
    assert predicate(Untouchable()) is always


class Untouchable(dict[str, Any]):
    """A document that fails the test when any field of it is read."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the predicate read the document")

    def __getitem__(self, key: str) -> Any:
        raise AssertionError("the predicate read the document")


class PrefixedAccess(documents.JsonFieldAccess):
    """An access whose elements come with their own access: fields inside are under "spec"."""

    def elements(self, field: str) -> tuple[documents.Elements, documents.FieldAccess]:
        objects, _ = super().elements(field)
        return objects, _Inside()


class _Inside(documents.JsonFieldAccess):
    def values(self, field: str) -> documents.Getter:
        return super().values("spec." + field)


def test_nested_queries_use_the_access_returned_for_the_elements() -> None:
    predicate = compiler.compile_query(
        parser.parse("items:{ name:a and image:b }"), PrefixedAccess()
    )
    assert predicate({"items": [{"spec": {"name": "a", "image": "b"}}]}) is True
    assert predicate({"items": [{"name": "a", "image": "b"}]}) is False


@pytest.mark.parametrize(
    ("query", "doc", "expected"),
    [
        # Elastic's empty-value removal deletes an element holding only empty values.
        ("n:{ not a:x }", {"n": [{"a": "", "b": [], "c": {"d": None}}]}, False),
        ("n:{ not a:x }", {"n": [{"a": ""}, {"b": "y"}]}, True),
        ("n:{ not a:x }", {"n": {"a": "", "b": {}}}, False),
        ("n:{ b:0 }", {"n": [{"a": "", "b": 0}]}, True),
    ],
)
def test_nested_queries_never_see_an_element_of_empty_values(
    query: str, doc: dict[str, Any], expected: bool
) -> None:
    assert compiler.compile_query(parser.parse(query), JSON)(doc) is expected


def test_nested_query_on_one_object_and_on_missing_field() -> None:
    predicate = compiler.compile_query(parser.parse("o:{ a:1 and b:2 }"), JSON)
    assert predicate({"o": {"a": 1, "b": 2}}) is True
    assert predicate({"o": [{"a": 1}, {"b": 2}]}) is False
    assert predicate({}) is False


@pytest.mark.parametrize(
    ("query", "doc", "expected"),
    [
        ("n:*", {"n": 0}, True),
        ("n:*", {"n": False}, True),
        ("n:0", {"n": False}, False),
        ("n:1", {"n": True}, False),
        ("n:1", {"n": 1.0}, True),
        ("n:1e3", {"n": 1000}, True),
        ("n:-2", {"n": -2}, True),
        ("n:*", {"n": 5}, True),
        ("n:5*", {"n": 5}, False),
        ("n:*", {"n": [None, "", {}]}, False),
        ("n:*", {"n": [{"x": ""}, {"y": "z"}]}, True),
        ("n:(* and not a)", {"n": {"x": 1}}, True),
        ("n > 1", {"n": True}, False),
        ("n > 1", {"n": "2"}, False),
        ("n > a", {"n": 5}, False),
        ("n > 2024-01-01", {"n": 20250101}, False),
        ("t < 2024-01-01T00:00:00Z", {"t": "2023-12-31t23:59:59z"}, True),
        ("t < 2024-01-01T00:00:00Z", {"t": "2023-12-31T23:59:59"}, True),
        ("t > 2024-01-01T00:00:00+05:00", {"t": "2023-12-31T20:00:00Z"}, True),
        ("t > 2024-01-01", {"t": "2024-13-01"}, False),
        ("x", {"a": {"b": ["y", "x"]}}, True),
        ("*", {}, False),
        ("*", {"a": [None, ""]}, False),
        ("1", {"a": True}, False),
        ("true", {"a": True}, True),
    ],
)
def test_values_of_every_type(query: str, doc: dict[str, Any], expected: bool) -> None:
    assert compiler.compile_query(parser.parse(query), JSON)(doc) is expected


def test_compiling_something_that_is_not_a_node_fails_loudly() -> None:
    with pytest.raises(TypeError):
        compiler.compile_query("a:x", JSON)  # type: ignore[arg-type]
