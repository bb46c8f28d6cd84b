"""Text to tree: ``parse(text)`` reads one KQL query into :mod:`audithound.kql.nodes`.

Fed by: rule specs (``spec.query``), the CLI and tests. Feeds: the compiler, the renderer and
the analysis helpers. The grammar is ``grammar.lark`` (lark, LALR, contextual lexer); nodes are
built while the parser reduces, so no step recurses over the tree and a query's nesting is
bounded up front (:data:`MAX_DEPTH`). Every failure, lark's or ours, leaves as one
:class:`~audithound.kql.errors.KqlSyntaxError` whose message says what was expected.

Decisions where Kibana's grammar was only a description:
- an empty query is an error (Kibana reads it as "match everything", which for a detection
  rule means an alert per event);
- a keyword is a whole word: ``ua:cannot be`` is the value ``cannot be`` (Kibana stops at
  ``not``), and ``not(``, ``)and(`` need no space;
- a range bound is one word that may hold ``:`` (``t > 2024-01-01T00:00:00Z``);
- wildcards in field names are refused (Kibana expands them over the index mapping, which a
  stream of documents does not have); quoted field names are accepted, as in Kibana;
- as in Kibana, an unquoted value is trimmed once unescaped: escaped white space at its ends
  (``\\t``, ``\\u0020``) is dropped, and a value of nothing else is the empty string;
- as in Kibana, ``\\t``, ``\\r``, ``\\n`` are read before escaped keywords, so ``\\not`` is a
  newline and ``ot``: the word is ``\\NOT``, ``\\Not`` or ``"not"`` (``\\or``, ``\\and`` are fine).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, NamedTuple

import lark
import lark.exceptions

from audithound.kql import errors, lalr, nodes

#: Deepest nesting of parentheses and braces a query may have. Real rules use a handful of
#: levels; the bound keeps the compiler, the renderer and the analysis (which recurse) far
#: from Python's recursion limit.
MAX_DEPTH = 100

#: Characters that separate words, as in Kibana's grammar.
WHITESPACE = " \t\r\n\u00a0"
#: Words that are operators wherever they stand alone, in any case.
KEYWORDS = frozenset({"or", "and", "not"})
#: Characters that end an unquoted value unless escaped with a backslash.
SPECIAL_CHARACTERS = '\\():<>"*{}'


# One piece of an unquoted value: an escape (group 1), the wildcard (2) or plain text (3).
_UNQUOTED_PIECE = re.compile(
    r"\\(u[0-9a-fA-F]{4}|[tnr]|[\\():<>\"*{}]|(?i:or|and|not))|(\*)|([^\\*]+)"
)
# One piece of a quoted value: \uXXXX (1), \t \r \n (2), \\ or \" (3), a lone backslash (4),
# plain text (5). A backslash before anything else is kept, as Kibana does.
_QUOTED_PIECE = re.compile(r'\\(?:(u[0-9a-fA-F]{4})|([tnr])|([\\"]))|(\\)|([^\\]+)')
_CONTROL = {"t": "\t", "n": "\n", "r": "\r"}
# What the bracket scan steps over: an escape, a quoted string, a bracket or colon, a word.
_BRACKET_SCAN = re.compile(r'\\[\s\S]?|"(?:\\[\s\S]|[^"\\])*"?|[(){}:]|[^ \t\r\n\u00a0\\"(){}:]+')

_TERMINAL_NAMES = {
    "_OR": "'or'",
    "_AND": "'and'",
    "_NOT": "'not'",
    "_COLON": "':'",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "_LBRACE": "'{'",
    "_RBRACE": "'}'",
    "RANGE_OP": "'<', '<=', '>' or '>='",
    "LITERAL": "a value",
    "RANGE_LITERAL": "a value",
    "QUOTED": "a value",
    "$END": "the end of the query",
}
_VALUE_TOKENS = frozenset({"LITERAL", "QUOTED", "RANGE_LITERAL"})
_KEYWORD_TOKENS = frozenset({"_OR", "_AND", "_NOT"})
_AFTER_OPERAND = frozenset({"_OR", "_AND", "_RPAR", "_RBRACE", "$END"})


def parse(text: str) -> nodes.Node:
    """The tree of ``text``; raises :class:`~audithound.kql.errors.KqlSyntaxError` only."""
    if not text.strip(WHITESPACE):
        raise errors.KqlSyntaxError.at("the query is empty", text, 0)
    _check_depth(text)
    try:
        tree = lalr.parse(_PARSER, text)
    except _FieldError as err:
        raise errors.KqlSyntaxError(err.message, text, err.line, err.column) from None
    except lalr.UnexpectedToken as err:
        raise _unexpected_token(text, err.token, err.expected, err.previous) from None
    except lark.exceptions.UnexpectedCharacters as err:
        raise _unexpected_character(text, err.pos_in_stream or 0) from None
    except lark.exceptions.LarkError:
        # Any other lark failure (none is known for this grammar) still reads as a query error.
        raise errors.KqlSyntaxError.at("invalid query", text, len(text)) from None
    match tree:
        case nodes.Match() | nodes.Range() | nodes.Nested() | nodes.FreeText() | nodes.And():
            return tree
        case nodes.Or() | nodes.Not():
            return tree
        case _:
            raise TypeError(f"the grammar built {type(tree).__name__}, not a query node")


class _FieldError(Exception):
    """A field name the grammar accepts but a query cannot use; raised while reducing."""

    def __init__(self, message: str, token: lark.Token) -> None:
        super().__init__(message)
        self.message = message
        self.line = token.line or 1
        self.column = token.column or 1


class _Field(NamedTuple):
    name: str
    line: int
    column: int


def _decode_unquoted(raw: str) -> list[str | None]:
    """Text pieces of an unquoted token, ``None`` for each unescaped ``*``."""
    pieces: list[str | None] = []
    text: list[str] = []
    for match in _UNQUOTED_PIECE.finditer(raw):
        escape, star, plain = match.groups()
        if star is not None:
            pieces.append(_surrogates("".join(text)))
            pieces.append(None)
            text = []
        elif plain is not None:
            text.append(plain)
        elif escape[0] == "u" and len(escape) == 5:
            text.append(chr(int(escape[1:], 16)))
        else:
            text.append(_CONTROL.get(escape, escape))
    pieces.append(_surrogates("".join(text)))
    return pieces


def _decode_quoted(raw: str) -> str:
    text: list[str] = []
    for match in _QUOTED_PIECE.finditer(raw, 1, len(raw) - 1):
        unicode, control, escaped, backslash, plain = match.groups()
        if unicode is not None:
            text.append(chr(int(unicode[1:], 16)))
        elif control is not None:
            text.append(_CONTROL[control])
        else:
            text.append(escaped or backslash or plain)
    return _surrogates("".join(text))


def _surrogates(text: str) -> str:
    """Join UTF-16 surrogate pairs written as two ``\\uXXXX`` escapes, as JavaScript does."""
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _trimmed(pieces: list[str | None]) -> list[str | None]:
    """An unquoted value's pieces without white space at its ends (Kibana's ``trim``)."""
    first, last = pieces[0], pieces[-1]
    if len(pieces) == 1:
        return [(first or "").strip(nodes.TRIMMED)]
    return [(first or "").lstrip(nodes.TRIMMED), *pieces[1:-1], (last or "").rstrip(nodes.TRIMMED)]


def _leaf(token: lark.Token) -> nodes.Leaf:
    line, column = token.line or 0, token.column or 0
    if token.type == "QUOTED":
        return nodes.Text(_decode_quoted(token.value), True, line, column)
    pieces = _trimmed(_decode_unquoted(token.value))
    if len(pieces) == 1:
        # Only white space, trimmed away: the empty value (written ``""`` when rendered).
        return nodes.Text(pieces[0] or "", not pieces[0], line, column)
    if pieces == ["", None, ""]:
        return nodes.Exists(line, column)
    return nodes.Pattern(tuple(piece for piece in pieces if piece is not None), line, column)


class _Builder(lark.Transformer[lark.Token, Any]):
    """Turns each reduced rule of ``grammar.lark`` into a node (one method per rule)."""

    def start(self, children: list[nodes.Node]) -> nodes.Node:
        return children[0]

    def or_query(self, children: list[nodes.Node]) -> nodes.Or:
        return nodes.Or(tuple(children))

    def and_query(self, children: list[nodes.Node]) -> nodes.And:
        return nodes.And(tuple(children))

    def negation(self, children: list[nodes.Node]) -> nodes.Not:
        return nodes.Not(children[0])

    def nested(self, children: list[Any]) -> nodes.Nested:
        field, query = children
        return nodes.Nested(field.name, query, field.line, field.column)

    def match(self, children: list[Any]) -> nodes.Match:
        field, value = children
        return nodes.Match(field.name, value, field.line, field.column)

    def range(self, children: list[Any]) -> nodes.Range:
        field, op, value = children
        return nodes.Range(field.name, op.value, value, field.line, field.column)

    def free_text(self, children: list[nodes.Leaf]) -> nodes.FreeText:
        return nodes.FreeText(children[0])

    def or_values(self, children: list[nodes.ValueNode]) -> nodes.ValueOr:
        return nodes.ValueOr(tuple(children))

    def and_values(self, children: list[nodes.ValueNode]) -> nodes.ValueAnd:
        return nodes.ValueAnd(tuple(children))

    def value_negation(self, children: list[nodes.ValueNode]) -> nodes.ValueNot:
        return nodes.ValueNot(children[0])

    def value(self, children: list[lark.Token]) -> nodes.Leaf:
        return _leaf(children[0])

    def range_value(self, children: list[lark.Token]) -> nodes.Text:
        token = children[0]
        line, column = token.line or 0, token.column or 0
        if token.type == "QUOTED":
            return nodes.Text(_decode_quoted(token.value), True, line, column)
        pieces = _decode_unquoted(token.value)
        text = "".join(piece for piece in pieces if piece).strip(nodes.TRIMMED)
        return nodes.Text(text, not text, line, column)

    def field(self, children: list[lark.Token]) -> _Field:
        token = children[0]
        if token.type == "QUOTED":
            name = _decode_quoted(token.value)
        else:
            pieces = _decode_unquoted(token.value)
            if len(pieces) > 1:
                raise _FieldError(
                    "wildcards in field names are not supported: name each field", token
                )
            name = pieces[0] or ""
        if not name:
            raise _FieldError("a field name is never empty", token)
        if "" in name.split("."):
            raise _FieldError(f"field name {name!r} has an empty part between dots", token)
        return _Field(name, token.line or 0, token.column or 0)


_PARSER = lalr.cached_parser(
    pathlib.Path(__file__).parent / "grammar.lark", "kql", transformer=_Builder()
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Opener:
    char: str  # "(" or "{"
    offset: int
    in_values: bool  # a value list `field:(`, not a group of queries


def _brackets(text: str, stop: int) -> tuple[list[_Opener], int | None]:
    """The brackets still open at ``stop`` and the first closer that had no opener.

    Skips quoted strings and escapes the way the lexer reads them. Raises the depth error as
    soon as :data:`MAX_DEPTH` is passed.
    """
    stack: list[_Opener] = []
    stray: int | None = None
    after_colon = False
    for found in _BRACKET_SCAN.finditer(text, 0, stop):
        piece = found.group()
        offset = found.start()
        if piece in "({":
            in_values = piece == "(" and (after_colon or bool(stack and stack[-1].in_values))
            stack.append(_Opener(piece, offset, in_values))
            if len(stack) > MAX_DEPTH:
                raise errors.KqlSyntaxError.at(
                    f"nesting deeper than {MAX_DEPTH} levels of parentheses and braces",
                    text,
                    offset,
                )
        elif piece in ")}":
            if stack:
                stack.pop()
            elif stray is None:
                stray = offset
        after_colon = piece == ":"
    return stack, stray


def _check_depth(text: str) -> None:
    _brackets(text, len(text))


def _end_offset(text: str) -> int:
    return len(text.rstrip(WHITESPACE))


def _unexpected_character(text: str, offset: int) -> errors.KqlSyntaxError:
    char = text[offset]
    if char == '"':
        return errors.KqlSyntaxError.at(
            "unterminated quoted string: add the closing '\"'", text, offset
        )
    if char == "\\":
        if offset + 1 >= len(text):
            return errors.KqlSyntaxError.at(
                "a '\\' at the end of the query escapes nothing", text, offset
            )
        escape = text[offset : offset + 2]
        return errors.KqlSyntaxError.at(
            f"invalid escape '{escape}': outside quotes '\\' escapes one of "
            '\\ ( ) : < > " * { } or a keyword (\\or \\and \\NOT), '
            "or writes \\t \\r \\n \\uXXXX",
            text,
            offset,
        )
    return errors.KqlSyntaxError.at(f"unexpected character {char!r}", text, offset)


def _unexpected_token(
    text: str, token: lark.Token, expected: set[str], previous: lark.Token | None
) -> errors.KqlSyntaxError:
    at_end = token.type == "$END"
    offset = _end_offset(text) if at_end else (token.start_pos or 0)
    openers, stray = _brackets(text, offset)
    in_values = bool(openers) and openers[-1].in_values
    operand = "a value" if in_values else "a query"
    prev = previous.type if previous is not None else None
    char = "" if at_end else text[offset]

    def error(message: str, where: int = offset) -> errors.KqlSyntaxError:
        return errors.KqlSyntaxError.at(message, text, where)

    # "expected X after Y" points just after Y, where X is missing.
    after = offset
    if previous is not None and previous.end_pos is not None:
        after = previous.end_pos

    if token.type == "_NOT" and prev == "_NOT":
        return error("'not not' needs parentheses: not (not x)")
    if prev == "_COLON":
        rest = text[token.end_pos or offset :].lstrip(WHITESPACE)
        if token.type in _KEYWORD_TOKENS and (not rest or rest[0] in ")}"):
            # The keyword cannot be an operator here: the writer meant the word.
            word = token.value
            return error(
                f"expected a value after ':' ('{word}' is a keyword: write \"{word}\" "
                "for the word)",
                after,
            )
        return error("expected a value after ':'", after)
    if prev == "RANGE_OP" or (prev == "RANGE_LITERAL" and char == "*"):
        if char == "*":
            return error("a range bound cannot hold a wildcard: write \\* for a literal '*'")
        return error(f"expected a value after '{previous}'", after)
    if prev in ("_OR", "_AND", "_NOT"):
        keyword = str(previous).lower()
        return error(f"expected {operand} after '{keyword}'", after)
    if prev in ("_LPAR", "_LBRACE") and (at_end or char in ")}"):
        return error(f"expected {operand} after '{previous}'", after)
    if char == ")" or char == "}":
        opener, closer = ("(", ")") if char == ")" else ("{", "}")
        kind = "parenthesis" if char == ")" else "brace"
        if stray is not None or not openers:
            return error(f"unbalanced {kind}: '{closer}' has no matching '{opener}'")
        top = openers[-1]
        line, column = errors.position(text, top.offset)
        other = ")" if top.char == "(" else "}"
        return error(
            f"expected '{other}' to close the '{top.char}' at line {line}, column {column}"
        )
    if at_end and openers:
        top = openers[-1]
        kind = "parenthesis" if top.char == "(" else "brace"
        return error(f"unbalanced {kind}: this '{top.char}' is never closed", top.offset)
    if char in ":<>" and prev in _VALUE_TOKENS:
        hint = ""
        if previous is not None and any(space in previous.value for space in WHITESPACE):
            hint = ", or join conditions with 'and' / 'or'"
        if char == ":" and prev != "RANGE_LITERAL":
            return error(f"unescaped ':' in value, write \\:{hint}")
        if char in "<>":
            return error(f"unescaped '{char}' in value, write \\{char}{hint}")
    if char == ":" and previous is None:
        return error("expected a field name before ':'")
    if char == "{":
        return error("'{' opens a nested query and must follow 'field:'")
    if expected <= _AFTER_OPERAND:
        # What may follow a complete condition depends on the bracket it sits in.
        wanted = ["'and'", "'or'"]
        if openers:
            wanted.append("')'" if openers[-1].char == "(" else "'}'")
        else:
            wanted.append("the end of the query")
    else:
        wanted = sorted({_TERMINAL_NAMES.get(name, name) for name in expected})
    found = "the end of the query" if at_end else repr(_shortened(str(token.value)))
    listed = ", ".join(wanted[:-1]) + (" or " if len(wanted) > 1 else "") + wanted[-1]
    return error(f"unexpected {found}: expected {listed}")


def _shortened(value: str) -> str:
    return value if len(value) <= 30 else value[:27] + "..."
