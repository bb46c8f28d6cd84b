"""The active rules, indexed so that an event is only tested against rules it can match.

Fed by: compiled rules (from files, or from the operator's watch). Feeds: ``evaluate``.

Most detections require a field to hold one of a few exact values (``verb:create``,
``objectRef.resource:pods``). Such a rule cannot match an event whose value is not among
them, so it is filed under that field and value. Per event, each index field is read once
and only the rules filed under the values present run; rules with no such requirement run
always.

A rule that requires several fields is filed under the most selective one, by a fixed order
of preference (:data:`PREFERENCE`): a subresource or an object name is rare, a resource or
API group narrows to a few percent of a cluster's traffic, while nearly every event has the
verb ``get``/``update`` or the outcome ``success``. Selectivity, not sharing, decides: a rule
filed under ``event.outcome:success`` would run on almost every event. Among fields of equal
preference the one with fewer required values wins; a field whose required values include one
that nearly every event holds (:data:`COMMON_VALUES`) is no index at all. Fields with the same
values in every event (``event.dataset``) are never used.

Per event the rules filed under the values found are combined as a bit mask (bit ``i`` is
rule ``i``); the rules of each mask seen are remembered, so an event costs a few dictionary
lookups and one ``or`` per index hit, with no sorting.

A rule set is immutable: the operator swaps in a new one when a rule changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from audithound.normalize import view
from audithound.rules import compiler

_ACCESS = view.AuditEventAccess()

#: Index fields from most to least selective; fields on one line are equally selective (the
#: same raw value seen through two names). A field not listed ranks at :data:`OTHER_RANK`.
PREFERENCE: Final[tuple[tuple[str, ...], ...]] = (
    ("kubernetes.audit.objectRef.subresource",),
    ("kubernetes.audit.objectRef.name", "orchestrator.resource.name"),
    ("kubernetes.audit.objectRef.resource", "orchestrator.resource.type"),
    ("kubernetes.audit.objectRef.apiGroup",),
    ("kubernetes.audit.verb", "event.action"),
    ("kubernetes.audit.annotations.authorization_k8s_io/decision", "event.outcome"),
)

#: The rank of a field that :data:`PREFERENCE` does not list (``user.name``, a namespace, a
#: ``requestObject`` field): after the API group, before the verb. A rule author who names
#: exact values of such a field names something specific, rarer than a verb.
OTHER_RANK: Final = 4

_RANKS: Final[Mapping[str, int]] = {
    field: rank if rank < OTHER_RANK else rank + 1
    for rank, fields in enumerate(PREFERENCE)
    for field in fields
}

#: Values that nearly every event holds (API servers allow far more than they forbid). A rule
#: that may only be filed under one of them runs on every event instead: the index would read
#: the field for every event and skip almost none.
COMMON_VALUES: Final[Mapping[str, frozenset[str]]] = {
    "event.outcome": frozenset({"success"}),
    "kubernetes.audit.annotations.authorization_k8s_io/decision": frozenset({"allow"}),
}

#: Distinct candidate masks whose rules one rule set remembers. Events fall into few
#: combinations of index hits (one per resource and outcome seen, roughly), so this is
#: rarely reached; when it is, the memory starts afresh rather than growing.
MASK_MEMO_SIZE: Final = 4096


def rank(field: str, values: frozenset[str]) -> tuple[int, int, str]:
    """How good ``field`` (required to hold one of ``values``) is as an index: lower is better."""
    return (_RANKS.get(field, OTHER_RANK), len(values), field)


class RuleSet:
    """Enabled rules in a stable order, with the value index described above."""

    def __init__(self, rules: Iterable[compiler.CompiledRule]) -> None:
        self.rules: tuple[compiler.CompiledRule, ...] = tuple(
            rule for rule in rules if rule.spec.enabled
        )
        self.by_name = {rule.name: rule for rule in self.rules}
        #: Which field each indexed rule is filed under, by rule name (for tests and debugging).
        self.index_fields: dict[str, str] = {}
        self._always: int
        self._indexes: tuple[tuple[Callable[[Any], list[Any]], dict[Any, int]], ...]
        self._memo: dict[int, tuple[compiler.CompiledRule, ...]] = {}
        self._everything: tuple[compiler.CompiledRule, ...]
        self._build()

    def _build(self) -> None:
        always = 0
        tables: dict[str, dict[Any, int]] = {}
        for position, rule in enumerate(self.rules):
            bit = 1 << position
            # A field with the same values in every event (``event.dataset``) filters nothing.
            required = {
                field: values
                for field, values in rule.required.items()
                if _ACCESS.constant(field) is None
                and values.isdisjoint(COMMON_VALUES.get(field, frozenset()))
            }
            if not required:
                always |= bit
                continue
            field = min(required, key=lambda name: rank(name, required[name]))
            self.index_fields[rule.name] = field
            table = tables.setdefault(field, {})
            for value in required[field]:
                table[value] = table.get(value, 0) | bit
        self._always = always
        self._everything = self._select(always)
        ordered = sorted(tables, key=lambda name: _RANKS.get(name, OTHER_RANK))
        self._indexes = tuple((_ACCESS.values(field), tables[field]) for field in ordered)

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, event: Any) -> tuple[compiler.CompiledRule, ...]:
        """The rules that may match ``event``, in rule order."""
        if not self._indexes:
            return self._everything
        mask = self._always
        for values, table in self._indexes:
            for value in values(event):
                mask |= table.get(value, 0)
        found = self._memo.get(mask)
        if found is None:
            found = self._select(mask)
        return found

    def _select(self, mask: int) -> tuple[compiler.CompiledRule, ...]:
        found = tuple(rule for position, rule in enumerate(self.rules) if mask >> position & 1)
        if len(self._memo) >= MASK_MEMO_SIZE:
            self._memo.clear()
        self._memo[mask] = found
        return found
