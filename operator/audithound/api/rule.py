"""The DetectionRule custom resource as pydantic models: the one source of its CRD schema.

Fed by: YAML files (``audithound scan``, ``rules check``) and the Kubernetes watch (the
operator). Feeds: ``audithound.rules``, which compiles a validated spec, and
``audithound.api.crdgen``, which writes ``crds/`` from these classes.

The spec mirrors Elastic's detection rule schema (camelCase here, snake_case there) so that a
rule carries over field by field. Defaults live here, not in code: the generated CRD carries
them, so the API server fills them in and ``kubectl get -o yaml`` shows the effective rule.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic

from audithound.api import common

Severity = Literal["low", "medium", "high", "critical"]

#: Elastic's risk-score bands: 0-21 low, 22-47 medium, 48-73 high, 74-100 critical.
RISK_BANDS: dict[str, tuple[int, int]] = {
    "low": (0, 21),
    "medium": (22, 47),
    "high": (48, 73),
    "critical": (74, 100),
}

Duration = Annotated[
    str,
    pydantic.Field(
        pattern=r"^[1-9][0-9]*[smhd]$",
        description="A duration: a positive whole number and a unit s, m, h or d (5m).",
    ),
]


class MitreReference(common.Model):
    """A MITRE ATT&CK tactic, technique or sub-technique."""

    id: str = pydantic.Field(description="ATT&CK id, e.g. TA0001, T1078, T1078.001.")
    name: str = pydantic.Field(description="ATT&CK name, e.g. Valid Accounts.")
    reference: str = pydantic.Field(description="URL of the ATT&CK page.")


class MitreTechnique(MitreReference):
    """A technique with its sub-techniques."""

    subtechnique: list[MitreReference] = pydantic.Field(
        default_factory=list, description="Sub-techniques, e.g. T1078.001 Default Accounts."
    )


class Threat(common.Model):
    """One tactic of a threat framework and the techniques of it that the rule detects."""

    framework: str = pydantic.Field(default="MITRE ATT&CK", description="The framework.")
    tactic: MitreReference
    technique: list[MitreTechnique] = pydantic.Field(default_factory=list)


class DetectionRuleSpec(common.Model):
    """What to detect and how to report it; field names follow Elastic's rule schema."""

    rule_id: str | None = pydantic.Field(
        default=None,
        description="Stable id of the rule across renames and versions (Elastic's rule_id). "
        "Defaults to metadata.name.",
        max_length=256,
    )
    display_name: str | None = pydantic.Field(
        default=None,
        description="Human-readable name (Elastic's name). Defaults to metadata.name.",
        max_length=256,
    )
    description: str = pydantic.Field(default="", description="What the rule detects and why.")
    enabled: bool = pydantic.Field(default=True, description="Whether the rule runs.")
    type: Literal["query"] = pydantic.Field(
        default="query",
        description="Rule type. Only query rules exist yet (new_terms, threshold and eql "
        "will come).",
    )
    language: Literal["kuery"] = pydantic.Field(
        default="kuery", description="Query language: kuery (Elastic's KQL)."
    )
    query: str = pydantic.Field(
        min_length=1,
        description="The KQL query, over the fields of Elastic's Kubernetes audit_logs "
        "documents (kubernetes.audit.*, event.*, user.name, source.ip ...).",
    )
    severity: Severity = pydantic.Field(description="Alert severity.")
    risk_score: int = pydantic.Field(
        ge=0,
        le=100,
        description="Risk score 0-100 (Elastic's bands: 0-21 low, 22-47 medium, "
        "48-73 high, 74-100 critical).",
    )
    interval: Duration = pydantic.Field(
        default="5m", description="Length of one run: maxSignals counts per interval."
    )
    from_: str = pydantic.Field(
        default="now-6m",
        alias="from",
        pattern=r"^now-[1-9][0-9]*[smhd]$",
        description="Look-back of a run (now-6m). The operator starts this far back when it "
        "has no saved read position.",
    )
    max_signals: int = pydantic.Field(
        default=100, ge=1, le=10000, description="Most alerts the rule creates per interval."
    )
    tags: list[str] = pydantic.Field(default_factory=list)
    threat: list[Threat] = pydantic.Field(default_factory=list, description="MITRE ATT&CK mapping.")
    references: list[str] = pydantic.Field(default_factory=list)
    false_positives: list[str] = pydantic.Field(
        default_factory=list, description="Known benign causes of alerts."
    )
    note: str | None = pydantic.Field(default=None, description="Investigation guide (Markdown).")
    setup: str | None = pydantic.Field(
        default=None, description="What the cluster must log for the rule to work (Markdown)."
    )
    author: list[str] = pydantic.Field(default_factory=list)
    license: str | None = None
    version: int = pydantic.Field(default=1, ge=1, description="Version of the rule's logic.")


class DetectionRuleStatus(common.Model):
    """Whether the rule is live, and what it did lately. Written only by the operator."""

    model_config = pydantic.ConfigDict(extra="ignore")

    observed_generation: int | None = pydantic.Field(
        default=None, description="The generation of the spec that this status describes."
    )
    conditions: list[common.Condition] = pydantic.Field(
        default_factory=list,
        description="Ready: True when the rule compiled and runs (reason Compiled), False "
        "when it cannot (QueryInvalid, SpecInvalid) or must not (Disabled).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    fields: list[str] = pydantic.Field(
        default_factory=list, description="Document fields the query reads."
    )
    execution: dict[str, common.ExecutionSummary] = pydantic.Field(
        default_factory=dict,
        description="Per operator instance (node name): what the rule did in its current "
        "interval. Each instance writes only its own key, so instances never fight.",
    )
    kopf: dict[str, Any] | None = pydantic.Field(
        default=None,
        description="The operator framework's own bookkeeping (kept in status, not in "
        "annotations, so that GitOps tools see no drift).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class DetectionRule(common.Resource):
    """A detection: a KQL query over audit events and how to report its matches."""

    api_version: Literal["audithound.io/v1alpha1"] = "audithound.io/v1alpha1"
    kind: Literal["DetectionRule"] = "DetectionRule"
    spec: DetectionRuleSpec
    status: DetectionRuleStatus | None = None
