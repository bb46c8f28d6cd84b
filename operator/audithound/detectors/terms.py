"""The values of a few fields of an event, as the terms a new_terms or threshold rule keys on.

Fed by: the field names of a rule (``newTermsFields``, ``threshold.field``) and the events
its query matched. Feeds: those detectors, with each combination of the fields' values and a
short digest of it.

Elastic aggregates these fields by their type: a term is the field's value as text (an
``ip`` field's address as Elasticsearch shows it, so ``::ffff:10.0.0.1`` and ``10.0.0.1`` are
one term), every
value of an array counts, and for several fields each combination of their values is a term
(the cartesian product, at most :data:`MAX_COMBINATIONS` per event, as Elastic caps it). An
event missing one of the fields has no term. State keeps digests, never the values: a term can
be a user agent or a URI, and the state file must not carry what the audit log holds.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from audithound.kql import ips
from audithound.normalize import view

#: Most combinations of values taken from one event (Kibana's new terms rule: 100).
MAX_COMBINATIONS: Final = 100

_ACCESS: Final = view.AuditEventAccess()

#: One combination of values, one text per field.
Term = tuple[str, ...]


def keyword(value: Any) -> str:
    """A leaf value as the keyword Elasticsearch would index (``true``, ``200``, text)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value if type(value) is str else str(value)


def _address(value: Any) -> str:
    return ips.canonical(keyword(value))


def digest(term: Term) -> str:
    """A 128-bit digest of a term, as hex (the state's key for it)."""
    return hashlib.blake2b("\0".join(term).encode(), digest_size=16).hexdigest()


class Terms:
    """The terms of ``fields`` in an event; no fields: the one empty term."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self._getters: tuple[Callable[[Any], list[Any]], ...] = tuple(
            _ACCESS.values(field) for field in self.fields
        )
        self._texts: tuple[Callable[[Any], str], ...] = tuple(
            _address if _ACCESS.kind(field) == "ip" else keyword for field in self.fields
        )

    def of(self, event: Mapping[str, Any]) -> list[Term]:
        """Every combination of the fields' values in ``event`` (distinct, in order)."""
        if not self._getters:
            return [()]
        columns = []
        for get, text in zip(self._getters, self._texts, strict=True):
            values = list(dict.fromkeys(text(value) for value in get(event)))
            if not values:
                return []
            columns.append(values)
        if len(columns) == 1:
            return [(value,) for value in columns[0][:MAX_COMBINATIONS]]
        return list(itertools.islice(itertools.product(*columns), MAX_COMBINATIONS))

    def group(self, term: Term) -> tuple[tuple[str, str], ...]:
        """``term`` as field -> value pairs."""
        return tuple(zip(self.fields, term, strict=True))
