"""The tree of a parsed KQL query: frozen, hashable, compared by structure.

Fed by: :mod:`audithound.kql.parser` (and by tests that build trees directly). Feeds: the
compiler (a predicate), the renderer (text again) and the analysis helpers the rule engine
uses (fields read, warnings, required values).

Two layers, as in Kibana's grammar:
- query nodes (:data:`Node`): ``Or``, ``And``, ``Not``, ``Match`` (``field:value`` or
  ``field:(value list)``), ``Range`` (``field >= bound``), ``Nested`` (``field:{ query }``)
  and ``FreeText`` (a bare value, searched in every field);
- value nodes (:data:`ValueNode`), the right side of ``field:``: the leaves ``Text``,
  ``Pattern`` and ``Exists``, combined in a value list by ``ValueOr``, ``ValueAnd``,
  ``ValueNot``.

Parentheses leave no node: ``f:(a)`` is ``f:a``, ``(a:b)`` is ``a:b``, and a parenthesised
``and`` inside an ``and`` stays a child node, so rendering adds the parentheses back.
Source positions (1-based ``line``/``column`` of a field or value, 0 when built by hand) are
excluded from equality and hashing: two trees are equal when the queries are.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, TypeAlias

RangeOp: TypeAlias = Literal["<", "<=", ">", ">="]
RANGE_OPS: tuple[RangeOp, ...] = ("<", "<=", ">", ">=")


#: What Kibana trims from both ends of an unquoted value once unescaped (JavaScript's
#: ``String.prototype.trim``: white space and line terminators), so no unquoted value starts or
#: ends with one: ``f:\\u0020a`` is ``f:a``.
TRIMMED = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def _position() -> int:
    """A source coordinate: ignored by ``==`` and ``hash`` so that equality is structural."""
    return dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Text:
    """A value without wildcard: ``abc``, ``"a b*"``, ``007``, ``true``, ``system\\:node``.

    ``text`` is the value after unescaping. ``quoted`` records how it was written; it changes
    nothing when matching (Elasticsearch reads ``"200"`` and ``200`` alike: the document's
    value type decides between text, number and boolean comparison).
    """

    text: str
    quoted: bool = False
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if not self.quoted and not self.text:
            raise ValueError("an unquoted value is never empty")
        if not self.quoted and self.text.strip(TRIMMED) != self.text:
            raise ValueError("an unquoted value never starts or ends with white space")


@dataclasses.dataclass(frozen=True, slots=True)
class Pattern:
    """An unquoted value with ``*`` wildcards: ``parts`` are the literal pieces between them.

    ``/healthz*`` is ``("/healthz", "")``, ``*a*b`` is ``("", "a", "b")``. A lone ``*`` is
    :class:`Exists`, never a pattern.
    """

    parts: tuple[str, ...]
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError("a pattern holds at least one '*', so at least two parts")
        if self.parts == ("", ""):
            raise ValueError("a lone '*' is Exists, not a Pattern")
        first, last = self.parts[0], self.parts[-1]
        if first.lstrip(TRIMMED) != first or last.rstrip(TRIMMED) != last:
            raise ValueError("a pattern never starts or ends with white space")


@dataclasses.dataclass(frozen=True, slots=True)
class Exists:
    """The value ``*`` alone: ``f:*`` holds when the field exists (has a non-empty value)."""

    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class ValueOr:
    """``a or b`` inside a value list: any alternative matches."""

    children: tuple[ValueNode, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("'or' joins at least two values")


@dataclasses.dataclass(frozen=True, slots=True)
class ValueAnd:
    """``a and b`` inside a value list: each holds, possibly in different array elements."""

    children: tuple[ValueNode, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("'and' joins at least two values")


@dataclasses.dataclass(frozen=True, slots=True)
class ValueNot:
    """``not a`` inside a value list: plain negation, so true when the field is missing."""

    child: ValueNode


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    """``field:value`` or ``field:(value list)``; ``line``/``column`` locate the field."""

    field: str
    value: ValueNode
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """``field < bound``, ``<=``, ``>``, ``>=``; the bound never holds a wildcard."""

    field: str
    op: RangeOp
    value: Text
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Nested:
    """``field:{ query }``: ``query`` (its fields relative to ``field``) holds in one element."""

    field: str
    query: Node
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class FreeText:
    """A bare value with no field: it matches when any value of the document matches."""

    value: Leaf


@dataclasses.dataclass(frozen=True, slots=True)
class And:
    """``a and b and ...``: every child holds."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("'and' joins at least two queries")


@dataclasses.dataclass(frozen=True, slots=True)
class Or:
    """``a or b or ...``: some child holds."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("'or' joins at least two queries")


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    """``not a``: the child does not hold (so ``not f:x`` holds when ``f`` is missing)."""

    child: Node


Leaf: TypeAlias = Text | Pattern | Exists
ValueNode: TypeAlias = Text | Pattern | Exists | ValueOr | ValueAnd | ValueNot
Node: TypeAlias = Match | Range | Nested | FreeText | And | Or | Not
