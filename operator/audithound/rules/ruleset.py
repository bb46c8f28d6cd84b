"""The active rules, indexed so that an event is only tested against rules it can match.

Fed by: compiled rules (from files, or from the operator's watch). Feeds: ``evaluate``.

Most detections require a field to hold one of a few exact values (``verb:create``,
``objectRef.resource:pods``). Such a rule cannot match an event whose value is not among
them, so it is filed under that field and value. Per event, each index field is read once
and only the rules filed under the values present run; rules with no such requirement run
always. The index field of a rule is chosen greedily: the field that indexes the most rules,
so that few fields are read per event.

A rule set is immutable: the operator swaps in a new one when a rule changes.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from audithound.normalize import view
from audithound.rules import compiler

_ACCESS = view.AuditEventAccess()


class RuleSet:
    """Enabled rules in a stable order, with the value index described above."""

    def __init__(self, rules: Iterable[compiler.CompiledRule]) -> None:
        self.rules: tuple[compiler.CompiledRule, ...] = tuple(
            rule for rule in rules if rule.spec.enabled
        )
        self.by_name = {rule.name: rule for rule in self.rules}
        self._always: tuple[int, ...]
        self._indexes: tuple[tuple[Callable[[Any], list[Any]], dict[Any, tuple[int, ...]]], ...]
        self._build()

    def _build(self) -> None:
        unplaced = set(range(len(self.rules)))
        coverage: collections.Counter[str] = collections.Counter(
            field for rule in self.rules for field in rule.required
        )
        indexes = []
        for field, _ in coverage.most_common():
            filed: dict[Any, list[int]] = collections.defaultdict(list)
            for position in sorted(unplaced):
                values = self.rules[position].required.get(field)
                if values is None:
                    continue
                for value in values:
                    filed[value].append(position)
                unplaced.discard(position)
            if filed:
                table = {value: tuple(positions) for value, positions in filed.items()}
                indexes.append((_ACCESS.values(field), table))
        self._always = tuple(sorted(unplaced))
        self._indexes = tuple(indexes)

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, event: Any) -> Sequence[int]:
        """Positions of the rules that may match ``event``, in rule order."""
        if not self._indexes:
            return self._always
        found: list[int] = list(self._always)
        for values, table in self._indexes:
            for value in values(event):
                hit = table.get(value)
                if hit is not None:
                    found.extend(hit)
        if len(found) > 1:
            found = sorted(set(found))
        return found
