"""How a KQL query sees a document: the way Elasticsearch indexes a JSON ``_source``.

Fed by: whatever builds documents (plain JSON objects, or the audit-event view in
``audithound.normalize``). Feeds: the KQL compiler, which asks a :class:`FieldAccess` once per
field when a query is compiled and then calls the returned closures once per document.

Elasticsearch semantics reproduced here:
- arrays are flattened at every level: a field's values are all scalars found under it;
- keys containing dots are the same as nested objects (``{"a.b": 1}`` is ``a.b``), so a
  dotted field path may cross a dotted key;
- empty values (``None``, ``""``, ``{}``, ``[]``) are removed before indexing, so such a
  field does not exist.

The closures run once per document and per field, so they test exact types first
(``type(x) is str``: JSON decoders build exact ``str``/``dict``/``list``) and fall back to
``isinstance`` only for the rare other cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

#: Leaf values of one field in one document: ``str``, ``int``, ``float`` or ``bool``.
Getter = Callable[[Any], list[Any]]
Presence = Callable[[Any], bool]
Elements = Callable[[Any], list[Any]]


class FieldAccess(Protocol):
    """Compiles field paths to closures over one kind of document."""

    def values(self, field: str) -> Getter:
        """Leaf scalars at ``field``, arrays flattened, empty values removed, objects skipped."""
        ...

    def present(self, field: str) -> Presence:
        """True when ``field`` holds a non-empty scalar, or an object with one below it."""
        ...

    def elements(self, field: str) -> tuple[Elements, FieldAccess]:
        """The objects at ``field`` (one per array element) and the access inside each.

        Used by the nested form ``field:{ ... }``, which is evaluated per element.
        """
        ...

    def constant(self, field: str) -> list[Any] | None:
        """The values ``field`` has in every document, or None when they vary.

        Lets the compiler fold conditions on constant fields (``event.dataset``) away.
        """
        ...

    def everything(self) -> Getter:
        """Every leaf scalar in the document (for free-text terms)."""
        ...

    def kind(self, field: str) -> str | None:
        """The Elasticsearch mapping type of ``field`` (``ip``, ``date``, ``integer``,
        ``keyword`` ...), or None when the documents do not say: the compiler then lets each
        value's JSON type decide (see :mod:`audithound.kql.compiler`)."""
        ...


def is_empty(value: Any) -> bool:
    """Whether Elasticsearch's ingest would drop ``value`` (``0`` and ``False`` stay)."""
    return value is None or value == "" or value == {} or value == []


def add_leaves(node: Any, out: list[Any]) -> None:
    """Append the non-empty scalars of ``node`` to ``out``, crossing arrays, skipping objects."""
    kind = type(node)
    if kind is str:
        if node:
            out.append(node)
    elif kind is list:
        for item in node:
            add_leaves(item, out)
    elif kind is dict or node is None:
        return
    elif isinstance(node, list):
        for item in node:
            add_leaves(item, out)
    elif not isinstance(node, dict) and not is_empty(node):
        out.append(node)


def add_all_leaves(node: Any, out: list[Any]) -> None:
    """Append every non-empty scalar below ``node``, objects and arrays alike."""
    if isinstance(node, dict):
        for item in node.values():
            add_all_leaves(item, out)
    elif isinstance(node, list):
        for item in node:
            add_all_leaves(item, out)
    elif not is_empty(node):
        out.append(node)


def has_leaf(node: Any) -> bool:
    """Whether ``node`` is, or holds somewhere below it, a non-empty scalar."""
    kind = type(node)
    if kind is str:
        return bool(node)
    if kind is dict:
        return any(has_leaf(item) for item in node.values())
    if kind is list:
        return any(has_leaf(item) for item in node)
    if isinstance(node, dict):
        return any(has_leaf(item) for item in node.values())
    if isinstance(node, list):
        return any(has_leaf(item) for item in node)
    return not is_empty(node)


def add_objects(node: Any, out: list[Any]) -> None:
    """Append the objects of ``node`` to ``out``: itself, or each object of an array.

    An object that holds only empty values is left out: Elasticsearch's empty-value removal
    deletes it, so no nested query ``f:{ ... }`` (not even ``f:{ not a:x }``) sees it.
    """
    if isinstance(node, dict):
        if has_leaf(node):
            out.append(node)
    elif isinstance(node, list):
        for item in node:
            add_objects(item, out)


def _key_plan(segments: Sequence[str]) -> tuple[tuple[tuple[str, int], ...], ...]:
    """For each depth, the keys that may continue the path there and the depth they reach.

    Computed once per field so that the per-document walk does no string work: at depth
    ``i`` the key ``a`` (depth ``i+1``) is tried first, then dotted keys ``a.b`` (``i+2``) ...
    """
    return tuple(
        tuple((".".join(segments[i : j + 1]), j + 1) for j in range(i, len(segments)))
        for i in range(len(segments))
    )


def resolve(segments: Sequence[str]) -> Callable[[Any], list[Any]]:
    """Compile a path to a function returning the raw nodes found at it (arrays crossed)."""
    plan = _key_plan(segments)
    depth = len(segments)

    def walk(node: Any, i: int, out: list[Any]) -> None:
        if i == depth:
            out.append(node)
        elif isinstance(node, dict):
            for key, reached in plan[i]:
                found = node.get(key)
                if found is not None:
                    walk(found, reached, out)
        elif isinstance(node, list):
            for item in node:
                walk(item, i, out)

    def many(node: Any) -> list[Any]:
        out: list[Any] = []
        walk(node, 0, out)
        return out

    if depth == 1:
        key = segments[0]

        def one(node: Any) -> list[Any]:
            if type(node) is dict:
                found = node.get(key)
                return [] if found is None else [found]
            return many(node)

        return one

    if depth == 2:
        first, second = segments
        joined = plan[0][1][0]

        # The common case (an object holding an object) without the generic walk; dotted
        # keys (``{"a.b": ...}``) and arrays still go through it.
        def two(node: Any) -> list[Any]:
            if type(node) is not dict:
                return many(node)
            out: list[Any] = []
            inner = node.get(first)
            if type(inner) is dict:
                found = inner.get(second)
                if found is not None:
                    out.append(found)
            elif inner is not None:
                walk(inner, 1, out)
            found = node.get(joined)
            if found is not None:
                out.append(found)
            return out

        return two

    return many


def split_field(field: str) -> list[str]:
    """Field path segments; a field is never empty and never has empty segments."""
    return field.split(".")


def values_at(segments: Sequence[str]) -> Getter:
    """The values getter of a path: :func:`leaves_of` over :func:`resolve`, sped up.

    Most fields read one string one or two objects deep (``verb``, ``user.username``):
    those take a short path that builds no intermediate list; anything else (arrays,
    dotted keys, objects) falls back to the general walk.
    """
    general = leaves_of(resolve(segments))
    if len(segments) == 1:
        key = segments[0]

        def one(doc: Any) -> list[Any]:
            if type(doc) is dict:
                found = doc.get(key)
                if type(found) is str:
                    return [found] if found else []
                if found is None:
                    return []
                out: list[Any] = []
                add_leaves(found, out)
                return out
            return general(doc)

        return one

    if len(segments) == 2:
        first, second = segments
        joined = ".".join(segments)

        def two(doc: Any) -> list[Any]:
            if type(doc) is dict:
                inner = doc.get(first)
                if type(inner) is dict and joined not in doc:
                    found = inner.get(second)
                    if type(found) is str:
                        return [found] if found else []
                    if found is None:
                        return []
                    out: list[Any] = []
                    add_leaves(found, out)
                    return out
                elif inner is None and joined not in doc:
                    return []
            return general(doc)

        return two

    return general


def presence_at(segments: Sequence[str]) -> Presence:
    """The presence test of a path: :func:`presence_of` over :func:`resolve`, sped up.

    As :func:`values_at` does for values: a path one or two objects deep whose value is a
    string or missing is answered without building the list of nodes.
    """
    general = presence_of(resolve(segments))
    if len(segments) == 1:
        key = segments[0]

        def one(doc: Any) -> bool:
            if type(doc) is dict:
                found = doc.get(key)
                if found is None:
                    return False
                if type(found) is str:
                    return bool(found)
                return has_leaf(found)
            return general(doc)

        return one

    if len(segments) == 2:
        first, second = segments
        joined = ".".join(segments)

        def two(doc: Any) -> bool:
            if type(doc) is dict and joined not in doc:
                inner = doc.get(first)
                if inner is None:
                    return False
                if type(inner) is dict:
                    found = inner.get(second)
                    if found is None:
                        return False
                    if type(found) is str:
                        return bool(found)
                    return has_leaf(found)
            return general(doc)

        return two

    return general


def leaves_of(nodes: Callable[[Any], list[Any]]) -> Getter:
    """The values getter over the raw nodes that ``nodes`` finds."""

    def get(doc: Any) -> list[Any]:
        out: list[Any] = []
        for node in nodes(doc):
            if type(node) is str:
                if node:
                    out.append(node)
            else:
                add_leaves(node, out)
        return out

    return get


def presence_of(nodes: Callable[[Any], list[Any]]) -> Presence:
    """The presence test over the raw nodes that ``nodes`` finds."""

    def present(doc: Any) -> bool:
        # A plain loop: ``any()`` over a generator costs more on the per-event path.
        for node in nodes(doc):  # noqa: SIM110
            if has_leaf(node):
                return True
        return False

    return present


def objects_of(nodes: Callable[[Any], list[Any]]) -> Elements:
    """The objects (one per array element) among the raw nodes that ``nodes`` finds."""

    def objects(doc: Any) -> list[Any]:
        out: list[Any] = []
        for node in nodes(doc):
            add_objects(node, out)
        return out

    return objects


def all_leaves(doc: Any) -> list[Any]:
    """Every non-empty scalar in ``doc``."""
    out: list[Any] = []
    add_all_leaves(doc, out)
    return out


class JsonFieldAccess:
    """:class:`FieldAccess` over plain JSON objects, as Elasticsearch indexes them."""

    def values(self, field: str) -> Getter:
        return values_at(split_field(field))

    def present(self, field: str) -> Presence:
        return presence_at(split_field(field))

    def elements(self, field: str) -> tuple[Elements, FieldAccess]:
        return objects_of(resolve(split_field(field))), self

    def constant(self, field: str) -> list[Any] | None:
        return None

    def everything(self) -> Getter:
        return all_leaves

    def kind(self, field: str) -> str | None:
        return None
