"""The seed rule (Elastic's "Kubernetes Anonymous Request Authorized") fires where Elastic's
would, and stays silent where Elastic's would: one row per case, raw event in, verdict out."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from tests import recording

from audithound.rules import loader

SEED = pathlib.Path(__file__).resolve().parents[2] / "examples/rules"
SEED_FILE = SEED / "kubernetes-anonymous-request-authorized.yaml"

ANONYMOUS = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


def event(
    uri: str,
    *,
    user: dict[str, Any] | None = None,
    decision: str | None = "allow",
    **extra: Any,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "8d5a2f55-4b5e-4b8a-9d0c-2f7e0e0c1a01",
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": "get",
        "user": ANONYMOUS if user is None else user,
        "sourceIPs": ["203.0.113.7"],
        "stageTimestamp": "2026-11-20T10:00:00.000000Z",
        "annotations": {} if decision is None else {"authorization.k8s.io/decision": decision},
    }
    raw.update(extra)
    return raw


CASES = [
    # (case, event, fires)
    ("anonymous allowed /api", event("/api"), True),
    ("anonymous allowed /version", event("/version"), True),
    ("anonymous allowed resource", event("/api/v1/namespaces/shop/pods"), True),
    ("username missing", event("/apis", user={"groups": ["system:unauthenticated"]}), True),
    ("user missing entirely", {k: v for k, v in event("/api").items() if k != "user"}, True),
    ("empty username is missing", event("/api", user={"username": ""}), True),
    (
        "system:unauthenticated as username",
        event("/api", user={"username": "system:unauthenticated"}),
        True,
    ),
    ("/healthz", event("/healthz"), False),
    ("/livez?verbose", event("/livez?verbose"), False),
    ("/readyz/etcd", event("/readyz/etcd"), False),
    ("/healthz/ping", event("/healthz/ping"), False),
    ("forbid", event("/api", decision="forbid"), False),
    ("no decision", event("/api", decision=None), False),
    ("decision case variant", event("/api", decision="Allow"), False),
    ("username case variant", event("/api", user={"username": "System:Anonymous"}), False),
    ("uri case variant", event("/HEALTHZ"), True),
    ("authenticated user", event("/api", user={"username": "alice"}), False),
    ("health path not at the start", event("/api/healthz"), True),
]


@pytest.fixture(scope="module")
def seed() -> Any:
    loaded = loader.load([str(SEED_FILE)])
    assert loaded.all_problems() == []
    (rule,) = loaded.rules
    return rule


@pytest.mark.parametrize(("case", "raw", "fires"), CASES, ids=[case for case, _, _ in CASES])
def test_seed_rule(seed: Any, case: str, raw: dict[str, Any], fires: bool) -> None:
    assert bool(recording.alerts([seed], [raw])) is fires


def test_seed_rule_is_the_one_elastic_ships(seed: Any) -> None:
    spec = seed.spec
    assert " ".join(spec.query.split()) == (
        "event.dataset:kubernetes.audit_logs "
        "and kubernetes.audit.annotations.authorization_k8s_io/decision:allow "
        'and kubernetes.audit.user.username:("system:anonymous" or "system:unauthenticated" '
        "or not *) "
        "and not kubernetes.audit.requestURI:(/healthz* or /livez* or /readyz*)"
    )
    assert (spec.severity, spec.risk_score, spec.interval, spec.max_signals) == (
        "medium",
        47,
        "5m",
        100,
    )
    (threat,) = spec.threat
    assert threat.tactic.id == "TA0001"
    (technique,) = threat.technique
    assert technique.id == "T1078"
    assert [sub.id for sub in technique.subtechnique] == ["T1078.001"]
    assert spec.note and "## Triage" in spec.note
    assert spec.false_positives


TUNED_FILE = SEED / "kubernetes-anonymous-request-authorized-tuned.yaml"

#: The tuned rule answers as the seed rule does, except for anonymous reads of /version.
TUNED_CASES = [
    ("anonymous get /version", event("/version"), False),
    ("anonymous get /version/", event("/version/"), False),
    ("/version with a query string", event("/version?timeout=32s"), False),
    ("a path starting with /version?", event("/version/?x"), True),
    ("a write to /version is no read", event("/version", verb="create"), True),
    ("/versions is another path", event("/versions"), True),
    *[case for case in CASES if case[0] != "anonymous allowed /version"],
]


@pytest.fixture(scope="module")
def tuned() -> Any:
    loaded = loader.load([str(TUNED_FILE)])
    assert loaded.all_problems() == []
    (rule,) = loaded.rules
    return rule


@pytest.mark.parametrize(
    ("case", "raw", "fires"), TUNED_CASES, ids=[case for case, _, _ in TUNED_CASES]
)
def test_tuned_seed_rule(tuned: Any, case: str, raw: dict[str, Any], fires: bool) -> None:
    assert bool(recording.alerts([tuned], [raw])) is fires


def test_tuned_rule_is_the_seed_rule_plus_its_exception(seed: Any, tuned: Any) -> None:
    assert tuned.spec.query == seed.spec.query
    assert tuned.spec.model_dump(exclude={"exceptions"}) == seed.spec.model_dump(
        exclude={"exceptions"}
    )
    for item in tuned.spec.exceptions:
        assert [entry.field for entry in item.entries] == [
            "kubernetes.audit.requestURI",
            "kubernetes.audit.verb",
        ]
