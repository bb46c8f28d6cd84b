"""Exception items become conditions on the raw event, or problems with their exact path.

Fed by: a rule's validated spec (``spec.exceptions``, ``spec.exceptionsList``) and the shared
lists (:class:`Library`, from DetectionException resources). Feeds: the compiled rule, whose
rule set turns the items into one predicate per rule (:func:`predicate`), which the pipeline
asks about every match before its detector sees it.

Semantics are Kibana's (``build_exception_filter.ts``): the items of a rule are ORed into one
filter that the rule's search excludes (``must_not``); an item is the AND of its entries.
- ``match``: a ``match_phrase`` of the value, ``match_any`` a ``should`` of them, ``exists``
  an ``exists`` query, ``list`` a ``terms`` query of the value list (``ip_range``: a ``range``
  per first-last value, CIDR blocks as terms), ``nested``: the entries on one element.
  These are the KQL conditions ``f:"v"``, ``f:("a" or "b")``, ``f:*``, ``f:{...}``, so they
  answer as queries do, typed fields included (``kql.typed``).
- ``wildcard``: the ``wildcard`` query: ``*``, ``?`` and ``\\`` escapes, case-sensitive
  (``kql.wildcard.compile_wildcard``); refused on ip, date and number fields, as there.
- ``operator: excluded`` wraps the entry in ``must_not``: true when the field is missing.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from audithound.api import conditions
from audithound.api import exceptions as api
from audithound.kql import analysis, compiler, dates, documents, errors, ips, nodes, typed, wildcard
from audithound.normalize import catalogue
from audithound.rules import problems as rule_problems

Predicate = Callable[[Any], bool]

EXCEPTIONS_INVALID = conditions.EXCEPTIONS_INVALID
EXCEPTION_LIST_MISSING = conditions.EXCEPTION_LIST_MISSING


@dataclasses.dataclass(frozen=True)
class Wildcard:
    """A ``wildcard`` entry (KQL has no ``?``, so it is no query node)."""

    field: str
    pattern: str
    negated: bool


@dataclasses.dataclass(frozen=True)
class Addresses:
    """A ``list`` entry of addresses on an ip field: one set lookup and one bisection per
    value, not a test per list value (lists hold up to 50,000)."""

    field: str
    singles: frozenset[int]
    #: Merged, sorted, disjoint (first, last) spans of the CIDR blocks and ranges.
    spans: tuple[tuple[int, int], ...]
    negated: bool


Condition = nodes.Node | Wildcard | Addresses


@dataclasses.dataclass(frozen=True)
class Item:
    """One exception item, ready to compile: where it came from and its conditions."""

    name: str
    #: ``spec.exceptions[0]``, or ``DetectionException trusted items[1]``.
    origin: str
    conditions: tuple[Condition, ...]


@dataclasses.dataclass(frozen=True)
class Library:
    """The shared lists: DetectionException resources by name, value lists by id."""

    exceptions: Mapping[str, api.DetectionExceptionSpec] = dataclasses.field(default_factory=dict)
    #: DetectionExceptions that exist but are invalid, with why.
    invalid: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def value_list(self, list_id: str) -> tuple[api.ValueList | None, list[str]]:
        """The value list of that id and the names of the resources that define it."""
        found: api.ValueList | None = None
        owners = []
        for name, spec in sorted(self.exceptions.items()):
            for value_list in spec.value_lists:
                if value_list.id == list_id:
                    found = value_list
                    owners.append(name)
        return found, owners


EMPTY = Library()


class _Invalid(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def uses_library(spec: Any) -> bool:
    """Whether a rule spec (validated or not) refers to shared lists, so that a change of a
    DetectionException may change its outcome."""
    if not isinstance(spec, Mapping):
        return False
    if spec.get("exceptionsList"):
        return True
    return "'list'" in repr(spec.get("exceptions"))


def build(
    items: Sequence[api.ExceptionItem],
    references: Sequence[api.ExceptionListReference],
    library: Library,
    access: documents.FieldAccess,
) -> tuple[tuple[Item, ...], list[rule_problems.Problem]]:
    """The items of a rule (its own, then those of the lists it references), and problems."""
    built: list[Item] = []
    found: list[rule_problems.Problem] = []
    for position, item in enumerate(items):
        path = f"spec.exceptions[{position}]"
        _add(built, found, item, path, path, library, access)
    for position, reference in enumerate(references):
        path = f"spec.exceptionsList[{position}].name"
        shared = library.exceptions.get(reference.name)
        if shared is None or reference.name in library.invalid:
            why = (
                f"DetectionException {reference.name} is invalid: {library.invalid[reference.name]}"
                if reference.name in library.invalid
                else f"DetectionException {reference.name} does not exist"
            )
            if reference.optional:
                found.append(
                    rule_problems.Problem(
                        "warning", f"{why}; running without it (optional)", path=path
                    )
                )
            else:
                found.append(
                    rule_problems.Problem(
                        "error",
                        f"{why}; the rule waits for it (set optional: true to run without it)",
                        path=path,
                        reason=EXCEPTION_LIST_MISSING,
                    )
                )
            continue
        for index, item in enumerate(shared.items):
            origin = f"DetectionException {reference.name} items[{index}]"
            _add(built, found, item, origin, path, library, access)
    return tuple(built), found


def _add(
    built: list[Item],
    found: list[rule_problems.Problem],
    item: api.ExceptionItem,
    origin: str,
    path: str,
    library: Library,
    access: documents.FieldAccess,
) -> None:
    """Build one item into ``built``, or its problem into ``found``. ``path`` is where a rule
    points at it: the item itself, or the reference to the list that holds it."""
    own = path == origin
    conditions: list[Condition] = []
    for index, entry in enumerate(item.entries):
        at = f"{origin}.entries[{index}]"
        try:
            condition = _entry(entry, at, library, access)
            # Compiled once now, so that a value the field's type refuses is found here.
            _compile(condition, access, dates.Clock())
        except _Invalid as error:
            problem_path, message = error.path, error.message
        except errors.KqlQueryError as error:
            problem_path = f"{at}.list" if entry.type == "list" else f"{at}.value"
            message = error.message
        else:
            conditions.append(condition)
            continue
        found.append(
            rule_problems.Problem(
                "error",
                message if own else f"{problem_path}: {message}",
                path=problem_path if own else path,
                reason=EXCEPTIONS_INVALID,
            )
        )
        return
    built.append(Item(item.name, origin, tuple(conditions)))
    for field in fields(conditions):
        if not catalogue.is_known(field):
            found.append(
                rule_problems.Problem(
                    "warning",
                    f"unknown field {field!r} in exception item {item.name!r}: no Kubernetes "
                    "audit document has it, so its entries on it never hold (excluded ones "
                    "always do)",
                    path=path,
                )
            )


def _entry(
    entry: api.Entry | api.NestedEntry, path: str, library: Library, access: documents.FieldAccess
) -> Condition:
    """The condition of one entry (for a nested entry, its field relative to the parent)."""
    kind = entry.type
    given = {"value": entry.value is not None}
    if isinstance(entry, api.Entry):
        given["list"] = entry.list_ is not None
        given["entries"] = entry.entries is not None
    wanted = {"match": "value", "match_any": "value", "wildcard": "value", "list": "list"}.get(
        kind, "entries" if kind == "nested" else ""
    )
    for key, present in given.items():
        if present and key != wanted:
            raise _Invalid(f"{path}.{key}", f"{kind} entries take no {key}")
    if wanted and not given[wanted]:
        raise _Invalid(f"{path}.{wanted}", f"{kind} entries need {wanted}")
    negated = entry.operator == "excluded"
    node: nodes.Node
    if kind == "match":
        node = nodes.Match(entry.field, _text(entry.value, f"{path}.value"))
    elif kind == "match_any":
        if not isinstance(entry.value, list) or not entry.value:
            raise _Invalid(f"{path}.value", "match_any entries need a list of strings")
        if len(entry.value) > api.MATCH_ANY_MAX_ITEMS:
            raise _Invalid(
                f"{path}.value",
                f"at most {api.MATCH_ANY_MAX_ITEMS} values; use a value list for more",
            )
        texts = [_text(value, f"{path}.value[{index}]") for index, value in enumerate(entry.value)]
        node = nodes.Match(
            entry.field, texts[0] if len(texts) == 1 else nodes.ValueOr(tuple(texts))
        )
    elif kind == "wildcard":
        pattern = _text(entry.value, f"{path}.value").text
        if typed.refuses_values(access.kind(entry.field)):
            raise _Invalid(
                f"{path}.value",
                f"{entry.field} is an {access.kind(entry.field)} field: Elasticsearch refuses "
                "wildcard queries on it (wildcards work on keyword fields only)",
            )
        return Wildcard(entry.field, pattern, negated)
    elif kind == "exists":
        node = nodes.Match(entry.field, nodes.Exists())
    elif kind == "list":
        assert isinstance(entry, api.Entry) and entry.list_ is not None
        condition = _list(entry, entry.list_, path, library, access)
        if isinstance(condition, Addresses):
            return condition
        node = condition
    else:  # nested
        assert isinstance(entry, api.Entry) and entry.entries is not None
        if negated:
            raise _Invalid(
                f"{path}.operator", "nested entries take no operator: negate the entries inside"
            )
        if not entry.entries:
            raise _Invalid(f"{path}.entries", "nested entries need at least one entry")
        inner: list[nodes.Node] = []
        for index, child in enumerate(entry.entries):
            built = _entry(child, f"{path}.entries[{index}]", library, access)
            assert not isinstance(built, Wildcard | Addresses)  # nested types are KQL's
            inner.append(built)
        query = inner[0] if len(inner) == 1 else nodes.And(tuple(inner))
        node = nodes.Nested(entry.field, query)
    return nodes.Not(node) if negated else node


def _text(value: Any, path: str) -> nodes.Text:
    if not isinstance(value, str):
        raise _Invalid(path, "needs a string")
    if not value:
        raise _Invalid(path, "must not be empty")
    return nodes.Text(value, quoted=True)


def _list(
    entry: api.Entry,
    reference: api.ValueListReference,
    path: str,
    library: Library,
    access: documents.FieldAccess,
) -> nodes.Node | Addresses:
    found, owners = library.value_list(reference.id)
    if found is None:
        raise _Invalid(
            f"{path}.list.id", f"no DetectionException defines value list {reference.id}"
        )
    if len(owners) > 1:
        raise _Invalid(
            f"{path}.list.id",
            f"value list {reference.id} is defined by several DetectionExceptions "
            f"({', '.join(owners)}); ids are cluster-wide",
        )
    if found.type != reference.type:
        raise _Invalid(
            f"{path}.list.type",
            f"value list {reference.id} is of type {found.type}, not {reference.type}",
        )
    negated = entry.operator == "excluded"
    if typed.kind(access.kind(entry.field)) == "ip":
        return _addresses(entry.field, found, f"{path}.list", negated)
    values = found.values
    if not values:  # a terms query of nothing matches nothing: no address is listed
        return Addresses(entry.field, frozenset(), (), negated)
    alternatives: list[nodes.Node] = []
    texts = [nodes.Text(value, quoted=True) for value in values if found.type != "ip_range"]
    for value in values if found.type == "ip_range" else ():
        first, dash, last = value.partition("-")
        if dash:  # a range on a keyword field compares strings, as there
            alternatives.append(
                nodes.And(
                    (
                        nodes.Range(entry.field, ">=", nodes.Text(first.strip(), quoted=True)),
                        nodes.Range(entry.field, "<=", nodes.Text(last.strip(), quoted=True)),
                    )
                )
            )
        else:
            texts.append(nodes.Text(value, quoted=True))
    if texts:
        alternatives.append(
            nodes.Match(entry.field, texts[0] if len(texts) == 1 else nodes.ValueOr(tuple(texts)))
        )
    return alternatives[0] if len(alternatives) == 1 else nodes.Or(tuple(alternatives))


def _addresses(field: str, found: api.ValueList, where: str, negated: bool) -> Addresses:
    singles: set[int] = set()
    spans: list[tuple[int, int]] = []
    for index, value in enumerate(found.values):
        first, dash, last = value.partition("-")
        if dash and found.type == "ip_range":
            low, high = ips.address(first.strip()), ips.address(last.strip())
            if low is None or high is None:
                raise _Invalid(
                    where,
                    f"value list {found.id} values[{index}]: {value!r} is not an address range",
                )
            if low <= high:  # Elasticsearch's range from a higher to a lower address is empty
                spans.append((low, high))
            continue
        single = ips.address(value)
        if single is not None:
            singles.add(single)
            continue
        span = ips.network(value)
        if span is None:
            raise _Invalid(
                where,
                f"value list {found.id} values[{index}]: {value!r} is not an IP address or CIDR "
                f"network, and {field} is an ip field",
            )
        spans.append(span)
    return Addresses(field, frozenset(singles), _merged(spans), negated)


def _merged(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def fields(conditions: Sequence[Condition]) -> Iterator[str]:
    """The document fields the conditions read (nested fields joined to their parent)."""
    for condition in conditions:
        if isinstance(condition, Wildcard | Addresses):
            yield condition.field
        else:
            yield from (field for field, _, _ in analysis.fields(condition))


def predicate(
    items: Sequence[Item], access: documents.FieldAccess, clock: dates.Clock
) -> Predicate | None:
    """``event -> bool``: whether some item holds (None when there are no items)."""
    if not items:
        return None
    compiled = [
        [_compile(condition, access, clock) for condition in item.conditions] for item in items
    ]
    tests = tuple(tuple(parts) for parts in compiled)

    def excepted(event: Any) -> bool:
        for item in tests:
            for test in item:
                if not test(event):
                    break
            else:
                return True
        return False

    return excepted


def _compile(condition: Condition, access: documents.FieldAccess, clock: dates.Clock) -> Predicate:
    if isinstance(condition, Wildcard):
        return _wildcard(condition, access)
    if isinstance(condition, Addresses):
        return _address_test(condition, access)
    return compiler.compile_query(condition, access, clock)


def _wildcard(condition: Wildcard, access: documents.FieldAccess) -> Predicate:
    glob = wildcard.compile_wildcard(condition.pattern)
    negated = condition.negated
    constant = access.constant(condition.field)
    if constant is not None:
        answer = any(type(item) is str and glob(item) for item in constant) != negated
        return lambda event: answer
    get = access.values(condition.field)

    def matches(event: Any) -> bool:
        for item in get(event):
            if type(item) is str and glob(item):
                return not negated
        return negated

    return matches


def _address_test(condition: Addresses, access: documents.FieldAccess) -> Predicate:
    get = access.values(condition.field)
    singles, negated = condition.singles, condition.negated
    starts = [first for first, _ in condition.spans]
    ends = [last for _, last in condition.spans]

    def listed(event: Any) -> bool:
        for item in get(event):
            number = ips.of_value(item)
            if number is None:
                continue
            if number in singles:
                return not negated
            at = bisect.bisect_right(starts, number) - 1
            if at >= 0 and number <= ends[at]:
                return not negated
        return negated

    return listed
