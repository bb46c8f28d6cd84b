"""The one error a KQL query can raise when parsed: what went wrong, where, with a caret.

Fed by: :mod:`audithound.kql.parser`, which translates lark's exceptions into this one.
Feeds: the rule engine, which prefixes the field path (``spec.query: line 1, column 41: ...``)
and shows the excerpt to whoever wrote the rule.
"""

from __future__ import annotations

from typing import Self

#: Longest part of a query line shown in an excerpt; longer lines are cut around the column.
EXCERPT_WIDTH = 100


class QuerySyntaxError(ValueError):
    """A query text that does not parse, at a 1-based ``line`` and ``column`` (characters),
    with ``excerpt``: the offending line (cut to :data:`EXCERPT_WIDTH` around the column when
    longer) and a caret line under the column. The query languages' syntax errors share it."""

    message: str
    line: int
    column: int
    excerpt: str

    def __init__(self, message: str, text: str, line: int, column: int) -> None:
        super().__init__(message, text, line, column)
        self.message = message
        self.line = line
        self.column = column
        self.excerpt = excerpt(text, line, column)

    @classmethod
    def at(cls, message: str, text: str, offset: int) -> Self:
        """The error at character ``offset`` of ``text`` (``len(text)`` is the end)."""
        line, column = position(text, offset)
        return cls(message, text, line, column)

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}\n{self.excerpt}"


class KqlSyntaxError(QuerySyntaxError):
    """A query that is not valid KQL. ``str(err)`` reads
    ``line 1, column 41: expected a value after ':'`` followed by the excerpt.
    """


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of character ``offset``, lines split at ``\\n``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def excerpt(text: str, line: int, column: int) -> str:
    """Line ``line`` of ``text`` and a caret under ``column`` (both 1-based), for any message."""
    lines = text.split("\n")
    source = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    start = 0
    if len(source) > EXCERPT_WIDTH:
        start = max(0, min(column - 1 - EXCERPT_WIDTH // 2, len(source) - EXCERPT_WIDTH))
        source = source[start : start + EXCERPT_WIDTH]
    # Tabs are kept in the caret line so that the caret sits under the column on any tab width.
    lead = "".join("\t" if char == "\t" else " " for char in source[: max(column - 1 - start, 0)])
    return f"{source}\n{lead}^"


class PositionedError(ValueError):
    """A query that parses but cannot run, with the 1-based ``line`` and ``column`` of what
    is wrong in it (the query languages' refusals after parsing share it)."""

    message: str
    line: int
    column: int

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message, line, column)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class KqlQueryError(PositionedError):
    """A valid query that Elasticsearch refuses to run on the fields' types (a wildcard on an
    ``ip`` field, a value that is no date on a ``date`` field ...).

    Raised by the compiler; ``line`` and ``column`` locate the offending value, so the rule
    engine reports it as it reports a :class:`KqlSyntaxError`.
    """
