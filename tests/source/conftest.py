"""Fixtures of the source tests: small audit events, written as the API server writes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

EventFactory = Callable[..., dict[str, Any]]


def make_event(n: int, **fields: Any) -> dict[str, Any]:
    """Audit event number ``n`` (``auditID`` ``id-<n>``), ``fields`` overriding the defaults."""
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"id-{n}",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/pods",
        "verb": "list",
        "user": {"username": "alice", "groups": ["system:authenticated"]},
        "sourceIPs": ["192.0.2.10"],
        "responseStatus": {"metadata": {}, "code": 200},
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }
    event.update(fields)
    return event


@pytest.fixture
def event() -> EventFactory:
    return make_event


@pytest.fixture
def line() -> Callable[[Any], bytes]:
    """One JSON value as a log line (compact, newline-terminated)."""
    return lambda value: orjson.dumps(value) + b"\n"
