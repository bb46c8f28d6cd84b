"""Many queries as one generated function that reads each field at most once per document.

Fed by: parsed queries (:mod:`audithound.kql.nodes`), each with an optional guard (a field that
must hold one of a few exact strings, chosen by the rule index) and a payload to report when
it matches, and a :class:`~audithound.kql.documents.FieldAccess`. Feeds: the rule set, which
calls the generated function once per event.

Why generate code: compiled one by one (:func:`audithound.kql.compiler.compile_query`), thirty
detections read the same few fields (verb, resource, user, decision) again in each rule's
chain of closures, and every ``and``/``or`` is a call. Here the whole rule set is one Python
function: each field's values live in a local variable filled on first use, exact-string
tests (the common case) are inline ``in``/``isdisjoint`` expressions over those locals, and
``and``/``or``/``not`` are Python's own operators.

Same answers as the compiler, by construction: the inlined forms are exactly the compiler's
fast paths (exact strings that match strings only, see ``compiler._match``); every other
value test is the compiler's own closure over the shared values, and any other condition
(nested queries, free text, a rule nested too deeply for Python's parser) is the compiler's
closure called on the document. Conditions on constant fields fold away as there.

No query text ever becomes code: the source holds only generated names (``k3``, ``t4``,
``f0``); the values, sets and closures they stand for are passed in the function's globals.

A query of another language (EQL) takes part through :class:`External`: it writes its own
expression with the same shared reads (:meth:`Source.values`) and named globals
(:meth:`Source.name`), so a set mixing languages is still one function.

A query that raises on some document fails alone: each query runs in its own ``try``, its
payload goes to the caller's ``failed`` list, and the other queries still see the document.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

from audithound.kql import compiler, dates, documents, nodes, typed

T = TypeVar("T")

#: A field that must hold one of these exact strings for the query to match.
Guard = tuple[str, frozenset[str]]

#: ``(document, failed) -> payloads of the queries that match``, in the order given;
#: payloads of queries that raised are appended to ``failed``.
Matcher = Callable[[Any, list[T]], list[T]]

#: Nesting of ``and``/``or``/``not`` inlined per query. Python's parser refuses some 200
#: levels of parentheses; a deeper query runs as its compiled closure (no shared reads).
MAX_DEPTH = 50


class TooDeep(Exception):
    """A query nested deeper than :data:`MAX_DEPTH`: it runs as its closure instead."""


class External(abc.ABC):
    """A query of another language, lowered into the generated function by itself."""

    @abc.abstractmethod
    def lower(self, source: Source) -> str | bool:
        """A Python expression over ``document`` true where the query holds (or its constant
        answer), built with ``source``'s names; raises :class:`TooDeep` past
        :data:`MAX_DEPTH`."""

    @abc.abstractmethod
    def predicate(self) -> Callable[[Any], bool]:
        """The query as one ``document -> bool`` closure (when too deep to lower)."""


#: What a rule set runs: a KQL tree or a query that lowers itself.
Query: TypeAlias = nodes.Node | External


class Source:
    """The generated function's text and the globals its names stand for."""

    def __init__(
        self,
        access: documents.FieldAccess,
        clock: dates.Clock,
        common: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.access = access
        self.clock = clock
        #: Values nearly every document holds, by field: a conjunct that requires one of them
        #: rarely rules a document out, so it runs after the others of its kind.
        self.common = common or {}
        self.globals: dict[str, Any] = {}
        self.fields: dict[str, str] = {}
        self._names = itertools.count()

    def name(self, value: Any, prefix: str) -> str:
        """A fresh global name bound to ``value``."""
        name = f"{prefix}{next(self._names)}"
        self.globals[name] = value
        return name

    def values(self, field: str) -> str:
        """An expression for the values of ``field``, read once per document on first use."""
        local = self.fields.get(field)
        if local is None:
            local = f"f{len(self.fields)}"
            self.fields[field] = local
            self.globals[f"g{local}"] = self.access.values(field)
        return f"({local} if {local} is not None else ({local} := g{local}(document)))"

    def condition(self, node: nodes.Node, depth: int = 0) -> str | bool:
        """A Python expression true where ``node`` holds, or the answer when it is constant."""
        if depth > MAX_DEPTH:
            raise TooDeep
        match node:
            case nodes.Or(children):
                return self._combined(compiler.merge_exact(children), True, depth)
            case nodes.And(children):
                return self._combined(sorted(children, key=self._order), False, depth)
            case nodes.Not(child):
                inner = self.condition(child, depth + 1)
                return (not inner) if isinstance(inner, bool) else f"(not {inner})"
            case nodes.Match(field, value) if self.access.constant(field) is None:
                return self._match(field, value)
            case nodes.Range(field, op, bound) if self.access.constant(field) is None:
                test = self.name(
                    compiler.field_range_test(field, op, bound, self.access, self.clock), "t"
                )
                return f"{test}({self.values(field)})"
            case _:
                return self.closure(node)

    def _order(self, node: nodes.Node) -> tuple[bool, bool, int]:
        """:func:`compiler.order`, with conjuncts on common values after the others."""
        negated, cost = compiler.order(node)
        common = False
        if isinstance(node, nodes.Match) and node.field in self.common:
            exact = compiler.exact_texts(node.value)
            common = exact is not None and {t.text for t in exact} <= self.common[node.field]
        return negated, common, cost

    def _combined(self, children: Sequence[nodes.Node], decisive: bool, depth: int) -> str | bool:
        """``or`` (``decisive`` True) or ``and`` (False) of ``children``."""
        return combine((self.condition(child, depth + 1) for child in children), decisive)

    def closure(self, node: Query) -> str | bool:
        """``node`` compiled by the compiler and called on the document."""
        if isinstance(node, External):
            return f"{self.name(node.predicate(), 'c')}(document)"
        compiled = compiler.compile_condition(node, self.access, self.clock)
        if isinstance(compiled, bool):
            return compiled
        return f"{self.name(compiled, 'c')}(document)"

    def _match(self, field: str, value: nodes.ValueNode) -> str:
        # The branches mirror ``compiler._match``, so both give the same answers.
        if isinstance(value, nodes.Exists):
            return f"{self.name(self.access.present(field), 'p')}(document)"
        values = self.values(field)
        mapping = self.access.kind(field)
        if mapping is not None and typed.refuses_values(mapping):
            typed_test = typed.values_test(mapping, field, value, self.clock)
            return f"{self.name(typed_test, 't')}({values})"
        exact = compiler.exact_texts(value)
        if exact is not None:
            texts = frozenset(text.text for text in exact)
            if not any(compiler.matches_non_strings(text) for text in texts):
                if len(texts) == 1:
                    (only,) = texts
                    return f"({self.name(only, 'k')} in {values})"
                return f"(not {self.name(texts, 'k')}.isdisjoint({values}))"
        listed = self._value_list(field, value)
        if listed is not None:
            return listed
        plain = compiler.plain_test(value)
        if plain is not None:
            return f"{self.name(plain, 't')}({values})"
        test = compiler.values_test(value, self.access.present(field))
        return f"{self.name(test, 't')}({values}, document)"

    def _value_list(self, field: str, value: nodes.ValueNode) -> str | None:
        """A value list holding ``*`` (``f:(a or b or not *)``) as Python's own ``or``/``and``/
        ``not`` over each part's test, exact texts grouped; None for any other value (the
        compiler's ``values_test`` is then called). Each part tests the same values, as the
        compiler's combined test does (ELASTIC-SEMANTICS.md: a value list is the field's
        condition on each part)."""
        if not _has_exists(value):
            return None  # the compiler's one-argument tests are as fast
        match value:
            case nodes.ValueOr(children):
                # Exact texts first, as one set test: any of them will do.
                exact = [child for child in children if _inlined_text(child)]
                parts = [self._match(field, child) for child in children if child not in exact]
                if len(exact) > 1:
                    parts.insert(0, self._match(field, nodes.ValueOr(tuple(exact))))
                elif exact:
                    parts.insert(0, self._match(field, exact[0]))
                return "(" + " or ".join(parts) + ")"
            case nodes.ValueAnd(children):
                return "(" + " and ".join(self._match(field, child) for child in children) + ")"
            case nodes.ValueNot(nodes.Exists()):
                # No scalar found, and no object holding one either (as the compiler's).
                present = self.name(self.access.present(field), "p")
                return f"(not {self.values(field)} and not {present}(document))"
            case nodes.ValueNot(child):
                return f"(not {self._match(field, child)})"
            case _:
                return None

    def guard(self, guard: Guard) -> str:
        field, texts = guard
        alternatives = tuple(nodes.Text(text, quoted=True) for text in sorted(texts))
        value = alternatives[0] if len(alternatives) == 1 else nodes.ValueOr(alternatives)
        return self._match(field, value)


def _has_exists(value: nodes.ValueNode) -> bool:
    match value:
        case nodes.Exists():
            return True
        case nodes.ValueOr(children) | nodes.ValueAnd(children):
            return any(_has_exists(child) for child in children)
        case nodes.ValueNot(child):
            return _has_exists(child)
        case _:
            return False


def _inlined_text(value: nodes.ValueNode) -> bool:
    """Whether ``value`` is an exact text tested inline (one that matches strings only)."""
    return isinstance(value, nodes.Text) and not compiler.matches_non_strings(value.text)


def combine(parts: Iterable[str | bool], decisive: bool) -> str | bool:
    """``or`` (``decisive`` True) or ``and`` (False) of expressions, taken lazily: a part
    decided to ``decisive`` decides the whole (the rest are not built), one decided the other
    way drops out."""
    kept: list[str] = []
    for part in parts:
        if part is decisive:
            return decisive
        if not isinstance(part, bool):
            kept.append(part)
    if not kept:
        return not decisive
    joiner = " or " if decisive else " and "
    return kept[0] if len(kept) == 1 else "(" + joiner.join(kept) + ")"


class Generated(Generic[T]):
    """The matcher for a list of queries, with its source kept for tests and debugging."""

    def __init__(
        self,
        entries: Sequence[tuple[Query, Guard | None, T]],
        access: documents.FieldAccess,
        *,
        strict: bool = False,
        clock: dates.Clock | None = None,
        common: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """``strict``: raise when a query cannot be compiled, instead of leaving it out (and
        naming it in :attr:`broken`); ``clock``: the time ``now`` stands for in date math
        (default: the wall clock); ``common``: values nearly every document holds, by field
        (their tests run last in an ``and``)."""
        #: What ``now`` reads; ``clock.used`` says whether any query reads it.
        self.clock = clock or dates.Clock()
        source = Source(access, self.clock, common)
        compiled: list[tuple[str | bool, Guard | None, T]] = []
        #: Payloads of queries that could not be compiled at all: they never match.
        self.broken: list[T] = []
        for query, guard, payload in entries:
            try:
                try:
                    condition = (
                        query.lower(source)
                        if isinstance(query, External)
                        else source.condition(query)
                    )
                except TooDeep:
                    condition = source.closure(query)
            except Exception:
                if strict:
                    raise
                # One query that cannot compile must not keep the others from running.
                self.broken.append(payload)
                continue
            if condition is not False:  # one that never matches gets no code at all
                compiled.append((condition, guard if condition is not True else None, payload))
        #: The payloads compiled, in order, each with the guard its code tests first (None:
        #: none); where that test fails, the payload's query is neither matched nor run.
        self.guarded: list[tuple[T, Guard | None]] = [
            (payload, guard) for _, guard, payload in compiled
        ]
        # Guards by field: one flag per field says whether any of its guards can pass, so a
        # rule whose field holds none of the values costs one local test, not a set lookup.
        unions: dict[str, frozenset[str]] = {}
        for _, guard, _ in compiled:
            if guard is not None:
                unions[guard[0]] = unions.get(guard[0], frozenset()) | guard[1]
        flags = {field: f"q{position}" for position, field in enumerate(unions)}
        flagging: list[str] = []
        for field, texts in unions.items():
            flagging += [
                "    try:",
                f"        {flags[field]} = {source.guard((field, texts))}",
                "    except Exception:",  # a read that raises fails each rule on its own
                f"        {flags[field]} = True",
            ]
        # Rules under the same guard field sit in one block behind its flag, so an event that
        # none of the field's values lets through skips them all with one test. Blocks break
        # the rules' order: a hit is its rule's position, and hits are sorted back (rarely
        # more than one).
        blocks: dict[str | None, list[str]] = {}
        for position, (condition, guard, payload) in enumerate(compiled):
            under = guard[0] if guard is not None else None
            if guard is not None and guard[1] != unions[guard[0]]:
                # A guard only ever rules out documents the query cannot match.
                condition = f"{source.guard(guard)} and {condition}"
            indent = "    " if under is None else "        "
            blocks.setdefault(under, []).extend(
                [
                    f"{indent}try:",
                    f"{indent}    if {condition}:",  # ``True`` prints as itself
                    f"{indent}        hits.append({position})",
                    f"{indent}except Exception:",
                    f"{indent}    failed.append({source.name(payload, 'r')})",
                ]
            )
        body: list[str] = []
        for under, lines in blocks.items():
            body += lines if under is None else [f"    if {flags[under]}:", *lines]
        payloads = source.name(tuple(payload for _, _, payload in compiled), "r")
        footer = [
            "    if not hits:",
            "        return hits",
            "    if len(hits) > 1:",
            "        hits.sort()",
            f"    return [{payloads}[hit] for hit in hits]",
        ]
        header = ["def match(document, failed):"]
        if source.fields:
            header.append("    " + " = ".join(source.fields.values()) + " = None")
        header.append("    hits = []")
        self.source = "\n".join([*header, *flagging, *body, *footer, ""])
        namespace = source.globals
        # Safe to run: the source holds generated names only (see the module's docstring).
        exec(compile(self.source, "<audithound rule set>", "exec"), namespace)
        self.match: Matcher[T] = namespace["match"]


def generate(
    entries: Sequence[tuple[Query, Guard | None, T]],
    access: documents.FieldAccess,
    clock: dates.Clock | None = None,
) -> Matcher[T]:
    """One function testing every query of ``entries`` against a document; raises when one of
    them cannot be compiled."""
    return Generated(entries, access, strict=True, clock=clock).match
