"""Text to tree: ``parse(text)`` reads one EQL query into :mod:`audithound.eql.nodes`.

Fed by: rule specs (``spec.query`` of an EQL rule), tools and tests. Feeds: the checker and
the evaluator, and the renderer. The grammar is ``grammar.lark`` (lark, LALR, contextual
lexer), written from Elasticsearch's ``EqlBase.g4``; nodes are built while the parser reduces,
so building recurses over nothing, and the tree's depth is bounded afterwards
(:data:`MAX_DEPTH`) without recursion either. Every failure, lark's or ours, leaves as one
:class:`~audithound.eql.errors.EqlSyntaxError` whose message says what was expected.

Decisions where Elasticsearch's parser was only a description:
- keywords are lower case and whole words, as in the reference grammar; a keyword is never a
  field or category name unless backquoted (`` `where` ``) or quoted (``"where" where ...``);
- block comments do not nest (the reference grammar lets ``/* /* */ */`` nest);
- array indexes in field names (``f[0]``) are not supported;
- ``by`` keys of a sequence are fields (the reference grammar parses expressions and its
  checker then refuses anything else);
- ``maxspan`` takes a positive whole number and one of ``ms s m h d`` (no decimal amounts).
"""

from __future__ import annotations

import pathlib
import re
from typing import Any, NamedTuple

import lark
import lark.exceptions

from audithound.eql import errors, nodes
from audithound.kql import lalr

#: Deepest nesting a query's tree may have. Real rules use a handful of levels; the bound
#: keeps the checker, the evaluator and the renderer (which recurse) far from Python's limit.
MAX_DEPTH = 100

#: Words that are keywords of Elasticsearch's EQL grammar: never a bare field name.
KEYWORDS = frozenset(
    {
        "and",
        "any",
        "by",
        "false",
        "in",
        "join",
        "like",
        "maxspan",
        "not",
        "null",
        "of",
        "or",
        "regex",
        "sample",
        "sequence",
        "true",
        "until",
        "where",
        "with",
    }
)
#: Largest integer literal: Elasticsearch reads integers as Java longs.
MAX_INTEGER = 2**63 - 1

_WHITESPACE = " \t\r\n"
# One piece of a regular string: an escape (group 1) or plain text (group 2).
_STRING_PIECE = re.compile(r"\\(u\{[^}]*\}?|[\s\S]?)|([^\\]+)")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "\\": "\\"}
_HEX = re.compile(r"[0-9a-fA-F]{2,8}")

_TERMINAL_NAMES = {
    "ANY": "'any'",
    "SEQUENCE": "'sequence'",
    "NOT": "'not'",
    "_WHERE": "'where'",
    "_BY": "'by'",
    "_WITH": "'with'",
    "_MAXSPAN": "'maxspan'",
    "_UNTIL": "'until'",
    "_OR": "'or'",
    "_AND": "'and'",
    "_ASGN": "'='",
    "_COMMA": "','",
    "_DOT": "'.'",
    "_LP": "'('",
    "_RP": "')'",
    "LB": "'['",
    "_RB": "']'",
    "MISSING_OPEN": "'!['",
    "INTEGER": "a whole number",
    "IDENTIFIER": "a name",
    "QUOTED_IDENTIFIER": "a name",
    "STRING": "a string",
    "$END": "the end of the query",
}
#: Terminals that start an expression: listed together as "an expression".
_OPERAND_STARTS = frozenset(
    {
        "NULL",
        "TRUE",
        "FALSE",
        "INTEGER",
        "DECIMAL",
        "STRING",
        "IDENTIFIER",
        "TILDE_IDENTIFIER",
        "QUOTED_IDENTIFIER",
        "OPTIONAL",
        "_LP",
        "ADD_OP",
        "NOT",
    }
)
#: Terminals that continue a complete operand: listed together as "an operator".
_OPERATORS = frozenset({"COMPARE", "ADD_OP", "MUL_OP", "IN_OP", "MATCH_OP", "NOT", "_DOT"})


def parse(text: str) -> nodes.Query:
    """The tree of ``text``; raises :class:`~audithound.eql.errors.EqlSyntaxError` only."""
    if not _without_comments(text).strip(_WHITESPACE):
        raise errors.EqlSyntaxError.at("the query is empty", text, 0)
    try:
        tree = lalr.parse(_PARSER, text)
    except _Refused as err:
        raise errors.EqlSyntaxError.at(err.message, text, err.offset) from None
    except lalr.UnexpectedToken as err:
        raise _unexpected_token(text, err.token, err.expected, err.previous) from None
    except lark.exceptions.UnexpectedCharacters as err:
        raise _unexpected_character(text, err.pos_in_stream or 0) from None
    except lark.exceptions.LarkError:
        # Any other lark failure (none is known for this grammar) still reads as a query error.
        raise errors.EqlSyntaxError.at("invalid query", text, len(text)) from None
    match tree:
        case nodes.EventQuery() | nodes.Sequence():
            _check_depth(tree, text)
            return tree
        case _:
            raise TypeError(f"the grammar built {type(tree).__name__}, not a query")


class _Refused(Exception):
    """Text the grammar accepts but a query cannot hold; raised while reducing."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Name(NamedTuple):
    text: str
    token: lark.Token


def _offset(token: lark.Token) -> int:
    return token.start_pos or 0


def _where(token: lark.Token) -> dict[str, int]:
    return {"line": token.line or 0, "column": token.column or 0}


def _at(node: Any) -> dict[str, int]:
    return {"line": node.line, "column": node.column}


def decode_string(token: lark.Token) -> str:
    """The value of a ``STRING`` token: escapes read in a regular string, none in a raw one."""
    raw = str(token)
    if raw.startswith('"""'):
        return raw[3:-3]
    out: list[str] = []
    start = _offset(token)
    for piece in _STRING_PIECE.finditer(raw, 1, len(raw) - 1):
        escape, plain = piece.groups()
        if plain is not None:
            out.append(plain)
        elif escape in _ESCAPES:
            out.append(_ESCAPES[escape])
        elif escape.startswith("u{"):
            out.append(_unicode(escape, start + piece.start()))
        elif escape == "'":
            raise _Refused(
                'an escaped single quote is reserved in EQL: write \\" for a quote',
                start + piece.start(),
            )
        else:
            raise _Refused(
                f"invalid escape '\\{escape}': a string escapes one of "
                '\\n \\r \\t \\b \\f \\\\ \\" or writes \\u{XXXX}',
                start + piece.start(),
            )
    return "".join(out)


def _unicode(escape: str, offset: int) -> str:
    digits = escape[2:-1] if escape.endswith("}") else ""
    if not _HEX.fullmatch(digits):
        raise _Refused("a unicode escape is \\u{XXXX}: 2 to 8 hexadecimal digits", offset)
    code = int(digits, 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise _Refused(f"\\u{{{digits}}} is not a unicode character", offset)
    return chr(code)


class _Builder(lark.Transformer[lark.Token, Any]):
    """Turns each reduced rule of ``grammar.lark`` into a node (one method per rule)."""

    def start(self, children: list[nodes.Query]) -> nodes.Query:
        return children[0]

    def event_query(self, children: list[Any]) -> nodes.EventQuery:
        (category, token), condition = children
        return nodes.EventQuery(category, condition, **_where(token))

    def category(self, children: list[lark.Token]) -> tuple[str | None, lark.Token]:
        token = children[0]
        if token.type == "ANY":
            return None, token
        if token.type == "STRING":
            value = decode_string(token)
            if not value:
                raise _Refused("an event category is never empty", _offset(token))
            return value, token
        _not_keyword(token, "an event category", f'"{token}"')
        return str(token), token

    def sequence(self, children: list[Any]) -> nodes.Sequence:
        token, by, maxspan, *steps, until = children
        if any(step.missing for step in steps):
            if maxspan is None:
                raise _Refused(
                    "a sequence with a missing-event step ![...] needs 'with maxspan=...'",
                    _offset(token),
                )
            if all(step.missing for step in steps):
                raise _Refused(
                    "a sequence needs one step that is not a missing-event step ![...]",
                    _offset(token),
                )
        return nodes.Sequence(tuple(steps), by or (), maxspan, until, **_where(token))

    def sequence_by(self, children: list[nodes.Field]) -> tuple[nodes.Field, ...]:
        return tuple(children)

    def step_by(self, children: list[nodes.Field]) -> tuple[nodes.Field, ...]:
        return tuple(children)

    def maxspan(self, children: list[lark.Token]) -> nodes.Duration:
        amount, unit = children
        if unit not in nodes.TIME_UNITS:
            raise _Refused(
                f"unknown time unit '{unit}': maxspan takes one of ms, s, m, h, d", _offset(unit)
            )
        value = int(amount)
        if value <= 0:
            raise _Refused("maxspan is a positive duration", _offset(amount))
        return nodes.Duration(value, str(unit), **_where(amount))  # type: ignore[arg-type]

    def step(self, children: list[Any]) -> nodes.Step:
        opener, query, by, runs = children
        return nodes.Step(
            query, by or (), 1 if runs is None else runs, opener.type == "MISSING_OPEN",
            **_where(opener),
        )  # fmt: skip

    def runs(self, children: list[lark.Token]) -> int:
        key, value = children
        if key != "runs":
            raise _Refused(f"a step takes 'with runs=N', not '{key}'", _offset(key))
        count = int(value)
        if not nodes.MIN_RUNS <= count <= nodes.MAX_RUNS:
            raise _Refused(
                f"runs is between {nodes.MIN_RUNS} and {nodes.MAX_RUNS}, not {count}",
                _offset(value),
            )
        return count

    def until(self, children: list[Any]) -> nodes.EventQuery:
        return children[1]  # type: ignore[no-any-return]

    def or_expr(self, children: list[nodes.Expression]) -> nodes.Or:
        return nodes.Or(tuple(children), **_at(children[0]))

    def and_expr(self, children: list[nodes.Expression]) -> nodes.And:
        return nodes.And(tuple(children), **_at(children[0]))

    def negation(self, children: list[Any]) -> nodes.Not:
        token, operand = children
        return nodes.Not(operand, **_where(token))

    def compare(self, children: list[Any]) -> nodes.Comparison:
        left, op, right = children
        return nodes.Comparison(str(op), left, right, **_where(op))  # type: ignore[arg-type]

    def arithmetic(self, children: list[Any]) -> nodes.Arithmetic:
        left, op, right = children
        return nodes.Arithmetic(str(op), left, right, **_where(op))  # type: ignore[arg-type]

    def sign(self, children: list[Any]) -> nodes.Sign:
        op, operand = children
        return nodes.Sign(str(op), operand, **_where(op))  # type: ignore[arg-type]

    def membership(self, children: list[Any]) -> nodes.Membership:
        operand, negation, op, *values = children
        return nodes.Membership(
            operand, tuple(values), op == "in~", negation is not None, **_where(op)
        )

    def pattern_match(self, children: list[Any]) -> nodes.PatternMatch:
        operand, op, *patterns = children
        return nodes.PatternMatch(operand, str(op), tuple(patterns), **_where(op))  # type: ignore[arg-type]

    def call(self, children: list[Any]) -> nodes.Call:
        token, *arguments = children
        name = str(token)
        insensitive = name.endswith("~")
        return nodes.Call(name.rstrip("~"), tuple(arguments), insensitive, **_where(token))

    def field(self, children: list[Any]) -> nodes.Field:
        optional, *names = children
        first = optional if optional is not None else names[0].token
        return nodes.Field(
            tuple(name.text for name in names), optional is not None, **_where(first)
        )

    def name(self, children: list[lark.Token]) -> _Name:
        token = children[0]
        if token.type == "QUOTED_IDENTIFIER":
            text = token[1:-1].replace("``", "`")
            if not text:
                raise _Refused("a field name is never empty", _offset(token))
            return _Name(text, token)
        _not_keyword(token, "a field name", f"`{token}`")
        return _Name(str(token), token)

    def constant(self, children: list[lark.Token]) -> nodes.Constant:
        token = children[0]
        where = _where(token)
        match token.type:
            case "NULL":
                return nodes.Null(**where)
            case "TRUE" | "FALSE":
                return nodes.Boolean(token.type == "TRUE", **where)
            case "STRING":
                return nodes.String(decode_string(token), **where)
            case "INTEGER":
                value = int(token)
                if value > MAX_INTEGER:
                    raise _Refused(f"number {token} is too large", _offset(token))
                return nodes.Number(value, **where)
            case "DECIMAL":
                number = float(token)
                if number == float("inf"):
                    raise _Refused(f"number {token} is too large", _offset(token))
                return nodes.Number(number, **where)
            case _:
                raise TypeError(f"no constant is a {token.type}")


def _not_keyword(token: lark.Token, what: str, escaped: str) -> None:
    if str(token) in KEYWORDS:
        raise _Refused(
            f"'{token}' is a keyword, not {what}: write {escaped} for that name", _offset(token)
        )


_PARSER = lalr.cached_parser(
    pathlib.Path(__file__).parent / "grammar.lark", "eql", transformer=_Builder()
)


def _check_depth(tree: nodes.Query, text: str) -> None:
    """Refuse a tree deeper than :data:`MAX_DEPTH`, walking it with a stack (no recursion)."""
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            line, column = node.line or 1, node.column or 1
            raise errors.EqlSyntaxError(
                f"nesting deeper than {MAX_DEPTH} levels", text, line, column
            )
        stack.extend((child, depth + 1) for child in nodes.children(node))


_COMMENT = re.compile(r"//[^\r\n]*|/\*[\s\S]*?\*/")


def _without_comments(text: str) -> str:
    return _COMMENT.sub(" ", text)


def _unexpected_character(text: str, offset: int) -> errors.EqlSyntaxError:
    char = text[offset]
    rest = text[offset:]

    def error(message: str) -> errors.EqlSyntaxError:
        return errors.EqlSyntaxError.at(message, text, offset)

    if char == "'":
        return error("single-quoted strings are not supported in EQL: use double quotes")
    if rest.startswith(('?"', "?'")):
        return error('?"..." is no raw string in Elasticsearch\'s EQL: write """..."""')
    if char == '"':
        return error("unterminated string: add the closing '\"' (a string holds no line break)")
    if char == "`":
        return error("unterminated name: add the closing '`'")
    if rest.startswith("/*"):
        return error("unterminated comment: add the closing '*/'")
    if char == "=":
        return error("'=' is no operator in EQL: write '==' (case-sensitive) or ':' (not)")
    if char == "!":
        return error("'!' stands only in '!=' and in a missing-event step '![...]'")
    return error(f"unexpected character {char!r}")


def _unexpected_token(
    text: str, token: lark.Token, expected: set[str], previous: lark.Token | None
) -> errors.EqlSyntaxError:
    at_end = token.type == "$END"
    offset = len(text.rstrip(_WHITESPACE)) if at_end else _offset(token)
    prev = previous.type if previous is not None else None

    def error(message: str, where: int = offset) -> errors.EqlSyntaxError:
        return errors.EqlSyntaxError.at(message, text, where)

    for candidate in (token, previous):
        # A lone "/*" lexes as a division and a product: the writer opened a comment.
        if (
            candidate is not None
            and candidate.type == "MUL_OP"
            and text.startswith("/*", _offset(candidate))
        ):
            return error("unterminated comment: add the closing '*/'", _offset(candidate))
    if token.type == "_ASGN":
        return error("'=' is no operator in EQL: write '==' (case-sensitive) or ':' (not)")
    if token.type == "COMPARE" and "COMPARE" not in expected and prev not in _OPERATORS:
        return error(f"comparisons do not chain: join them with 'and' (a < b and b {token} c)")
    if token.type == "_BY" and prev == "IDENTIFIER" and "_BY" not in expected:
        return error("write 'sequence by ...' before 'with maxspan=...', not after")
    if token.type == "IDENTIFIER" and str(token) in KEYWORDS:
        return error(f"'{token}' is a keyword and cannot stand here")
    if token.type in ("IN_OP", "MATCH_OP", "NOT") and prev in ("COMPARE", "IN_OP", "MATCH_OP"):
        return error(f"expected a value, not '{token}'")
    if prev == "OPTIONAL" and token.type == "STRING":
        return error(
            '?"..." is no raw string in Elasticsearch\'s EQL: write """..."""',
            _offset(previous) if previous is not None else offset,
        )
    if token.type == "TILDE_IDENTIFIER":
        return error(f"'{token}' is a function name and needs '(' after it")
    wanted = _wanted(expected)
    found = "end of the query" if at_end else repr(_shortened(str(token)))
    listed = ", ".join(wanted[:-1]) + (" or " if len(wanted) > 1 else "") + wanted[-1]
    return error(f"unexpected {found}: expected {listed}")


def _wanted(expected: set[str]) -> list[str]:
    names: set[str] = set()
    rest = set(expected)
    if {"INTEGER", "STRING", "IDENTIFIER"} <= rest and "NULL" in rest:
        names.add("an expression")
        rest -= _OPERAND_STARTS
    if "COMPARE" in rest or "MUL_OP" in rest:
        names.add("an operator")
        rest -= _OPERATORS
    if "MATCH_OP" in rest and "IN_OP" in rest:
        names.add("'in', ':', 'like' or 'regex'")
        rest -= {"MATCH_OP", "IN_OP"}
    names.update(_TERMINAL_NAMES.get(name, name.lower()) for name in rest)
    return sorted(names) or ["something else"]


def _shortened(value: str) -> str:
    return value if len(value) <= 30 else value[:27] + "..."
