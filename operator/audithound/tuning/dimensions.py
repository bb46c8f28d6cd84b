"""What ``tune`` reads of an alert's event, under Elastic's field names, and the dimensions
its tuples are made of.

Fed by: the raw event that completed an alert (``collect``). Feeds: ``clusters`` (the
tuples), ``items`` (exception entries and their matching), ``report`` (what is shown).

Fields are read through the engine's document view (``normalize.view``), so ``user.name``,
``source.ip`` or ``user_agent.original`` hold what a rule and an exception see. Dimensions:

- who asked: the identity class, ``user.name``, ``user_agent.original``, ``source.ip``;
- what was asked: ``kubernetes.audit.verb``, the object's namespace, resource, subresource
  and name, and the request path (``kubernetes.audit.requestURI`` up to its ``?``).

The identity class is ``node`` for ``system:node:*`` or the group ``system:nodes``,
``service account`` for ``system:serviceaccount:*``, ``anonymous`` for ``system:anonymous``
(or the user name ``system:unauthenticated``), the group ``system:unauthenticated`` or no
user name at all, and ``human`` otherwise (so a
component with a certificate of its own, ``system:kube-controller-manager``, counts as
human: the audit event cannot tell it from a person).

Source address and user agent are *volatile*: a pod's address changes when it restarts, the
agent with every client upgrade, and the client chooses its agent. They help to tell tuples
apart and are shown, but exception items are not built on them (``items``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from audithound.kql import documents
from audithound.normalize import view

USER: Final = "user.name"
GROUPS: Final = "kubernetes.audit.user.groups"
AGENT: Final = "user_agent.original"
SOURCE: Final = "source.ip"
VERB: Final = "kubernetes.audit.verb"
NAMESPACE: Final = "kubernetes.audit.objectRef.namespace"
RESOURCE: Final = "kubernetes.audit.objectRef.resource"
SUBRESOURCE: Final = "kubernetes.audit.objectRef.subresource"
NAME: Final = "kubernetes.audit.objectRef.name"
URI: Final = "kubernetes.audit.requestURI"

#: Every field kept of an alert's event.
FIELDS: Final = (USER, GROUPS, AGENT, SOURCE, VERB, NAMESPACE, RESOURCE, SUBRESOURCE, NAME, URI)

#: Fields a query may name for the same value as a field above (the document's aliases).
ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    USER: ("kubernetes.audit.user.username", "related.user"),
    GROUPS: (),
    AGENT: ("kubernetes.audit.userAgent",),
    SOURCE: ("client.ip", "related.ip", "kubernetes.audit.sourceIPs"),
    VERB: ("event.action",),
    NAMESPACE: ("orchestrator.namespace",),
    RESOURCE: ("orchestrator.resource.type",),
    SUBRESOURCE: (),
    NAME: ("orchestrator.resource.name",),
    URI: (),
}

NODE: Final = "node"
SERVICE_ACCOUNT: Final = "service account"
ANONYMOUS: Final = "anonymous"
HUMAN: Final = "human"

#: Values of one event: field -> its values in the document (empty when missing).
Values = Mapping[str, tuple[str, ...]]

_ACCESS = view.AuditEventAccess()
_GETTERS: Final[dict[str, documents.Getter]] = {field: _ACCESS.values(field) for field in FIELDS}


def read(event: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The fields ``tune`` keeps of one raw event, as strings (numbers and booleans as JSON
    writes them: an exception compares them as text)."""
    out: dict[str, tuple[str, ...]] = {}
    for field, get in _GETTERS.items():
        found = get(event)
        out[field] = tuple(_text(value) for value in found)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: User names that are no one: the anonymous user, and the unauthenticated group's name,
#: which the seed rule also takes as a user name.
_ANONYMOUS_NAMES: Final = frozenset({"system:anonymous", "system:unauthenticated"})


def identity_class(values: Values) -> str:
    """The identity class of an event's user (see the module docstring)."""
    user = values[USER][0] if values[USER] else ""
    groups = values[GROUPS]
    if user.startswith("system:node:") or "system:nodes" in groups:
        return NODE
    if user.startswith("system:serviceaccount:"):
        return SERVICE_ACCOUNT
    if not user or user in _ANONYMOUS_NAMES or "system:unauthenticated" in groups:
        return ANONYMOUS
    return HUMAN


def path(uri: str) -> str:
    """The path of a request URI: up to its query string."""
    return uri.split("?", 1)[0]


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One axis of a tuple: its name as shown, the field its value comes from."""

    name: str
    field: str
    #: Client-chosen or short-lived: shown, never part of an exception item.
    volatile: bool = False


CLASS = Dimension("class", GROUPS)
WHO: Final = (
    CLASS,
    Dimension("user", USER),
    Dimension("namespace", NAMESPACE),
    Dimension("agent", AGENT, volatile=True),
    Dimension("source", SOURCE, volatile=True),
)
WHAT: Final = (
    Dimension("verb", VERB),
    Dimension("namespace", NAMESPACE),
    Dimension("resource", RESOURCE),
    Dimension("subresource", SUBRESOURCE),
    Dimension("name", NAME),
    Dimension("path", URI),
)
