"""CustomResourceDefinitions generated from the pydantic models.

Fed by: the resource models (``api.rule``, ``api.exceptions``, ``api.alert``) and their table
of names, columns and scope below. Feeds: ``audithound crds`` and the files in ``crds/``,
which a test regenerates and compares, so the committed CRDs can never drift from the models.

pydantic writes JSON Schema; Kubernetes wants a *structural* OpenAPI v3 schema: every node
typed, no ``$ref``, no ``anyOf`` with ``null``, no ``title``, and ``additionalProperties``
only as a schema. The conversion below does exactly that and nothing more.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic
import yaml

from audithound.api import alert, exceptions, rule

GROUP = "audithound.io"
VERSION = "v1alpha1"
CATEGORY = "audithound"


@dataclasses.dataclass(frozen=True)
class Column:
    """An ``additionalPrinterColumns`` entry of ``kubectl get``."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Definition:
    """Everything a CRD says besides the schema."""

    model: type[pydantic.BaseModel]
    kind: str
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[Column, ...]
    #: Fields usable with ``kubectl get --field-selector`` (Kubernetes 1.32+).
    selectable: tuple[str, ...] = ()


AGE = Column("Age", ".metadata.creationTimestamp", "date")

DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        model=rule.DetectionRule,
        kind="DetectionRule",
        plural="detectionrules",
        short_names=("dr", "drule"),
        columns=(
            Column("Severity", ".spec.severity"),
            Column("Risk", ".spec.riskScore", "integer"),
            Column("Type", ".spec.type"),
            Column("Enabled", ".spec.enabled", "boolean"),
            Column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            Column("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
            Column("Message", '.status.conditions[?(@.type=="Ready")].message', priority=1),
            AGE,
        ),
    ),
    Definition(
        model=exceptions.DetectionException,
        kind="DetectionException",
        plural="detectionexceptions",
        short_names=("dexc",),
        columns=(
            Column("Items", ".status.items", "integer"),
            Column("Values", ".status.values", "integer"),
            Column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            Column("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
            Column("Message", '.status.conditions[?(@.type=="Ready")].message', priority=1),
            AGE,
        ),
    ),
    Definition(
        model=alert.SecurityAlert,
        kind="SecurityAlert",
        plural="securityalerts",
        short_names=("secalert", "salert"),
        columns=(
            Column("Rule", ".spec.rule.name"),
            Column("Severity", ".spec.rule.severity"),
            Column("User", ".spec.event.user.username"),
            Column("Source", ".spec.event.sourceIPs[0]"),
            Column("Verb", ".spec.event.verb"),
            Column("URI", ".spec.event.requestURI"),
            Column("State", ".spec.workflowStatus"),
            Column("Count", ".spec.count", "integer", priority=1),
            Column("Reason", ".spec.reason", priority=1),
            AGE,
        ),
        selectable=(".spec.rule.name", ".spec.rule.severity", ".spec.workflowStatus"),
    ),
)

_DROPPED_KEYS = frozenset({"title"})


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Turn one pydantic JSON-schema node into a structural OpenAPI v3 node."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express anyOf {node['anyOf']} structurally")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if rest.get("default", ...) is None:
            del rest["default"]
        return _structural({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "additionalProperties" and isinstance(value, bool):
            continue
        elif key == "properties":
            out[key] = {name: _structural(child, defs) for name, child in value.items()}
        else:
            out[key] = _structural(value, defs)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
    if out.get("default", ...) is None:  # a field left out is absent, not null
        del out["default"]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def openapi_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The structural schema of a resource model, without the metadata Kubernetes owns."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.pop("$defs", {})
    converted: dict[str, Any] = _structural(schema, defs)
    properties = converted["properties"]
    properties["metadata"] = {"type": "object"}
    for fixed in ("apiVersion", "kind"):
        properties[fixed] = {"type": "string"}
    converted["required"] = [name for name in converted.get("required", []) if name != "metadata"]
    return converted


def crd(definition: Definition) -> dict[str, Any]:
    """The CustomResourceDefinition object of one resource."""
    schema = openapi_schema(definition.model)
    columns = [
        {
            "name": column.name,
            "type": column.type,
            "jsonPath": column.json_path,
            **({"priority": column.priority} if column.priority else {}),
            **({"description": column.description} if column.description else {}),
        }
        for column in definition.columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{definition.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": definition.kind,
                "listKind": f"{definition.kind}List",
                "plural": definition.plural,
                "singular": definition.kind.lower(),
                "shortNames": list(definition.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    **(
                        {"selectableFields": [{"jsonPath": path} for path in definition.selectable]}
                        if definition.selectable
                        else {}
                    ),
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def file_name(definition: Definition) -> str:
    """Where the CRD of a resource lives under ``crds/``."""
    return f"{definition.plural}.{GROUP}.yaml"


def render(definition: Definition) -> str:
    """The CRD as the YAML committed in ``crds/`` (stable key order, generated header)."""
    header = "# Generated by `audithound crds` from the pydantic models. Do not edit.\n"
    return header + yaml.safe_dump(crd(definition), sort_keys=False, width=100)


def render_all() -> str:
    """Every CRD as one multi-document YAML stream."""
    return "---\n".join(render(definition) for definition in DEFINITIONS)
