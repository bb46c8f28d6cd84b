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

#: The rule types that run here, Kibana's names. Each type's own fields are named below.
RuleType = Literal["query", "new_terms", "threshold"]

#: Fields of the spec that only one rule type reads, by type.
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "query": (),
    "new_terms": ("new_terms_fields", "history_window_start"),
    "threshold": ("threshold",),
}

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


LookBack = Annotated[
    str,
    pydantic.Field(
        pattern=r"^now-[1-9][0-9]*[smhd]$",
        description="Date math back from now: now-6m, now-7d.",
    ),
]

#: A document field name (``user.name``, ``kubernetes.audit.objectRef.resource``).
FieldName = Annotated[str, pydantic.Field(min_length=1, max_length=256)]


class ThresholdCardinality(common.Model):
    """Distinct values of ``field`` a threshold group must hold (Kibana's cardinality)."""

    field: FieldName = pydantic.Field(description="The field whose distinct values count.")
    value: int = pydantic.Field(
        ge=1, le=10000, description="Distinct values of the field needed within the window."
    )


class Threshold(common.Model):
    """When a threshold rule alerts: Kibana's ``threshold`` object."""

    field: list[FieldName] = pydantic.Field(
        default_factory=list,
        max_length=3,
        description="Fields to group matching events by (0-3); an event missing one of "
        "them is left out, and each value of an array forms a group of its own.",
    )
    value: int = pydantic.Field(
        ge=1,
        le=100000,
        description="Events of one group, within the look-back window (from), that raise an alert.",
    )
    cardinality: list[ThresholdCardinality] = pydantic.Field(
        default_factory=list,
        max_length=1,
        description="At most one: the group must also hold this many distinct values of a field.",
    )


#: The type rules of the spec as CEL, so that the API server refuses at ``kubectl apply``
#: what the model refuses (the model's validator below says the same in Python).
_TYPE_RULES: list[pydantic.JsonValue] = [
    {
        "rule": "self.type != 'new_terms' || (has(self.newTermsFields) && "
        "has(self.historyWindowStart))",
        "message": "new_terms rules need newTermsFields and historyWindowStart",
    },
    {
        "rule": "self.type == 'new_terms' || (!has(self.newTermsFields) && "
        "!has(self.historyWindowStart))",
        "message": "newTermsFields and historyWindowStart are only for new_terms rules",
    },
    {
        "rule": "self.type != 'threshold' || has(self.threshold)",
        "message": "threshold rules need threshold",
    },
    {
        "rule": "self.type == 'threshold' || !has(self.threshold)",
        "message": "threshold is only for threshold rules",
    },
]


class DetectionRuleSpec(common.Model):
    """What to detect and how to report it; field names follow Elastic's rule schema."""

    model_config = pydantic.ConfigDict(json_schema_extra={"x-kubernetes-validations": _TYPE_RULES})

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
    type: RuleType = pydantic.Field(
        default="query",
        description="Rule type: query (each matching event is an alert), new_terms (an "
        "event whose value of newTermsFields was not seen within historyWindowStart), "
        "threshold (a group of matching events reaching threshold.value within the "
        "look-back).",
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
    new_terms_fields: list[FieldName] | None = pydantic.Field(
        default=None,
        min_length=1,
        max_length=3,
        description="new_terms: the fields whose value, or combination of values, must be "
        "new (1-3).",
    )
    history_window_start: LookBack | None = pydantic.Field(
        default=None,
        description="new_terms: how far back a term counts as seen (now-7d); must reach "
        "further back than from.",
    )
    threshold: Threshold | None = pydantic.Field(
        default=None, description="threshold: the grouping and the count that alert."
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

    @pydantic.model_validator(mode="after")
    def _type_fields(self) -> DetectionRuleSpec:
        """Each type's own fields are required by that type and refused by the others, as
        Kibana's rule schema does: a field that would be ignored is a mistake."""
        for kind, names in TYPE_FIELDS.items():
            for name in names:
                alias = DetectionRuleSpec.model_fields[name].alias or name
                given = getattr(self, name) is not None
                if kind == self.type and not given:
                    raise ValueError(f"type {self.type} needs {alias}")
                if kind != self.type and given:
                    raise ValueError(f"{alias} is only for type {kind} rules, not {self.type}")
        if self.history_window_start is not None and _seconds(
            self.history_window_start
        ) <= _seconds(self.from_):
            raise ValueError(
                f"historyWindowStart {self.history_window_start} must reach further back "
                f"than from {self.from_}"
            )
        return self


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(look_back: str) -> int:
    text = look_back.removeprefix("now-")
    return int(text[:-1]) * _UNIT_SECONDS[text[-1]]


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
