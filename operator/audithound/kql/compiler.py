"""Tree to predicate: ``compile_query(node, access)`` returns ``document -> bool``.

Fed by: a parsed query (:mod:`audithound.kql.nodes`) and a
:class:`~audithound.kql.documents.FieldAccess` describing the documents. Feeds: the rule engine,
which compiles each rule once and calls the predicate on every event.

Semantics (Elastic's detection engine treating every string as a ``keyword``):
- ``f:v`` holds when ANY value of ``f`` (arrays flattened) equals ``v`` exactly, case-sensitive.
  The document's value type decides how ``v`` is read, quoted or not: a string compares as
  text (``name:007`` matches ``"007"``, not ``"7"``), an int or float numerically when ``v``
  is a number (``code:200`` matches ``200`` and ``"200"``), a bool when ``v`` is ``true`` or
  ``false``. A bool is never a number. KQL sends ``v`` as text and Elasticsearch reads it per
  field type, so a number of any length is valid: it matches strings textually, and numbers
  as JSON decoding would hold it (integers exactly within 64 bits, floats beyond: a 4,301-digit
  integer is infinity, equal to no document number and above all of them).
- ``f:a*b`` is a glob over the whole string (``*`` only). A wildcard never matches a number or
  a bool: Elasticsearch refuses wildcard queries on numeric and boolean fields.
- ``f:*`` holds when ``f`` exists (``FieldAccess.present``); ``not`` negates the whole
  condition, so ``not f:x`` holds when ``f`` is missing.
- In a value list each alternative looks at all values again: ``f:(a and b)`` holds when ``a``
  and ``b`` sit in different elements.
- ``f:{ q }`` holds when ``q`` holds inside one element of ``f`` (correlated).
- Ranges compare numbers numerically, dates (ISO 8601 / RFC 3339 on both sides; no offset means
  UTC; digits past microseconds dropped) as instants, other strings lexicographically. A range
  never matches a value of another type (a number bound ignores strings, even ``"5"``).
- A bare value (free text) holds when any leaf value of the document matches it.
- A field with a type (``FieldAccess.kind``: ``ip``, ``date``, numbers, ``keyword``) answers
  as Elasticsearch's query on that mapping does, by :mod:`audithound.kql.typed`: the rules
  above are for fields without one (``field:value`` on ``keyword`` fields keeps them too).

Per-document work is kept small: field paths are resolved at compile time, a condition on a
field whose value is constant (``access.constant``) is decided at compile time, exact string
alternatives on one field become one set lookup, prefix-only and suffix-only globs in a value
list one ``str.startswith``/``str.endswith`` with a tuple, value tests without ``*`` take the
values alone (one call fewer), conjuncts run positive and cheap ones first, two to four
conjuncts or alternatives are chained without a loop, and closures loop explicitly instead of
calling ``any()`` over a generator (``noqa: SIM110``), which costs a frame per document.
"""

from __future__ import annotations

import datetime
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from audithound.kql import dates, documents, nodes, typed, wildcard

Predicate = Callable[[Any], bool]

# What a compiled condition is before it is handed out: a closure, or the answer itself when
# the condition does not depend on the document.
_Compiled = Predicate | bool
# A test of one field's values; the document is passed along for ``*`` (field presence).
_ValuesTest = Callable[[list[Any], Any], bool]
_Presence = Callable[[Any], bool] | None
# A test of one field's values that needs nothing else (no ``*`` inside).
_PlainTest = Callable[[list[Any]], bool]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
#: Integers a document holds exactly: JSON decoding (orjson) gives ``int`` from -2**63 to
#: 2**64 - 1 and ``float`` beyond, so a query's integer outside that range is read as a float
#: too (infinite past float's range). Both ends are well under Python's int/str conversion
#: limit (4300 digits), which the text is never given to.
_EXACT_INTEGERS = (-(2**63), 2**64 - 1)
_EXACT_DIGITS = 20
_BOOLEANS = {"true": True, "false": False}
_COMPARE: dict[nodes.RangeOp, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_query(
    node: nodes.Node, access: documents.FieldAccess, clock: dates.Clock | None = None
) -> Predicate:
    """A predicate over documents that ``access`` understands, true where ``node`` holds;
    ``clock`` is the time ``now`` stands for in date math (default: the wall clock)."""
    compiled = compile_condition(node, access, clock)
    if compiled is True:
        return _always
    if compiled is False:
        return _never
    return compiled


def _always(document: Any) -> bool:
    return True


def _never(document: Any) -> bool:
    return False


def compile_condition(
    node: nodes.Node, access: documents.FieldAccess, clock: dates.Clock | None = None
) -> _Compiled:
    """Like :func:`compile_query`, but a condition that does not depend on the document comes
    back as its answer (``True``/``False``) rather than as a closure."""
    clock = clock or dates.Clock()
    match node:
        case nodes.Or(children):
            alternatives: list[_Compiled] = []
            for child in merge_exact(children):
                alternatives.append(compile_condition(child, access, clock))
                if alternatives[-1] is True:
                    break  # decided: the other alternatives need not be compiled
            return _any_of(alternatives)
        case nodes.And(children):
            conjuncts: list[_Compiled] = []
            for child in sorted(children, key=order):
                conjuncts.append(compile_condition(child, access, clock))
                if conjuncts[-1] is False:
                    break
            return _all_of(conjuncts)
        case nodes.Not(child):
            inner = compile_condition(child, access, clock)
            if isinstance(inner, bool):
                return not inner
            return lambda document: not inner(document)
        case nodes.Match(field, value):
            return _match(field, value, access, clock)
        case nodes.Range(field, op, bound):
            return _range(field, op, bound, access, clock)
        case nodes.Nested(field, query):
            return _nested(field, query, access, clock)
        case nodes.FreeText(value):
            everything = access.everything()
            test = values_test(value, None)
            return lambda document: test(everything(document), document)
        case _:
            raise TypeError(f"not a query node: {node!r}")


def _any_of(parts: list[_Compiled]) -> _Compiled:
    if any(part is True for part in parts):
        return True
    closures = [part for part in parts if not isinstance(part, bool)]
    if not closures:
        return False
    if len(closures) == 1:
        return closures[0]
    if len(closures) == 2:
        first, second = closures
        return lambda document: first(document) or second(document)
    if len(closures) == 3:
        one, two, three = closures
        return lambda document: one(document) or two(document) or three(document)
    predicates = tuple(closures)

    def any_of(document: Any) -> bool:
        for predicate in predicates:  # noqa: SIM110
            if predicate(document):
                return True
        return False

    return any_of


def _all_of(parts: list[_Compiled]) -> _Compiled:
    if any(part is False for part in parts):
        return False
    closures = [part for part in parts if not isinstance(part, bool)]
    if not closures:
        return True
    if len(closures) == 1:
        return closures[0]
    if len(closures) == 2:
        first, second = closures
        return lambda document: first(document) and second(document)
    if len(closures) == 3:
        one, two, three = closures
        return lambda document: one(document) and two(document) and three(document)
    if len(closures) == 4:
        one, two, three, four = closures
        return lambda document: (
            one(document) and two(document) and three(document) and four(document)
        )
    predicates = tuple(closures)

    def all_of(document: Any) -> bool:
        for predicate in predicates:  # noqa: SIM110
            if not predicate(document):
                return False
        return True

    return all_of


def order(node: nodes.Node) -> tuple[bool, int]:
    """Conjuncts run positive conditions first, cheap before costly: a positive condition
    usually rules the document out (``verb:create``), an exclusion (``not ...``) usually lets
    it through, so testing it first would rarely save the others."""
    return isinstance(node, nodes.Not), _cost(node)


def _cost(node: nodes.Node) -> int:
    """Rough per-document cost, to test cheap conjuncts first (the sort keeps ties in order).

    Exact strings cost one set lookup and ``f:*`` one presence test; values that also match
    numbers or booleans (``code:403``), globs and other value lists loop over the values.
    """
    match node:
        case nodes.Match(value=value) if _cheap(value):
            return 0
        case nodes.Match():
            return 1
        case nodes.Range():
            return 2
        case nodes.Not(child):
            return _cost(child)
        case nodes.And(children) | nodes.Or(children):
            return max(_cost(child) for child in children)
        case nodes.Nested():
            return 3
        case nodes.FreeText():
            return 4
        case _:
            raise TypeError(f"not a query node: {node!r}")


def _cheap(value: nodes.ValueNode) -> bool:
    """Whether ``value`` costs one set lookup or presence test: ``*``, exact texts that match
    strings only, and value lists of those and ``not *`` (``user:("a" or not *)``)."""
    match value:
        case nodes.Exists() | nodes.ValueNot(nodes.Exists()):
            return True
        case nodes.Text(text):
            return not matches_non_strings(text)
        case nodes.ValueOr(children):
            return all(_cheap(child) for child in children)
        case _:
            return False


def merge_exact(children: Sequence[nodes.Node]) -> list[nodes.Node]:
    """``f:a or f:b`` as ``f:(a or b)``, so that it costs one set lookup, not two scans."""
    texts: dict[str, list[nodes.Text]] = {}
    for child in children:
        if isinstance(child, nodes.Match):
            exact = exact_texts(child.value)
            if exact is not None:
                texts.setdefault(child.field, []).extend(exact)
    merged: list[nodes.Node] = []
    done: set[str] = set()
    for child in children:
        if isinstance(child, nodes.Match) and exact_texts(child.value) is not None:
            if child.field not in done:
                done.add(child.field)
                alternatives = texts[child.field]
                value: nodes.ValueNode = (
                    alternatives[0]
                    if len(alternatives) == 1
                    else nodes.ValueOr(tuple(alternatives))
                )
                merged.append(nodes.Match(child.field, value, child.line, child.column))
        else:
            merged.append(child)
    return merged


def exact_texts(value: nodes.ValueNode) -> list[nodes.Text] | None:
    match value:
        case nodes.Text():
            return [value]
        case nodes.ValueOr(children) if all(isinstance(child, nodes.Text) for child in children):
            return [child for child in children if isinstance(child, nodes.Text)]
        case _:
            return None


def _match(
    field: str, value: nodes.ValueNode, access: documents.FieldAccess, clock: dates.Clock
) -> _Compiled:
    constant = access.constant(field)
    if constant is not None:
        return values_test(value, None)(constant, None)
    if isinstance(value, nodes.Exists):
        return access.present(field)
    get = access.values(field)
    mapping = access.kind(field)
    if mapping is not None and typed.refuses_values(mapping):
        typed_test = typed.values_test(mapping, field, value, clock)
        return lambda document: typed_test(get(document))
    exact = exact_texts(value)
    if exact is not None:
        texts = frozenset(text.text for text in exact)
        if not any(matches_non_strings(text) for text in texts):
            # The common case (verbs, user names, resources), one C-level lookup per document.
            if len(texts) == 1:
                (only,) = texts
                return lambda document: only in get(document)
            return lambda document: not texts.isdisjoint(get(document))
        matches = _texts_matcher(texts)
        return lambda document: matches(get(document))
    plain = plain_test(value)
    if plain is not None:
        return lambda document: plain(get(document))
    test = values_test(value, access.present(field))
    return lambda document: test(get(document), document)


def plain_test(value: nodes.ValueNode) -> _PlainTest | None:
    """A test that needs the values only, for value trees without ``*`` (field presence), else
    None. Such a test takes one argument: one call fewer per document than a
    :data:`_ValuesTest`; in a value list, exact texts become one set test and prefix-only or
    suffix-only globs one ``startswith``/``endswith`` (:func:`_affixes_matcher`)."""
    match value:
        case nodes.Text(text):
            return _texts_matcher([text])
        case nodes.Pattern(parts):
            prefix, suffix = _affix(value, 0), _affix(value, 1)
            if prefix is not None or suffix is not None:
                return _affixes_matcher(
                    () if prefix is None else (prefix,), () if suffix is None else (suffix,)
                )
            return _glob_matcher(parts)
        case nodes.Exists():
            return None
        case nodes.ValueOr(children):
            tests = _alternatives(children)
            return None if tests is None else _any_plain(tests)
        case nodes.ValueAnd(children):
            conjuncts = [plain_test(child) for child in children]
            chain = tuple(test for test in conjuncts if test is not None)
            if len(chain) < len(conjuncts):
                return None

            def all_plain(values: list[Any]) -> bool:
                for test in chain:  # noqa: SIM110
                    if not test(values):
                        return False
                return True

            return all_plain
        case nodes.ValueNot(child):
            inner = plain_test(child)
            if inner is None:
                return None
            negated = inner
            return lambda values: not negated(values)
        case _:
            raise TypeError(f"not a value node: {value!r}")


def _alternatives(children: Sequence[nodes.ValueNode]) -> list[_PlainTest] | None:
    """The plain tests of a value list's alternatives, grouped (None: one needs presence)."""
    texts = [child.text for child in children if isinstance(child, nodes.Text)]
    starts = tuple(affix for child in children if (affix := _affix(child, 0)) is not None)
    ends = tuple(affix for child in children if (affix := _affix(child, 1)) is not None)
    tests: list[_PlainTest] = []
    if texts:
        tests.append(_texts_matcher(texts))
    if starts or ends:
        tests.append(_affixes_matcher(starts, ends))
    for child in children:
        if isinstance(child, nodes.Text) or _affix(child, 0) or _affix(child, 1):
            continue
        test = plain_test(child)
        if test is None:
            return None
        tests.append(test)
    return tests


def _any_plain(tests: list[_PlainTest]) -> _PlainTest:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda values: first(values) or second(values)
    chain = tuple(tests)

    def any_plain(values: list[Any]) -> bool:
        for test in chain:  # noqa: SIM110
            if test(values):
                return True
        return False

    return any_plain


def values_test(value: nodes.ValueNode, present: _Presence) -> _ValuesTest:
    """A test of a field's values; ``present`` is None where values alone decide presence."""
    plain = plain_test(value)
    if plain is not None:
        return lambda values, document: plain(values)
    match value:
        case nodes.Exists():
            if present is None:
                return lambda values, document: bool(values)
            exists = present
            # Scalars found means present; only an object-valued field needs the walk.
            return lambda values, document: bool(values) or exists(document)
        case nodes.ValueOr(children):
            alternatives = _alternatives(
                [child for child in children if plain_test(child) is not None]
            )
            tests = [values_test(child, present) for child in children if plain_test(child) is None]
            if alternatives:
                grouped = _any_plain(alternatives)
                if len(tests) == 1:
                    (rest,) = tests
                    return lambda values, document: grouped(values) or rest(values, document)
                tests.insert(0, lambda values, document: grouped(values))
            return _any_value_test(tests)
        case nodes.ValueAnd(children):
            return _all_value_test([values_test(child, present) for child in children])
        case nodes.ValueNot(nodes.Exists()) if present is not None:
            missing = present
            # ``not *``: no scalar, and no object holding one either.
            return lambda values, document: not values and not missing(document)
        case nodes.ValueNot(child):
            inner = values_test(child, present)
            return lambda values, document: not inner(values, document)
        case _:
            raise TypeError(f"not a value node: {value!r}")


def _any_value_test(tests: list[_ValuesTest]) -> _ValuesTest:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda values, document: first(values, document) or second(values, document)
    chain = tuple(tests)

    def any_value(values: list[Any], document: Any) -> bool:
        for test in chain:  # noqa: SIM110
            if test(values, document):
                return True
        return False

    return any_value


def _all_value_test(tests: list[_ValuesTest]) -> _ValuesTest:
    chain = tuple(tests)

    def all_values(values: list[Any], document: Any) -> bool:
        for test in chain:  # noqa: SIM110
            if not test(values, document):
                return False
        return True

    return all_values


def _texts_matcher(texts: Iterable[str]) -> Callable[[list[Any]], bool]:
    """Whether any value equals one of ``texts``, each read as the value's own type."""
    strings = frozenset(texts)
    numbers = frozenset(number for text in strings if (number := _number(text)) is not None)
    booleans = frozenset(_BOOLEANS[text] for text in strings if text in _BOOLEANS)
    if not numbers and not booleans:
        if len(strings) == 1:
            (only,) = strings
            # A str never equals a non-str, so list containment is an exact string match.
            return lambda values: only in values
        return lambda values: not strings.isdisjoint(values)

    def typed(values: list[Any]) -> bool:
        if not strings.isdisjoint(values):
            return True
        for item in values:
            kind = type(item)
            if kind is bool:
                if item in booleans:
                    return True
            elif (kind is int or kind is float) and item in numbers:
                return True
        return False

    return typed


def _affix(value: nodes.ValueNode, end: int) -> str | None:
    """The literal of a prefix-only glob (``p*``, ``end`` 0) or a suffix-only one (``*s``, 1)."""
    if isinstance(value, nodes.Pattern) and len(value.parts) == 2:
        literal, other = value.parts[end], value.parts[1 - end]
        if literal and not other:
            return literal
    return None


def _affixes_matcher(starts: tuple[str, ...], ends: tuple[str, ...]) -> Callable[[list[Any]], bool]:
    """Whether any string value starts with one of ``starts`` or ends with one of ``ends``:
    a value list of such globs (``ua:(curl/* or python-requests/*)``) costs one C-level
    ``startswith``/``endswith`` per value, whatever the number of globs."""
    if not ends:

        def starting(values: list[Any]) -> bool:
            for item in values:  # noqa: SIM110
                if type(item) is str and item.startswith(starts):
                    return True
            return False

        return starting
    if not starts:

        def ending(values: list[Any]) -> bool:
            for item in values:  # noqa: SIM110
                if type(item) is str and item.endswith(ends):
                    return True
            return False

        return ending

    def either(values: list[Any]) -> bool:
        for item in values:
            if type(item) is str and (item.startswith(starts) or item.endswith(ends)):
                return True
        return False

    return either


def _glob_matcher(parts: Sequence[str]) -> Callable[[list[Any]], bool]:
    glob = wildcard.compile_glob(parts)

    def matches(values: list[Any]) -> bool:
        for item in values:  # noqa: SIM110
            if type(item) is str and glob(item):
                return True
        return False

    return matches


def matches_non_strings(text: str) -> bool:
    """Whether the value ``text`` also matches numbers or bools (``200``, ``1.5``, ``true``)."""
    return text in _BOOLEANS or _number(text) is not None


def _number(text: str) -> int | float | None:
    """The number ``text`` names, as a document would hold it (see :data:`_EXACT_INTEGERS`)."""
    if not _NUMBER.fullmatch(text):
        return None
    digits = text.lstrip("+-").lstrip("0") or "0"
    if _INTEGER.fullmatch(text) and len(digits) <= _EXACT_DIGITS:
        integer = -int(digits) if text.startswith("-") else int(digits)
        low, high = _EXACT_INTEGERS
        if low <= integer <= high:
            return integer
    return float(text)


def parse_date(text: str) -> datetime.datetime | None:
    """The instant an ISO 8601 / RFC 3339 date-time (or date) string names, else None.

    A date alone is midnight; no offset means UTC, as in Elasticsearch. ``t``/``z`` may be
    lower case (RFC 3339 allows it).
    """
    if len(text) < 10 or text[4] != "-" or text[7] != "-" or not text[:4].isdigit():
        return None
    if len(text) > 10 and text[10] not in "Tt ":
        return None
    try:
        instant = datetime.datetime.fromisoformat(text)
    except ValueError:
        try:
            instant = datetime.datetime.fromisoformat(text.upper())
        except ValueError:
            return None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=datetime.UTC)
    return instant


def _range(
    field: str,
    op: nodes.RangeOp,
    bound: nodes.Text,
    access: documents.FieldAccess,
    clock: dates.Clock,
) -> _Compiled:
    test = field_range_test(field, op, bound, access, clock)
    constant = access.constant(field)
    if constant is not None:
        return test(constant)
    get = access.values(field)
    return lambda document: test(get(document))


def field_range_test(
    field: str,
    op: nodes.RangeOp,
    bound: nodes.Text,
    access: documents.FieldAccess,
    clock: dates.Clock,
) -> Callable[[list[Any]], bool]:
    """The test of ``field``'s values for a range: by the field's type when it has one."""
    mapping = access.kind(field)
    if typed.kind(mapping) is not None:
        assert mapping is not None
        return typed.range_test(mapping, field, op, bound, clock)
    return range_test(op, bound.text)


def range_test(op: nodes.RangeOp, text: str) -> Callable[[list[Any]], bool]:
    """An untyped range: the bound's form decides (a number, a date, else text)."""
    compare = _COMPARE[op]
    number = _number(text)
    if number is not None:
        limit = number

        def numbers(values: list[Any]) -> bool:
            for item in values:
                kind = type(item)
                if (kind is int or kind is float) and compare(item, limit):
                    return True
            return False

        return numbers

    instant = parse_date(text)
    if instant is not None:
        when = instant

        def dates(values: list[Any]) -> bool:
            for item in values:
                if type(item) is str:
                    found = parse_date(item)
                    if found is not None and compare(found, when):
                        return True
            return False

        return dates

    def strings(values: list[Any]) -> bool:
        for item in values:  # noqa: SIM110
            if type(item) is str and compare(item, text):
                return True
        return False

    return strings


def _nested(
    field: str, query: nodes.Node, access: documents.FieldAccess, clock: dates.Clock
) -> _Compiled:
    elements, inner_access = access.elements(field)
    inner = compile_condition(query, inner_access, clock)
    if inner is False:
        return False
    if inner is True:
        return lambda document: bool(elements(document))
    holds = inner

    def any_element(document: Any) -> bool:
        for element in elements(document):  # noqa: SIM110
            if holds(element):
                return True
        return False

    return any_element
