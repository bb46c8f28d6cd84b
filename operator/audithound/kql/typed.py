"""Conditions on typed fields: ``ip``, ``date`` and number fields answer as Elasticsearch's
query on that mapping answers, ``keyword`` ranges compare strings.

Fed by: the compiler (:mod:`audithound.kql.compiler`, and through it the generated rule set),
for a ``field:value`` or a range whose field has a type (``FieldAccess.kind``). Feeds: tests
over the field's values, built once per query: parsed addresses and networks, instants and
bounds as integers. A query Elasticsearch refuses to run raises
:class:`~audithound.kql.errors.KqlQueryError` with the position of the value.

What each type means (see README, "The query language"):
- ``ip``: a value is an address (``10.0.0.1``, ``"::ffff:10.0.0.1"``) or a CIDR network
  (``10.0.0.0/8``), matched as numbers (:mod:`audithound.kql.ips`); a range bound is an
  address; wildcards and other values are errors.
- ``date``: a value is the span from itself rounded down to itself rounded up (a second, a
  day), in milliseconds; a range bound is rounded per operator (``>=`` and ``<`` down, ``>``
  and ``<=`` up); date math over ``now`` reads the :class:`~audithound.kql.dates.Clock`
  (:mod:`audithound.kql.dates`); wildcards and non-dates are errors.
- integer types: a value with a decimal part matches nothing, a value out of the type's range
  matches nothing; range bounds are exact (``code > 399.5`` is ``code >= 400``), and out of
  the type's range they are errors, as Elasticsearch refuses them; document
  values are coerced as Elasticsearch indexes them (``"404"`` is 404, ``404.7`` is 404);
  wildcards and non-numbers are errors. Floating-point types compare as floats.
- ``keyword`` (and ``text``, ``constant_keyword``): a range compares strings, whatever the bound
  looks like (``user.name > 1000`` holds for ``alice``); ``field:value`` keeps the untyped rules.
"""

from __future__ import annotations

import decimal
import math
import operator
import re
from collections.abc import Callable
from typing import Any, Literal

from audithound.kql import dates, errors, ips, nodes

#: Which tests a field's mapping type takes (None: the untyped rules of ``compiler``).
Kind = Literal["ip", "date", "integer", "float", "keyword"]

_KINDS: dict[str, Kind] = {
    "ip": "ip",
    "date": "date",
    "byte": "integer",
    "short": "integer",
    "integer": "integer",
    "long": "integer",
    "unsigned_long": "integer",
    "float": "float",
    "half_float": "float",
    "double": "float",
    "scaled_float": "float",
    "keyword": "keyword",
    "constant_keyword": "keyword",
    "wildcard": "keyword",
    "text": "keyword",
    "match_only_text": "keyword",
}

#: The values each integer type holds (Elasticsearch's ranges).
_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "byte": (-(2**7), 2**7 - 1),
    "short": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
    "unsigned_long": (0, 2**64 - 1),
}

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
#: Document values beyond this size (in decimal digits of exponent) are no integer a field
#: could hold: they are never expanded.
_MAX_EXPONENT = 40

PlainTest = Callable[[list[Any]], bool]
_Compare = Callable[[Any, Any], bool]
_COMPARE: dict[nodes.RangeOp, _Compare] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def kind(mapping_type: str | None) -> Kind | None:
    """The tests a field of this Elasticsearch mapping type takes; None: untyped."""
    return None if mapping_type is None else _KINDS.get(mapping_type)


def refuses_values(mapping_type: str | None) -> bool:
    """Whether ``field:value`` on this type takes typed tests (not the untyped rules)."""
    return kind(mapping_type) in ("ip", "date", "integer", "float")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _refused(message: str, at: nodes.Text | nodes.Pattern) -> errors.KqlQueryError:
    return errors.KqlQueryError(message, at.line, at.column)


# Values (``field:value`` and value lists).


def values_test(
    mapping_type: str, field: str, value: nodes.ValueNode, clock: dates.Clock
) -> PlainTest:
    """A test of the field's values for ``field:value`` on a typed (not keyword) field."""
    match value:
        case nodes.Exists():
            return bool
        case nodes.Pattern():
            raise _refused(
                f"{field} is {_article(mapping_type)} {mapping_type} field: Elasticsearch "
                "refuses wildcard queries on it (wildcards work on keyword fields only)",
                value,
            )
        case nodes.Text():
            return _equals(mapping_type, field, value, clock)
        case nodes.ValueOr(children):
            tests = tuple(values_test(mapping_type, field, child, clock) for child in children)
            return lambda values: any(test(values) for test in tests)
        case nodes.ValueAnd(children):
            tests = tuple(values_test(mapping_type, field, child, clock) for child in children)
            return lambda values: all(test(values) for test in tests)
        case nodes.ValueNot(child):
            inner = values_test(mapping_type, field, child, clock)
            return lambda values: not inner(values)
        case _:
            raise TypeError(f"not a value node: {value!r}")


def _never(values: list[Any]) -> bool:
    return False


def _equals(mapping_type: str, field: str, value: nodes.Text, clock: dates.Clock) -> PlainTest:
    found = kind(mapping_type)
    if found == "ip":
        return _ip_equals(field, value)
    if found == "date":
        expression = _date(field, value)
        return _within((expression, False, False), (expression, True, False), clock)
    if found == "integer":
        number = _number(field, mapping_type, value)
        low, high = _INTEGER_RANGES.get(mapping_type, _INTEGER_RANGES["long"])
        if number != number.to_integral_value() or not low <= number <= high:
            return _never  # Elasticsearch matches no document with such a term
        wanted = int(number)
        return lambda values: any(_integer(item) == wanted for item in values)
    if found == "float":
        target = float(_number(field, mapping_type, value))
        return lambda values: any(_float(item) == target for item in values)
    raise TypeError(f"no typed values for {mapping_type!r}")


def _ip_equals(field: str, value: nodes.Text) -> PlainTest:
    single = ips.address(value.text)
    if single is not None:
        return lambda values: any(ips.of_value(item) == single for item in values)
    span = ips.network(value.text)
    if span is None:
        raise _refused(
            f"{value.text!r} is not an IP address or CIDR network, and {field} is an ip field",
            value,
        )
    first, last = span

    def inside(values: list[Any]) -> bool:
        for item in values:
            number = ips.of_value(item)
            if number is not None and first <= number <= last:
                return True
        return False

    return inside


# Ranges.


def range_test(
    mapping_type: str, field: str, op: nodes.RangeOp, bound: nodes.Text, clock: dates.Clock
) -> PlainTest:
    """A test of the field's values for ``field <op> bound`` on a typed field."""
    found = kind(mapping_type)
    compare = _COMPARE[op]
    if found == "keyword":
        text = bound.text
        return lambda values: any(compare(_keyword(item), text) for item in values)
    if found == "ip":
        limit = ips.address(bound.text)
        if limit is None:
            raise _refused(
                f"{bound.text!r} is not an IP address, and {field} is an ip field", bound
            )
        return lambda values: any(
            (number := ips.of_value(item)) is not None and compare(number, limit) for item in values
        )
    if found == "date":
        expression = _date(field, bound)
        # Elasticsearch rounds ``>`` and ``<=`` bounds up, ``>=`` and ``<`` down.
        if op in (">=", ">"):
            return _within((expression, op == ">", op == ">"), None, clock)
        return _within(None, (expression, op == "<=", op == "<"), clock)
    if found == "integer":
        number = _number(field, mapping_type, bound)
        low, high = _INTEGER_RANGES.get(mapping_type, _INTEGER_RANGES["long"])
        if not low <= number <= high:
            # Elasticsearch parses the bound as the field's type: out of range, it refuses.
            raise _refused(
                f"{bound.text} is out of range for {_article(mapping_type)} {mapping_type} "
                f"field ({low} to {high}): {field}",
                bound,
            )
        return _integer_range(op, number)
    if found == "float":
        limit_float = float(_number(field, mapping_type, bound))
        return lambda values: any(
            (number := _float(item)) is not None and compare(number, limit_float) for item in values
        )
    raise TypeError(f"no typed ranges for {mapping_type!r}")


def _integer_range(op: nodes.RangeOp, bound: decimal.Decimal) -> PlainTest:
    """``> 399.5`` as ``>= 400``: the inclusive integer bound, then integer comparisons
    (``bound`` is within the field type's range)."""
    floor = int(bound.to_integral_value(decimal.ROUND_FLOOR))
    ceiling = int(bound.to_integral_value(decimal.ROUND_CEILING))
    if op == ">=":
        low: int | None = ceiling
        high: int | None = None
    elif op == ">":
        low, high = floor + 1, None
    elif op == "<=":
        low, high = None, floor
    else:
        low, high = None, ceiling - 1

    def inside(values: list[Any]) -> bool:
        for item in values:
            number = _integer(item)
            if number is None:
                continue
            if (low is None or number >= low) and (high is None or number <= high):
                return True
        return False

    return inside


# Dates.


def _date(field: str, value: nodes.Text) -> dates.Expression:
    try:
        return dates.compile_expression(value.text)
    except dates.DateError as error:
        message = str(error)
        if "date math" not in message:
            message = (
                f"{value.text!r} is not a date (yyyy-MM-dd, optionally with THH:mm:ss.SSS and a "
                f"zone, epoch milliseconds, or date math such as now-1d/d), and {field} is a "
                "date field"
            )
        raise _refused(message, value) from None


#: One end of a span of instants: the expression, whether it is rounded up, and whether the
#: end is exclusive (``>`` and ``<``: one millisecond past the rounded value).
_End = tuple[dates.Expression, bool, bool]


def _within(low: _End | None, high: _End | None, clock: dates.Clock) -> PlainTest:
    """Values inside ``[low, high]`` (unit: milliseconds); a bound on ``now`` is computed
    again whenever the clock has moved."""
    uses_now = any(end is not None and end[0].uses_now for end in (low, high))
    if uses_now:
        clock.used = True

    def bounds(now: int) -> tuple[float, float]:
        first: float = -math.inf
        last: float = math.inf
        if low is not None:
            expression, up, exclusive = low
            first = expression.resolve(now, round_up=up) + (1 if exclusive else 0)
        if high is not None:
            expression, up, exclusive = high
            last = expression.resolve(now, round_up=up) - (1 if exclusive else 0)
        return first, last

    fixed = None if uses_now else bounds(0)
    memo: list[Any] = [None, None]

    def inside(values: list[Any]) -> bool:
        if fixed is not None:
            first, last = fixed
        else:
            now = clock.now()
            if memo[0] != now:
                memo[0], memo[1] = now, bounds(now)
            first, last = memo[1]
        for item in values:
            instant = dates.document_millis(item)
            if instant is not None and first <= instant <= last:
                return True
        return False

    return inside


# Numbers.


def _number(field: str, mapping_type: str, value: nodes.Text) -> decimal.Decimal:
    if not _NUMBER.fullmatch(value.text):
        raise _refused(
            f"{value.text!r} is not a number, and {field} is "
            f"{_article(mapping_type)} {mapping_type} field",
            value,
        )
    return decimal.Decimal(value.text)


def _integer(value: Any) -> int | None:
    """A document value as an integer field indexes it (coerced, truncated), else None."""
    kind_ = type(value)
    if kind_ is int:
        return value  # type: ignore[no-any-return]
    if kind_ is float:
        return int(value) if math.isfinite(value) else None
    if kind_ is str and _NUMBER.fullmatch(value):
        number = decimal.Decimal(value)
        if number.adjusted() > _MAX_EXPONENT:
            return None
        return int(number)
    return None


def _float(value: Any) -> float | None:
    kind_ = type(value)
    if kind_ is int or kind_ is float:
        return float(value)
    if kind_ is str and _NUMBER.fullmatch(value):
        return float(value)
    return None


def _keyword(value: Any) -> str:
    """A document value as a keyword field indexes it: the text of a JSON scalar."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)
