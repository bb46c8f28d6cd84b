"""What an alert says: the rule, a one-line reason, and an allowlisted excerpt of the event.

Fed by: a compiled rule and a finding of its detector (the event that completed it, and for a
finding of several events its group, count and members). Feeds: the sinks. The excerpt is an
allowlist on purpose: request and response bodies, user ``extra`` attributes and any field
not named here never leave the audit log, because they can carry secrets (a Secret's data,
a token in a TokenRequest response); nor does the value of such a field when a stateful rule
groups by it (the finding's ``group``). What the allowlist lets through can still carry a
credential (a token in a query parameter, an exec command line, a user agent): every string
of the excerpt goes through ``alerts.redact`` and is cut at :data:`TEXT_LIMIT`. The dict has
the wire shape of ``api.alert.SecurityAlertSpec`` (a test holds the two together).
"""

from __future__ import annotations

import datetime
import re
import weakref
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from audithound.alerts import identity, redact
from audithound.detectors import findings
from audithound.rules import compiler, prescreen

DECISION = "authorization.k8s.io/decision"
AUTHORIZATION_REASON = "authorization.k8s.io/reason"

#: Longest string of an excerpt, in characters (default 4096). Longer ones (a megabyte of
#: URI is a valid request) are cut: the alert holds the URI twice (excerpt and reason) and
#: must stay far below etcd's 1.5 MiB object limit, or the API server refuses it and the
#: alert is lost; and it bounds the cost of redaction per alert.
TEXT_LIMIT = 4096

_OBJECT_REF_FIELDS = ("resource", "subresource", "namespace", "name", "apiGroup", "apiVersion")
# What a cut may have gone through: the run of characters before it, read backwards.
_CUT_RUN = re.compile(r"[^\s/&?\"']*")


def _cut(value: str) -> str:
    """``value`` if it is short enough, or its first TEXT_LIMIT characters with a visible
    note of the rest. The cut may split a secret so that no rule recognises it any more (a
    URL's password before its ``@``): the run of characters it went through goes too."""
    if len(value) <= TEXT_LIMIT:
        return value
    kept = value[:TEXT_LIMIT]
    run = _CUT_RUN.match(kept[::-1])
    kept = kept[: len(kept) - (run.end() if run else 0)]
    return f"{kept}{redact.MARKER}…(+{len(value) - len(kept)} characters)"


def _string(value: str) -> str:
    return redact.text(value if len(value) <= TEXT_LIMIT else _cut(value))


def _fresh(value: str) -> str:
    return redact.fresh_text(value if len(value) <= TEXT_LIMIT else _cut(value))


def _text(value: Any) -> str | None:
    """A non-empty string, cut and redacted; None otherwise."""
    if not isinstance(value, str) or not value:
        return None
    return redact.text(value if len(value) <= TEXT_LIMIT else _cut(value))


def _user(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    user: dict[str, Any] = {}
    for key in ("username", "uid"):
        if (value := _text(raw.get(key))) is not None:
            user[key] = value
    groups = raw.get("groups")
    if isinstance(groups, list):
        user["groups"] = [_string(group) for group in groups if isinstance(group, str)]
    return user


def _object_ref(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    ref = {key: text for key in _OBJECT_REF_FIELDS if (text := _text(raw.get(key))) is not None}
    return ref or None


def _uri(value: str) -> str:
    return redact.uri(_cut(value))


def python_excerpt(event: Mapping[str, Any]) -> dict[str, Any]:
    """The allowlisted fields of a raw audit event, in the alert's wire shape, redacted."""
    annotations = event.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    ips = event.get("sourceIPs")
    uri = event.get("requestURI")
    stamp = event.get("stageTimestamp")
    out: dict[str, Any] = {
        "auditID": _fresh(str(event.get("auditID", ""))),
        "stage": _string(str(event.get("stage", ""))),
        "user": _user(event.get("user")),
        "sourceIPs": [_string(ip) for ip in ips if isinstance(ip, str)]
        if isinstance(ips, list)
        else [],
    }
    for key, value in (
        ("verb", _text(event.get("verb"))),
        ("requestURI", _uri(uri) if isinstance(uri, str) and uri else None),
        ("userAgent", _text(event.get("userAgent"))),
        ("decision", _text(annotations.get(DECISION))),
        ("authorizationReason", _text(annotations.get(AUTHORIZATION_REASON))),
        ("stageTimestamp", _fresh(stamp) if isinstance(stamp, str) and stamp else None),
        ("objectRef", _object_ref(event.get("objectRef"))),
    ):
        if value is not None:
            out[key] = value
    impersonated = _user(event.get("impersonatedUser"))
    if impersonated:
        out["impersonatedUser"] = impersonated
    status = event.get("responseStatus")
    if isinstance(status, dict) and isinstance(status.get("code"), int):
        out["responseCode"] = status["code"]
    return out


class _NativeExcerpt(Protocol):
    """``audithound_screen.Excerpt``: the excerpt, and one event's alert (None where Python
    must make it)."""

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]: ...

    def alert(
        self,
        event: dict[str, Any],
        key: tuple[str, ...],
        name: str,
        prefix: str,
        part: dict[str, Any],
        labels: dict[str, str],
        detected: str,
    ) -> dict[str, Any] | None: ...


def _native_excerpt() -> _NativeExcerpt | None:
    """:func:`python_excerpt` in Rust (``native/screen/src/excerpt.rs``), or None where the
    extension was not built. It hands a string to the functions here only where redaction
    could change it, and skips some 40 Python calls per alert (most of an alert's cost)."""
    module = prescreen.extension()
    if module is None:
        return None
    native: _NativeExcerpt = module.Excerpt(
        list(redact.TRIGGERS),
        list(redact.WORD_TRIGGERS),
        redact.INERT,
        TEXT_LIMIT,
        _string,
        _fresh,
        _uri,
        (DECISION, AUTHORIZATION_REASON),
    )
    return native


_NATIVE = _native_excerpt()


def excerpt(event: Mapping[str, Any]) -> dict[str, Any]:
    """The allowlisted fields of a raw audit event, in the alert's wire shape, redacted: the
    native excerpt's for a decoded event (a dict), :func:`python_excerpt`'s otherwise."""
    if _NATIVE is not None and type(event) is dict:
        return _NATIVE(event)
    return python_excerpt(event)


def reason(event: dict[str, Any]) -> str:
    """One line for a human: ``system:anonymous was allowed to get /api from 203.0.113.7``.

    The native alert (:func:`build`) makes the same line in Rust, without a call; called from
    Python, the Rust one was no faster than this (0.47 against 0.41 µs), so this stays.
    """
    who = event["user"].get("username") or "a request without a username"
    impersonated = event.get("impersonatedUser", {}).get("username")
    if impersonated:
        who += f" (impersonating {impersonated})"
    decision = event.get("decision")
    verb = event.get("verb", "request")
    if decision == "allow":
        did = f"was allowed to {verb}"
    elif decision == "forbid":
        did = f"was denied {verb} on"
    else:
        did = f"made a {verb} request to"
    target = event.get("requestURI") or "(no URI)"
    ips = event["sourceIPs"]
    origin = f" from {ips[0]}" if ips else ""
    if len(ips) > 1:
        origin += f" (+{len(ips) - 1} more)"
    return f"{who} {did} {target}{origin}"


#: The second of the last time :func:`utc_text` wrote (its fields) and its text up to the
#: fraction: ``isoformat`` costs some 7,000 instructions, and the alerts of a second share it.
_SECOND: tuple[tuple[int, ...], str] = ((), "")


def utc_text(moment: datetime.datetime) -> str:
    """``moment.isoformat()``, with ``Z`` for ``+00:00``."""
    global _SECOND
    if moment.tzinfo is not datetime.UTC:
        return moment.isoformat().replace("+00:00", "Z")
    second = (moment.second, moment.minute, moment.hour, moment.day, moment.month, moment.year)
    written, head = _SECOND
    if second != written:
        head = moment.isoformat()[:19]  # YYYY-MM-DDTHH:MM:SS
        _SECOND = (second, head)
    micro = moment.microsecond
    return f"{head}.{micro:06d}Z" if micro else f"{head}Z"


def moment(seconds: float | None) -> str | None:
    """Event time as RFC 3339 with milliseconds (Elasticsearch's date precision)."""
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: Where the bodies and the authenticators' extra attributes are, as field paths, and the
#: JSON patch a mutating webhook applied (part of a body: an injected env value). A stateful
#: rule may group by a field there (a Secret's key, a ConfigMap's password, a credential id):
#: the value that defines its finding is then one the excerpt leaves out, and only
#: :data:`redact.MARKER` stands for it (the alert's name and ``auditIDs`` still tell findings
#: apart and lead to the event in the log).
_PRIVATE_FIELDS = tuple(
    f"kubernetes.audit.{path}"
    for path in (
        "requestObject.",
        "responseObject.",
        "user.extra.",
        "impersonatedUser.extra.",
        "annotations.patch_webhook_admission_k8s_io/",
    )
)
#: Fields of a body that are evidence, not secrets: the ones the field catalogue names for
#: the rules of bench/ (an image, a privileged flag, a host path, a Service type, a role kind).
_BODY_EVIDENCE = frozenset(
    f"kubernetes.audit.{path}"
    for path in (
        "requestObject.spec.containers.image",
        "requestObject.spec.containers.securityContext.privileged",
        "requestObject.spec.volumes.hostPath.path",
        "requestObject.spec.type",
        "responseObject.roleRef.kind",
    )
)


def group_value(field: str, value: str) -> str:
    """A value that defines a finding, as evidence: redacted and cut like the excerpt's, or
    hidden whole when it comes from a body or a user's extra attributes."""
    if field.startswith(_PRIVATE_FIELDS) and field not in _BODY_EVIDENCE:
        return redact.MARKER
    if field.endswith("requestURI"):
        return redact.uri(_cut(value))
    return _string(value)


def _finding_reason(rule: compiler.CompiledRule, finding: findings.Finding, one: str) -> str:
    """The reason of a finding of a stateful rule, around the reason of its last event."""
    group = ", ".join(f"{field}={group_value(field, value)}" for field, value in finding.group)
    spec = rule.spec
    match spec.type:
        case "new_terms":
            return f"new {group}: {one}"
        case "threshold":
            assert spec.threshold is not None
            of = f" with {group}" if group else ""
            distinct = ""
            if spec.threshold.cardinality:
                limit = spec.threshold.cardinality[0]
                distinct = f" ({limit.value}+ distinct {limit.field})"
            window = spec.from_.removeprefix("now-")
            return f"{finding.count} matching events{of} within {window}{distinct}; last: {one}"
        case "eql" if finding.count > 1:
            of = f" by {group}" if group else ""
            return f"sequence of {finding.count} events{of}; last: {one}"
        case _:
            return one


class _RuleParts(NamedTuple):
    """What an alert takes from its rule, made once per compiled rule (a rule's threats are
    pydantic models, and dumping them cost more than the rest of an alert's rule part)."""

    #: The alert's ``rule`` (each alert gets a copy).
    part: dict[str, Any]
    #: Its labels (each alert gets a copy).
    labels: dict[str, str]
    #: What its name starts with.
    prefix: str


_RULE_PARTS: weakref.WeakKeyDictionary[compiler.CompiledRule, _RuleParts] = (
    weakref.WeakKeyDictionary()
)


#: The last rule asked for and its parts: alerts come in runs of one rule (a hunting query,
#: a flood), and this test is a quarter of a weak dictionary's lookup.
_LAST: tuple[compiler.CompiledRule | None, _RuleParts | None] = (None, None)


def _rule_parts(rule: compiler.CompiledRule) -> _RuleParts:
    global _LAST
    last, parts = _LAST
    if rule is last and parts is not None:
        return parts
    parts = _RULE_PARTS.get(rule)
    if parts is None:
        spec = rule.spec
        part = {
            "name": rule.name,
            "ruleId": rule.rule_id,
            "displayName": rule.display_name,
            "version": spec.version,
            "severity": spec.severity,
            "riskScore": spec.risk_score,
            "threat": [threat.model_dump(by_alias=True) for threat in spec.threat],
        }
        labels = {
            "audithound.io/rule": rule_label(rule.name),
            "audithound.io/severity": spec.severity,
        }
        parts = _RULE_PARTS[rule] = _RuleParts(part, labels, identity.name_prefix(rule.name))
    _LAST = (rule, parts)
    return parts


def rule_label(name: str) -> str:
    """The ``audithound.io/rule`` label of a rule's alerts: its name, cut to the 63 characters
    a label value may hold (a rule name may have 253)."""
    return name[:63].rstrip("-.")


def build(
    rule: compiler.CompiledRule, finding: findings.Finding, detected: datetime.datetime
) -> dict[str, Any]:
    """The alert for ``rule``'s ``finding``: metadata name, labels and spec, as wire dicts.

    A query rule's alert is its event's excerpt; a finding of a stateful rule adds the values
    that define it (``group``), its count, first and last seen, and its members.
    """
    parts = _rule_parts(rule)
    multiple = finding.multiple
    event, key = finding.event, finding.key
    if (
        not multiple
        and finding.renewal is None
        and _NATIVE is not None
        and type(event) is dict
        and type(key) is tuple
    ):
        # One event's alert, made whole natively (its excerpt, reason and name).
        made = _NATIVE.alert(
            event, key, rule.name, parts.prefix, parts.part, parts.labels, utc_text(detected)
        )
        if made is not None:
            return made
    evidence = excerpt(event)
    one = reason(evidence)
    alert_spec: dict[str, Any] = {
        "rule": dict(parts.part),
        "reason": _finding_reason(rule, finding, one) if multiple else one,
        "detectedTime": utc_text(detected),
        "event": evidence,
        "workflowStatus": "open",
    }
    if "stageTimestamp" in evidence:
        alert_spec["eventTime"] = evidence["stageTimestamp"]
    if multiple:
        alert_spec["group"] = {field: group_value(field, value) for field, value in finding.group}
        alert_spec["count"] = finding.count
        alert_spec["firstSeen"] = moment(finding.first_seen)
        alert_spec["lastSeen"] = moment(finding.last_seen)
        if finding.members:
            alert_spec["auditIDs"] = [member.audit_id for member in finding.members]
            alert_spec["auditIDsOmitted"] = finding.count - len(finding.members)
        if finding.excerpts:
            alert_spec["sampleEvents"] = list(finding.excerpts)
    alert: dict[str, Any] = {
        "name": identity.alert_name(rule.name, key),
        "labels": dict(parts.labels),
        "spec": alert_spec,
    }
    if finding.renewal is not None:
        alert["renewal"] = {
            "name": identity.alert_name(rule.name, finding.renewal.unique),
            "afterSeconds": finding.renewal.after.total_seconds(),
        }
    return alert
