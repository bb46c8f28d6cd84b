"""EQL into the rule set's generated function: the same fast path as KQL.

Fed by: checked event queries (a single-event query, or the steps and ``until`` of a
sequence) and a :class:`~audithound.kql.documents.FieldAccess`. Feeds: the rule set, through
:class:`audithound.kql.codegen.External`: one generated function runs every rule of a set,
whatever its language, and reads each field once per event for all of them.

What is inlined is what detections are made of, in forms whose answer is the evaluator's by
construction (:mod:`audithound.eql.evaluate`): ``and``/``or``/``not`` as Python's operators;
the category (``process where``) and a case-sensitive ``==``/``!=``/``in``/``not in`` of a
field against strings as ``in``/``isdisjoint`` over the field's shared values (EQL equality
of strings holds only between strings, which is what Python's ``in`` over the raw values
does: ``"1"`` is never ``1``); the evaluator's own tests of one field's values
(:func:`~audithound.eql.evaluate.field_test`: pattern matches, ``in~``, ``startsWith`` ...)
over the shared values. Every other condition is the evaluator's closure, called on the
document.

No query text becomes code: the expression holds generated names only (see the codegen).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from audithound.eql import evaluate, nodes
from audithound.kql import codegen, documents


class Lowered(codegen.External):
    """Event queries that match when any of them matches (one, or a sequence's steps)."""

    def __init__(self, queries: Sequence[nodes.EventQuery], access: documents.FieldAccess):
        self.queries = tuple(queries)
        self._access = access
        # Compiled now, so that a query the evaluator refuses fails the rule's compilation.
        self._predicates = tuple(evaluate.compile_event(query, access) for query in queries)

    def predicate(self) -> Callable[[Any], bool]:
        predicates = self._predicates
        return lambda document: any(test(document) for test in predicates)

    def lower(self, source: codegen.Source) -> str | bool:
        return codegen.combine(
            (_event(query, source, self._access) for query in self.queries), True
        )


def _event(
    query: nodes.EventQuery, source: codegen.Source, access: documents.FieldAccess
) -> str | bool:
    condition = _condition(query.condition, source, access, 0)
    if query.category is None or condition is False:
        return condition
    category = _contains(source, evaluate.CATEGORY_FIELD, query.category)
    return category if condition is True else f"({category} and {condition})"


def _condition(
    node: nodes.Expression, source: codegen.Source, access: documents.FieldAccess, depth: int
) -> str | bool:
    if depth > codegen.MAX_DEPTH:
        raise codegen.TooDeep
    match node:
        case nodes.Or(children) | nodes.And(children):
            parts = (_condition(child, source, access, depth + 1) for child in children)
            return codegen.combine(parts, isinstance(node, nodes.Or))
        case nodes.Not(operand):
            inner = _condition(operand, source, access, depth + 1)
            return (not inner) if isinstance(inner, bool) else f"(not {inner})"
        case nodes.Boolean(value):
            return value
        case _:
            exact = exact_strings(node)
            if exact is not None:
                field, texts, negated = exact
                test = _contains_any(source, field, texts)
                return f"(not {test})" if negated else test
            single = evaluate.field_test(node)
            if single is not None:
                field, values_test = single
                return f"{source.name(values_test, 't')}({source.values(field)})"
            closure = evaluate.compile_condition(node, access)
            return f"{source.name(closure, 'c')}(document)"


def exact_strings(node: nodes.Expression) -> tuple[str, frozenset[str], bool] | None:
    """``(field, strings, negated)`` when ``node`` is a case-sensitive test of a field
    against strings (``f == "a"``, ``"a" == f``, ``f != "a"``, ``f in ("a", "b")``,
    ``f not in (...)``), else None."""
    match node:
        case nodes.Comparison("==" | "!=" as op, nodes.Field() as field, nodes.String(text)) | (
            nodes.Comparison("==" | "!=" as op, nodes.String(text), nodes.Field() as field)
        ):
            return field.name, frozenset({text}), op == "!="
        case nodes.Membership(nodes.Field() as field, members, False, negated) if all(
            isinstance(member, nodes.String) for member in members
        ):
            texts = frozenset(
                member.value for member in members if isinstance(member, nodes.String)
            )
            return field.name, texts, negated
        case _:
            return None


def _contains(source: codegen.Source, field: str, text: str) -> str:
    return f"({source.name(text, 'k')} in {source.values(field)})"


def _contains_any(source: codegen.Source, field: str, texts: frozenset[str]) -> str:
    if len(texts) == 1:
        (only,) = texts
        return _contains(source, field, only)
    return f"(not {source.name(texts, 'k')}.isdisjoint({source.values(field)}))"
