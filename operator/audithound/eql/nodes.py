"""The tree of a parsed EQL query: frozen, hashable, compared by structure.

Fed by: :mod:`audithound.eql.parser` (and by tests that build trees directly). Feeds: the
checker (:mod:`audithound.eql.verify`), the evaluator (a predicate) and the renderer (text
again).

Two layers, as in Elasticsearch's grammar:
- queries: :class:`EventQuery` (``category where condition``, ``any where ...``) and
  :class:`Sequence` of :class:`Step` (``sequence by f with maxspan=5m [q1] [q2] until [q]``);
- expressions (:data:`Expression`): the boolean ``Or``, ``And``, ``Not``; one
  ``Comparison``; ``Membership`` (``in``, ``in~``, ``not in``), ``PatternMatch`` (``:``,
  ``like``, ``like~``, ``regex``, ``regex~``); ``Arithmetic`` and ``Sign``; ``Call``; and the
  leaves ``Field``, ``String``, ``Number``, ``Boolean``, ``Null``.

Parentheses leave no node: ``(a == 1)`` is ``a == 1``, and a parenthesised ``and`` inside an
``and`` stays a child node, so rendering adds the parentheses back. Source positions (1-based
``line``/``column`` of a node's first or operator token, 0 when built by hand) are excluded
from equality and hashing: two trees are equal when the queries are.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, TypeAlias

CompareOp: TypeAlias = Literal["==", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[CompareOp, ...] = ("==", "!=", "<", "<=", ">", ">=")
ArithmeticOp: TypeAlias = Literal["+", "-", "*", "/", "%"]
ARITHMETIC_OPS: tuple[ArithmeticOp, ...] = ("+", "-", "*", "/", "%")
SignOp: TypeAlias = Literal["+", "-"]
#: ``:`` is case-insensitive equality with wildcards: the same as ``like~``, written apart.
PatternKind: TypeAlias = Literal[":", "like", "like~", "regex", "regex~"]
PATTERN_KINDS: tuple[PatternKind, ...] = (":", "like", "like~", "regex", "regex~")
TimeUnit: TypeAlias = Literal["ms", "s", "m", "h", "d"]
#: Milliseconds in one of each unit ``maxspan`` accepts.
TIME_UNITS: dict[str, int] = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
#: Bounds of ``with runs=N`` on a sequence step (Elasticsearch's EQL syntax reference).
MIN_RUNS, MAX_RUNS = 1, 100


def _position() -> int:
    """A source coordinate: ignored by ``==`` and ``hash`` so that equality is structural."""
    return dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Null:
    """``null``."""

    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Boolean:
    """``true`` or ``false``."""

    value: bool
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Number:
    """A number as written: never negative (``-1`` is a :class:`Sign` of ``1``), always finite."""

    value: int | float
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if isinstance(self.value, bool):
            raise ValueError("a boolean is no number")
        if self.value < 0 or not math.isfinite(self.value):
            raise ValueError("a number literal is finite and never negative")


@dataclasses.dataclass(frozen=True, slots=True)
class String:
    """A string after unescaping (``"a\\tb"`` and ``\"\"\"a<tab>b\"\"\"`` are both ``a<tab>b``)."""

    value: str
    line: int = _position()
    column: int = _position()


Constant: TypeAlias = Null | Boolean | Number | String


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """A field: ``process.name``, ``?user.id`` (optional), `` `my field` `` (escaped).

    ``path`` is the names between dots, each as written (a backquoted name may hold a dot: it
    then reads the same field as the dotted path, as documents see it).
    """

    path: tuple[str, ...]
    optional: bool = False
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if not self.path or any(not name for name in self.path):
            raise ValueError("a field has one or more names, none empty")

    @property
    def name(self) -> str:
        """The dotted name a document is read with."""
        return ".".join(self.path)


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """A function call: ``startsWith(f, "a")``; ``insensitive`` for the ``~`` form."""

    function: str
    arguments: tuple[Expression, ...]
    insensitive: bool = False
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Sign:
    """``-x`` or ``+x``."""

    op: SignOp
    operand: Expression
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left op right`` for ``+ - * / %`` (left-associative, ``* / %`` over ``+ -``)."""

    op: ArithmeticOp
    left: Expression
    right: Expression
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Membership:
    """``operand in (values)``: ``insensitive`` for ``in~``, ``negated`` for ``not in``."""

    operand: Expression
    values: tuple[Expression, ...]
    insensitive: bool = False
    negated: bool = False
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("'in' takes one value or more")


@dataclasses.dataclass(frozen=True, slots=True)
class PatternMatch:
    """``operand : "a*"``, ``operand like ("a*", "b?")``, ``operand regex~ "x.*"`` ...

    ``patterns`` are constants, as the grammar wants them; one pattern is written without
    parentheses, several with (``f : ("a")`` and ``f : "a"`` are one tree).
    """

    operand: Expression
    kind: PatternKind
    patterns: tuple[Constant, ...]
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if not self.patterns:
            raise ValueError("a pattern match takes one pattern or more")


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right`` for ``== != < <= > >=``; comparisons never chain."""

    op: CompareOp
    left: Expression
    right: Expression
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    operand: Expression
    line: int = _position()
    column: int = _position()


@dataclasses.dataclass(frozen=True, slots=True)
class And:
    children: tuple[Expression, ...]
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("'and' joins two conditions or more")


@dataclasses.dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Expression, ...]
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("'or' joins two conditions or more")


Expression: TypeAlias = (
    Or
    | And
    | Not
    | Comparison
    | Membership
    | PatternMatch
    | Arithmetic
    | Sign
    | Call
    | Field
    | Null
    | Boolean
    | Number
    | String
)


@dataclasses.dataclass(frozen=True, slots=True)
class EventQuery:
    """``category where condition``; ``category`` None for ``any``.

    The category is compared with ``event.category`` (any of its values), case-sensitively.
    """

    category: str | None
    condition: Expression
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if self.category == "":
            raise ValueError("an event category is never empty")


@dataclasses.dataclass(frozen=True, slots=True)
class Duration:
    """``maxspan`` as written: ``5m`` is ``Duration(5, "m")``."""

    amount: int
    unit: TimeUnit
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if self.amount <= 0 or self.unit not in TIME_UNITS:
            raise ValueError("a duration is a positive count of ms, s, m, h or d")

    @property
    def milliseconds(self) -> int:
        return self.amount * TIME_UNITS[self.unit]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One step ``[query] by keys with runs=N`` of a sequence; ``missing`` for ``![query]``."""

    query: EventQuery
    by: tuple[Field, ...] = ()
    runs: int = 1
    missing: bool = False
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if not MIN_RUNS <= self.runs <= MAX_RUNS:
            raise ValueError(f"runs is between {MIN_RUNS} and {MAX_RUNS}")


@dataclasses.dataclass(frozen=True, slots=True)
class Sequence:
    """``sequence by keys with maxspan=D [q1] [q2] ... until [q]``."""

    steps: tuple[Step, ...]
    by: tuple[Field, ...] = ()
    maxspan: Duration | None = None
    until: EventQuery | None = None
    line: int = _position()
    column: int = _position()

    def __post_init__(self) -> None:
        if len(self.steps) < 2:
            raise ValueError("a sequence has two steps or more")


Query: TypeAlias = EventQuery | Sequence


def children(node: Any) -> list[Any]:
    """The child nodes of any node, in no particular order (for walks over the tree)."""
    match node:
        case Or(items) | And(items):
            return list(items)
        case Not(operand) | Sign(_, operand):
            return [operand]
        case Comparison(_, left, right) | Arithmetic(_, left, right):
            return [left, right]
        case Membership(operand, values):
            return [operand, *values]
        case PatternMatch(operand, _, patterns):
            return [operand, *patterns]
        case Call(_, arguments):
            return list(arguments)
        case EventQuery(_, condition):
            return [condition]
        case Step(query, by):
            return [query, *by]
        case Sequence(steps, by, _, until):
            return [*steps, *by, *([until] if until is not None else [])]
        case _:
            return []
