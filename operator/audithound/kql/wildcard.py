"""Glob matching with ``*`` as the only wildcard, in time linear in the value.

Fed by: the compiler, once per ``Pattern`` of a query (the literal pieces between the ``*``).
Feeds: the per-document predicate, which calls the returned function on string values.

A ``*``-only glob needs no backtracking: after checking the prefix and the suffix, taking the
leftmost occurrence of each middle piece in turn is always right, because any later match of a
piece leaves less room, never more, for the pieces after it. Each ``str.find`` resumes where
the previous one ended, so the whole match scans the value about once, whatever the pattern
(no regex: a hostile ``*a*a*...*b`` against a long value costs the same as a benign one).
Matching is case-sensitive and anchored at both ends, like a keyword field's wildcard query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

Matcher = Callable[[str], bool]


def compile_glob(parts: Sequence[str]) -> Matcher:
    """A matcher for the glob whose literal pieces between ``*`` are ``parts`` (two or more).

    ``("/healthz", "")`` is ``/healthz*``; ``("", "a", "b")`` is ``*a*b``.
    """
    if len(parts) < 2:
        raise ValueError("a glob has at least one '*', so at least two parts")
    prefix, suffix = parts[0], parts[-1]
    middle = tuple(part for part in parts[1:-1] if part)
    shortest = len(prefix) + len(suffix) + sum(len(part) for part in middle)

    if not middle:
        if not prefix and not suffix:
            return _anything
        if not suffix:
            return lambda value: value.startswith(prefix)
        if not prefix:
            return lambda value: value.endswith(suffix)
        return lambda value: (
            len(value) >= shortest and value.startswith(prefix) and value.endswith(suffix)
        )

    if not prefix and not suffix and len(middle) == 1:
        (needle,) = middle
        return lambda value: needle in value

    start = len(prefix)
    tail = len(suffix)

    def match(value: str) -> bool:
        if len(value) < shortest or not value.startswith(prefix) or not value.endswith(suffix):
            return False
        position = start
        end = len(value) - tail
        for part in middle:
            found = value.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True

    return match


def _anything(value: str) -> bool:
    return True


#: Elasticsearch's ``wildcard`` query syntax (Lucene's): ``*`` any run of characters, ``?``
#: exactly one, a backslash makes the next character literal (a trailing one is itself).
_ANY_RUN, _ANY_ONE, _ESCAPE = "*", "?", "\\"


def compile_wildcard(pattern: str) -> Matcher:
    """A matcher for a pattern in the ``wildcard`` query's syntax (``*``, ``?``, ``\\``), as
    exception items use it: case-sensitive, anchored at both ends, linear in the value.

    ``*`` splits the pattern into pieces of fixed length (``?`` is one character of a piece),
    so the leftmost-match argument above still holds: each middle piece is searched once,
    leftmost, from where the previous one ended. Without ``?`` this is :func:`compile_glob`.
    """
    pieces: list[list[str | None]] = [[]]  # None stands for ``?``
    characters = iter(pattern)
    for character in characters:
        if character == _ESCAPE:
            pieces[-1].append(next(characters, _ESCAPE))
        elif character == _ANY_RUN:
            pieces.append([])
        elif character == _ANY_ONE:
            pieces[-1].append(None)
        else:
            pieces[-1].append(character)
    if all(token is not None for piece in pieces for token in piece):
        literal = ["".join(token for token in piece if token is not None) for piece in pieces]
        if len(literal) == 1:
            (only,) = literal
            return lambda value: value == only
        return compile_glob(literal)
    return _pieces_matcher([(_piece_regex(piece), len(piece)) for piece in pieces])


def _piece_regex(piece: list[str | None]) -> re.Pattern[str]:
    """One piece between ``*`` as a regex of fixed length: literals and ``.`` (``?``)."""
    return re.compile(
        "".join("." if token is None else re.escape(token) for token in piece), re.DOTALL
    )


def _pieces_matcher(pieces: list[tuple[re.Pattern[str], int]]) -> Matcher:
    """Pieces of fixed length (regex, length) between ``*``, matched as explained above."""
    if len(pieces) == 1:
        ((whole, _),) = pieces
        return lambda value: whole.fullmatch(value) is not None
    (first, head), (last, tail) = pieces[0], pieces[-1]
    middle = pieces[1:-1]
    shortest = sum(length for _, length in pieces)

    def match(value: str) -> bool:
        size = len(value)
        if size < shortest or first.match(value) is None:
            return False
        end = size - tail
        if last.fullmatch(value, end) is None:
            return False
        position = head
        for piece, length in middle:
            found = piece.search(value, position, end)
            if found is None:
                return False
            position = found.start() + length
        return True

    return match
