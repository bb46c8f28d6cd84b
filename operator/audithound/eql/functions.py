"""EQL's functions as Elasticsearch's EQL function reference describes them.

Fed by: the checker (:mod:`audithound.eql.verify`), which reads :data:`FUNCTIONS` for names,
numbers of arguments, ``~`` forms and argument types, and the evaluator, which calls each
function's ``apply`` once per combination of argument values in a document. Feeds: the
values of ``Call`` nodes.

Every function returns None (EQL's ``null``) when an argument it needs is null or of the wrong
kind at run time (a number where a string was wanted ...): a null never matches a comparison
other than ``== null``. Arithmetic follows Java's, as Elasticsearch computes it: integer
division and remainder truncate towards zero; a division by zero gives null (Elasticsearch
fails the search). Strings are compared and sliced by code point, except ``length``, which
counts UTF-16 units as Java's ``String.length`` does.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias, cast

from audithound.kql import ips

#: The kind an argument must have when it is written as a constant (a field may hold anything,
#: checked only when the query runs).
Kind: TypeAlias = Literal["string", "number", "boolean", "any"]


@dataclasses.dataclass(frozen=True, slots=True)
class Function:
    """One EQL function: ``apply(arguments, insensitive)`` with None for null."""

    name: str
    #: Kinds of the arguments in order; the last one repeats when ``variadic``.
    kinds: tuple[Kind, ...]
    required: int
    apply: Callable[[Sequence[Any], bool], Any]
    variadic: bool = False
    #: Whether ``name~(...)`` (case-insensitive) exists.
    insensitive: bool = False
    #: Positions of arguments that must be constants (Elasticsearch refuses fields there).
    constants: frozenset[int] = frozenset()

    @property
    def most(self) -> int | None:
        """The largest number of arguments, None when unbounded."""
        return None if self.variadic else len(self.kinds)

    def kind(self, position: int) -> Kind:
        return self.kinds[min(position, len(self.kinds) - 1)]


def is_number(value: Any) -> bool:
    """Whether ``value`` is an EQL number (a JSON boolean is none)."""
    return type(value) in (int, float)


def _strings(arguments: Sequence[Any]) -> bool:
    return all(type(argument) is str for argument in arguments)


def _fold(text: str, insensitive: bool) -> str:
    return text.lower() if insensitive else text


def _numbers(arguments: Sequence[Any]) -> bool:
    return all(is_number(argument) for argument in arguments)


def add(arguments: Sequence[Any], insensitive: bool) -> Any:
    left, right = arguments
    return left + right if _numbers(arguments) else None


def subtract(arguments: Sequence[Any], insensitive: bool) -> Any:
    left, right = arguments
    return left - right if _numbers(arguments) else None


def multiply(arguments: Sequence[Any], insensitive: bool) -> Any:
    left, right = arguments
    return left * right if _numbers(arguments) else None


def divide(arguments: Sequence[Any], insensitive: bool) -> Any:
    left, right = arguments
    if not _numbers(arguments) or right == 0:
        return None
    if type(left) is int and type(right) is int:
        # Java's integer division truncates towards zero (Python's // floors).
        quotient = abs(left) // abs(right)
        return quotient if (left < 0) == (right < 0) else -quotient
    return left / right


def modulo(arguments: Sequence[Any], insensitive: bool) -> Any:
    left, right = arguments
    if not _numbers(arguments) or right == 0:
        return None
    if type(left) is int and type(right) is int:
        # Java's remainder has the dividend's sign: modulo(-10, 6) is -4.
        remainder = abs(left) % abs(right)
        return remainder if left >= 0 else -remainder
    return math.fmod(left, right)


def between(arguments: Sequence[Any], insensitive: bool) -> Any:
    source, left, right = arguments[:3]
    greedy = arguments[3] if len(arguments) > 3 else False
    if not _strings((source, left, right)):
        return None
    if not source:
        return ""
    text, left, right = (
        _fold(source, insensitive),
        _fold(left, insensitive),
        _fold(right, insensitive),
    )
    start = text.find(left)
    if start < 0:
        return ""
    start += len(left)
    end = text.rfind(right) if greedy is True else text.find(right, start)
    if end < start:
        return ""
    return source[start:end]


def cidr_match(arguments: Sequence[Any], insensitive: bool) -> Any:
    address, *blocks = arguments
    if type(address) is not str or not _strings(blocks):
        return None
    number = ips.address(address)
    if number is None:
        return None
    for block in blocks:
        bounds = ips.network(block)
        if bounds is not None and bounds[0] <= number <= bounds[1]:
            return True
    return False


def concat(arguments: Sequence[Any], insensitive: bool) -> Any:
    if any(argument is None for argument in arguments):
        return None
    return "".join(to_string(argument) for argument in arguments)


def ends_with(arguments: Sequence[Any], insensitive: bool) -> Any:
    source, suffix = arguments
    if not _strings(arguments):
        return None
    return _fold(source, insensitive).endswith(_fold(suffix, insensitive))


def starts_with(arguments: Sequence[Any], insensitive: bool) -> Any:
    source, prefix = arguments
    if not _strings(arguments):
        return None
    return _fold(source, insensitive).startswith(_fold(prefix, insensitive))


def string_contains(arguments: Sequence[Any], insensitive: bool) -> Any:
    source, substring = arguments
    if not _strings(arguments):
        return None
    # The reference: an empty source or substring contains nothing (stringContains("", "")).
    if not source or not substring:
        return False
    return _fold(substring, insensitive) in _fold(source, insensitive)


def index_of(arguments: Sequence[Any], insensitive: bool) -> Any:
    source, substring = arguments[:2]
    start = arguments[2] if len(arguments) > 2 else 0
    if not _strings((source, substring)) or type(start) is not int:
        return None
    start = max(start, 0)
    if start > len(source):
        return None
    found = _fold(source, insensitive).find(_fold(substring, insensitive), start)
    return None if found < 0 else found


def length(arguments: Sequence[Any], insensitive: bool) -> Any:
    (text,) = arguments
    if type(text) is not str:
        return None
    # Java's String.length counts UTF-16 units: a character past U+FFFF counts two.
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9a-zA-Z]+")


def number(arguments: Sequence[Any], insensitive: bool) -> Any:
    text = arguments[0]
    base = arguments[1] if len(arguments) > 1 else None
    if type(text) is not str:
        return None
    text = text.strip()
    sign, digits = ("-", text[1:]) if text[:1] == "-" else ("", text.removeprefix("+"))
    if digits[:2].lower() == "0x" and base in (None, 16):
        return _integer(sign + digits[2:], 16)
    if base is None:
        if re.fullmatch(r"[0-9]+", digits):
            return int(sign + digits)
        return float(text) if _DECIMAL.fullmatch(text) else None
    return _integer(text, base) if type(base) is int else None


def _integer(text: str, base: int) -> int | None:
    if not 2 <= base <= 36 or not _INTEGER.fullmatch(text):
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def to_string(value: Any) -> str:
    """A value as Java's ``String.valueOf`` writes it (``true``, ``42``, ``42.5``, ``1.0E20``)."""
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is float:
        return _java_double(value)
    return str(value)


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    # Scientific notation with the shortest digits that read back as the same double (the
    # digits of Python's repr, as Java prints them): 1.0E20, -1.5E-5.
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits))
    mantissa = shown[0] + "." + (shown[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(shown) - 1 + exponent}"


def string(arguments: Sequence[Any], insensitive: bool) -> Any:
    (value,) = arguments
    return None if value is None else to_string(value)


def substring(arguments: Sequence[Any], insensitive: bool) -> Any:
    source, start = arguments[:2]
    end = arguments[2] if len(arguments) > 2 else None
    if type(source) is not str or type(start) is not int:
        return None
    if end is not None and type(end) is not int:
        return None
    # The reference slices as Python does: negative positions count from the end.
    return source[start:end]


def _function(name: str, kinds: str, required: int, apply: Any, **options: Any) -> Function:
    listed = tuple(cast(Kind, kind) for kind in kinds.split())
    return Function(name, listed, required, apply, **options)


FUNCTIONS: dict[str, Function] = {
    function.name: function
    for function in (
        _function("add", "number number", 2, add),
        _function("between", "string string string boolean", 3, between, insensitive=True,
                  constants=frozenset({3})),
        _function("cidrMatch", "string string", 2, cidr_match, variadic=True,
                  constants=frozenset(range(1, 64))),
        _function("concat", "any", 1, concat, variadic=True),
        _function("divide", "number number", 2, divide),
        _function("endsWith", "string string", 2, ends_with, insensitive=True),
        _function("indexOf", "string string number", 2, index_of, insensitive=True),
        _function("length", "string", 1, length),
        _function("modulo", "number number", 2, modulo),
        _function("multiply", "number number", 2, multiply),
        _function("number", "string number", 1, number, constants=frozenset({1})),
        _function("startsWith", "string string", 2, starts_with, insensitive=True),
        _function("string", "any", 1, string),
        _function("stringContains", "string string", 2, string_contains, insensitive=True),
        _function("substring", "string number number", 2, substring),
        _function("subtract", "number number", 2, subtract),
    )
}  # fmt: skip
