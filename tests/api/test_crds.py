"""The committed CRDs are exactly what the models generate, and they say what users need."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from audithound.api import crdgen

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"


@pytest.mark.parametrize("definition", crdgen.DEFINITIONS, ids=lambda d: d.kind)
def test_committed_crd_matches_the_models(definition: crdgen.Definition) -> None:
    committed = (CRDS / crdgen.file_name(definition)).read_text()
    assert committed == crdgen.render(definition), (
        "crds/ is stale: run `make crds` (audithound crds --write crds) and commit the result"
    )


def _walk(schema: dict[str, object], path: str = "") -> list[str]:
    """Paths of schema nodes that break Kubernetes' structural-schema rules."""
    bad = []
    if "type" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        bad.append(f"{path or '/'}: no type")
    for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "title", "const"):
        if forbidden in schema:
            bad.append(f"{path}: {forbidden}")
    properties = schema.get("properties", {})
    assert isinstance(properties, dict)
    for name, child in properties.items():
        bad.extend(_walk(child, f"{path}.{name}"))
    items = schema.get("items")
    if isinstance(items, dict):
        bad.extend(_walk(items, f"{path}[]"))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        bad.extend(_walk(extra, f"{path}{{}}"))
    return bad


@pytest.mark.parametrize("definition", crdgen.DEFINITIONS, ids=lambda d: d.kind)
def test_schema_is_structural(definition: crdgen.Definition) -> None:
    assert _walk(crdgen.openapi_schema(definition.model)) == []


def test_detection_rule_crd_names_columns_and_defaults() -> None:
    crd = yaml.safe_load((CRDS / "detectionrules.audithound.io.yaml").read_text())
    spec = crd["spec"]
    assert spec["scope"] == "Cluster"
    assert spec["names"]["shortNames"] == ["dr", "drule"]
    assert spec["names"]["categories"] == ["audithound"]
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns[:5] == ["Severity", "Risk", "Type", "Enabled", "Ready"]
    rule_spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(rule_spec["required"]) == {"query", "severity", "riskScore"}
    defaults = {
        name: field["default"]
        for name, field in rule_spec["properties"].items()
        if "default" in field
    }
    assert defaults == {
        "description": "",
        "enabled": True,
        "type": "query",
        "language": "kuery",
        "interval": "5m",
        "from": "now-6m",
        "maxSignals": 100,
        "version": 1,
    }
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["kopf"]["x-kubernetes-preserve-unknown-fields"] is True


def test_security_alert_crd_is_useful_with_kubectl_get() -> None:
    crd = yaml.safe_load((CRDS / "securityalerts.audithound.io.yaml").read_text())
    version = crd["spec"]["versions"][0]
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns == [
        "Rule",
        "Severity",
        "User",
        "Source",
        "Verb",
        "URI",
        "State",
        "Count",
        "Reason",
        "Age",
    ]
    assert {field["jsonPath"] for field in version["selectableFields"]} == {
        ".spec.rule.name",
        ".spec.rule.severity",
        ".spec.workflowStatus",
    }
    event = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["event"]
    assert "requestObject" not in event["properties"]
    assert "responseObject" not in event["properties"]
