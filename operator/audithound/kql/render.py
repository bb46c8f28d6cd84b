"""Tree to text: ``render(node)`` writes KQL that parses back to an equal tree.

Fed by: trees from :func:`audithound.kql.parser.parse` or built by code (tests, tools that
rewrite rules). Feeds: messages and tools that show a query, and the round-trip tests that
hold the parser and the tree to one another (``parse(render(t)) == t``).

The output is canonical rather than a copy of the input: one space around operators,
parentheses only where precedence needs them, unquoted values stay unquoted (escaped where
needed), quoted values stay quoted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from audithound.kql import nodes, parser

_SAFE_FIELD = re.compile(r"[^ \t\r\n\u00a0\\():<>\"*{}]+")
# A keyword standing as a whole word between raw spaces would be read as an operator.
_KEYWORD_WORD = re.compile(r"(?<![^ ])(or|and|not)(?![^ ])", re.IGNORECASE)
_ESCAPED_WHITESPACE = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\u00a0": "\\u00a0"}


def render(node: nodes.Node) -> str:
    """KQL text for ``node``."""
    match node:
        case nodes.Or(children):
            return " or ".join(_group(child, (nodes.Or,)) for child in children)
        case nodes.And(children):
            return " and ".join(_group(child, (nodes.And, nodes.Or)) for child in children)
        case nodes.Not(child):
            return "not " + _group(child, (nodes.And, nodes.Or, nodes.Not))
        case nodes.Match(field, value):
            return f"{_field(field)}:{_list(value)}"
        case nodes.Range(field, op, value):
            return f"{_field(field)} {op} {_bound(value)}"
        case nodes.Nested(field, query):
            return f"{_field(field)}:{{ {render(query)} }}"
        case nodes.FreeText(value):
            return render_value(value)
        case _:
            raise TypeError(f"not a query node: {node!r}")


def render_value(value: nodes.ValueNode) -> str:
    """KQL text for the right side of ``field:`` inside a value list (no outer parentheses)."""
    match value:
        case nodes.Text(text, quoted):
            return _quoted(text) if quoted else _unquoted(list(text))
        case nodes.Pattern(parts):
            pieces: list[str | None] = list(parts[0])
            for part in parts[1:]:
                pieces.append(None)
                pieces.extend(part)
            return _unquoted(pieces)
        case nodes.Exists():
            return "*"
        case nodes.ValueOr(children):
            return " or ".join(_value_group(child, (nodes.ValueOr,)) for child in children)
        case nodes.ValueAnd(children):
            kinds = (nodes.ValueAnd, nodes.ValueOr)
            return " and ".join(_value_group(child, kinds) for child in children)
        case nodes.ValueNot(child):
            return "not " + _value_group(child, (nodes.ValueAnd, nodes.ValueOr, nodes.ValueNot))
        case _:
            raise TypeError(f"not a value node: {value!r}")


def _group(node: nodes.Node, needs_parentheses: tuple[type, ...]) -> str:
    text = render(node)
    return f"({text})" if isinstance(node, needs_parentheses) else text


def _value_group(value: nodes.ValueNode, needs_parentheses: tuple[type, ...]) -> str:
    text = render_value(value)
    return f"({text})" if isinstance(value, needs_parentheses) else text


def _list(value: nodes.ValueNode) -> str:
    text = render_value(value)
    if isinstance(value, nodes.ValueOr | nodes.ValueAnd | nodes.ValueNot):
        return f"({text})"
    return text


def _field(name: str) -> str:
    if _SAFE_FIELD.fullmatch(name) and name.lower() not in parser.KEYWORDS:
        return name
    return _quoted(name)


def _quoted(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\t", "\\t")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
    )
    return f'"{escaped}"'


def _unquoted(pieces: Sequence[str | None]) -> str:
    """An unquoted value from its characters, ``None`` standing for a wildcard ``*``.

    Spaces stay raw (``ua:foo bar``): an unquoted value never starts or ends with one
    (``nodes.TRIMMED``), so the lexer keeps every space it is given.
    """
    out: list[str] = []
    for piece in pieces:
        if piece is None:
            out.append("*")
        elif piece in parser.SPECIAL_CHARACTERS:
            out.append("\\" + piece)
        else:
            out.append(_ESCAPED_WHITESPACE.get(piece, piece))
    return _KEYWORD_WORD.sub(_escape_keyword, "".join(out))


def _escape_keyword(found: re.Match[str]) -> str:
    """``\\or``, ``\\and``, ``\\NOT``; but ``\\not`` reads as a newline and ``ot`` (Kibana
    tries ``\\n`` first), so a lower-case ``n`` is written ``\\u006e``."""
    word = found.group(0)
    return "\\u006e" + word[1:] if word[0] == "n" else "\\" + word


def _bound(value: nodes.Text) -> str:
    """A range bound: one word, where ``:`` needs no escape (``2024-01-01T00:00:00Z``)."""
    if value.quoted:
        return _quoted(value.text)
    out: list[str] = []
    for char in value.text:
        if char == " ":
            out.append("\\u0020")
        elif char in parser.SPECIAL_CHARACTERS and char != ":":
            out.append("\\" + char)
        else:
            out.append(_ESCAPED_WHITESPACE.get(char, char))
    return _KEYWORD_WORD.sub(_escape_keyword, "".join(out))
