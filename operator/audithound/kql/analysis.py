"""What a query reads, what it costs, what it requires: static facts for the rule engine.

Fed by: parsed queries (:mod:`audithound.kql.nodes`). Feeds: the rule engine, which checks the
fields against the field catalogue, shows the warnings beside a rule's errors, and indexes
rules by the values they require (``kubernetes.audit.verb``) so that an event is only offered
to rules that can match it.
"""

from __future__ import annotations

import dataclasses

from audithound.kql import compiler, nodes


@dataclasses.dataclass(frozen=True, slots=True)
class Warning:  # shadows the builtin here only; read as analysis.Warning elsewhere
    """A construct that works but costs or surprises; ``line``/``column`` are 1-based."""

    line: int
    column: int
    message: str


LEADING_WILDCARD = "leading wildcard: matched by scanning every value"
FREE_TEXT = "free-text term searches every field"


def fields(node: nodes.Node) -> list[tuple[str, int, int]]:
    """Every field the query reads, as ``(field, line, column)`` in source order.

    A nested query ``f:{ sub:x }`` reads ``f`` and, inside each element, ``f.sub``: both are
    listed, the inner one by its full path. A field read twice is listed twice.
    """
    found: list[tuple[str, int, int]] = []
    _collect_fields(node, "", found)
    return found


def _collect_fields(node: nodes.Node, prefix: str, found: list[tuple[str, int, int]]) -> None:
    match node:
        case nodes.Or(children) | nodes.And(children):
            for child in children:
                _collect_fields(child, prefix, found)
        case nodes.Not(child):
            _collect_fields(child, prefix, found)
        case nodes.Match(field, _, line, column) | nodes.Range(field, _, _, line, column):
            found.append((prefix + field, line, column))
        case nodes.Nested(field, query, line, column):
            found.append((prefix + field, line, column))
            _collect_fields(query, f"{prefix}{field}.", found)
        case nodes.FreeText():
            return
        case _:
            raise TypeError(f"not a query node: {node!r}")


def has_free_text(node: nodes.Node) -> bool:
    """Whether the query holds a bare value, which reads every field of a document."""
    match node:
        case nodes.Or(children) | nodes.And(children):
            return any(has_free_text(child) for child in children)
        case nodes.Not(child) | nodes.Nested(_, child):
            return has_free_text(child)
        case nodes.FreeText():
            return True
        case _:
            return False


def warnings(node: nodes.Node) -> list[Warning]:
    """Costly or surprising constructs, in source order.

    - a value starting with ``*`` (:data:`LEADING_WILDCARD`);
    - a bare value with no field (:data:`FREE_TEXT`).
    """
    found: list[Warning] = []
    _collect_warnings(node, found)
    return found


def _collect_warnings(node: nodes.Node, found: list[Warning]) -> None:
    match node:
        case nodes.Or(children) | nodes.And(children):
            for child in children:
                _collect_warnings(child, found)
        case nodes.Not(child):
            _collect_warnings(child, found)
        case nodes.Match(_, value):
            _value_warnings(value, found)
        case nodes.Range():
            # A bound is read by the field's type (a date field takes ``now-1d``, a keyword
            # field compares text), as in Elasticsearch: nothing surprising to say.
            return
        case nodes.Nested(_, query):
            _collect_warnings(query, found)
        case nodes.FreeText(value):
            found.append(Warning(value.line, value.column, FREE_TEXT))
            _value_warnings(value, found)
        case _:
            raise TypeError(f"not a query node: {node!r}")


def _value_warnings(value: nodes.ValueNode, found: list[Warning]) -> None:
    match value:
        case nodes.Pattern(parts, line, column):
            if not parts[0]:
                found.append(Warning(line, column, LEADING_WILDCARD))
        case nodes.Text() | nodes.Exists():
            return
        case nodes.ValueOr(children) | nodes.ValueAnd(children):
            for child in children:
                _value_warnings(child, found)
        case nodes.ValueNot(child):
            _value_warnings(child, found)
        case _:
            raise TypeError(f"not a value node: {value!r}")


def required_values(node: nodes.Node) -> dict[str, frozenset[str]]:
    """Fields the query needs to hold one of a set of exact strings, with that set.

    Sound: whenever the query holds for a document, each returned field has at least one
    value (a string) in its set. Only conditions every match must meet count: the conjuncts
    of the top-level ``and`` (through parentheses), an ``or`` whose branches all require the
    same field (the union), and value lists like ``f:(a or b)``. Anything under ``not``,
    wildcards, ``*``, ranges, free text and nested queries require nothing. Values that also
    match numbers or booleans (``200``, ``true``) make a field unusable, since a document
    could match through a non-string value.
    """
    return _required(node)


def _required(node: nodes.Node) -> dict[str, frozenset[str]]:
    match node:
        case nodes.And(children):
            result: dict[str, frozenset[str]] = {}
            for child in children:
                for field, values in _required(child).items():
                    # Both sets are required; either alone is sound, the smaller filters more.
                    if field not in result or len(values) < len(result[field]):
                        result[field] = values
            return result
        case nodes.Or(children):
            branches = [_required(child) for child in children]
            common = set(branches[0]).intersection(*branches[1:])
            return {
                field: frozenset().union(*(branch[field] for branch in branches))
                for field in sorted(common)
            }
        case nodes.Match(field, value):
            allowed = _required_value(value)
            return {} if allowed is None else {field: allowed}
        case nodes.Not() | nodes.Range() | nodes.Nested() | nodes.FreeText():
            return {}
        case _:
            raise TypeError(f"not a query node: {node!r}")


def _required_value(value: nodes.ValueNode) -> frozenset[str] | None:
    match value:
        case nodes.Text(text):
            return None if compiler.matches_non_strings(text) else frozenset((text,))
        case nodes.ValueOr(children):
            union: set[str] = set()
            for child in children:
                allowed = _required_value(child)
                if allowed is None:
                    return None
                union |= allowed
            return frozenset(union)
        case nodes.ValueAnd(children):
            options = [
                allowed for child in children if (allowed := _required_value(child)) is not None
            ]
            return min(options, key=len) if options else None
        case nodes.Pattern() | nodes.Exists() | nodes.ValueNot():
            return None
        case _:
            raise TypeError(f"not a value node: {value!r}")
