"""What an alert says: the rule, a one-line reason, and an allowlisted excerpt of the event.

Fed by: a compiled rule and a finding of its detector (the event that completed it, and for a
finding of several events its group, count and members). Feeds: the sinks. The excerpt is an
allowlist on purpose: request and response bodies, user ``extra`` attributes and any field
not named here never leave the audit log, because they can carry secrets (a Secret's data,
a token in a TokenRequest response). The dict has the wire shape of
``api.alert.SecurityAlertSpec`` (a test holds the two together).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from audithound.alerts import identity
from audithound.detectors import findings
from audithound.rules import compiler

DECISION = "authorization.k8s.io/decision"
AUTHORIZATION_REASON = "authorization.k8s.io/reason"

_OBJECT_REF_FIELDS = ("resource", "subresource", "namespace", "name", "apiGroup", "apiVersion")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _user(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    user: dict[str, Any] = {}
    for key in ("username", "uid"):
        if (value := _text(raw.get(key))) is not None:
            user[key] = value
    groups = raw.get("groups")
    if isinstance(groups, list):
        user["groups"] = [group for group in groups if isinstance(group, str)]
    return user


def _object_ref(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    ref = {key: raw[key] for key in _OBJECT_REF_FIELDS if _text(raw.get(key)) is not None}
    return ref or None


def excerpt(event: Mapping[str, Any]) -> dict[str, Any]:
    """The allowlisted fields of a raw audit event, in the alert's wire shape."""
    annotations = event.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    ips = event.get("sourceIPs")
    out: dict[str, Any] = {
        "auditID": str(event.get("auditID", "")),
        "stage": str(event.get("stage", "")),
        "user": _user(event.get("user")),
        "sourceIPs": [ip for ip in ips if isinstance(ip, str)] if isinstance(ips, list) else [],
    }
    for key, value in (
        ("verb", _text(event.get("verb"))),
        ("requestURI", _text(event.get("requestURI"))),
        ("userAgent", _text(event.get("userAgent"))),
        ("decision", _text(annotations.get(DECISION))),
        ("authorizationReason", _text(annotations.get(AUTHORIZATION_REASON))),
        ("stageTimestamp", _text(event.get("stageTimestamp"))),
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


def reason(event: dict[str, Any]) -> str:
    """One line for a human: ``system:anonymous was allowed to get /api from 203.0.113.7``."""
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


def _moment(seconds: float | None) -> str | None:
    """Event time as RFC 3339 with milliseconds (Elasticsearch's date precision)."""
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _finding_reason(rule: compiler.CompiledRule, finding: findings.Finding, one: str) -> str:
    """The reason of a finding of a stateful rule, around the reason of its last event."""
    group = ", ".join(f"{field}={value}" for field, value in finding.group)
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
        case _:
            return one


def build(
    rule: compiler.CompiledRule, finding: findings.Finding, detected: datetime.datetime
) -> dict[str, Any]:
    """The alert for ``rule``'s ``finding``: metadata name, labels and spec, as wire dicts.

    A query rule's alert is its event's excerpt; a finding of a stateful rule adds the values
    that define it (``group``), its count, first and last seen, and its members.
    """
    evidence = excerpt(finding.event)
    spec = rule.spec
    one = reason(evidence)
    alert_spec: dict[str, Any] = {
        "rule": {
            "name": rule.name,
            "ruleId": rule.rule_id,
            "displayName": rule.display_name,
            "version": spec.version,
            "severity": spec.severity,
            "riskScore": spec.risk_score,
            "threat": [threat.model_dump(by_alias=True) for threat in spec.threat],
        },
        "reason": _finding_reason(rule, finding, one) if finding.multiple else one,
        "detectedTime": detected.isoformat().replace("+00:00", "Z"),
        "event": evidence,
        "workflowStatus": "open",
    }
    if "stageTimestamp" in evidence:
        alert_spec["eventTime"] = evidence["stageTimestamp"]
    if finding.multiple:
        alert_spec["group"] = dict(finding.group)
        alert_spec["count"] = finding.count
        alert_spec["firstSeen"] = _moment(finding.first_seen)
        alert_spec["lastSeen"] = _moment(finding.last_seen)
        if finding.members:
            alert_spec["auditIDs"] = [member.audit_id for member in finding.members]
            alert_spec["auditIDsOmitted"] = finding.count - len(finding.members)
        if finding.excerpts:
            alert_spec["sampleEvents"] = list(finding.excerpts)
    alert: dict[str, Any] = {
        "name": identity.alert_name(rule.name, finding.key),
        "labels": {
            "audithound.io/rule": rule.name[:63].rstrip("-."),
            "audithound.io/severity": spec.severity,
        },
        "spec": alert_spec,
    }
    if finding.renewal is not None:
        alert["renewal"] = {
            "name": identity.alert_name(rule.name, finding.renewal.unique),
            "afterSeconds": finding.renewal.after.total_seconds(),
        }
    return alert
