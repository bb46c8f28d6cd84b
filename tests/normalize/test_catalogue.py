"""The field catalogue documents every field the view produces, and nothing unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audithound.normalize import catalogue, view


def _leaf_paths(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for item in node:
            yield from _leaf_paths(item, path)
    else:
        yield path


def test_every_field_of_every_golden_document_is_catalogued(golden_raw: dict[str, Any]) -> None:
    unknown = [p for p in _leaf_paths(view.document(golden_raw)) if catalogue.lookup(p) is None]
    assert unknown == []


def test_the_fields_outside_kubernetes_audit_are_exactly_the_views() -> None:
    produced = set(view.DERIVED_FIELDS) | set(view.CONSTANTS)
    catalogued = {f.name for f in catalogue.FIELDS if not f.name.startswith("kubernetes.")}
    assert catalogued == produced


@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("kubernetes.audit.verb", "kubernetes.audit.verb"),
        ("kubernetes.audit.annotations.authorization_k8s_io/decision",) * 2,
        ("kubernetes.audit.annotations.example_com/owner", "kubernetes.audit.annotations.*"),
        (
            "kubernetes.audit.user.extra.authentication.kubernetes.io/pod-name",
            "kubernetes.audit.user.extra.*",
        ),
        ("kubernetes.audit.requestObject.spec.hostPID", "kubernetes.audit.requestObject.*"),
        ("kubernetes.audit.requestObject.spec.containers.image",) * 2,
        ("source.ip", "source.ip"),
    ],
)
def test_lookup_finds_the_field_or_its_family(field: str, entry: str) -> None:
    found = catalogue.lookup(field)
    assert found is not None
    assert found.name == entry


@pytest.mark.parametrize(
    "field",
    [
        "kubernetes.audit.annotations.authorization.k8s.io/decision",
        "kubernetes.audit.requestObject.metadata.labels.app",
        "kubernetes.audit.responseObject.metadata.name",
        "kubernetes.audit.usr.username",
        "event.category",
        "user.email",
    ],
)
def test_unreachable_fields_are_unknown(field: str) -> None:
    assert catalogue.lookup(field) is None
    assert not catalogue.is_known(field)


@pytest.mark.parametrize(
    "field", ["kubernetes", "kubernetes.audit", "kubernetes.audit.user", "orchestrator.resource"]
)
def test_objects_holding_fields_are_known(field: str) -> None:
    assert catalogue.lookup(field) is None
    assert catalogue.is_known(field)


def test_markdown_table_has_one_row_per_field() -> None:
    table = catalogue.markdown_table()
    lines = table.splitlines()
    assert lines[0] == "| Field | Type | List | Source | Description |"
    assert len(lines) == 2 + len(catalogue.FIELDS)
    assert "| `source.ip` | ip | yes | `sourceIPs` |" in table
    assert table.endswith("|\n")
