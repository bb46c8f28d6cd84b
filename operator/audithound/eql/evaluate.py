"""Tree to predicate: ``compile_event(query, access)`` is a ``Callable[[document], bool]``.

Fed by: checked trees (:mod:`audithound.eql.parser`, :mod:`audithound.eql.verify`) and a
:class:`~audithound.kql.documents.FieldAccess`, the one way both query languages read a
document (arrays flattened, dotted keys, empty values removed). Feeds: whatever runs
single-event EQL rules. Sequences are parsed and rendered only: they have no runtime yet.

Compiled once, run many times: every field path, wildcard and regex is compiled here, and the
per-document closures only read values and compare.

Semantics, as Elasticsearch's EQL (which translates a query to Query DSL):
- an expression has a list of values in a document: a field all of its values, a missing
  field ``[None]`` (EQL's null); a comparison is true when any pair of values satisfies it,
  so a comparison on an array field is true when any element satisfies it;
- ``==`` ``in`` ``like`` ``regex`` are case-sensitive, ``:`` ``in~`` ``like~`` ``regex~``
  are not; ``:`` and ``like`` read ``*`` (any run) and ``?`` (exactly one character), ``\\``
  before either makes it literal; ``==`` reads no wildcard;
- ``!=``, ``not in`` and ``not`` are the negation of their positive form (Elasticsearch's
  ``must_not``): true on a missing field; ``f == null`` is true when ``f`` is missing and
  ``f != null`` when it is present;
- values compare only with values of their kind: strings with strings (lexicographic, by
  code point), numbers with numbers (``1 == 1.0``), booleans with booleans: ``1`` never
  equals ``"1"`` nor ``true`` (Elasticsearch refuses such a query on a mapped field; a
  document without a mapping cannot say more);
- ``category where`` is true when a value of ``event.category`` equals the category.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any

from audithound.eql import functions, nodes, regex, verify
from audithound.kql import documents, wildcard

Predicate = Callable[[Any], bool]
#: The values of an expression in one document; ``[None]`` when it is null.
Values = Callable[[Any], list[Any]]

#: The field an event query's category is compared with (ECS, Elasticsearch's default).
CATEGORY_FIELD = "event.category"

_NULL: list[Any] = [None]
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_event(query: nodes.EventQuery, access: documents.FieldAccess) -> Predicate:
    """The predicate of a single-event query; raises the first
    :class:`~audithound.eql.errors.EqlTypeError` of the query when it has problems."""
    _refuse_problems(query)
    condition = _condition(query.condition, access)
    if query.category is None:
        return condition
    category = query.category
    categories = access.values(CATEGORY_FIELD)

    def event(doc: Any) -> bool:
        return category in categories(doc) and condition(doc)

    return event


def compile_condition(expression: nodes.Expression, access: documents.FieldAccess) -> Predicate:
    """The predicate of one expression (``where`` clause); raises as :func:`compile_event`."""
    _refuse_problems(expression)
    return _condition(expression, access)


def _refuse_problems(tree: nodes.EventQuery | nodes.Expression) -> None:
    found = verify.problems(tree)
    if found:
        raise found[0]


def kind(value: Any) -> type | None:
    """The comparison kind of a value: ``str``, ``float`` (every number) or ``bool``."""
    kind_ = type(value)
    if kind_ is int:
        return float
    return kind_ if kind_ in (str, float, bool) else None


def equal(left: Any, right: Any) -> bool:
    """EQL equality of two values (None is null and equals only null)."""
    if left is None or right is None:
        return left is None and right is None
    return kind(left) is kind(right) and left == right


def _condition(node: nodes.Expression, access: documents.FieldAccess) -> Predicate:
    match node:
        case nodes.Or(children):
            parts = tuple(_condition(child, access) for child in children)
            return lambda doc: any(part(doc) for part in parts)
        case nodes.And(children):
            parts = tuple(_condition(child, access) for child in children)
            return lambda doc: all(part(doc) for part in parts)
        case nodes.Not(operand):
            inner = _condition(operand, access)
            return lambda doc: not inner(doc)
        case nodes.Comparison(op, left, right):
            return _comparison(op, _values(left, access), _values(right, access))
        case nodes.Membership(operand, members, insensitive, negated):
            found = _membership(_values(operand, access), members, insensitive, access)
            return (lambda doc: not found(doc)) if negated else found
        case nodes.PatternMatch(operand, kind_, patterns):
            return _pattern_match(_values(operand, access), kind_, patterns)
        case _:
            # A value in a boolean place (``where true``, a boolean field, a function).
            values = _values(node, access)
            return lambda doc: any(value is True for value in values(doc))


def _comparison(op: nodes.CompareOp, left: Values, right: Values) -> Predicate:
    if op in ("==", "!="):

        def equals(doc: Any) -> bool:
            rights = right(doc)
            return any(equal(a, b) for a in left(doc) for b in rights)

        return equals if op == "==" else (lambda doc: not equals(doc))
    test = _ORDER[op]

    def ordered(doc: Any) -> bool:
        rights = right(doc)
        for a in left(doc):
            for b in rights:
                kind_ = kind(a)
                if kind_ is not None and kind_ is kind(b) and test(a, b):
                    return True
        return False

    return ordered


def _membership(
    operand: Values,
    members: tuple[nodes.Expression, ...],
    insensitive: bool,
    access: documents.FieldAccess,
) -> Predicate:
    candidates = tuple(_values(member, access) for member in members)

    def member_values(doc: Any) -> list[Any]:
        return [value for candidate in candidates for value in candidate(doc)]

    if insensitive:

        def folded(doc: Any) -> bool:
            wanted = {value.lower() for value in member_values(doc) if type(value) is str}
            return any(type(v) is str and v.lower() in wanted for v in operand(doc))

        return folded

    def exact(doc: Any) -> bool:
        wanted = member_values(doc)
        return any(equal(value, member) for value in operand(doc) for member in wanted)

    return exact


def _pattern_match(
    operand: Values, kind_: nodes.PatternKind, patterns: Sequence[nodes.Constant]
) -> Predicate:
    insensitive = kind_ in (":", "like~", "regex~")
    texts = [pattern.value for pattern in patterns if isinstance(pattern, nodes.String)]
    if kind_.startswith("regex"):
        matchers = [regex.compile_regex(text, insensitive) for text in texts]
    else:
        matchers = [
            wildcard.compile_wildcard(text.lower() if insensitive else text) for text in texts
        ]

    def matches(doc: Any) -> bool:
        for value in operand(doc):
            if type(value) is str:
                # A regex~ folds case itself; a wildcard compares lowered text.
                text = value.lower() if insensitive and not kind_.startswith("regex") else value
                if any(matcher(text) for matcher in matchers):
                    return True
        return False

    return matches


def _values(node: nodes.Expression, access: documents.FieldAccess) -> Values:
    match node:
        case nodes.Field():
            get = access.values(node.name)
            return lambda doc: get(doc) or _NULL
        case nodes.Null():
            return lambda doc: _NULL
        case nodes.Boolean(value) | nodes.Number(value) | nodes.String(value):
            constant = [value]
            return lambda doc: constant
        case nodes.Call(name, arguments, insensitive):
            function = functions.FUNCTIONS[name]
            return _apply(
                lambda args: function.apply(args, insensitive),
                [_values(argument, access) for argument in arguments],
            )
        case nodes.Arithmetic(op, left, right):
            apply = _ARITHMETIC[op]
            return _apply(
                lambda args: apply(args, False), [_values(left, access), _values(right, access)]
            )
        case nodes.Sign(op, operand):
            return _apply(lambda args: _signed(op, args[0]), [_values(operand, access)])
        case (
            nodes.Or() | nodes.And() | nodes.Not() | nodes.Comparison() | nodes.Membership()
            | nodes.PatternMatch()
        ):  # fmt: skip
            condition = _condition(node, access)
            return lambda doc: [condition(doc)]
        case _:
            raise TypeError(f"not an expression: {node!r}")


_ARITHMETIC: dict[str, Callable[[Sequence[Any], bool], Any]] = {
    "+": functions.add,
    "-": functions.subtract,
    "*": functions.multiply,
    "/": functions.divide,
    "%": functions.modulo,
}


def _signed(op: str, value: Any) -> Any:
    if not functions.is_number(value):
        return None
    return -value if op == "-" else value


def _apply(function: Callable[[Sequence[Any]], Any], arguments: list[Values]) -> Values:
    """The values of ``function`` over every combination of its arguments' values."""
    if len(arguments) == 1:
        (only,) = arguments
        return lambda doc: [function((value,)) for value in only(doc)]

    def values(doc: Any) -> list[Any]:
        return [
            function(combination) for combination in itertools.product(*(a(doc) for a in arguments))
        ]

    return values
