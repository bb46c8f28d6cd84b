"""What an EQL query reads and requires, for the rule engine.

Fed by: parsed queries. Feeds: the rule compiler: the fields a rule reads (its status, the
field catalogue's warnings) and the exact values it requires (the rule set's index).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from audithound.eql import evaluate, lowering, nodes


def fields(tree: nodes.Query) -> Iterator[tuple[str, int, int]]:
    """Every field the query reads, with its line and column, in source order (join keys
    included; the category reads ``event.category``)."""
    found: list[tuple[str, int, int]] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Field):
            found.append((node.name, node.line, node.column))
        elif isinstance(node, nodes.EventQuery) and node.category is not None:
            found.append((evaluate.CATEGORY_FIELD, node.line, node.column))
        stack.extend(nodes.children(node))
    found.sort(key=lambda item: (item[1], item[2]))
    yield from found


def event_queries(tree: nodes.Query) -> tuple[nodes.EventQuery, ...]:
    """The event queries of a query: itself, or a sequence's steps and its ``until``."""
    if isinstance(tree, nodes.EventQuery):
        return (tree,)
    steps = tuple(step.query for step in tree.steps)
    return steps if tree.until is None else (*steps, tree.until)


def required_values(tree: nodes.Query) -> dict[str, frozenset[str]]:
    """Fields that must hold one of these exact strings for some event query to match."""
    requirements = [_event(query) for query in event_queries(tree)]
    return _any_of(requirements)


def _event(query: nodes.EventQuery) -> dict[str, frozenset[str]]:
    found = _condition(query.condition)
    if query.category is not None:
        found = _all_of([found, {evaluate.CATEGORY_FIELD: frozenset({query.category})}])
    return found


def _condition(node: nodes.Expression) -> dict[str, frozenset[str]]:
    match node:
        case nodes.And(children):
            return _all_of([_condition(child) for child in children])
        case nodes.Or(children):
            return _any_of([_condition(child) for child in children])
        case _:
            exact = lowering.exact_strings(node)
            if exact is None or exact[2]:
                return {}
            field, texts, _ = exact
            return {field: texts}


def _all_of(parts: list[dict[str, frozenset[str]]]) -> dict[str, frozenset[str]]:
    # Each requirement holds; of two on one field the smaller is kept (their intersection
    # would be wrong for an array field holding a value of each).
    found: dict[str, frozenset[str]] = {}
    for part in parts:
        for field, texts in part.items():
            if field not in found or len(texts) < len(found[field]):
                found[field] = texts
    return found


def _any_of(parts: list[dict[str, frozenset[str]]]) -> dict[str, frozenset[str]]:
    # A field every alternative requires, with the values of all of them.
    if not parts:
        return {}
    common: Mapping[str, frozenset[str]] = parts[0]
    found = dict(common)
    for part in parts[1:]:
        found = {field: texts | part[field] for field, texts in found.items() if field in part}
    return found
