"""What every sink does: take an alert, say whether it was new.

Fed by: the pipeline. The answer drives duplicate counting: a replayed alert is not new.

An alert may carry a ``renewal`` (a new term, which can be new again once it was not seen for
the rule's history window): when an alert of its name exists already, every sink decides the
same way (:func:`renewal_name`) whether it is a duplicate or the term came back, in which case
it is written under the renewal's name.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, Protocol

from audithound.rules import prescreen


class Rejected(Exception):
    """The sink refused this alert for good: written again as it is, it would be refused again
    (an API server answering 400 or 422). The pipeline counts and logs it and goes on, rather
    than holding every later alert behind it."""


class Sink(Protocol):
    """Receives alerts in the wire shape built by ``alerts.evidence.build``."""

    #: How many alerts may be written at once (threads calling :meth:`emit`); 1: in order.
    concurrency: int

    def emit(self, alert: dict[str, Any]) -> bool:
        """Deliver ``alert``; False when an alert of that name was delivered before.

        Raises :class:`Rejected` when the alert can never be delivered; any other exception
        means "not now" (an outage), and the alert is tried again later.
        """
        ...

    def close(self) -> None:
        """Flush what is buffered."""
        ...


def alert_time(spec: dict[str, Any]) -> float | None:
    """When the finding of an alert last saw an event (seconds since the epoch)."""
    stamp = spec.get("lastSeen") or spec.get("eventTime")
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()


def renewal_name(alert: dict[str, Any], existing: float | None) -> str | None:
    """The name to write ``alert`` under when an alert of its name, whose finding last saw an
    event at ``existing``, is there already; None when it is a duplicate of that one."""
    renewal = alert.get("renewal")
    if renewal is None:
        return None
    mine = alert_time(alert["spec"])
    if mine is None or existing is None:
        return None
    return str(renewal["name"]) if mine - existing > renewal["afterSeconds"] else None


def _native_flat() -> Callable[[dict[str, Any]], dict[str, Any] | None] | None:
    """``native/screen/src/alert.rs``'s record, or None where the extension was not built."""
    module = prescreen.extension()
    if module is None:
        return None
    native: Callable[[dict[str, Any]], dict[str, Any] | None] = module.flat
    return native


_NATIVE_FLAT = _native_flat()


def flat(alert: dict[str, Any]) -> dict[str, Any]:
    """One alert as a flat record for JSON lines and tables: the fields people grep for (the
    native record, for an alert of the usual shape; :func:`python_flat`'s otherwise)."""
    if _NATIVE_FLAT is not None:
        record = _NATIVE_FLAT(alert)
        if record is not None:
            return record
    return python_flat(alert)


def python_flat(alert: dict[str, Any]) -> dict[str, Any]:
    """:func:`flat` in Python."""
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
        "events": spec.get("auditIDs") or [event["auditID"]],
        "group": spec.get("group") or {},
        "count": spec.get("count") or 1,
    }
    if "impersonatedUser" in event:
        record["impersonatedUser"] = event["impersonatedUser"].get("username")
    return record
