"""The lazy view answers every field exactly as the Elastic document would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from audithound.kql import documents
from audithound.normalize import view

ACCESS = view.AuditEventAccess()


def _leaf_paths(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, scalar) of a document, arrays crossed."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for item in node:
            yield from _leaf_paths(item, path)
    else:
        yield path, node


def _canonical(values: list[Any]) -> list[str]:
    return sorted(json.dumps(value) for value in values)


def test_every_document_leaf_reads_the_same_through_the_view(golden_raw: dict[str, Any]) -> None:
    by_path: dict[str, list[Any]] = {}
    for path, value in _leaf_paths(view.document(golden_raw)):
        by_path.setdefault(path, []).append(value)
    for path, values in by_path.items():
        assert _canonical(ACCESS.values(path)(golden_raw)) == _canonical(values), path
        assert ACCESS.present(path)(golden_raw), path


def test_free_text_sees_every_leaf_of_the_document(golden_raw: dict[str, Any]) -> None:
    leaves = [value for _, value in _leaf_paths(view.document(golden_raw))]
    assert _canonical(ACCESS.everything()(golden_raw)) == _canonical(leaves)


EVENT: dict[str, Any] = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "auditID": "a-1",
    "stage": "ResponseComplete",
    "verb": "create",
    "requestURI": "/api/v1/namespaces/ns/pods",
    "user": {
        "username": "",
        "groups": ["system:authenticated"],
        "extra": {"authentication.kubernetes.io/pod-name": ["web-0"]},
    },
    "sourceIPs": ["10.0.0.1", "2001:db8::1"],
    "objectRef": {"resource": "pods", "namespace": "ns", "name": "p", "apiVersion": "v1"},
    "requestObject": {
        "metadata": {"name": "p", "labels": {"app": "x"}},
        "spec": {
            "containers": [
                {"image": "alpine:3", "securityContext": {"privileged": True}},
                {"image": "evil:1", "securityContext": {"privileged": False}},
            ]
        },
    },
    "annotations": {
        "authorization.k8s.io/decision": "allow",
        "pod-security.kubernetes.io/enforce-policy": "baseline:latest",
    },
}


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("kubernetes.audit.annotations.authorization_k8s_io/decision", ["allow"]),
        (
            "kubernetes.audit.annotations.pod-security_kubernetes_io/enforce-policy",
            ["baseline:latest"],
        ),
        ("kubernetes.audit.annotations.authorization.k8s.io/decision", []),
        ("kubernetes.audit.user.extra.authentication.kubernetes.io/pod-name", ["web-0"]),
        ("kubernetes.audit.user.username", []),
        ("kubernetes.audit.requestObject.metadata.name", []),
        ("kubernetes.audit.requestObject.metadata.labels.app", []),
        ("kubernetes.audit.requestObject.spec.containers.image", ["alpine:3", "evil:1"]),
        (
            "kubernetes.audit.requestObject.spec.containers.securityContext.privileged",
            [True, False],
        ),
        ("event.action", ["create"]),
        ("event.outcome", ["success"]),
        ("user.name", []),
        ("source.ip", ["10.0.0.1", "2001:db8::1"]),
        ("client.ip", ["10.0.0.1", "2001:db8::1"]),
        ("orchestrator.api_version", ["audit.k8s.io/v1"]),
        ("orchestrator.resource.type", ["pods"]),
        ("orchestrator.namespace", ["ns"]),
        ("orchestrator.resource.name", ["p"]),
        ("kubernetes.audit.user", []),
        ("not.a.field", []),
    ],
)
def test_field_values(field: str, expected: list[Any]) -> None:
    assert ACCESS.values(field)(EVENT) == expected


def test_empty_username_is_missing_so_not_exists_matches() -> None:
    assert not ACCESS.present("kubernetes.audit.user.username")(EVENT)
    assert not ACCESS.present("user.name")(EVENT)
    assert ACCESS.present("kubernetes.audit.user")(EVENT)


def test_request_object_without_metadata_is_empty() -> None:
    raw = {"auditID": "a", "verb": "get", "requestObject": {"metadata": {"name": "x"}}}
    assert not ACCESS.present("kubernetes.audit.requestObject")(raw)
    assert ACCESS.elements("kubernetes.audit.requestObject")[0](raw) == []


@pytest.mark.parametrize(
    ("decision", "outcome"),
    [("allow", ["success"]), ("forbid", ["failure"]), ("Allow", []), ("", []), (None, [])],
)
def test_outcome_comes_from_the_exact_decision(decision: str | None, outcome: list[str]) -> None:
    raw = {
        "auditID": "a",
        "verb": "get",
        "annotations": {"authorization.k8s.io/decision": decision},
    }
    assert ACCESS.values("event.outcome")(raw) == outcome


@pytest.mark.parametrize(
    "ips",
    [["10.0.0.1", "not-an-ip"], ["10.0.0.1", ""], ["10.0.0.1", None], ["010.0.0.1"], [], None],
)
def test_source_ip_is_absent_unless_every_entry_is_an_address(ips: Any) -> None:
    raw = {"auditID": "a", "verb": "get", "sourceIPs": ips}
    for field in ("source.ip", "client.ip", "related.ip"):
        assert ACCESS.values(field)(raw) == []
        assert not ACCESS.present(field)(raw)


def test_source_ip_validity_is_remembered_per_address_not_per_event() -> None:
    get = ACCESS.values("source.ip")
    good = {"auditID": "a", "verb": "get", "sourceIPs": ["192.0.2.1"]}
    bad = {"auditID": "b", "verb": "get", "sourceIPs": ["192.0.2.1", "proxy"]}
    assert [get(good), get(bad), get(good)] == [["192.0.2.1"], [], ["192.0.2.1"]]


def test_constants_are_folded_and_unknown_fields_never_exist() -> None:
    assert ACCESS.constant("event.dataset") == ["kubernetes.audit_logs"]
    assert ACCESS.constant("data_stream.dataset") == ["kubernetes.audit_logs"]
    assert ACCESS.constant("event.kind") == ["event"]
    assert ACCESS.constant("orchestrator.type") == ["kubernetes"]
    assert ACCESS.constant("host.name") == []
    assert ACCESS.constant("kubernetes.audit.verb") is None
    assert ACCESS.constant("orchestrator") is None
    assert ACCESS.values("event.dataset")(EVENT) == ["kubernetes.audit_logs"]


def test_nested_query_over_containers_is_correlated_per_element() -> None:
    objects, inner = ACCESS.elements("kubernetes.audit.requestObject.spec.containers")
    containers = objects(EVENT)
    privileged = inner.values("securityContext.privileged")
    image = inner.values("image")
    flagged = [
        c for c in containers if True in privileged(c) and not image(c)[0].startswith("alpine")
    ]
    assert flagged == []
    assert [image(c) for c in containers] == [["alpine:3"], ["evil:1"]]


def test_nested_query_on_an_object_keeps_the_view_rules_below_it() -> None:
    objects, inner = ACCESS.elements("kubernetes.audit.requestObject")
    assert objects(EVENT) == [EVENT]
    assert inner.values("spec.containers.image")(EVENT) == ["alpine:3", "evil:1"]
    assert inner.values("metadata.name")(EVENT) == []
    annotations, within = ACCESS.elements("kubernetes.audit.annotations")
    assert annotations(EVENT) == [EVENT]
    assert within.values("authorization_k8s_io/decision")(EVENT) == ["allow"]
    assert within.constant("authorization_k8s_io/decision") is None
    derived, below = ACCESS.elements("orchestrator")
    assert derived(EVENT) == [EVENT]
    assert below.values("resource.type")(EVENT) == ["pods"]
    assert sorted(below.everything()(EVENT)) == ["audit.k8s.io/v1", "kubernetes", "ns", "p", "pods"]


def test_annotation_keys_with_many_underscores_are_found_by_scanning() -> None:
    key = "a.b.c.d.e.f.g/h"
    raw = {"auditID": "a", "verb": "get", "annotations": {key: "v", "other": "w"}}
    assert view.annotation_candidates("a_b_c_d_e_f_g/h") is None
    assert ACCESS.values("kubernetes.audit.annotations.a_b_c_d_e_f_g/h")(raw) == ["v"]


def test_colliding_annotation_keys_keep_the_smallest_raw_key() -> None:
    raw = {"auditID": "a", "verb": "get", "annotations": {"x_y": "underscore", "x.y": "dot"}}
    assert ACCESS.values("kubernetes.audit.annotations.x_y")(raw) == ["dot"]
    assert view.document(raw)["kubernetes"]["audit"]["annotations"] == {"x_y": "dot"}


def test_view_reads_the_event_in_place_without_changing_it() -> None:
    before = json.dumps(EVENT, sort_keys=True)
    for field in view.DERIVED_FIELDS:
        ACCESS.values(field)(EVENT)
    ACCESS.everything()(EVENT)
    view.document(EVENT)
    assert json.dumps(EVENT, sort_keys=True) == before


def test_json_access_crosses_dotted_keys_and_arrays() -> None:
    access = documents.JsonFieldAccess()
    doc = {
        "a": {"b": [1, "", {"c": 2}], "b.c": 3},
        "a.b": {"c": 4},
        "x": [{"y": 1}, {"y": [2, None]}],
    }
    assert access.values("a.b")(doc) == [1]
    assert sorted(access.values("a.b.c")(doc)) == [2, 3, 4]
    assert access.values("x.y")(doc) == [1, 2]
    assert access.present("a")(doc)
    assert not access.present("a.z")(doc)
    assert access.elements("x")[0](doc) == [{"y": 1}, {"y": [2, None]}]
