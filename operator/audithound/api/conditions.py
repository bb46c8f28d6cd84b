"""Status conditions: the one helper that sets them, and the types and reasons we use.

Fed by: the controller, with what it learned about a rule. Feeds: the status patch. The
helper moves ``lastTransitionTime`` only when ``status`` changes and stamps
``observedGeneration``, as Kubernetes API conventions ask, so rewriting an unchanged
condition is a no-op and several operator instances agree on the result.
"""

from __future__ import annotations

from typing import Any

from audithound.api import common

#: True when the rule compiled and is evaluated against every event read.
READY = "Ready"

# Reasons of Ready.
COMPILED = "Compiled"  # True: the query compiled; warnings, if any, are in the message.
QUERY_INVALID = "QueryInvalid"  # False: the query does not parse; message has the position.
SPEC_INVALID = "SpecInvalid"  # False: a spec field is invalid (schema-valid but unusable).
DISABLED = "Disabled"  # False: spec.enabled is false.
EXCEPTIONS_INVALID = "ExceptionsInvalid"  # False: an exception item cannot be applied.
EXCEPTION_LIST_MISSING = (
    "ExceptionListMissing"  # False: a DetectionException it needs is not there.
)


def set_condition(
    conditions: list[dict[str, Any]],
    *,
    type_: str,
    status: common.ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """A copy of ``conditions`` with the condition of ``type_`` set (wire dicts, camelCase)."""
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = now
    if previous is not None and previous.get("status") == status:
        transition = previous.get("lastTransitionTime", now)
    updated = common.Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    ).model_dump(by_alias=True, exclude_none=True)
    return [c for c in conditions if c.get("type") != type_] + [updated]


def same(conditions: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    """Whether two condition lists say the same thing (ignoring transition times)."""

    def key(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (
                c.get("type"),
                c.get("status"),
                c.get("reason"),
                c.get("message"),
                c.get("observedGeneration"),
            )
            for c in items
        )

    return key(conditions) == key(wanted)
