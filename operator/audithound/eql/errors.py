"""The errors an EQL query can raise: what went wrong, where, and (when parsing) a caret.

Fed by: :mod:`audithound.eql.parser` (:class:`EqlSyntaxError`, lark's exceptions translated)
and :mod:`audithound.eql.verify` (:class:`EqlTypeError`: a query that parses but that
Elasticsearch refuses: an unknown function, a wrong number of arguments, a ``~`` form a
function lacks, a field compared with a field, a pattern that is no string ...).
Feeds: the rule engine, which prefixes the field path (``spec.query: line 1, column 41: ...``).

The position arithmetic and the excerpt are KQL's (:mod:`audithound.kql.errors`): one way to
point at a query's text for both languages.
"""

from __future__ import annotations

from audithound.kql import errors as kql_errors


class EqlSyntaxError(ValueError):
    """A query that is not valid EQL.

    ``line`` and ``column`` are 1-based and count characters; ``excerpt`` is the offending
    line and a caret line under the column. ``str(err)`` reads
    ``line 1, column 41: expected ...`` followed by the excerpt.
    """

    message: str
    line: int
    column: int
    excerpt: str

    def __init__(self, message: str, text: str, line: int, column: int) -> None:
        super().__init__(message, text, line, column)
        self.message = message
        self.line = line
        self.column = column
        self.excerpt = kql_errors.excerpt(text, line, column)

    @classmethod
    def at(cls, message: str, text: str, offset: int) -> EqlSyntaxError:
        """The error at character ``offset`` of ``text`` (``len(text)`` is the end)."""
        line, column = kql_errors.position(text, offset)
        return cls(message, text, line, column)

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}\n{self.excerpt}"


class EqlTypeError(kql_errors.PositionedError):
    """A query that parses but that Elasticsearch would refuse to run.

    ``line`` and ``column`` (1-based) locate the offending node, so the rule engine reports it
    as it reports an :class:`EqlSyntaxError`.
    """
