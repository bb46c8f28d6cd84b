"""Pieces shared by the audithound.io resources: the model base, metadata, conditions.

Fed by: nothing of ours; these are building blocks. Feeds: ``api.rule`` and ``api.alert``
(the resources), and ``api.crdgen`` (which reads their JSON schema).
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

import pydantic
import pydantic.alias_generators


def timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 in whole seconds, as Kubernetes writes its own times (default: now)."""
    return (moment or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Model(pydantic.BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are errors (typos)."""

    model_config = pydantic.ConfigDict(
        alias_generator=pydantic.alias_generators.to_camel,
        populate_by_name=True,
        extra="forbid",
    )


class StrictModel(Model):
    """A spec read exactly as the API server's schema types it, with no coercion.

    pydantic's lax mode would take ``riskScore: true`` as 1 and ``enabled: 'no'`` as false,
    which the API server refuses; here a bool is never a number, a string never a bool or a
    number, a number never a string. Fields are read by their wire names only (``riskScore``,
    never ``risk_score``, which the API server calls an unknown field). A ``null`` for a known
    field counts as absent, as the API server prunes nulls of non-nullable fields before
    defaulting; a ``null`` under an unknown name stays, to be reported as unknown.
    """

    model_config = pydantic.ConfigDict(strict=True, populate_by_name=False)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _prune_nulls(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = {field.alias or name for name, field in cls.model_fields.items()}
        return {key: value for key, value in data.items() if value is not None or key not in known}


class ObjectMeta(pydantic.BaseModel):
    """The parts of Kubernetes object metadata that AuditHound reads."""

    model_config = pydantic.ConfigDict(extra="allow")

    name: str = pydantic.Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="A DNS subdomain name.",
    )
    generation: int | None = None
    labels: dict[str, str] = pydantic.Field(default_factory=dict)
    annotations: dict[str, str] = pydantic.Field(default_factory=dict)


class Resource(Model):
    """A top-level Kubernetes object: apiVersion, kind, metadata."""

    model_config = pydantic.ConfigDict(extra="ignore")

    api_version: str
    kind: str
    metadata: ObjectMeta


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(Model):
    """One observation of the resource's state, keyed by ``type`` (Kubernetes conventions)."""

    type: str = pydantic.Field(description="Condition type, e.g. Ready.")
    status: ConditionStatus
    reason: str = pydantic.Field(description="CamelCase reason, e.g. Compiled, QueryInvalid.")
    message: str = pydantic.Field(default="", description="Details for humans.")
    last_transition_time: str = pydantic.Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = pydantic.Field(
        default=None, description="The generation this condition was computed for."
    )


class DetectorState(Model):
    """What a stateful rule's detector holds on one instance."""

    origin: Literal["new", "restored", "learned", "kept", "reset"] = pydantic.Field(
        description="Where the state came from: new (nothing known yet), restored (from the "
        "saved checkpoint), learned (from the audit logs on disk at a warm start), kept "
        "(across a spec change that did not touch the query, fields or windows), reset (such "
        "a change started it afresh)."
    )
    unit: str = pydantic.Field(
        description="What is counted: terms (new_terms), entries "
        "(threshold: events in open groups)."
    )
    held: int = pydantic.Field(ge=0, description="How many are held now.")
    cap: int = pydantic.Field(ge=0, description="The most that are held.")
    cap_reached: bool = pydantic.Field(
        default=False,
        description="Whether the cap was reached and the oldest were given up (new_terms: a "
        "given-up term alerts again when it comes back; threshold: a group may need more "
        "events).",
    )
    evicted: int = pydantic.Field(default=0, ge=0, description="How many were given up.")
    learned: int = pydantic.Field(
        default=0, ge=0, description="Events learned from the logs on disk before alerting."
    )


class LogLosses(Model):
    """What this instance could not read of its audit log since it started."""

    gaps: int = pydantic.Field(default=0, ge=0, description="Parts of the log not read.")
    lost_bytes: int = pydantic.Field(
        default=0, ge=0, description="Bytes lost, over the gaps whose size is known."
    )
    lost_lines: int = pydantic.Field(
        default=0, ge=0, description="Lines lost, over the gaps whose line count is known."
    )
    unmeasured: int = pydantic.Field(
        default=0,
        ge=0,
        description="Gaps whose size is not known: while above 0, the totals are lower bounds.",
    )


class ExecutionSummary(Model):
    """What a rule did in its current interval (Elastic's rule execution summary)."""

    interval_start: str | None = pydantic.Field(
        default=None, description="Start of the interval (RFC 3339); none before a match."
    )
    matches: int = pydantic.Field(
        default=0,
        description="Findings in the interval, alerted or not: for a query rule the events "
        "that matched its query.",
    )
    alerts_created: int = pydantic.Field(default=0, description="New alerts written.")
    duplicates: int = pydantic.Field(
        default=0, description="Matches whose alert already existed (replays, other readers)."
    )
    dropped: int = pydantic.Field(
        default=0, description="Matches not alerted because maxSignals was reached."
    )
    excepted: int = pydantic.Field(
        default=0, description="Matches that an exception item silenced (no alert, no state)."
    )
    suppressed: int = pydantic.Field(
        default=0,
        description="Findings merged into an open suppression group's alert (alertSuppression) "
        "instead of creating one.",
    )
    storm_dropped: int = pydantic.Field(
        default=0,
        description="Alerts within maxSignals not created because the operator's cap on "
        "alert creations per minute, over all rules, was reached (an alert storm).",
    )
    max_signals_reached: bool = pydantic.Field(
        default=False, description="Whether the interval hit maxSignals."
    )
    failures: int = pydantic.Field(
        default=0, description="Events on which the query raised an error (isolated)."
    )
    lag_seconds: float | None = pydantic.Field(
        default=None,
        description="How far behind the audit log this instance was at its last update "
        "(now minus the event time of the last line read).",
    )
    updated: str | None = pydantic.Field(default=None, description="When this was written.")
    state: DetectorState | None = pydantic.Field(
        default=None, description="new_terms and threshold rules: the detector's state."
    )
    log_losses: LogLosses | None = pydantic.Field(
        default=None,
        description="Set once this instance lost part of its audit log (rotated away unread, "
        "truncated without a copy, corrupt): events there were never evaluated, by any rule.",
    )
