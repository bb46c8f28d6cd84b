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
#: A condition on one field, as a test of that field's values (empty or ``[None]``: missing).
ValuesTest = Callable[[Sequence[Any]], bool]

#: Functions whose call on a field and a string, in a boolean place, is a test of the field's
#: values alone (the common detection forms ``startsWith~(user.name, "system:")``): each as
#: ``(value, argument) -> bool`` on strings already folded, exactly as ``eql.functions``
#: computes it (an empty source or substring contains nothing).
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "stringContains": lambda text, part: bool(text) and bool(part) and part in text,
}

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


def field_test(node: nodes.Expression) -> tuple[str, ValuesTest] | None:
    """``(field, test)`` when ``node`` is a condition on one field that a test of its values
    decides: a pattern match (``:``, ``like``, ``regex`` and their ``~`` forms), ``in~`` /
    ``not in~`` of strings, ``startsWith`` / ``endsWith`` / ``stringContains`` of a field
    and a string. The evaluator and the rule set's generated function both run these tests,
    so they answer alike; anything else is None."""
    match node:
        case nodes.PatternMatch(nodes.Field() as field, kind_, patterns):
            return field.name, _pattern_test(kind_, patterns)
        case nodes.Membership(nodes.Field() as field, members, True, negated) if all(
            isinstance(member, nodes.String) for member in members
        ):
            wanted = frozenset(m.value.lower() for m in members if isinstance(m, nodes.String))

            def folded(values: Sequence[Any]) -> bool:
                return any(type(v) is str and v.lower() in wanted for v in values)

            return field.name, (lambda values: not folded(values)) if negated else folded
        case nodes.Call(name, (nodes.Field() as field, nodes.String(text)), insensitive) if (
            name in _STRING_TESTS
        ):
            test = _STRING_TESTS[name]
            argument = text.lower() if insensitive else text

            def called(values: Sequence[Any]) -> bool:
                # A call on a value of another type is null, never true.
                for value in values:
                    if type(value) is str and test(
                        value.lower() if insensitive else value, argument
                    ):
                        return True
                return False

            return field.name, called
        case _:
            return None


def _condition(node: nodes.Expression, access: documents.FieldAccess) -> Predicate:
    single = field_test(node)
    if single is not None:
        field, test = single
        get = access.values(field)
        return lambda doc: test(get(doc))
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
    test = _pattern_test(kind_, patterns)
    return lambda doc: test(operand(doc))


def _pattern_test(kind_: nodes.PatternKind, patterns: Sequence[nodes.Constant]) -> ValuesTest:
    insensitive = kind_ in (":", "like~", "regex~")
    texts = [pattern.value for pattern in patterns if isinstance(pattern, nodes.String)]
    if kind_.startswith("regex"):
        checks = [regex.compile_regex(text, insensitive) for text in texts]
        fold = False  # a regex~ folds case itself
    else:
        checks = _wildcard_checks([text.lower() if insensitive else text for text in texts])
        fold = insensitive  # a wildcard compares lowered text
    if len(checks) == 1:
        (check,) = checks

        def matches_one(values: Sequence[Any]) -> bool:
            for value in values:
                if type(value) is str and check(value.lower() if fold else value):
                    return True
            return False

        return matches_one

    def matches(values: Sequence[Any]) -> bool:
        for value in values:
            if type(value) is str:
                text = value.lower() if fold else value
                for test in checks:
                    if test(text):
                        return True
        return False

    return matches


def _wildcard_checks(patterns: Sequence[str]) -> list[Callable[[str], bool]]:
    """Tests for ``like`` patterns, grouped: exact texts one set lookup, ``a*`` prefixes one
    ``startswith``, ``*a`` suffixes one ``endswith``; any other pattern its own linear-time
    matcher (:func:`~audithound.kql.wildcard.compile_wildcard`)."""
    exact: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    checks: list[Callable[[str], bool]] = []
    for pattern in patterns:
        plain = "\\" not in pattern and "?" not in pattern
        stars = pattern.count("*")
        if plain and stars == 0:
            exact.add(pattern)
        elif plain and stars == 1 and pattern.endswith("*"):
            prefixes.append(pattern[:-1])
        elif plain and stars == 1 and pattern.startswith("*"):
            suffixes.append(pattern[1:])
        else:
            checks.append(wildcard.compile_wildcard(pattern))
    if suffixes:
        ends = tuple(suffixes)
        checks.insert(0, lambda text: text.endswith(ends))
    if prefixes:
        starts = tuple(prefixes)
        checks.insert(0, lambda text: text.startswith(starts))
    if exact:
        checks.insert(0, frozenset(exact).__contains__)
    return checks


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
