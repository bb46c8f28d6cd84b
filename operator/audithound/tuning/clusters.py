"""A rule's alerts grouped into tuples: who asked, what was asked.

Fed by: the alerts ``collect`` kept for one rule (the fields of each alert's event). Feeds:
``advice``, which proposes an exception item per tuple.

Each alert is a point of ten dimensions (``dimensions``; the request path without its query
string, the source addresses joined). Three kinds of tuple group the points, each alert
falling in one tuple of each kind:

- ``who``: identity class, user, namespace, user agent and source (the issue's tuple: one
  client of one identity);
- ``class``: the identity class alone (every node, every service account);
- ``what``: for a resource request the verb, namespace, resource and subresource; for any
  other request (``/version``, ``/apis``) its path.

A tuple's *shared* values are the dimensions its alerts all hold alike (its closure): an
item built on them hides what the tuple raised and as little else as the data allows. The
dimensions every alert of the rule shares are kept apart (:func:`common`): an exception on
them would silence the rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from audithound.tuning import dimensions

#: The dimensions of a point, in the order they are shown.
DIMENSIONS: Final = (
    "class",
    "user",
    "namespace",
    "agent",
    "source",
    "verb",
    "resource",
    "subresource",
    "name",
    "path",
)

#: Dimensions a tuple may be told apart by but no exception is built on (``dimensions``).
VOLATILE: Final = frozenset({"agent", "source"})

Point = Mapping[str, str | None]
Seed = Literal["who", "class", "what"]

_WHO: Final = ("class", "user", "namespace", "agent", "source")


def _first(values: tuple[str, ...]) -> str | None:
    return values[0] if values else None


def point(values: dimensions.Values) -> dict[str, str | None]:
    """The dimensions of one alert's event."""
    uri = _first(values[dimensions.URI])
    return {
        "class": dimensions.identity_class(values),
        "user": _first(values[dimensions.USER]),
        "namespace": _first(values[dimensions.NAMESPACE]),
        "agent": _first(values[dimensions.AGENT]),
        "source": ", ".join(values[dimensions.SOURCE]) or None,
        "verb": _first(values[dimensions.VERB]),
        "resource": _first(values[dimensions.RESOURCE]),
        "subresource": _first(values[dimensions.SUBRESOURCE]),
        "name": _first(values[dimensions.NAME]),
        "path": dimensions.path(uri) if uri is not None else None,
    }


def _what(of: Point) -> tuple[str, ...]:
    if of["resource"] is None:
        return ("path",)
    return ("verb", "namespace", "resource", "subresource")


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The alerts of one tuple."""

    seed: Seed
    #: The dimensions that define the tuple, with their values (None: missing).
    key: tuple[tuple[str, str | None], ...]
    #: Indices of its alerts in the rule's alerts, in order.
    members: tuple[int, ...]
    #: Every dimension its alerts all hold alike, with that value (None: all missing).
    shared: Mapping[str, str | None]
    #: Dimensions whose values differ among its alerts, with how many values they take.
    varying: Mapping[str, int]


def common(points: Sequence[Point]) -> dict[str, str | None]:
    """The dimensions every point holds alike, with the value."""
    return _shared(points, range(len(points)))


def _shared(points: Sequence[Point], members: Sequence[int]) -> dict[str, str | None]:
    first = points[members[0]]
    return {
        name: first[name]
        for name in DIMENSIONS
        if all(points[index][name] == first[name] for index in members)
    }


def _varying(points: Sequence[Point], members: Sequence[int]) -> dict[str, int]:
    out = {}
    for name in DIMENSIONS:
        distinct = len({points[index][name] for index in members})
        if distinct > 1:
            out[name] = distinct
    return out


def clusters(points: Sequence[Point]) -> list[Cluster]:
    """Every tuple of every kind that the points fall in, largest first."""
    groups: dict[tuple[Seed, tuple[tuple[str, str | None], ...]], list[int]] = {}
    for index, of in enumerate(points):
        kinds: tuple[tuple[Seed, tuple[str, ...]], ...] = (
            ("who", _WHO),
            ("class", ("class",)),
            ("what", _what(of)),
        )
        for seed, names in kinds:
            key = tuple((name, of[name]) for name in names)
            groups.setdefault((seed, key), []).append(index)
    found = [
        Cluster(
            seed,
            key,
            tuple(members),
            _shared(points, members),
            _varying(points, members),
        )
        for (seed, key), members in groups.items()
    ]
    found.sort(key=lambda cluster: -len(cluster.members))
    return found
