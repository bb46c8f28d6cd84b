"""``regex`` and ``regex~`` patterns: Lucene's regular expression syntax, run by RE2.

Fed by: the checker (every pattern of a query is translated once, so a bad one is reported
with its position) and the evaluator (which keeps the compiled matcher). Feeds: the
predicate, which calls the matcher on string values.

Elasticsearch runs an EQL ``regex`` as a ``regexp`` query: Lucene's syntax, always matching
the whole value, no anchors. Here a pattern is translated to RE2's syntax and run by RE2
(the ``google-re2`` package), whose time is linear in the value whatever the pattern: a
hostile ``(a+)+b`` costs what a benign one does. Supported, as Lucene reads it:
literal characters, ``.`` (any character, line breaks too), ``?`` ``*`` ``+`` ``{n}``
``{n,}`` ``{n,m}``, ``|``, groups ``( )``, classes ``[a-z]`` and ``[^...]``, ``"..."`` for a
literal string, and ``\\`` before any character that is not a letter or a digit.
Refused with an error that says why: Lucene's optional operators ``~ & < > @ #`` (their
meaning depends on flags), ``^`` and ``$`` outside a class (no anchors in Lucene: the
writer almost surely meant one), and escapes of letters and digits (``\\d``, ``\\w`` ...,
which Lucene versions read differently: write the class).
"""

from __future__ import annotations

from collections.abc import Callable

import re2

Matcher = Callable[[str], bool]

_OPTIONAL_OPERATORS = "~&<>@#"
_QUANTIFIERS = "?*+"


class RegexError(ValueError):
    """A pattern this translation refuses; ``offset`` is where in the pattern."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message


def _literal(char: str) -> str:
    return char if char.isalnum() or char == "_" else f"\\x{{{ord(char):x}}}"


def translate(pattern: str) -> str:
    """RE2 syntax for a Lucene ``pattern``; raises :class:`RegexError`."""
    out: list[str] = []
    depth = 0
    i = 0
    size = len(pattern)
    while i < size:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= size:
                raise RegexError("a '\\' at the end of a regex escapes nothing", i)
            escaped = pattern[i + 1]
            if escaped.isalnum():
                raise RegexError(
                    f"'\\{escaped}' is not supported in a regex: write a class such as [0-9]",
                    i,
                )
            out.append(_literal(escaped))
            i += 2
            continue
        if char == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise RegexError("unterminated '\"' in a regex: add the closing '\"'", i)
            out.append("(?:" + "".join(_literal(c) for c in pattern[i + 1 : end]) + ")")
            i = end + 1
            continue
        if char == "[":
            text, i = _char_class(pattern, i)
            out.append(text)
            continue
        if char in _OPTIONAL_OPERATORS:
            raise RegexError(
                f"'{char}' is an optional operator of Lucene's regular expressions and not "
                f"supported here: write \\{char} for the character",
                i,
            )
        if char in "^$":
            raise RegexError(
                f"'{char}' is no anchor in Elasticsearch's regex (a pattern always matches the "
                f"whole value): remove it, or write \\{char} for the character",
                i,
            )
        if char == "(":
            depth += 1
            out.append("(?:")
        elif char == ")":
            if depth == 0:
                raise RegexError("unbalanced ')' in a regex", i)
            depth -= 1
            out.append(")")
        elif char == "{":
            end = pattern.find("}", i)
            bounds = pattern[i + 1 : end].split(",") if end > 0 else []
            if not 1 <= len(bounds) <= 2 or not bounds[0].isdigit():
                raise RegexError("'{' starts a repetition {n}, {n,} or {n,m} in a regex", i)
            if len(bounds) == 2 and bounds[1] and not bounds[1].isdigit():
                raise RegexError("'{' starts a repetition {n}, {n,} or {n,m} in a regex", i)
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        elif char in _QUANTIFIERS or char in "|.":
            out.append(char)
        else:
            out.append(_literal(char))
        i += 1
    if depth:
        raise RegexError("unbalanced '(' in a regex: add the closing ')'", size)
    return "".join(out)


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """A ``[...]`` class from ``start`` as RE2 text, and the offset after it."""
    i = start + 1
    out = ["["]
    if pattern[i : i + 1] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern) and (pattern[i] != "]" or first):
        first = False
        char = pattern[i]
        escaped = char == "\\"
        if escaped:
            if i + 1 >= len(pattern):
                break
            char = pattern[i + 1]
            if char.isalnum():
                raise RegexError(
                    f"'\\{char}' is not supported in a regex: write a class such as [0-9]", i
                )
            i += 1
        inner = out[-1] not in ("[", "^") and pattern[i + 1 : i + 2] != "]"
        if char == "-" and not escaped and inner:
            out.append("-")
        else:
            out.append(f"\\x{{{ord(char):x}}}")
        i += 1
    if i >= len(pattern):
        raise RegexError("unterminated '[' in a regex: add the closing ']'", start)
    out.append("]")
    return "".join(out), i + 1


def compile_regex(pattern: str, insensitive: bool) -> Matcher:
    """A whole-value matcher for a Lucene ``pattern``; raises :class:`RegexError`."""
    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True
    options.case_sensitive = not insensitive
    try:
        compiled = re2.compile(translate(pattern), options)
    except re2.error as err:
        message = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err
        raise RegexError(f"invalid regex: {message}", 0) from None
    fullmatch = compiled.fullmatch
    return lambda value: fullmatch(value) is not None
