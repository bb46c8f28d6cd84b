"""The field catalogue: every field of the Elastic document that rules can query.

Fed by: nothing at run time; it is written from Elastic's Kubernetes integration (the
``audit_logs`` data stream's ``fields.yml`` and ingest pipeline) and from the fields that
``normalize.view`` produces (a test keeps the two in step). Feeds: ``rules check`` (the
"unknown field" warning, through :func:`is_known`), the README field table
(:func:`markdown_table`, checked for drift) and anyone asking what a field holds.

Types are Elastic's mapping types (``text`` fields such as ``user.groups`` included), so a
rule author sees what Elastic would index; AuditHound itself compares every string as a
``keyword``. A name ending in ``.*`` is a family: any path below that prefix.
"""

from __future__ import annotations

import dataclasses
from typing import Final


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One field (or one family of fields, name ending in ``.*``) of the document."""

    name: str
    type: str
    is_list: bool
    source: str
    description: str

    @property
    def is_family(self) -> bool:
        return self.name.endswith(".*")


_A: Final = "kubernetes.audit."


def _audit(path: str, type_: str, description: str, *, is_list: bool = False) -> Field:
    return Field(_A + path, type_, is_list, f"`{path}`", description)


FIELDS: Final[tuple[Field, ...]] = (
    _audit("kind", "keyword", "Kind of the audit object: `Event` (absent in some exports)."),
    _audit("apiVersion", "keyword", "`audit.k8s.io/v1` or `audit.k8s.io/v1beta1`."),
    _audit("level", "keyword", "Audit level: `Metadata`, `Request`, `RequestResponse`."),
    _audit("auditID", "keyword", "Unique id of the request, shared by all its stages."),
    _audit(
        "stage",
        "keyword",
        "`RequestReceived`, `ResponseStarted`, `ResponseComplete` or `Panic`.",
    ),
    _audit("requestURI", "keyword", "Request URI as sent by the client, query string included."),
    _audit("verb", "keyword", "Kubernetes verb (`get`, `list`, `create`...) or HTTP method."),
    _audit("user.username", "keyword", "Authenticated user name."),
    _audit("user.uid", "keyword", "Authenticated user uid."),
    _audit("user.groups", "text", "Groups of the authenticated user.", is_list=True),
    _audit(
        "user.extra.*",
        "keyword",
        "Extra authenticator attributes; dotted keys are paths "
        "(`user.extra.authentication.kubernetes.io/pod-name`).",
        is_list=True,
    ),
    _audit("impersonatedUser.username", "keyword", "User name being impersonated."),
    _audit("impersonatedUser.uid", "keyword", "Uid being impersonated."),
    _audit("impersonatedUser.groups", "text", "Groups being impersonated.", is_list=True),
    _audit(
        "impersonatedUser.extra.*",
        "keyword",
        "Extra attributes being impersonated; dotted keys are paths.",
        is_list=True,
    ),
    _audit(
        "sourceIPs",
        "text",
        "Client address and the proxies it came through, as sent.",
        is_list=True,
    ),
    _audit("userAgent", "keyword", "User agent reported by the client (not trustworthy)."),
    _audit("objectRef.resource", "keyword", "Resource (plural, lower case): `pods`, `secrets`."),
    _audit("objectRef.subresource", "keyword", "Subresource: `exec`, `attach`, `status`..."),
    _audit("objectRef.namespace", "keyword", "Namespace of the object."),
    _audit("objectRef.name", "keyword", "Name of the object."),
    _audit("objectRef.uid", "keyword", "Uid of the object."),
    _audit("objectRef.apiGroup", "keyword", "API group (absent for the core group)."),
    _audit("objectRef.apiVersion", "keyword", "API version of the object (`v1`)."),
    _audit("objectRef.resourceVersion", "keyword", "Resource version of the object."),
    _audit("objectRef.*", "keyword", "Any other field of the object reference."),
    _audit("responseStatus.code", "integer", "HTTP status code of the response."),
    _audit("responseStatus.status", "keyword", "`Success` or `Failure` (errors only)."),
    _audit("responseStatus.reason", "keyword", "Machine-readable reason: `Forbidden`..."),
    _audit("responseStatus.message", "text", "Human-readable error message."),
    _audit("responseStatus.details.*", "object", "Details of an error status."),
    _audit(
        "requestObject.spec.containers.image",
        "text",
        "Container images of a submitted pod.",
        is_list=True,
    ),
    _audit(
        "requestObject.spec.containers.securityContext.privileged",
        "boolean",
        "Privileged flags of a submitted pod's containers.",
        is_list=True,
    ),
    _audit(
        "requestObject.spec.volumes.hostPath.path",
        "text",
        "Host paths mounted by a submitted pod.",
        is_list=True,
    ),
    _audit("requestObject.spec.type", "keyword", "Type of a submitted service (`NodePort`)."),
    _audit(
        "requestObject.*",
        "object",
        "Submitted object (level `Request` and above), without `metadata`, which Elastic "
        "drops; arrays of objects support the nested form `field:{ ... }`.",
    ),
    _audit("responseObject.roleRef.kind", "keyword", "Role kind of a returned binding."),
    _audit(
        "responseObject.*",
        "object",
        "Returned object (level `RequestResponse`), without `metadata`, which Elastic drops.",
    ),
    _audit("requestReceivedTimestamp", "date", "Time the request reached the API server."),
    _audit("stageTimestamp", "date", "Time the request reached this stage."),
    _audit("timestamp", "date", "Event time (`audit.k8s.io/v1beta1` only)."),
    _audit("metadata.creationTimestamp", "date", "Event creation time (`audit.k8s.io/v1beta1`)."),
    Field(
        _A + "annotations.authorization_k8s_io/decision",
        "text",
        False,
        "`annotations[authorization.k8s.io/decision]`",
        "Authorization decision: `allow` or `forbid`.",
    ),
    Field(
        _A + "annotations.authorization_k8s_io/reason",
        "text",
        False,
        "`annotations[authorization.k8s.io/reason]`",
        "Why the authorizer decided so (the RBAC binding...).",
    ),
    Field(
        _A + "annotations.pod-security_kubernetes_io/enforce-policy",
        "text",
        False,
        "`annotations[pod-security.kubernetes.io/enforce-policy]`",
        "Pod Security level and version enforced (`restricted:latest`).",
    ),
    Field(
        _A + "annotations.pod-security_kubernetes_io/audit-violations",
        "text",
        False,
        "`annotations[pod-security.kubernetes.io/audit-violations]`",
        "Pod Security violations found in audit mode.",
    ),
    Field(
        _A + "annotations.*",
        "text",
        False,
        "`annotations`",
        "Audit annotations; the dots of each KEY become `_` "
        "(`authorization.k8s.io/decision` -> `authorization_k8s_io/decision`).",
    ),
    Field("event.action", "keyword", False, "`verb`", "The verb."),
    Field(
        "event.outcome",
        "keyword",
        False,
        "`annotations[authorization.k8s.io/decision]`",
        "`success` for `allow`, `failure` for `forbid`, absent otherwise.",
    ),
    Field("event.kind", "keyword", False, "constant", "Always `event`."),
    Field("event.dataset", "keyword", False, "constant", "Always `kubernetes.audit_logs`."),
    Field(
        "data_stream.dataset",
        "constant_keyword",
        False,
        "constant",
        "Always `kubernetes.audit_logs`.",
    ),
    Field("data_stream.type", "constant_keyword", False, "constant", "Always `logs`."),
    Field("user.name", "keyword", False, "`user.username`", "Authenticated user name."),
    Field("user.id", "keyword", False, "`user.uid`", "Authenticated user uid."),
    Field("user_agent.original", "keyword", False, "`userAgent`", "User agent of the client."),
    Field(
        "source.ip",
        "ip",
        True,
        "`sourceIPs`",
        "Every source address; absent when one entry is not an IP address.",
    ),
    Field("client.ip", "ip", True, "`sourceIPs`", "Same as `source.ip`."),
    Field("related.ip", "ip", True, "`sourceIPs`", "The source addresses, once each."),
    Field("related.user", "keyword", True, "`user.uid`, `user.username`", "User uid and name."),
    Field(
        "orchestrator.api_version",
        "keyword",
        False,
        "`apiVersion`",
        "API version of the audit event (not of the object).",
    ),
    Field("orchestrator.namespace", "keyword", False, "`objectRef.namespace`", "Namespace."),
    Field("orchestrator.resource.name", "keyword", False, "`objectRef.name`", "Object name."),
    Field("orchestrator.resource.type", "keyword", False, "`objectRef.resource`", "Resource."),
    Field("orchestrator.type", "keyword", False, "constant", "Always `kubernetes`."),
)

_BY_NAME: Final = {field.name: field for field in FIELDS}

#: Family prefixes (``kubernetes.audit.annotations.``), longest first.
_FAMILIES: Final = tuple(
    sorted(
        ((field.name[:-1], field) for field in FIELDS if field.is_family),
        key=lambda pair: -len(pair[0]),
    )
)

#: Families whose members are one key, never a dotted path: Elastic de-dots annotation keys,
#: so ``annotations.authorization.k8s.io/decision`` can never match.
_ONE_KEY_FAMILIES: Final = frozenset({_A + "annotations."})

#: Paths Elastic removes: nothing below them is ever searchable.
_DROPPED: Final = (_A + "requestObject.metadata", _A + "responseObject.metadata")


def _objects() -> frozenset[str]:
    """Objects that hold catalogued fields (``kubernetes.audit.user``, ``orchestrator``...)."""
    found: set[str] = set()
    for field in FIELDS:
        parts = field.name.removesuffix(".*").split(".")
        # A family's own prefix is an object too (``kubernetes.audit.annotations``).
        depth = len(parts) if field.is_family else len(parts) - 1
        found.update(".".join(parts[:i]) for i in range(1, depth + 1))
    return frozenset(found)


_OBJECTS: Final = _objects()


def lookup(field: str) -> Field | None:
    """The catalogue entry describing ``field`` (exact, else its family), or None."""
    exact = _BY_NAME.get(field)
    if exact is not None:
        return exact
    if any(field == dropped or field.startswith(dropped + ".") for dropped in _DROPPED):
        return None
    for prefix, family in _FAMILIES:
        if field.startswith(prefix) and len(field) > len(prefix):
            if prefix in _ONE_KEY_FAMILIES and "." in field[len(prefix) :]:
                return None
            return family
    return None


def is_known(field: str) -> bool:
    """Whether ``field`` is a catalogued field, a member of a family, or an object of them."""
    return lookup(field) is not None or field in _OBJECTS


def markdown_table() -> str:
    """The README field table, one row per catalogue entry, in catalogue order."""
    rows = [
        "| Field | Type | List | Source | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for field in FIELDS:
        cells = (
            f"`{field.name}`",
            field.type,
            "yes" if field.is_list else "",
            field.source,
            field.description,
        )
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"
