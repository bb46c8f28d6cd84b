"""Which values a rule's own query names: an exception on them would switch the rule off.

Fed by: a compiled rule (its parsed query and ``required`` values). Feeds: ``clusters``,
which leaves these values out of exception items.

A value is *defining* for a field when the query, outside any ``not``, matches that field
(or an alias of it, ``dimensions.ALIASES``) against exactly that text, or accepts the
field missing (``f:(a or not *)``): every alert then holds it because the rule asked for it,
and tomorrow's attacker will too. A value that only fits a wildcard of the query
(``system:serviceaccount:ci:deployer`` under ``system\\:serviceaccount\\:*``) is narrower
than the rule and stays a candidate.
"""

from __future__ import annotations

import dataclasses

from audithound.kql import codegen, nodes
from audithound.rules import compiler
from audithound.tuning import dimensions


@dataclasses.dataclass(frozen=True)
class Defining:
    """Per field of ``dimensions.FIELDS``: the exact texts the query names, and whether it
    accepts the field missing."""

    texts: dict[str, frozenset[str]]
    missing: frozenset[str]

    def names(self, field: str, value: str | None) -> bool:
        """Whether the query itself names ``value`` (None: missing) for ``field``."""
        if value is None:
            return field in self.missing
        return value in self.texts.get(field, frozenset())


_CANONICAL = {
    alias: field for field, aliases in dimensions.ALIASES.items() for alias in (field, *aliases)
}


def defining(rule: compiler.CompiledRule) -> Defining:
    """The values ``rule``'s query names (see the module docstring)."""
    texts: dict[str, set[str]] = {}
    missing: set[str] = set()
    for field, values in rule.required.items():
        if (canonical := _CANONICAL.get(field)) is not None:
            texts.setdefault(canonical, set()).update(values)
    if not isinstance(rule.query, codegen.External):  # an EQL query: its required values
        _walk(rule.query, texts, missing)
    return Defining(
        {field: frozenset(values) for field, values in texts.items()}, frozenset(missing)
    )


def _walk(node: nodes.Node, texts: dict[str, set[str]], missing: set[str]) -> None:
    match node:
        case nodes.Or(children) | nodes.And(children):
            for child in children:
                _walk(child, texts, missing)
        case nodes.Match(field, value):
            if (canonical := _CANONICAL.get(field)) is not None:
                _values(value, canonical, texts, missing)
        case nodes.Not() | nodes.Range() | nodes.Nested() | nodes.FreeText():
            return  # what the query refuses, or nothing exact
        case _:
            raise TypeError(f"not a query node: {node!r}")


def _values(
    value: nodes.ValueNode, field: str, texts: dict[str, set[str]], missing: set[str]
) -> None:
    match value:
        case nodes.Text(text):
            texts.setdefault(field, set()).add(text)
        case nodes.ValueOr(children) | nodes.ValueAnd(children):
            for child in children:
                _values(child, field, texts, missing)
        case nodes.ValueNot(nodes.Exists()):
            missing.add(field)
        case nodes.Pattern() | nodes.Exists() | nodes.ValueNot():
            return
        case _:
            raise TypeError(f"not a value node: {value!r}")
