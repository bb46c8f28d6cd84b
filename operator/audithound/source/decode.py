"""Decoding: one input line (bytes) into zero or more raw audit events.

Fed by: the readers of this package (``source.files`` for finished files and stdin,
``source.tail`` for the live log), one line at a time, or one parsed whole-file document.
Feeds: ``normalize`` and the pipeline, which take the raw events as they are (no copy).

A line may hold, as the Kubernetes integration of Elastic accepts:
- one audit ``Event`` (``audit.k8s.io/v1`` or ``v1beta1``, with or without ``kind`` and
  ``apiVersion``; see :func:`is_event` for the exact rule);
- an ``EventList`` (its ``items``);
- a JSON array of events, event lists or AKS envelopes;
- an AKS diagnostic-settings envelope: ``category`` ``kube-audit`` or ``kube-audit-admin``,
  the event under ``properties.log`` as a JSON string or an object; or a ``records`` array
  of such envelopes (Azure's export format).

What is not an event is reported by a reason code (:class:`Reason`), never raised.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any, Final, Literal, NamedTuple, Protocol, Required, TypedDict

import msgspec
import orjson

#: The ``apiVersion`` of the audit events current API servers write.
AUDIT_V1: Final = "audit.k8s.io/v1"

#: The ``apiVersion`` values of audit events this reader knows.
AUDIT_API_VERSIONS: Final = frozenset({AUDIT_V1, "audit.k8s.io/v1beta1"})

#: AKS diagnostic categories that carry API server audit events.
AKS_AUDIT_CATEGORIES: Final = frozenset({"kube-audit", "kube-audit-admin"})

#: Longest audit line read, in bytes, not counting its newline; default 4 MiB. Longer lines are
#: skipped as ``oversized`` without being held whole, by ``scan`` and by the operator alike.
#: Audit events are small (KiB) except at level ``RequestResponse``, where a large object can
#: take a few hundred KiB; 4 MiB keeps all of those while bounding what one hostile line costs.
MAX_LINE_BYTES: Final = 4 * 1024 * 1024


class Reason(enum.StrEnum):
    """Why a line, or an item within it, produced no event."""

    #: Not JSON (or not UTF-8).
    INVALID_JSON = "invalid-json"
    #: The last line of a finished input has no newline and is not JSON: cut short.
    TRUNCATED = "truncated"
    #: JSON, but no audit event (``{"kind": 0}``, a number, another object...).
    NOT_AN_EVENT = "not-an-event"
    #: Longer than the line limit; skipped without being read whole.
    OVERSIZED = "oversized"
    #: A whole-file JSON document larger than the document limit.
    OVERSIZED_DOCUMENT = "oversized-document"
    #: The input could not be opened or read to its end (missing, denied, corrupt gzip).
    UNREADABLE = "unreadable"


class RawUserInfo(TypedDict, total=False):
    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


class RawObjectReference(TypedDict, total=False):
    resource: str
    namespace: str
    name: str
    uid: str
    apiGroup: str
    apiVersion: str
    resourceVersion: str
    subresource: str


class RawEvent(TypedDict, total=False):
    """An ``audit.k8s.io`` Event as decoded from JSON (wire data: nothing is validated)."""

    kind: str
    apiVersion: str
    level: str
    auditID: str
    stage: str
    requestURI: str
    verb: str
    user: RawUserInfo
    impersonatedUser: RawUserInfo
    sourceIPs: list[str]
    userAgent: str
    objectRef: RawObjectReference
    responseStatus: dict[str, Any]
    requestObject: dict[str, Any]
    responseObject: dict[str, Any]
    requestReceivedTimestamp: str
    stageTimestamp: str
    annotations: dict[str, str]
    #: ``audit.k8s.io/v1beta1`` only.
    timestamp: str
    metadata: dict[str, Any]


class Decoded(NamedTuple):
    """What one line held: its events, and one reason per rejected line or item."""

    events: list[RawEvent]
    rejected: list[Reason]


def is_event(obj: dict[str, Any]) -> bool:
    """Whether a JSON object is one audit event.

    The rule: ``auditID`` is a non-empty string (the API server always sets it, and alerts
    are named after it); at least one of ``stage``, ``verb``, ``requestURI`` is a string;
    ``kind``, when present, is ``Event``; ``apiVersion``, when present, is one of
    :data:`AUDIT_API_VERSIONS`. The last two keep out core ``v1`` Events and other
    objects that merely carry an ``auditID``.
    """
    audit_id = obj.get("auditID")
    if type(audit_id) is not str or not audit_id:
        return False
    if (
        type(obj.get("stage")) is not str
        and type(obj.get("verb")) is not str
        and type(obj.get("requestURI")) is not str
    ):
        return False
    kind = obj.get("kind")
    if kind is not None and kind != "Event":
        return False
    api_version = obj.get("apiVersion")
    # ``type`` first: a list or an object is no version, and is not hashable either.
    return api_version is None or (type(api_version) is str and api_version in AUDIT_API_VERSIONS)


def decode_line(line: bytes) -> Decoded:
    """The events of one line; a line that is not JSON is rejected as ``invalid-json``."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Decoded([], [Reason.INVALID_JSON])
    if type(value) is dict and is_event(value):
        return Decoded([value], [])  # type: ignore[list-item]
    return decode_value(value)


def decode_value(value: Any) -> Decoded:
    """The events of one parsed JSON value (a line, or a whole-file document)."""
    decoded = Decoded([], [])
    _collect(value, decoded, top=True)
    return decoded


def _collect(value: Any, into: Decoded, *, top: bool) -> None:
    """Collect events from ``value``; containers nest one level only (no deep recursion)."""
    if isinstance(value, dict):
        if is_event(value):
            into.events.append(value)  # type: ignore[arg-type]
            return
        items = value.get("items")
        if value.get("kind") == "EventList" and isinstance(items, list):
            for item in items:
                _one_event(item, into)
            return
        records = value.get("records")
        if top and isinstance(records, list):
            for record in records:
                _collect(record, into, top=False)
            return
        if value.get("category") in AKS_AUDIT_CATEGORIES:
            _envelope(value, into)
            return
    elif top and isinstance(value, list):
        for item in value:
            _collect(item, into, top=False)
        return
    into.rejected.append(Reason.NOT_AN_EVENT)


def _one_event(value: Any, into: Decoded) -> None:
    if isinstance(value, dict) and is_event(value):
        into.events.append(value)  # type: ignore[arg-type]
    else:
        into.rejected.append(Reason.NOT_AN_EVENT)


def _envelope(value: dict[str, Any], into: Decoded) -> None:
    """An AKS diagnostic record: the event is ``properties.log``, as text or as an object."""
    properties = value.get("properties")
    log = properties.get("log") if isinstance(properties, dict) else None
    if isinstance(log, str):
        try:
            log = orjson.loads(log)
        except orjson.JSONDecodeError:
            into.rejected.append(Reason.INVALID_JSON)
            return
    _one_event(log, into)


#: Event time fields, in order of preference (``timestamp`` is the pre-GA v1beta1 name).
TIME_KEYS: Final = ("stageTimestamp", "requestReceivedTimestamp", "timestamp")


class Projection:
    """Decodes from one line only the parts of a JSON object that some paths reach.

    What a rule set needs to reject an event is a few of its values (``verb``,
    ``user.username``, ``objectRef.resource``...), and the rest of a line (a request body,
    the response status, the user's groups) is most of its bytes. msgspec decodes the paths
    given into dicts (and lists of dicts, as a path crosses arrays) and skips over the rest
    without building it. Each path is a tuple of keys from the top; what is at its end is
    decoded whole. The result holds what ``orjson.loads`` would along those paths, or
    :meth:`decode` returns None and the caller decodes the line whole. None for:
    - a line that is not ASCII: msgspec does not check UTF-8 in the strings it skips, and
      orjson rejects a line with an invalid one (the whole path then says so);
    - anything msgspec refuses: invalid JSON, no object, nesting too deep, a number out of
      range along the paths, or a shape the paths cannot cross (a list in a list).
    Where the two still differ (the README lists both): an integer beyond 64 bits at the end
    of a path is exact here and a float from orjson; and a number too large for a double
    (``1e400``) in a part that is skipped makes orjson reject the line, while here the event
    is read (what the rules read of it is valid).

    With ``event``, only a line holding one audit event of the shape API servers write is
    decoded (msgspec checks it: :data:`_EVENT_SHAPE`), so that what comes out is an event
    for :func:`is_event` without another look; any other line is None, to be decoded whole.
    """

    def __init__(self, paths: Iterable[tuple[str, ...]], *, event: bool = False) -> None:
        self.event = event
        shape = _shape(_trie(paths), itertools.count(), _EVENT_SHAPE if event else {})
        decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(shape)
        #: The decoder itself, for a hot loop that inlines :meth:`decode`: call it on ASCII
        #: lines only, and take :data:`PROJECTION_ERRORS` as "decode it whole".
        self.decode_ascii: Callable[[bytes], dict[str, Any]] = decoder.decode

    def decode(self, line: bytes) -> dict[str, Any] | None:
        """What the paths reach of the object on ``line``, or None (see the class)."""
        if not line.isascii():
            return None
        try:
            return self.decode_ascii(line)
        except PROJECTION_ERRORS:
            return None


#: What :attr:`Projection.decode_ascii` raises on a line it cannot answer for.
PROJECTION_ERRORS: Final = (msgspec.DecodeError, RecursionError)


#: A trie of paths: each key leads to the keys below it, or to None where it is read whole.
_Trie = dict[str, "_Trie | None"]


def _trie(paths: Iterable[tuple[str, ...]]) -> _Trie:
    root: _Trie = {}
    for path in sorted(paths, key=len):  # a path read whole first: nothing below it counts
        node: _Trie | None = root
        for depth, key in enumerate(path):
            assert node is not None
            if depth == len(path) - 1:
                node[key] = None
            elif key not in node:
                node[key] = {}
            node = node[key]
            if node is None:
                break
    return root


#: The top-level keys of an event as API servers write it, typed so that msgspec refuses any
#: other shape: a subset of what :func:`is_event` accepts (a non-empty ``auditID``, a string
#: ``stage``, ``kind`` and ``apiVersion`` absent or an audit event's).
_EVENT_SHAPE: Final[Mapping[str, Any]] = {
    "auditID": Required[Annotated[str, msgspec.Meta(min_length=1)]],
    "stage": Required[str],
    "kind": Literal["Event"],
    "apiVersion": Literal[tuple(sorted(AUDIT_API_VERSIONS))],
}


def _shape(trie: _Trie, names: Iterator[int], top: Mapping[str, Any] | None = None) -> Any:
    """The msgspec type that decodes ``trie``'s paths: a TypedDict per object on the way;
    ``top`` types some keys of the outermost one instead."""
    fields: dict[str, Any] = dict(top or {})
    for key, below in trie.items():
        if key in fields:
            continue
        if below is None:
            fields[key] = Any
        else:
            inner = _shape(below, names)
            # The view crosses arrays and finds nothing in scalars: both may stand on a path.
            item = inner | str | int | float | bool | None
            fields[key] = item | types.GenericAlias(list, (item,))
    return _typed_dict(f"Projected{next(names)}", fields, total=False)


#: ``TypedDict`` called with a runtime name and fields (a form type checkers do not follow).
_typed_dict: Any = TypedDict


#: What :meth:`Prefilter.sift` answers for a block: the lines kept, each as (index among the
#: block's complete lines, start, stop); how many complete lines the block holds; and where
#: its incomplete rest starts.
Sifted = tuple[list[tuple[int, int, int]], int, int]


class Prefilter(Protocol):
    """The native screen (``rules.prescreen``): false for a line only when it is one audit
    event that the screen's ``wanted`` would turn away."""

    def __call__(self, line: bytes, /) -> bool: ...

    def sift(self, data: bytes, max_line: int, screen: bool = True, /) -> Sifted:
        """The complete lines of ``data`` (each with its newline) a reader must still read:
        those the screen cannot turn away (all of them when ``screen`` is false), and those
        holding more than ``max_line`` bytes before their newline."""
        ...


class Screen(NamedTuple):
    """What a reader may decide on a projection of each line: an event for which ``wanted``
    is false goes no further (it is counted, never decoded whole); the others are decoded
    whole and handed on. ``projection`` is an event projection (``event=True``): what it
    decodes is one audit event, and ``wanted`` sees it.

    ``prefilter``, when there is one, sees each line instead of the projection (``scan`` hands
    it a block of lines at a time, the live log line by line): where it is false, the line is
    one audit event that ``wanted`` would turn away, and it is counted without being decoded;
    every other line is decoded whole (the native screen, ``rules.prescreen``)."""

    projection: Projection
    wanted: Callable[[dict[str, Any]], bool]
    prefilter: Prefilter | None = None


def event_time(event: Mapping[str, Any]) -> datetime.datetime | None:
    """When the event happened, as an aware datetime (UTC when the text has no offset).

    The first of :data:`TIME_KEYS` that holds an ISO 8601 / RFC 3339 time; None when none
    does.
    """
    for key in TIME_KEYS:
        value = event.get(key)
        if isinstance(value, str):
            try:
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    return None
