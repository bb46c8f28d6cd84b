"""The SecurityAlert custom resource as pydantic models: the one source of its CRD schema.

Fed by: ``audithound.alerts``, which fills an alert from a rule and a matching event.
Feeds: the Kubernetes sink (one small object per finding) and ``api.crdgen``.

An alert carries an allowlisted excerpt of the event, never request or response bodies:
those can hold secrets, and alerts are readable by more people than the audit log.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic

from audithound.api import common, rule

WorkflowStatus = Literal["open", "acknowledged", "closed"]

#: A group value: a string, or null for a field the event did not have (the API server keeps
#: a null only where the schema says nullable; elsewhere it prunes it).
GroupValue = Annotated[str | None, pydantic.WithJsonSchema({"type": "string", "nullable": True})]


class AlertedRule(common.Model):
    """The rule that fired, as it was when it fired."""

    name: str = pydantic.Field(description="metadata.name of the DetectionRule.")
    rule_id: str = pydantic.Field(description="The rule's stable id.")
    display_name: str
    version: int
    severity: rule.Severity
    risk_score: int = pydantic.Field(ge=0, le=100)
    threat: list[rule.Threat] = pydantic.Field(default_factory=list)


class UserInfo(common.Model):
    """Who made the request (no extra attributes: they can carry credentials' details)."""

    username: str | None = None
    uid: str | None = None
    groups: list[str] = pydantic.Field(default_factory=list)


class ObjectReference(common.Model):
    """The object the request touched."""

    resource: str | None = None
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None
    api_group: str | None = None
    api_version: str | None = None


class EventExcerpt(common.Model):
    """The allowlisted part of the audit event: who, from where, what, and the decision."""

    audit_id: str = pydantic.Field(alias="auditID")
    stage: str
    verb: str | None = None
    request_uri: str | None = pydantic.Field(default=None, alias="requestURI")
    user: UserInfo = pydantic.Field(default_factory=UserInfo)
    impersonated_user: UserInfo | None = None
    source_ips: list[str] = pydantic.Field(default_factory=list, alias="sourceIPs")
    user_agent: str | None = None
    object_ref: ObjectReference | None = None
    response_code: int | None = None
    decision: str | None = pydantic.Field(
        default=None, description="annotations authorization.k8s.io/decision."
    )
    authorization_reason: str | None = pydantic.Field(
        default=None, description="annotations authorization.k8s.io/reason."
    )
    stage_timestamp: str | None = None


class SuppressionTerm(common.Model):
    """One groupBy field and its value in the group (null: missing)."""

    field: str
    value: GroupValue = None


class Suppression(common.Model):
    """What an alert of a suppression group stands for."""

    terms: list[SuppressionTerm] = pydantic.Field(description="The group's values.")
    start: str | None = pydantic.Field(default=None, description="Its first event's time.")
    end: str | None = pydantic.Field(default=None, description="Its last event's time.")
    docs_count: int = pydantic.Field(
        default=0, ge=0, description="Findings merged into this alert after its first."
    )


class SecurityAlertSpec(common.Model):
    """One finding: which rule, why, when, the evidence, and its triage state."""

    rule: AlertedRule
    reason: str = pydantic.Field(description="One line: who did what from where.")
    event_time: str | None = pydantic.Field(
        default=None, description="The event's stageTimestamp (RFC 3339)."
    )
    detected_time: str = pydantic.Field(description="When AuditHound read the event.")
    event: EventExcerpt = pydantic.Field(
        description="The event that completed the finding: the matching event of a query "
        "rule, the event with the new term, the event that made a group reach its threshold."
    )
    group: dict[str, GroupValue] | None = pydantic.Field(
        default=None,
        description="new_terms and threshold: the values that define the finding, by field "
        "(the new term, the group's values); with alertSuppression also its groupBy values "
        "(null: the field was missing).",
    )
    count: int | None = pydantic.Field(
        default=None, ge=1, description="Events in the finding (threshold: the group's count)."
    )
    first_seen: str | None = pydantic.Field(
        default=None, description="Event time of the finding's first event (RFC 3339)."
    )
    last_seen: str | None = pydantic.Field(
        default=None, description="Event time of the finding's last event (RFC 3339)."
    )
    audit_ids: list[str] | None = pydantic.Field(
        default=None,
        alias="auditIDs",
        max_length=100,
        description="auditIDs of the finding's newest events, oldest first (at most 100).",
    )
    audit_ids_omitted: int | None = pydantic.Field(
        default=None,
        alias="auditIDsOmitted",
        ge=0,
        description="Events of the finding whose auditIDs are not listed.",
    )
    sample_events: list[EventExcerpt] | None = pydantic.Field(
        default=None,
        max_length=5,
        description="Excerpts of the finding's newest events, oldest first (at most 5).",
    )
    suppression: Suppression | None = pydantic.Field(
        default=None,
        description="alertSuppression: the group this alert stands for, kept current while "
        "the group is open (Kibana's kibana.alert.suppression.*).",
    )
    workflow_status: WorkflowStatus = pydantic.Field(
        default="open",
        description="Triage state, set by people (kubectl edit / patch); the operator never "
        "changes it after creating the alert.",
    )


class SecurityAlert(common.Resource):
    """A detection rule matched an audit event."""

    api_version: Literal["audithound.io/v1alpha1"] = "audithound.io/v1alpha1"
    kind: Literal["SecurityAlert"] = "SecurityAlert"
    spec: SecurityAlertSpec
