"""The checks Elasticsearch makes after parsing: ``problems(tree)`` lists them all at once.

Fed by: trees from :func:`audithound.eql.parser.parse`. Feeds: the evaluator, which refuses
to compile a tree with problems, and the rule engine, which shows every problem with its
position (:class:`~audithound.eql.errors.EqlTypeError`).

What is refused, as Elasticsearch's EQL refuses it:
- an unknown function (names are case-sensitive: ``startswith`` is no ``startsWith``), a
  wrong number of arguments, a ``~`` form the function lacks (``length~``);
- a constant of the wrong kind where a function, an operator or a pattern wants a string or
  a number (``length(1)``, ``"a" + 1``, ``f : 1``), a constant-only argument given a field
  (``number(s, base)``'s base, ``between``'s greedy flag, ``cidrMatch``'s blocks);
- a field compared with a field (``a == b``, ``length(a) < b``, ``a in (b)``): "you cannot
  compare a field to another field, even if the fields are changed using a function";
- a ``regex`` the linear-time engine cannot run as Elasticsearch would (see
  :mod:`audithound.eql.regex`), and a ``cidrMatch`` block that is no CIDR.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from audithound.eql import errors, functions, nodes, regex
from audithound.kql import ips


def problems(tree: nodes.Query | nodes.Expression) -> list[errors.EqlTypeError]:
    """Every problem of ``tree``, in the order of the text."""
    found: list[errors.EqlTypeError] = []
    for node in _walk(tree):
        found.extend(_check(node))
    return sorted(found, key=lambda problem: (problem.line, problem.column))


def _walk(tree: Any) -> Iterator[Any]:
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(nodes.children(node))


def _problem(message: str, node: Any) -> errors.EqlTypeError:
    return errors.EqlTypeError(message, node.line, node.column)


def _has_field(node: Any) -> bool:
    return any(isinstance(inner, nodes.Field) for inner in _walk(node))


def _kind_of(node: Any) -> functions.Kind | None:
    """The kind of a constant, None for null and for what is not constant."""
    match node:
        case nodes.String():
            return "string"
        case nodes.Number():
            return "number"
        case nodes.Boolean():
            return "boolean"
        case _:
            return None


def _check(node: Any) -> Iterator[errors.EqlTypeError]:
    match node:
        case nodes.Call():
            yield from _check_call(node)
        case nodes.Comparison(op, left, right):
            if _has_field(left) and _has_field(right):
                yield _problem(
                    f"'{op}' compares a field with a field, which Elasticsearch's EQL does not "
                    "support: compare each with a constant",
                    node,
                )
        case nodes.Membership(operand, values):
            if _has_field(operand):
                for value in values:
                    if _has_field(value):
                        yield _problem("'in' lists constants, not fields", value)
        case nodes.PatternMatch(_, kind, patterns):
            yield from _check_patterns(kind, patterns)
        case nodes.Arithmetic(op, left, right):
            for operand in (left, right):
                if _kind_of(operand) not in (None, "number"):
                    yield _problem(f"'{op}' takes numbers, not {_kind_of(operand)}s", operand)
        case nodes.Sign(op, operand):
            if _kind_of(operand) not in (None, "number"):
                yield _problem(f"'{op}' takes a number, not a {_kind_of(operand)}", operand)


def _check_patterns(
    kind: nodes.PatternKind, patterns: tuple[nodes.Constant, ...]
) -> Iterator[errors.EqlTypeError]:
    for pattern in patterns:
        if not isinstance(pattern, nodes.String):
            yield _problem(f"'{kind}' takes string patterns", pattern)
        elif kind.startswith("regex"):
            try:
                regex.compile_regex(pattern.value, kind.endswith("~"))
            except regex.RegexError as err:
                yield _problem(err.message, pattern)


def _check_call(call: nodes.Call) -> Iterator[errors.EqlTypeError]:
    function = functions.FUNCTIONS.get(call.function)
    if function is None:
        near = [name for name in functions.FUNCTIONS if name.lower() == call.function.lower()]
        hint = f": did you mean {near[0]}?" if near else ""
        yield _problem(f"unknown function '{call.function}'{hint}", call)
        return
    if call.insensitive and not function.insensitive:
        yield _problem(f"'{call.function}' has no case-insensitive form '~'", call)
    count = len(call.arguments)
    most = function.most
    if count < function.required or (most is not None and count > most):
        yield _problem(f"'{call.function}' takes {_arity(function)}, not {count}", call)
        return
    for position, argument in enumerate(call.arguments):
        wanted = function.kind(position)
        found = _kind_of(argument)
        if found is not None and wanted != "any" and found != wanted:
            yield _problem(
                f"argument {position + 1} of '{call.function}' is a {wanted}, not a {found}",
                argument,
            )
        elif position in function.constants and not isinstance(
            argument, nodes.String | nodes.Number | nodes.Boolean | nodes.Null
        ):
            yield _problem(
                f"argument {position + 1} of '{call.function}' must be a constant", argument
            )
        elif (
            call.function == "cidrMatch"
            and position > 0
            and isinstance(argument, nodes.String)
            and ips.network(argument.value) is None
        ):
            yield _problem(f"'{argument.value}' is no CIDR block (a.b.c.d/n)", argument)


def _arity(function: functions.Function) -> str:
    most = function.most
    if most is None:
        return f"{function.required} or more arguments"
    if most == function.required:
        plural = "" if most == 1 else "s"
        return f"{most} argument{plural}"
    return f"{function.required} to {most} arguments"
