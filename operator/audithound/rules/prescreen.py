"""A rule set lowered for the native screen, which rejects most lines before Python sees them.

Fed by: a rule set (``rules.ruleset``), when the evaluator builds the readers' screen.
Feeds: ``source.decode.Screen.prefilter``: ``line -> bool``, false when no rule can match.

The native screen (``native/screen``, the ``audithound_screen`` extension built from Rust)
parses a line with sonic-rs and tests each rule's condition on the few fields the rules read,
reading only the plain shape of an audit event: a field is absent, ``null``, one string or an
array of strings (one integer for an integer field) at a literal path of one or two keys, the
outcome, an annotation, or the addresses of ``source.ip``. A test of any other value, and any
other line, is "maybe"; those lines are decoded whole as without it, so it need only be exact
on that shape.

A rule is lowered part by part: ``and``, ``or``, ``not``, exact values, wildcards and ``*`` on
such fields. A part it cannot read (a range, a nested query, free text, a typed or deeper
field, another query language) is :data:`UNKNOWN`, and the screen rules a rule out only where
it is false whatever the unknown parts say (Kleene's logic). A rule that can never be false
that way is lowered to its guard as well: the field test that the generated Python function
makes before it runs the rule at all (``rules.ruleset``), so that where it fails Python neither
matches the rule nor raises in it. A rule with neither leaves the screen nothing to reject,
and then there is no native screen.

Without the extension (not built on this machine), there is no native screen either; answers
are the same, only slower.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable
from typing import Any, Final

from audithound.kql import codegen, compiler, documents, ips, nodes, typed
from audithound.normalize import view
from audithound.rules import ruleset
from audithound.source import decode

_ACCESS: Final = view.AuditEventAccess()

#: The fields that convert ``sourceIPs`` to addresses (``normalize.view._source_ips``).
_ADDRESSES: Final = frozenset({"source.ip", "client.ip"})

#: Top-level keys the screen reads for the event's shape: never a field's parent.
_SHAPE_KEYS: Final = frozenset({"auditID", "stage", "kind", "apiVersion"})

#: Field kinds compared as numbers, not as text.
_TYPED: Final = frozenset({"integer", "ips"})

#: Integer values the screen compares: plain decimals well inside every integer type's range.
_SMALL_INTEGER: Final = re.compile(r"0|[1-9][0-9]{0,8}")


#: A part of a rule the screen does not read: it may hold or not (Kleene's third value).
UNKNOWN: Final = "unknown"


class Unsupported(Exception):
    """A query (or part of one) the native screen cannot test."""


def extension() -> Any | None:
    """The ``audithound_screen`` module, or None where it was not built."""
    try:
        return importlib.import_module("audithound_screen")
    except ImportError:
        return None


def program(rules: ruleset.RuleSet, keep_user: str | None = None) -> dict[str, Any] | None:
    """The native screen's program for ``rules`` (fields and one condition per rule), or None
    when some rule leaves it nothing to reject. With ``keep_user``, that user's events are
    always let through (the operator's own requests)."""
    lowering = _Lowering()
    conditions: list[Any] = []
    for rule, guard in rules.guarded:
        condition = lowering.query(rule.query)
        if not can_fail(condition):
            # Where the guard fails, Python does not run the rule at all.
            if guard is None:
                return None
            condition = {"all": [lowering.guard(guard), condition]}
            if not can_fail(condition):
                return None
        conditions.append(condition)
    if keep_user is not None:
        conditions.append(lowering.match("user.name", nodes.Text(keep_user, quoted=True)))
    return {"fields": lowering.fields, "tests": lowering.tests, "rules": conditions}


def can_fail(condition: Any) -> bool:
    """Whether a lowered condition is false on some line (not so where unknown parts decide)."""
    return _can(condition, False)


def _can(condition: Any, answer: bool) -> bool:
    """Whether ``condition`` can come out as ``answer`` (true or false) on some line."""
    if condition == UNKNOWN:
        return False  # never decided by the screen
    if not isinstance(condition, dict):
        raise TypeError(f"not a lowered condition: {condition!r}")
    (kind, operand), *_ = condition.items()
    if kind == "const":
        return bool(operand) is answer
    if kind == "test":
        return True
    if kind == "not":
        return _can(operand, not answer)
    every = (kind == "all") is answer  # all true for ``all``, all false for ``any``
    parts = (_can(child, answer) for child in operand)
    return all(parts) if every else any(parts)


def prefilter(rules: ruleset.RuleSet, keep_user: str | None = None) -> decode.Prefilter | None:
    """The native screen for ``rules`` (see :func:`program`), or None without one."""
    module = extension()
    if module is None:
        return None
    lowered = program(rules, keep_user)
    if lowered is None:
        return None
    screen: decode.Prefilter = module.Screen(json.dumps(lowered))
    return screen


class _Lowering:
    """Rules to the program's conditions, collecting the fields they read."""

    def __init__(self) -> None:
        self.fields: list[dict[str, Any]] = []
        #: Tests of one field each, shared by the rules that make them (run once per line).
        self.tests: list[dict[str, Any]] = []
        self._positions: dict[str, int] = {}
        self._tests: dict[str, int] = {}
        # Top-level keys read as a value, and as an object holding values.
        self._leaves: set[str] = set()
        self._parents: set[str] = set()

    def query(self, query: codegen.Query) -> Any:
        if isinstance(query, codegen.External):
            return UNKNOWN  # another query language
        return self.node(query)

    def node(self, node: nodes.Node) -> Any:
        match node:
            case nodes.And(children):
                return {"all": [self.node(child) for child in children]}
            case nodes.Or(children):
                return {"any": [self.node(child) for child in children]}
            case nodes.Not(child):
                return {"not": self.node(child)}
            case nodes.Match(field, value):
                return self.match(field, value)
            case _:
                return UNKNOWN  # ranges, nested queries, free text

    def guard(self, guard: codegen.Guard) -> Any:
        """The guard's test, as ``codegen.Source.guard`` writes it."""
        field, texts = guard
        alternatives = tuple(nodes.Text(text, quoted=True) for text in sorted(texts))
        value = alternatives[0] if len(alternatives) == 1 else nodes.ValueOr(alternatives)
        return self.match(field, value)

    def match(self, field: str, value: nodes.ValueNode) -> Any:
        """``field:value`` lowered, or :data:`UNKNOWN` where the screen cannot read it."""
        constant = _ACCESS.constant(field)
        if constant is not None:
            # As the compiler folds it: the same values in every event.
            return {"const": compiler.values_test(value, None)(constant, None)}
        spec = _spec(field)
        if spec is None:
            return UNKNOWN
        try:
            lowered = self._value(spec["kind"], value)
            position = self._field(spec)
        except Unsupported:
            return UNKNOWN
        test = {"field": position, "value": lowered}
        key = json.dumps(test)
        if key not in self._tests:
            self._tests[key] = len(self.tests)
            self.tests.append(test)
        return {"test": self._tests[key]}

    def _field(self, spec: dict[str, Any]) -> int:
        """The position of the field ``spec`` names, added to the program on first use."""
        key = json.dumps(spec)  # two names for one raw value (``user.name``) read it once
        position = self._positions.get(key)
        if position is not None:
            return position
        path = spec.get("path", ())
        if path and (path[0] in (self._leaves if len(path) == 2 else self._parents)):
            raise Unsupported(f"{path[0]} would be read whole and inside")
        if path:
            (self._leaves if len(path) == 1 else self._parents).add(path[0])
        self._positions[key] = len(self.fields)
        self.fields.append(spec)
        return len(self.fields) - 1

    def _value(self, kind: str, value: nodes.ValueNode) -> Any:
        match value:
            case nodes.Exists():
                return "exists"
            case nodes.ValueOr(children) if kind not in _TYPED and all(
                isinstance(child, nodes.Text) for child in children
            ):
                return {
                    "equals": [child.text for child in children if isinstance(child, nodes.Text)]
                }
            case nodes.ValueOr(children):
                return {"any": [self._value(kind, child) for child in children]}
            case nodes.ValueAnd(children):
                return {"all": [self._value(kind, child) for child in children]}
            case nodes.ValueNot(child):
                return {"not": self._value(kind, child)}
            case nodes.Text(text) if kind == "integer":
                if not _SMALL_INTEGER.fullmatch(text):
                    raise Unsupported(text)
                return {"integers": [int(text)]}
            case nodes.Text(text) if kind == "ips":
                # As ``kql.typed`` reads it: an address, else a network.
                single = ips.address(text)
                if single is not None:
                    return {"addresses": [str(single)]}
                span = ips.network(text)
                if span is None:
                    raise Unsupported(text)
                return {"networks": [[str(span[0]), str(span[1])]]}
            case nodes.Text(text):
                return {"equals": [text]}
            case nodes.Pattern(parts) if kind not in _TYPED:
                return {"glob": list(parts)}
            case _:
                raise Unsupported(repr(value))


def _spec(field: str) -> dict[str, Any] | None:
    """Where the native screen finds ``field``, or None where it cannot."""
    mapping = _ACCESS.kind(field)
    if field == "event.outcome":
        return {"kind": "outcome"}
    if field in _ADDRESSES:
        return _path("ips", ("sourceIPs",))
    if field in view.COPIED:
        return None if typed.refuses_values(mapping) else _path("text", view.COPIED[field])
    prefix = view.AUDIT + "."
    if not field.startswith(prefix):
        return None
    segments = documents.split_field(field[len(prefix) :])
    head = segments[0]
    if head == "annotations":
        if len(segments) != 2 or typed.refuses_values(mapping):
            return None
        return {"kind": "annotation", "key": segments[1]}
    if head in ("requestObject", "responseObject") or len(segments) > 2:
        return None  # Elastic's pipeline rewrites them (no ``metadata``), or too deep
    if len(segments) == 1 and mapping is None:
        return None  # an object, or not a field of the document
    if len(segments) == 2 and head in _SHAPE_KEYS:
        return None
    if not typed.refuses_values(mapping):
        return _path("text", segments)
    if typed.kind(mapping) == "integer":
        return _path("integer", segments)
    return None


def _path(kind: str, path: Iterable[str]) -> dict[str, Any]:
    return {"kind": kind, "path": list(path)}
