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


class EqlSyntaxError(kql_errors.QuerySyntaxError):
    """A query that is not valid EQL. ``str(err)`` reads ``line 1, column 41: expected ...``
    followed by the excerpt.
    """


class EqlTypeError(kql_errors.PositionedError):
    """A query that parses but that Elasticsearch would refuse to run.

    ``line`` and ``column`` (1-based) locate the offending node, so the rule engine reports it
    as it reports an :class:`EqlSyntaxError`.
    """
