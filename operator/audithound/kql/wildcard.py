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
