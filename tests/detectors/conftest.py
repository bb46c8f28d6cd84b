"""Helpers for the detector tests: rules from a few spec fields, events at given times."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

from audithound.rules import compiler

START = datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.UTC)
_IDS = itertools.count()


def rule(name: str = "r", **spec: Any) -> compiler.CompiledRule:
    outcome = compiler.compile_rule(
        name, {"severity": "low", "riskScore": 10, "query": "kubernetes.audit.verb:*", **spec}
    )
    assert outcome.errors == [], outcome.errors
    assert outcome.rule is not None
    return outcome.rule


def event(seconds: float, **fields: Any) -> dict[str, Any]:
    """An audit event ``seconds`` after :data:`START`; ``fields`` override its parts."""
    moment = START + datetime.timedelta(seconds=seconds)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raw: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"id-{next(_IDS)}",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/shop/secrets/db",
        "verb": "get",
        "user": {"username": "alice"},
        "sourceIPs": ["10.0.0.1"],
        "userAgent": "kubectl/v1.36.3",
        "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db"},
        "annotations": {"authorization.k8s.io/decision": "allow"},
        "requestReceivedTimestamp": stamp,
        "stageTimestamp": stamp,
    }
    raw.update(fields)
    return raw


DAY = 86400.0
