"""lark's LALR parsers for KQL and EQL: built from a cache of their tables, and an
interactive parse, token by token, that keeps the token before a failure.

Fed by: a grammar file (for :func:`cached_parser`), a lark parser and a query's text (KQL's
and EQL's parsers). Feeds: those parsers, and their error messages, which name what came
before the unexpected token ("after 'and'").
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import stat
import sys
from typing import Any

import lark
import lark.exceptions


def _cache_directory() -> pathlib.Path | None:
    """A private cache directory of the user, or None when it cannot be made or is not private.

    Lark's cache is a pickle, so it is only read from a directory that no one else can write
    (never the shared temporary directory); a read-only or foreign home just means no cache.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = pathlib.Path(base) / "audithound" / "parsers"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077
    return directory if private and info.st_uid == os.getuid() else None


def cached_parser(grammar_file: pathlib.Path, name: str, transformer: Any) -> lark.Lark:
    """The LALR parser of ``grammar_file``, its tables loaded from the user's cache.

    Building the tables costs tens of milliseconds on every start (60 ms for EQL's grammar
    here); lark's own cache, kept in the user's private directory, loads them in a few. The
    file name holds ``name`` and a digest of the grammar, lark's and Python's versions, and
    lark checks its own digest again on load. lark writes the file in place: its digest
    includes the file's path, so a file written elsewhere and renamed would never be read. A
    start that meets a file another one is still writing cannot unpickle it, and builds.
    """
    grammar = grammar_file.read_text(encoding="utf-8")
    options: dict[str, Any] = {"parser": "lalr", "lexer": "contextual", "transformer": transformer}
    directory = _cache_directory()
    if directory is None:
        return lark.Lark(grammar, **options)
    key = f"{grammar}\0{lark.__version__}\0{sys.version_info[:2]}"
    cache = directory / f"{name}-parser-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lark"
    return lark.Lark(grammar, cache=str(cache), **options)


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
