"""The Elastic document of a raw Kubernetes audit event, read lazily.

Fed by: raw audit events (the dict decoded from one JSON line, ``source.decode``). Feeds: the
KQL compiler (through :class:`AuditEventAccess`, a ``documents.FieldAccess``) and, for golden
tests and debugging only, :func:`document`, which builds the whole document.

Elastic's Kubernetes integration (``audit_logs`` data stream) indexes one event as:
- ``kubernetes.audit.<raw path>`` for every top-level field, except that
  ``requestObject.metadata`` and ``responseObject.metadata`` are removed and the dots of
  annotation KEYS become ``_`` (``authorization.k8s.io/decision`` ->
  ``authorization_k8s_io/decision``); no other map is de-dotted;
- ``event.action`` (verb), ``event.outcome`` (``success``/``failure`` from the decision
  ``allow``/``forbid``, exactly), ``user.name``, ``user.id``, ``user_agent.original``,
  ``source.ip`` and ``client.ip`` (every address, or nothing if one is not an IP),
  ``related.ip``, ``related.user``, ``orchestrator.*`` (``api_version`` is the EVENT's
  ``apiVersion``, as in Elastic's pipeline test output, not ``objectRef.apiVersion``);
- constants: ``event.kind``, ``event.dataset``, ``data_stream.dataset``,
  ``data_stream.type``, ``orchestrator.type``;
- empty values (``null``, ``""``, ``{}``, ``[]``) removed everywhere.

Nothing is copied per event: each field compiles to a closure that reads the raw event in
place, with every path split and every candidate key computed when the query is compiled.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
from collections.abc import Callable, Mapping
from typing import Any, Final

from audithound.kql import documents
from audithound.normalize import catalogue

AUDIT: Final = "kubernetes.audit"
DATASET: Final = "kubernetes.audit_logs"
DECISION: Final = "authorization.k8s.io/decision"

#: Raw top-level objects whose ``metadata`` Elastic's pipeline removes.
_WITHOUT_METADATA: Final = frozenset({"requestObject", "responseObject"})

#: Fields with the same values in every document; ``constant()`` returns them so that the
#: compiler folds conditions on them away.
CONSTANTS: Final[Mapping[str, tuple[str, ...]]] = {
    "event.kind": ("event",),
    "event.dataset": (DATASET,),
    "data_stream.dataset": (DATASET,),
    "data_stream.type": ("logs",),
    "orchestrator.type": ("kubernetes",),
}

#: An annotation key of the document with more ``_`` than this is looked up by scanning the
#: raw keys: trying every raw candidate would cost 2**n dictionary lookups per event.
MAX_CANDIDATE_UNDERSCORES: Final = 5

#: Distinct ``sourceIPs`` strings whose validity one compiled field remembers. Audit logs
#: repeat a small set of client addresses, and ``ipaddress`` parsing costs a microsecond.
IP_MEMO_SIZE: Final = 4096

_MISSING: Final = object()


def _copy(*path: str) -> documents.Getter:
    """Leaves at a literal raw path, as an ingest ``set copy_from`` reads it (no dotted keys)."""
    *parents, last = path
    if len(path) <= 2:
        # The derived fields are one or two keys deep: no loop over the parents.
        return _copy_short(parents[0] if parents else None, last)

    def get(raw: Any) -> list[Any]:
        node = raw
        for key in parents:
            node = node.get(key) if type(node) is dict else None
        value = node.get(last) if type(node) is dict else None
        if type(value) is str:
            return [value] if value else []
        out: list[Any] = []
        documents.add_leaves(value, out)
        return out

    return get


def _copy_short(parent: str | None, last: str) -> documents.Getter:
    """:func:`_copy` of ``last`` or ``parent.last``."""

    def get(raw: Any) -> list[Any]:
        node = raw if parent is None or type(raw) is not dict else raw.get(parent)
        value = node.get(last) if type(node) is dict else None
        if type(value) is str:
            return [value] if value else []
        if value is None:
            return []
        out: list[Any] = []
        documents.add_leaves(value, out)
        return out

    return get


def _outcome(raw: Any) -> list[Any]:
    annotations = raw.get("annotations")
    if type(annotations) is dict:
        decision = annotations.get(DECISION)
        if decision == "allow":
            return ["success"]
        if decision == "forbid":
            return ["failure"]
    return []


def _is_ip(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _source_ips() -> documents.Getter:
    """``sourceIPs`` converted to the ``ip`` type: all of them, or none if one is invalid.

    Elastic's ``convert`` processor fails on the whole array when one entry is not an
    address and ignores the failure, so the field is then absent. The strings are kept as
    written (the processor validates, it does not rewrite).
    """
    memo: dict[str, bool] = {}

    def get(raw: Any) -> list[Any]:
        ips = raw.get("sourceIPs")
        if type(ips) is str:
            ips = [ips]
        elif type(ips) is not list or not ips:
            return []
        for ip in ips:
            valid = memo.get(ip) if type(ip) is str else False
            if valid is None:
                valid = _is_ip(ip)
                if len(memo) >= IP_MEMO_SIZE:
                    memo.clear()
                memo[ip] = valid
            if not valid:
                return []
        return list(ips)

    return get


def _related_ip() -> documents.Getter:
    source_ip = _source_ips()

    def get(raw: Any) -> list[Any]:
        return list(dict.fromkeys(source_ip(raw)))

    return get


#: A path into the raw event: keys from its top (see :meth:`AuditEventAccess.raw_paths`).
RawPath = tuple[str, ...]

#: The derived fields that Elastic's pipeline copies from one literal raw path (``set
#: copy_from``: no dotted keys); the others are converted or combined (see :func:`_derived`).
COPIED: Final[Mapping[str, RawPath]] = {
    "event.action": ("verb",),
    "user.name": ("user", "username"),
    "user.id": ("user", "uid"),
    "user_agent.original": ("userAgent",),
    "orchestrator.api_version": ("apiVersion",),
    "orchestrator.namespace": ("objectRef", "namespace"),
    "orchestrator.resource.name": ("objectRef", "name"),
    "orchestrator.resource.type": ("objectRef", "resource"),
}

_user_id = _copy(*COPIED["user.id"])
_user_name = _copy(*COPIED["user.name"])


def _related_user(raw: Any) -> list[Any]:
    # Elastic's pipeline test output lists the uid and the user name once each, sorted.
    return sorted(set(_user_id(raw) + _user_name(raw)), key=str)


def _derived() -> dict[str, tuple[documents.Getter, bool]]:
    """Fields that Elastic's pipeline adds from the raw event: getter and whether a list."""
    copied = {name: (_copy(*path), False) for name, path in COPIED.items()}
    return {
        "event.action": copied["event.action"],
        "event.outcome": (_outcome, False),
        "user.name": (_user_name, False),
        "user.id": (_user_id, False),
        "user_agent.original": copied["user_agent.original"],
        "source.ip": (_source_ips(), True),
        "client.ip": (_source_ips(), True),
        "related.ip": (_related_ip(), True),
        "related.user": (_related_user, True),
        "orchestrator.api_version": copied["orchestrator.api_version"],
        "orchestrator.namespace": copied["orchestrator.namespace"],
        "orchestrator.resource.name": copied["orchestrator.resource.name"],
        "orchestrator.resource.type": copied["orchestrator.resource.type"],
    }


#: Every field outside ``kubernetes.audit`` that the view produces.
DERIVED_FIELDS: Final = tuple(_derived())

#: The raw paths each derived field is made from (see :func:`_derived`).
_DERIVED_PATHS: Final[Mapping[str, frozenset[RawPath]]] = {
    **{name: frozenset({path}) for name, path in COPIED.items()},
    "event.outcome": frozenset({("annotations", DECISION)}),
    "source.ip": frozenset({("sourceIPs",)}),
    "client.ip": frozenset({("sourceIPs",)}),
    "related.ip": frozenset({("sourceIPs",)}),
    "related.user": frozenset({COPIED["user.name"], COPIED["user.id"]}),
}

#: Segments past which a path's dotted spellings (2**(n-1) of them) are not listed: its
#: first key is read whole instead.
MAX_SPELLED_SEGMENTS: Final = 7


def _spellings(segments: list[str]) -> list[RawPath]:
    """Every way to read ``segments`` through keys: each run of segments may be one dotted
    key (``a.b.c`` is ``a``/``b``/``c``, ``a.b``/``c``, ``a``/``b.c`` and ``a.b.c``)."""
    if not segments:
        return [()]
    return [
        (".".join(segments[:cut]), *rest)
        for cut in range(1, len(segments) + 1)
        for rest in _spellings(segments[cut:])
    ]


def _audit_paths(segments: list[str]) -> frozenset[RawPath]:
    """The raw paths of ``kubernetes.audit.<segments>`` (see :func:`_audit_field`)."""
    head, rest = segments[0], segments[1:]
    if head == "annotations" and rest:
        # The raw keys that de-dot to the key (the view finds them by lookup), unless there
        # are too many to list (it then goes through every key).
        candidates = annotation_candidates(rest[0])
        if candidates is None or len(rest) > MAX_SPELLED_SEGMENTS:
            return frozenset({(head,)})
        below = _spellings(rest[1:])
        return frozenset((head, key, *spelled) for key in candidates for spelled in below)
    if head == "annotations" or (head in _WITHOUT_METADATA and not rest):
        return frozenset({(head,)})
    if head in _WITHOUT_METADATA:
        if len(rest) > MAX_SPELLED_SEGMENTS:
            return frozenset({(head,)})
        return frozenset((head, *spelled) for spelled in _spellings(rest))
    if len(segments) > MAX_SPELLED_SEGMENTS:
        return frozenset((".".join(segments[:cut]),) for cut in range(1, len(segments) + 1))
    return frozenset(_spellings(segments))


def _objects_of(fields: tuple[str, ...]) -> frozenset[str]:
    return frozenset(
        ".".join(parts[:i])
        for parts in (field.split(".") for field in fields)
        for i in range(1, len(parts))
    )


#: Objects holding the derived and constant fields (``event``, ``orchestrator.resource``...).
_DERIVED_OBJECTS: Final = _objects_of((*DERIVED_FIELDS, *CONSTANTS))


def annotation_candidates(key: str) -> tuple[str, ...] | None:
    """The raw annotation keys that de-dot to ``key``, smallest first; None if too many.

    Each ``_`` of the document key was a ``.`` or a ``_`` in the raw key. When several raw
    keys de-dot to the same key (``a.b`` and ``a_b``), Elastic keeps one of them in hash
    order; this view keeps the lexicographically smallest one (dots sort before ``_``).
    """
    parts = key.split("_")
    if len(parts) - 1 > MAX_CANDIDATE_UNDERSCORES:
        return None
    return tuple(
        "".join(itertools.chain.from_iterable(zip(parts, (*joints, ""), strict=True)))
        for joints in itertools.product((".", "_"), repeat=len(parts) - 1)
    )


def _annotation(key: str) -> Callable[[Any], Any]:
    """The raw value behind the de-dotted annotation ``key`` of an event, or ``_MISSING``."""
    candidates = annotation_candidates(key)
    if candidates is not None and len(candidates) == 1:
        (only,) = candidates

        def single(raw: Any) -> Any:
            annotations = raw.get("annotations")
            if type(annotations) is dict:
                return annotations.get(only, _MISSING)
            return _MISSING

        return single

    if candidates is not None:
        first, *others = candidates
        tried = tuple(others)
        any_other = frozenset(others)

        def some(raw: Any) -> Any:
            annotations = raw.get("annotations")
            if type(annotations) is dict:
                # The all-dots key is the one API servers write; the others are tried only
                # when one of them is there (one C-level pass over the few keys of the map).
                value = annotations.get(first, _MISSING)
                if value is not _MISSING or any_other.isdisjoint(annotations):
                    return value
                for candidate in tried:
                    value = annotations.get(candidate, _MISSING)
                    if value is not _MISSING:
                        return value
            return _MISSING

        return some

    def scan(raw: Any) -> Any:
        annotations = raw.get("annotations")
        if type(annotations) is not dict:
            return _MISSING
        matches = [name for name in annotations if name.replace(".", "_") == key]
        return annotations[min(matches)] if matches else _MISSING

    return scan


def dedot_annotations(annotations: Mapping[str, Any]) -> dict[str, Any]:
    """The annotations map as Elastic stores it, under the same collision rule as the view."""
    out: dict[str, Any] = {}
    for name in sorted(annotations):
        out.setdefault(name.replace(".", "_"), annotations[name])
    return out


def _without_metadata(node: Any) -> Any:
    if type(node) is dict and "metadata" in node:
        return {key: value for key, value in node.items() if key != "metadata"}
    return node


def _has_leaf_without_metadata(node: Any) -> bool:
    if type(node) is dict:
        return any(documents.has_leaf(v) for k, v in node.items() if k != "metadata")
    return documents.has_leaf(node)


def _add_leaves_without_metadata(node: Any, out: list[Any]) -> None:
    if type(node) is dict:
        for key, value in node.items():
            if key != "metadata":
                documents.add_all_leaves(value, out)
    else:
        documents.add_all_leaves(node, out)


def _audit_leaves(raw: Any, out: list[Any]) -> None:
    for key, value in raw.items():
        if key in _WITHOUT_METADATA:
            _add_leaves_without_metadata(value, out)
        else:
            documents.add_all_leaves(value, out)


def _audit_present(raw: Any) -> bool:
    for key, value in raw.items():
        if key in _WITHOUT_METADATA:
            if _has_leaf_without_metadata(value):
                return True
        elif documents.has_leaf(value):
            return True
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class _Compiled:
    """One field compiled: the closures behind each ``FieldAccess`` method."""

    values: documents.Getter
    present: documents.Presence
    objects: documents.Elements
    #: The access inside each object; None means the objects are the event itself, seen
    #: from within the field (it is no array, and the view's rules still apply below it).
    inner: documents.FieldAccess | None
    subtree: documents.Getter
    constant: list[Any] | None = None


def _nothing(doc: Any) -> list[Any]:
    return []


def _never(doc: Any) -> bool:
    return False


_JSON = documents.JsonFieldAccess()
_ABSENT = _Compiled(_nothing, _never, _nothing, _JSON, _nothing, constant=[])


def _json(nodes: Callable[[Any], list[Any]]) -> _Compiled:
    """A field below which plain JSON semantics apply, found by ``nodes``."""

    def subtree(doc: Any) -> list[Any]:
        out: list[Any] = []
        for node in nodes(doc):
            documents.add_all_leaves(node, out)
        return out

    return _Compiled(
        documents.leaves_of(nodes),
        documents.presence_of(nodes),
        documents.objects_of(nodes),
        _JSON,
        subtree,
    )


def _object(present: documents.Presence, subtree: documents.Getter) -> _Compiled:
    """An object of the document that is not an array: one element, the event itself."""

    def objects(doc: Any) -> list[Any]:
        return [doc] if present(doc) else []

    return _Compiled(_nothing, present, objects, None, subtree)


class AuditEventAccess:
    """``documents.FieldAccess`` over raw audit events, answering as Elastic's document would.

    Holds no per-event state: one instance serves every rule. Unknown fields (outside
    ``kubernetes.audit`` and the derived fields) never have values, so ``constant()``
    returns ``[]`` for them.
    """

    def values(self, field: str) -> documents.Getter:
        return self._compile(field).values

    def present(self, field: str) -> documents.Presence:
        return self._compile(field).present

    def elements(self, field: str) -> tuple[documents.Elements, documents.FieldAccess]:
        compiled = self._compile(field)
        return compiled.objects, compiled.inner or _Within(self, field)

    def constant(self, field: str) -> list[Any] | None:
        return self._compile(field).constant

    def everything(self) -> documents.Getter:
        return self._compile("").subtree

    def kind(self, field: str) -> str | None:
        """The field's type in Elastic's mapping (the catalogue), None outside it."""
        entry = catalogue.lookup(field)
        return None if entry is None or entry.type == "object" else entry.type

    def raw_paths(self, field: str) -> frozenset[RawPath] | None:
        """The paths of the raw event that ``field``'s closures can read; None: all of it.

        Each path is a sequence of keys from the top of the event, and what is at its end is
        read whole. An event decoded with only these paths answers every closure of
        ``field`` as the whole event does: that is what lets a reader decode no more than
        the rules read (``source.decode.Projection``). A path reaches dotted keys too
        (``objectRef.resource`` is also found under a key of that name, at any depth), so
        every way of joining its segments with dots counts; the derived fields read the
        paths their ingest processors copy; an annotation is read under every raw key that
        de-dots to it.
        """
        if field in CONSTANTS:
            return frozenset()
        if field in _DERIVED_PATHS:
            return _DERIVED_PATHS[field]
        if field.startswith(AUDIT + "."):
            return _audit_paths(documents.split_field(field[len(AUDIT) + 1 :]))
        if field in _DERIVED_OBJECTS:
            prefix = field + "."
            return frozenset().union(
                *(paths for name, paths in _DERIVED_PATHS.items() if name.startswith(prefix))
            )
        if field in ("", "kubernetes", AUDIT):
            return None  # the whole event
        return frozenset()  # no audit document has it: never read

    def _compile(self, field: str) -> _Compiled:
        if field in CONSTANTS:
            return _constant(CONSTANTS[field])
        derived = _derived().get(field)
        if derived is not None:
            return _derived_field(derived[0])
        if field == AUDIT or field == "kubernetes":
            return _object(_audit_present, _subtree(_audit_leaves))
        if field.startswith(AUDIT + "."):
            return _audit_field(documents.split_field(field[len(AUDIT) + 1 :]))
        if field == "":
            return _whole_document()
        if field in _DERIVED_OBJECTS:
            return self._derived_object(field)
        return _ABSENT

    def _derived_object(self, field: str) -> _Compiled:
        prefix = field + "."
        children = [
            self._compile(name) for name in (*DERIVED_FIELDS, *CONSTANTS) if name.startswith(prefix)
        ]
        presents = tuple(child.present for child in children)
        getters = tuple(child.values for child in children)

        def present(doc: Any) -> bool:
            return any(test(doc) for test in presents)

        def subtree(doc: Any) -> list[Any]:
            return [value for get in getters for value in get(doc)]

        return _object(present, subtree)


def _subtree(fill: Callable[[Any, list[Any]], None]) -> documents.Getter:
    def get(doc: Any) -> list[Any]:
        out: list[Any] = []
        fill(doc, out)
        return out

    return get


def _constant(values: tuple[str, ...]) -> _Compiled:
    def get(doc: Any) -> list[Any]:
        return list(values)

    def present(doc: Any) -> bool:
        return True

    return _Compiled(get, present, _nothing, _JSON, get, constant=list(values))


def _derived_field(getter: documents.Getter) -> _Compiled:
    def present(doc: Any) -> bool:
        return bool(getter(doc))

    # Derived fields hold scalars only: they have no objects to iterate.
    return _Compiled(getter, present, _nothing, _JSON, getter)


def _whole_document() -> _Compiled:
    getters = tuple(getter for getter, _ in _derived().values())
    constants = [value for values in CONSTANTS.values() for value in values]

    def subtree(doc: Any) -> list[Any]:
        out: list[Any] = []
        _audit_leaves(doc, out)
        for get in getters:
            out.extend(get(doc))
        out.extend(constants)
        return out

    return _Compiled(_nothing, _audit_present, _nothing, _JSON, subtree)


def _audit_field(segments: list[str]) -> _Compiled:
    """A field ``kubernetes.audit.<segments>``."""
    head, rest = segments[0], segments[1:]
    if head == "annotations":
        if not rest:
            return _annotations_object()
        return _annotation_field(rest[0], rest[1:])
    if head in _WITHOUT_METADATA:
        if not rest:
            return _metadata_free_object(head)
        return _json(_below_metadata_free(head, rest))
    return dataclasses.replace(
        _json(documents.resolve(segments)),
        values=documents.values_at(segments),
        present=documents.presence_at(segments),
    )


def _annotations_object() -> _Compiled:
    """``annotations`` itself: its keys are de-dotted, so a nested query keeps the view."""
    compiled = _json(documents.resolve(["annotations"]))
    present = compiled.present

    def objects(raw: Any) -> list[Any]:
        return [raw] if type(raw.get("annotations")) is dict and present(raw) else []

    return dataclasses.replace(compiled, objects=objects, inner=None)


def _annotation_field(key: str, rest: list[str]) -> _Compiled:
    value_of = _annotation(key)
    if not rest:
        return _annotation_value(key, value_of)

    below = documents.resolve(rest)

    def nested(raw: Any) -> list[Any]:
        value = value_of(raw)
        return [] if value is _MISSING or value is None else below(value)

    return _json(nested)


def _annotation_value(key: str, value_of: Callable[[Any], Any]) -> _Compiled:
    """The annotation ``key`` itself. Its ``values`` and ``present`` run once per event for a
    decision or a Pod Security annotation, so they look up the all-dots raw key inline (the
    one API servers write) and call ``value_of`` only when another spelling is there."""

    def general_get(raw: Any) -> list[Any]:
        value = value_of(raw)
        if type(value) is str:
            return [value] if value else []
        out: list[Any] = []
        if value is not _MISSING:
            documents.add_leaves(value, out)
        return out

    def general_present(raw: Any) -> bool:
        value = value_of(raw)
        if value is _MISSING or value is None:
            return False
        if type(value) is str:
            return bool(value)
        return documents.has_leaf(value)

    def nodes(raw: Any) -> list[Any]:
        value = value_of(raw)
        return [] if value is _MISSING or value is None else [value]

    compiled = _json(nodes)
    candidates = annotation_candidates(key)
    if candidates is None:
        return dataclasses.replace(compiled, values=general_get, present=general_present)
    first = candidates[0]
    others = frozenset(candidates[1:])

    def get(raw: Any) -> list[Any]:
        annotations = raw.get("annotations")
        if type(annotations) is dict:
            value = annotations.get(first, _MISSING)
            if type(value) is str:
                return [value] if value else []
            if value is _MISSING and others.isdisjoint(annotations):
                return []
        return general_get(raw)

    def present(raw: Any) -> bool:
        annotations = raw.get("annotations")
        if type(annotations) is dict:
            value = annotations.get(first, _MISSING)
            if type(value) is str:
                return bool(value)
            if value is _MISSING and others.isdisjoint(annotations):
                return False
        return general_present(raw)

    return dataclasses.replace(compiled, values=get, present=present)


def _metadata_free_object(head: str) -> _Compiled:
    """``requestObject`` or ``responseObject`` itself, without its ``metadata``."""

    def present(raw: Any) -> bool:
        return _has_leaf_without_metadata(raw.get(head))

    def values(raw: Any) -> list[Any]:
        out: list[Any] = []
        documents.add_leaves(raw.get(head), out)
        return out

    def subtree(raw: Any) -> list[Any]:
        out: list[Any] = []
        _add_leaves_without_metadata(raw.get(head), out)
        return out

    def objects(raw: Any) -> list[Any]:
        return [raw] if type(raw.get(head)) is dict and present(raw) else []

    return _Compiled(values, present, objects, None, subtree)


def _below_metadata_free(head: str, rest: list[str]) -> Callable[[Any], list[Any]]:
    """Nodes at ``<head>.<rest>`` where the key ``metadata`` of ``head`` is gone.

    Only the literal key ``metadata`` of an object is removed (as the ingest ``remove``
    processor does): a dotted key such as ``"metadata.name"`` would still be indexed, so it
    stays reachable; and when ``head`` is no object, the processor finds nothing to remove.
    """
    if rest[0] != "metadata":
        below = documents.resolve(rest)

        def nodes(raw: Any) -> list[Any]:
            node = raw.get(head)
            return [] if node is None else below(node)

        return nodes

    dotted = tuple(
        (".".join(rest[: i + 1]), documents.resolve(rest[i + 1 :]) if i + 1 < len(rest) else None)
        for i in range(1, len(rest))
    )

    kept = documents.resolve(rest)

    def through_dotted(raw: Any) -> list[Any]:
        node = raw.get(head)
        if type(node) is not dict:
            return [] if node is None else kept(node)
        out: list[Any] = []
        for key, then in dotted:
            found = node.get(key)
            if found is not None:
                out.extend([found] if then is None else then(found))
        return out

    return through_dotted


class _Within:
    """The access inside an object that is no array element: the event itself, prefixed.

    The nested form ``kubernetes.audit.requestObject:{ spec.hostPID:true }`` sees one
    element, and must keep the view's rules (dropped metadata, de-dotted annotations)
    below it, so it delegates to the view with the full path.
    """

    def __init__(self, outer: AuditEventAccess, prefix: str) -> None:
        self._outer = outer
        self._prefix = prefix + "."

    def values(self, field: str) -> documents.Getter:
        return self._outer.values(self._prefix + field)

    def present(self, field: str) -> documents.Presence:
        return self._outer.present(self._prefix + field)

    def elements(self, field: str) -> tuple[documents.Elements, documents.FieldAccess]:
        return self._outer.elements(self._prefix + field)

    def constant(self, field: str) -> list[Any] | None:
        return self._outer.constant(self._prefix + field)

    def everything(self) -> documents.Getter:
        return self._outer._compile(self._prefix[:-1]).subtree

    def kind(self, field: str) -> str | None:
        return self._outer.kind(self._prefix + field)


def document(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The full Elastic document of ``raw`` as nested dicts (golden tests, debugging only).

    Built from the same getters as :class:`AuditEventAccess`; dotted keys of the raw event
    stay dotted keys here, as they do in Elasticsearch's ``_source``.
    """
    audit: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "annotations" and type(value) is dict:
            value = dedot_annotations(value)
        elif key in _WITHOUT_METADATA:
            value = _without_metadata(value)
        audit[key] = value
    doc: dict[str, Any] = {"kubernetes": {"audit": audit}}
    for field, (getter, is_list) in _derived().items():
        found = getter(raw)
        if found:
            _put(doc, field, found if is_list or len(found) > 1 else found[0])
    for field, values in CONSTANTS.items():
        _put(doc, field, values[0] if len(values) == 1 else list(values))
    pruned = _prune(doc)
    assert isinstance(pruned, dict)
    return pruned


def _put(doc: dict[str, Any], field: str, value: Any) -> None:
    *parents, last = field.split(".")
    for name in parents:
        doc = doc.setdefault(name, {})
    doc[last] = value


def _prune(node: Any) -> Any:
    """``node`` without its empty values, recursively (Elastic's empty-value removal)."""
    if isinstance(node, dict):
        kept = {key: _prune(value) for key, value in node.items()}
        return {key: value for key, value in kept.items() if not documents.is_empty(value)}
    if isinstance(node, list):
        kept_items = [_prune(item) for item in node]
        return [item for item in kept_items if not documents.is_empty(item)]
    return node
