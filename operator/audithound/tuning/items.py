r"""Exception items in the shape of ``DetectionRule.spec.exceptions`` (Kibana's exception
items), and whether an alert's event matches one.

Fed by: ``advice``, with the values a tuple's alerts share. Feeds: ``advice`` (what an item
silences and also hides, from the same alerts) and ``report`` (the item as YAML or JSON).

Entries of an item are ANDed, items ORed; an event matching an item raises no alert. Values
are those of the logs, so nothing is guessed; what an item prints goes through the alerts'
redaction (``alerts.redact``): a value redaction would change is not printed whole but as a
``wildcard`` whose ``*`` stands where the secret was, so it still matches the event and
never carries the credential.

Request paths: an entry on ``kubernetes.audit.requestURI`` compares the whole URI, query
string included. When no URI of the tuple has a query, the entry is ``match`` on the path
(``/version``); when some have one, ``match_any`` on the exact URIs seen (at most
:data:`MAX_LISTED`, none changed by redaction), so that a new query string alerts again
rather than being hidden unseen; otherwise ``wildcard`` on ``<path>\?*`` (the path, a literal
``?``, then any query). Wildcard values are in the syntax of Elasticsearch's ``wildcard``
query, as exception items are applied (``rules.exceptions``): ``*`` and ``?`` are wildcards
and a backslash escapes, so literal ``*``, ``?`` and ``\`` of a value are escaped. A bare
``<path>*`` is never proposed: ``/api*`` would hide every ``/apis`` and ``/api/v1/...``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, Final, Literal

from audithound.alerts import redact
from audithound.kql import wildcard
from audithound.tuning import dimensions

#: Most exact URIs one ``match_any`` entry lists (default 10): more variants than that are
#: a pattern, not a list to maintain.
MAX_LISTED: Final = 10

Kind = Literal["match", "match_any", "wildcard"]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One condition of an item: ``field`` holds ``value`` (or one of them, or the glob)."""

    field: str
    type: Kind
    value: str | tuple[str, ...]

    def matches(self, values: dimensions.Values) -> bool:
        found = values[self.field]
        match self.type:
            case "match":
                return self.value in found
            case "match_any":
                return any(value in self.value for value in found)
            case "wildcard":
                assert isinstance(self.value, str)
                glob = _glob(self.value)
                return any(glob(value) for value in found)
            case _:
                raise TypeError(f"not an entry type: {self.type!r}")

    def wire(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "type": self.type, "operator": "included", "value": value}


@dataclasses.dataclass(frozen=True)
class Item:
    """An exception item: ``name``, ``description`` and ANDed ``entries``."""

    name: str
    description: str
    entries: tuple[Entry, ...]

    def matches(self, values: dimensions.Values) -> bool:
        return all(entry.matches(values) for entry in self.entries)

    def wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "entries": [entry.wire() for entry in self.entries],
        }


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> wildcard.Matcher:
    return wildcard.compile_wildcard(pattern)


def _escaped(text: str) -> str:
    """``text`` as literal characters of a wildcard pattern."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _as_pattern(redacted: str) -> str:
    """A pattern matching what redaction hid: ``*`` where the marker is, the rest literal."""
    return "*".join(_escaped(piece) for piece in redacted.split(redact.MARKER))


def value(field: str, raw: str) -> Entry:
    """``field`` equal to ``raw``: ``match``, or a ``wildcard`` around what redaction hides."""
    shown = redact.uri(raw) if field == dimensions.URI else redact.text(raw)
    if shown == raw:
        return Entry(field, "match", raw)
    return Entry(field, "wildcard", _as_pattern(shown))


def request_path(path: str, uris: Sequence[str]) -> Entry:
    """The entry for request path ``path``, seen as the request URIs ``uris`` (see the module
    docstring)."""
    distinct = sorted(set(uris))
    if distinct == [path]:
        return value(dimensions.URI, path)
    if len(distinct) <= MAX_LISTED and all(redact.uri(uri) == uri for uri in distinct):
        return Entry(dimensions.URI, "match_any", tuple(distinct))
    return Entry(dimensions.URI, "wildcard", _as_pattern(redact.uri(path)) + "\\?*")


#: The entry that stands for an identity class when its tuple has no single user: nodes
#: only. Every node runs the same kubelet for the same purpose; service accounts are each
#: a workload of their own (any one can be compromised: an item names the account), humans
#: have no name pattern, and an anonymous client is anyone.
CLASS_ENTRIES: Final = {
    dimensions.NODE: Entry(dimensions.USER, "wildcard", "system:node:*"),
}
