"""lark's interactive LALR parse, token by token, keeping the token before a failure.

Fed by: a lark parser and a query's text (KQL's and EQL's parsers). Feeds: their error
messages, which name what came before the unexpected token ("after 'and'").
"""

from __future__ import annotations

from typing import Any

import lark
import lark.exceptions


class UnexpectedToken(Exception):
    """lark's :class:`~lark.exceptions.UnexpectedToken`, with the token the parser took last
    before it (None at the start)."""

    def __init__(self, error: lark.exceptions.UnexpectedToken, previous: lark.Token | None) -> None:
        super().__init__(str(error))
        self.token: lark.Token = error.token
        self.expected: set[str] = set(error.expected)
        self.previous = previous


def parse(parser: lark.Lark, text: str) -> Any:
    """The tree of ``text``; lark's unexpected-token error becomes :class:`UnexpectedToken`,
    every other exception (lark's, or a transformer's raised while reducing) passes as is."""
    interactive = parser.parse_interactive(text)
    pending: lark.Token | None = None  # the token handed to the parser last
    accepted: lark.Token | None = None  # the token before it, which the parser took
    try:
        for token in interactive.iter_parse():
            accepted, pending = pending, token
        return interactive.feed_token(lark.Token("$END", ""))
    except lark.exceptions.UnexpectedToken as err:
        # The lexer's own errors come with a token it made up; the parser's with ``pending``.
        previous = accepted if err.token is pending else pending
        raise UnexpectedToken(err, previous) from None
