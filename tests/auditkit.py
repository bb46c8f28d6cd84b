"""Audit event lines as kube-apiserver writes them, for tests that write a log themselves."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import orjson


def audit_line(
    agent: str, *, ago: datetime.timedelta = datetime.timedelta(), **fields: Any
) -> bytes:
    """One audit event (``alice`` lists configmaps from 10.0.0.1) with user agent ``agent``,
    timed ``ago`` before now, ``fields`` overriding its parts; as a line with its newline."""
    stamp = (datetime.datetime.now(datetime.UTC) - ago).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": str(uuid.uuid4()),
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/configmaps",
        "verb": "list",
        "user": {"username": "alice"},
        "sourceIPs": ["10.0.0.1"],
        "userAgent": agent,
        "requestReceivedTimestamp": stamp,
        "stageTimestamp": stamp,
        **fields,
    }
    return orjson.dumps(event) + b"\n"
