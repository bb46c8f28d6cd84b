"""Tree to text: ``render(query)`` writes EQL that parses back to an equal tree.

Fed by: trees from :func:`audithound.eql.parser.parse` or built by code (tests, tools that
rewrite rules). Feeds: messages and tools that show a query, and the round-trip tests that
hold the parser and the tree to one another (``parse(render(t)) == t``).

The output is canonical rather than a copy of the input: one space around operators,
parentheses only where precedence needs them, regular strings (never raw ones), names
backquoted only when they must be.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from audithound.eql import nodes, parser

_IDENTIFIER = re.compile(r"[A-Za-z_@][A-Za-z0-9_]*")
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_STRING_ESCAPES |= {"\b": "\\b", "\f": "\\f"}

# Binding strength of each expression kind, loosest first (see grammar.lark).
_OR, _AND, _NOT, _COMPARISON, _SUM, _PRODUCT, _SIGN, _POSTFIX, _PRIMARY = range(1, 10)


def render(query: nodes.Query) -> str:
    """EQL text for ``query``."""
    match query:
        case nodes.EventQuery():
            return render_event(query)
        case nodes.Sequence(steps, by, maxspan, until):
            parts = ["sequence"]
            if by:
                parts.append("by " + ", ".join(render_expression(key) for key in by))
            if maxspan is not None:
                parts.append(f"with maxspan={maxspan.amount}{maxspan.unit}")
            head = " ".join(parts)
            lines = [head, *(_step(step) for step in steps)]
            if until is not None:
                lines.append(f"until [{render_event(until)}]")
            return "\n  ".join(lines)
        case _:
            raise TypeError(f"not a query: {query!r}")


def render_event(query: nodes.EventQuery) -> str:
    """``category where condition``."""
    return f"{_category(query.category)} where {render_expression(query.condition)}"


def _step(step: nodes.Step) -> str:
    text = ("![" if step.missing else "[") + render_event(step.query) + "]"
    if step.by:
        text += " by " + ", ".join(render_expression(key) for key in step.by)
    if step.runs != 1:
        text += f" with runs={step.runs}"
    return text


def _category(category: str | None) -> str:
    if category is None:
        return "any"
    return _name_or(category, render_string)


def render_expression(node: nodes.Expression) -> str:
    """EQL text for one expression."""
    match node:
        case nodes.Or(children):
            return " or ".join(_group(child, _OR + 1) for child in children)
        case nodes.And(children):
            return " and ".join(_group(child, _AND + 1) for child in children)
        case nodes.Not(operand):
            return "not " + _group(operand, _NOT)
        case nodes.Comparison(op, left, right):
            return f"{_group(left, _SUM)} {op} {_group(right, _SUM)}"
        case nodes.Arithmetic(op, left, right):
            level = _SUM if op in "+-" else _PRODUCT
            return f"{_group(left, level)} {op} {_group(right, level + 1)}"
        case nodes.Sign(op, operand):
            return op + _group(operand, _SIGN)
        case nodes.Membership(operand, values, insensitive, negated):
            keyword = ("not " if negated else "") + ("in~" if insensitive else "in")
            listed = ", ".join(render_expression(value) for value in values)
            return f"{_group(operand, _PRIMARY)} {keyword} ({listed})"
        case nodes.PatternMatch(operand, kind, patterns):
            listed = ", ".join(render_expression(pattern) for pattern in patterns)
            if len(patterns) > 1:
                listed = f"({listed})"
            return f"{_group(operand, _PRIMARY)} {kind} {listed}"
        case nodes.Call(function, arguments, insensitive):
            listed = ", ".join(render_expression(argument) for argument in arguments)
            return f"{function}{'~' if insensitive else ''}({listed})"
        case nodes.Field(path, optional):
            return ("?" if optional else "") + ".".join(
                _name_or(name, _backquoted) for name in path
            )
        case nodes.Null():
            return "null"
        case nodes.Boolean(value):
            return "true" if value else "false"
        case nodes.Number(value):
            return repr(value)
        case nodes.String(value):
            return render_string(value)
        case _:
            raise TypeError(f"not an expression: {node!r}")


def _level(node: nodes.Expression) -> int:
    match node:
        case nodes.Or():
            return _OR
        case nodes.And():
            return _AND
        case nodes.Not():
            return _NOT
        case nodes.Comparison():
            return _COMPARISON
        case nodes.Arithmetic(op):
            return _SUM if op in "+-" else _PRODUCT
        case nodes.Sign():
            return _SIGN
        case nodes.Membership() | nodes.PatternMatch():
            return _POSTFIX
        case _:
            return _PRIMARY


def _group(node: nodes.Expression, at_least: int) -> str:
    """``node`` as an operand that must bind at least as tightly as ``at_least``."""
    text = render_expression(node)
    return text if _level(node) >= at_least else f"({text})"


def render_string(value: str) -> str:
    """A regular string literal for ``value``, control characters as ``\\u{XX}``."""
    out = []
    for char in value:
        escaped = _STRING_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif not char.isprintable():
            out.append(f"\\u{{{ord(char):02x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _backquoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _name_or(name: str, escape: Callable[[str], str]) -> str:
    """``name`` bare when it reads back as a name, else written by ``escape``."""
    if _IDENTIFIER.fullmatch(name) and name not in parser.KEYWORDS:
        return name
    return escape(name)
