"""What every sink does: take an alert, say whether it was new.

Fed by: the pipeline. The answer drives duplicate counting: a replayed alert is not new.
"""

from __future__ import annotations

from typing import Any, Protocol


class Sink(Protocol):
    """Receives alerts in the wire shape built by ``alerts.evidence.build``."""

    def emit(self, alert: dict[str, Any]) -> bool:
        """Deliver ``alert``; False when an alert of that name was delivered before."""
        ...

    def close(self) -> None:
        """Flush what is buffered."""
        ...


def flat(alert: dict[str, Any]) -> dict[str, Any]:
    """One alert as a flat record for JSON lines and tables: the fields people grep for."""
    spec = alert["spec"]
    rule = spec["rule"]
    event = spec["event"]
    threat_ids = []
    for threat in rule["threat"]:
        threat_ids.append(threat["tactic"]["id"])
        for technique in threat["technique"]:
            threat_ids.append(technique["id"])
            threat_ids.extend(sub["id"] for sub in technique["subtechnique"])
    record = {
        "alert": alert["name"],
        "rule": rule["name"],
        "ruleId": rule["ruleId"],
        "severity": rule["severity"],
        "riskScore": rule["riskScore"],
        "timestamp": spec.get("eventTime"),
        "auditID": event["auditID"],
        "stage": event["stage"],
        "user": event["user"].get("username"),
        "groups": event["user"].get("groups", []),
        "sourceIPs": event["sourceIPs"],
        "verb": event.get("verb"),
        "requestURI": event.get("requestURI"),
        "objectRef": event.get("objectRef"),
        "decision": event.get("decision"),
        "responseCode": event.get("responseCode"),
        "userAgent": event.get("userAgent"),
        "threat": threat_ids,
        "reason": spec["reason"],
    }
    if "impersonatedUser" in event:
        record["impersonatedUser"] = event["impersonatedUser"].get("username")
    return record
