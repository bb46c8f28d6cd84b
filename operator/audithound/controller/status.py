"""What a DetectionRule's status should say, computed from its compile outcome.

Fed by: the rule handler, with the outcome and the status the API server holds now. Feeds:
a merge patch of the status subresource, or nothing when the status already says it: every
operator instance computes the same answer, so instances never undo each other's writes and
no write loops through the watch.
"""

from __future__ import annotations

from typing import Any

from audithound.api import common, conditions
from audithound.rules import compiler

#: Status messages are for humans in `kubectl get -o wide`; the full list is in the logs.
MESSAGE_LIMIT = 1000


def _ready(outcome: compiler.Outcome, enabled: bool) -> tuple[common.ConditionStatus, str, str]:
    errors = outcome.errors
    if errors:
        reason = next((problem.reason for problem in errors if problem.reason), "") or (
            conditions.QUERY_INVALID
            if any(problem.path == "spec.query" for problem in errors)
            else conditions.SPEC_INVALID
        )
        return "False", reason, "; ".join(problem.short() for problem in errors)
    if not enabled:
        return "False", conditions.DISABLED, "spec.enabled is false"
    message = "Compiled"
    if outcome.rule is not None:
        message += f"; reads {len(outcome.rule.fields)} field(s)"
    if outcome.warnings:
        message += "; warnings: " + "; ".join(problem.short() for problem in outcome.warnings)
    return "True", conditions.COMPILED, message


def desired_patch(
    outcome: compiler.Outcome,
    *,
    enabled: bool,
    generation: int | None,
    current: dict[str, Any],
) -> dict[str, Any] | None:
    """The status merge patch that makes ``current`` say what ``outcome`` means, or None."""
    status, reason, message = _ready(outcome, enabled)
    existing = list(current.get("conditions") or [])
    wanted = conditions.set_condition(
        existing,
        type_=conditions.READY,
        status=status,
        reason=reason,
        message=message[:MESSAGE_LIMIT],
        generation=generation,
        now=common.timestamp(),
    )
    fields = list(outcome.rule.fields) if outcome.rule is not None else []
    if (
        conditions.same(existing, wanted)
        and current.get("observedGeneration") == generation
        and (current.get("fields") or []) == fields
    ):
        return None
    return {"observedGeneration": generation, "conditions": wanted, "fields": fields}
