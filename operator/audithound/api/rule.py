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
import pydantic_core

from audithound.api import common
from audithound.api import exceptions as exception_api

Severity = Literal["low", "medium", "high", "critical"]

#: The rule types that run here, Kibana's names. Each type's own fields are named below.
RuleType = Literal["query", "new_terms", "threshold", "eql"]

#: Fields of the spec that only one rule type reads, by type.
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "query": (),
    "new_terms": ("new_terms_fields", "history_window_start"),
    "threshold": ("threshold",),
    "eql": (),
}

#: The query language of each rule type (Kibana's: an eql rule is written in EQL, the others
#: in KQL; Lucene is not supported).
LANGUAGES: dict[str, str] = {
    "query": "kuery",
    "new_terms": "kuery",
    "threshold": "kuery",
    "eql": "eql",
}

#: Elastic's risk-score bands: 0-21 low, 22-47 medium, 48-73 high, 74-100 critical.
RISK_BANDS: dict[str, tuple[int, int]] = {
    "low": (0, 21),
    "medium": (22, 47),
    "high": (48, 73),
    "critical": (74, 100),
}

#: Seconds per duration unit.
UNIT_SECONDS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: Longest duration a rule may name (``interval``, the look-back of ``from``), in seconds:
#: 365 days. Elastic's shipped rules go up to 12h (interval), now-7d (from) and now-30d (a
#: new-terms history window), so no rule of theirs is refused; a year subtracted from or added
#: to any time between the years 2 and 9998 stays inside Python's datetime range, and the
#: epoch-aligned interval start of any time since 1970 is after 1969 (unbounded, ``99999999999d``
#: overflowed ``timedelta`` in every batch that matched).
MAX_DURATION_SECONDS = 365 * 86400

#: Longest text of a duration field: the bound above has at most 8 digits, so 32 characters
#: refuse nothing valid and keep the API server's CEL cost estimate small.
DURATION_MAX_LENGTH = 32


def seconds(text: str) -> int:
    """``5m`` -> 300, ``now-6m`` -> 360 (the form is the schema's; the number may be long)."""
    digits = text.removeprefix("now-")
    return int(digits[:-1]) * UNIT_SECONDS[digits[-1]]


def _too_long(prefix: str) -> str:
    return (
        f"must be at most {prefix}365d ({prefix}8760h, {prefix}525600m, {prefix}31536000s), "
        "so that time arithmetic on it never overflows"
    )


def _bound(prefix: str) -> pydantic.AfterValidator:
    """The bound of a duration written after ``prefix``, checked by pydantic."""
    message = _too_long(prefix)

    def bounded(text: str) -> str:
        # More than 9 digits is over the bound in any unit: int() of it is never tried.
        if len(text) > len(prefix) + 10 or seconds(text) > MAX_DURATION_SECONDS:
            raise pydantic_core.PydanticCustomError("duration_too_long", message)
        return text

    return pydantic.AfterValidator(bounded)


def _cel_bound(prefix: str) -> pydantic.JsonValue:
    """The same bound for the API server: a CRD validation rule in CEL. It passes values of
    the wrong form, which the schema's ``pattern`` reports."""
    start = len(prefix)
    number = f"self.substring({start}, size(self) - 1)"
    units = ", ".join(f"'{unit}': {factor}" for unit, factor in UNIT_SECONDS.items())
    return {
        "rule": f"!self.matches('^{prefix}[1-9][0-9]*[smhd]$') || (size(self) <= {start + 10} "
        f"&& int({number}) * {{{units}}}[self.substring(size(self) - 1)] "
        f"<= {MAX_DURATION_SECONDS})",
        "message": _too_long(prefix),
    }


def _duration_schema(prefix: str) -> Any:
    return pydantic.Field(
        pattern=f"^{prefix}[1-9][0-9]*[smhd]$",
        max_length=DURATION_MAX_LENGTH,
        json_schema_extra={"x-kubernetes-validations": [_cel_bound(prefix)]},
    )


#: A duration: a positive whole number and a unit s, m, h or d (``5m``), at most 365d.
Duration = Annotated[str, _duration_schema(""), _bound("")]
#: A look-back in Elastic's date math, ``now-`` and a duration (``now-6m``), at most now-365d.
Lookback = Annotated[str, _duration_schema("now-"), _bound("now-")]

#: Largest rule version: int32's maximum, which every consumer's integer holds (Elastic's
#: ``version`` is an integer of at least 1 with no stated maximum; its rules stay in the
#: hundreds).
MAX_VERSION = 2**31 - 1


class MitreReference(common.StrictModel):
    """A MITRE ATT&CK tactic, technique or sub-technique."""

    id: str = pydantic.Field(description="ATT&CK id, e.g. TA0001, T1078, T1078.001.")
    name: str = pydantic.Field(description="ATT&CK name, e.g. Valid Accounts.")
    reference: str = pydantic.Field(description="URL of the ATT&CK page.")


class MitreTechnique(MitreReference):
    """A technique with its sub-techniques."""

    subtechnique: list[MitreReference] = pydantic.Field(
        default_factory=list, description="Sub-techniques, e.g. T1078.001 Default Accounts."
    )


class Threat(common.StrictModel):
    """One tactic of a threat framework and the techniques of it that the rule detects."""

    framework: str = pydantic.Field(default="MITRE ATT&CK", description="The framework.")
    tactic: MitreReference
    technique: list[MitreTechnique] = pydantic.Field(default_factory=list)


#: A document field name (``user.name``, ``kubernetes.audit.objectRef.resource``).
FieldName = Annotated[str, pydantic.Field(min_length=1, max_length=256)]


class ThresholdCardinality(common.StrictModel):
    """Distinct values of ``field`` a threshold group must hold (Kibana's cardinality)."""

    field: FieldName = pydantic.Field(description="The field whose distinct values count.")
    value: int = pydantic.Field(
        ge=1, le=10000, description="Distinct values of the field needed within the window."
    )


class Threshold(common.StrictModel):
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


#: Seconds per unit of a suppression duration (Kibana's units: s, m, h).
SUPPRESSION_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600}


class SuppressionDuration(common.StrictModel):
    """How long a suppression group stays open after its alert: Kibana's ``{value, unit}``."""

    value: int = pydantic.Field(ge=1, le=MAX_DURATION_SECONDS, description="A whole number.")
    unit: Literal["s", "m", "h"] = pydantic.Field(description="s, m or h.")

    @property
    def seconds(self) -> int:
        return self.value * SUPPRESSION_UNITS[self.unit]


class AlertSuppression(common.StrictModel):
    """Kibana's alert_suppression: one alert per group of matches instead of one per match."""

    group_by: list[FieldName] = pydantic.Field(
        default_factory=list,
        max_length=3,
        description="1-3 fields whose values form a group (a query rule's array field: one "
        "group per value; new_terms: the whole array). Threshold rules may leave it empty: "
        "their threshold.field groups.",
    )
    duration: SuppressionDuration | None = pydantic.Field(
        default=None,
        description="Time-window mode: matches of a group update its alert, created within "
        "this window and not closed, instead of creating alerts. Without it, a group lasts "
        "one rule interval.",
    )
    missing_fields_strategy: Literal["suppress", "doNotSuppress"] = pydantic.Field(
        default="suppress",
        description="Events missing a groupBy field: suppress (missing is a group value of "
        "its own, null) or doNotSuppress (each such event alerts alone).",
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
    {
        "rule": "(self.type == 'eql') == (has(self.language) && self.language == 'eql')",
        "message": "eql rules need language eql, and language eql is only for eql rules",
    },
]


class DetectionRuleSpec(common.StrictModel):
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
        "look-back), eql (an EQL query: each matching event, or each completed sequence, is "
        "an alert).",
    )
    language: Literal["kuery", "eql"] = pydantic.Field(
        default="kuery",
        description="Query language: kuery (Elastic's KQL) for query, new_terms and "
        "threshold rules; eql (Elastic's EQL) for eql rules.",
    )
    query: str = pydantic.Field(
        min_length=1,
        description="The KQL or EQL query, over the fields of Elastic's Kubernetes audit_logs "
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
        default="5m",
        description="Length of one run: maxSignals counts per interval. A whole number and a "
        "unit s, m, h or d, from 1s to 365d.",
    )
    from_: Lookback = pydantic.Field(
        default="now-6m",
        alias="from",
        description="Look-back of a run: now- and a duration, at most now-365d. The operator "
        "starts this far back when it has no saved read position.",
    )
    max_signals: int = pydantic.Field(
        default=100,
        ge=1,
        le=10000,
        description="Most alerts the rule creates per interval, 1-10000 (Elastic caps a run "
        "at 1000 by default: xpack.alerting.rules.run.alerts.max).",
    )
    new_terms_fields: list[FieldName] | None = pydantic.Field(
        default=None,
        min_length=1,
        max_length=3,
        description="new_terms: the fields whose value, or combination of values, must be "
        "new (1-3).",
    )
    history_window_start: Lookback | None = pydantic.Field(
        default=None,
        description="new_terms: how far back a term counts as seen (now-7d); must reach "
        "further back than from.",
    )
    threshold: Threshold | None = pydantic.Field(
        default=None, description="threshold: the grouping and the count that alert."
    )
    alert_suppression: AlertSuppression | None = pydantic.Field(
        default=None,
        description="One alert per group of matches (Kibana's alert suppression): later "
        "matches update the group's alert (count, last seen, newest events).",
    )
    exceptions: list[exception_api.ExceptionItem] = pydantic.Field(
        default_factory=list,
        max_length=exception_api.ITEMS_MAX,
        description="Exception items (Kibana's): a match that meets every entry of some item "
        "raises no alert, and counts as excepted.",
    )
    exceptions_list: list[exception_api.ExceptionListReference] = pydantic.Field(
        default_factory=list,
        max_length=20,
        description="DetectionExceptions whose items apply to this rule too.",
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
    version: int = pydantic.Field(
        default=1,
        ge=1,
        le=MAX_VERSION,
        description="Version of the rule's logic, 1 to 2147483647.",
    )

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
        wanted = LANGUAGES[self.type]
        if self.language != wanted:
            if self.type == "eql":
                raise ValueError("type eql needs language eql")
            raise ValueError(
                f"language {self.language} is only for type eql rules, not {self.type}"
            )
        suppression = self.alert_suppression
        if suppression is not None:
            if not suppression.group_by and self.type != "threshold":
                raise ValueError("alertSuppression.groupBy needs 1-3 fields")
            if self.type == "threshold" and suppression.duration is None:
                raise ValueError(
                    "alertSuppression of a threshold rule needs a duration (Kibana's threshold "
                    "rules suppress per time period only)"
                )
            if suppression.duration is not None and (
                suppression.duration.seconds > MAX_DURATION_SECONDS
            ):
                raise ValueError(f"alertSuppression.duration {_too_long('')}")
        if self.history_window_start is not None and seconds(self.history_window_start) <= seconds(
            self.from_
        ):
            raise ValueError(
                f"historyWindowStart {self.history_window_start} must reach further back "
                f"than from {self.from_}"
            )
        return self


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
