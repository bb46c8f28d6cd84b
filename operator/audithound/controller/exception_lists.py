"""DetectionExceptions in the operator: their status, and the rules a change re-applies.

Fed by: the DetectionException handler (``handlers``), with what the registry found in the
resource and the rules whose outcome its change altered. Feeds: the resource's own status
(Ready, item and value counts, the rules that use it) and the Ready status of those rules,
patched through the API since the change did not come through their own watch events.

As for rules, a status is a pure function of the specs, the same on every instance, and is
written only when it differs.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client import exceptions as api_exceptions

from audithound.api import common, conditions, crdgen
from audithound.controller import status
from audithound.rules import compiler, library
from audithound.rules import registry as registry_

LOG = logging.getLogger("audithound.controller")

#: Seconds for one status read or write (as the summaries writer's).
REQUEST_TIMEOUT = 10

PLURAL = "detectionexceptions"


def status_patch(
    checked: library.Checked,
    users: list[str],
    *,
    generation: int | None,
    current: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The status merge patch of a DetectionException, or None when it says it already."""
    spec = checked.spec
    items = len(spec.items) if spec is not None else 0
    values = sum(len(value_list.values) for value_list in spec.value_lists) if spec else 0
    if checked.errors:
        ready: common.ConditionStatus = "False"
        reason = library.LISTS_INVALID
        message = "; ".join(problem.short() for problem in checked.errors)
    else:
        ready, reason = "True", library.VALID
        message = f"Valid; {items} item(s), {values} value(s); used by {len(users)} rule(s)"
        warnings = [problem.short() for problem in checked.problems if not problem.is_error]
        if warnings:
            message += "; warnings: " + "; ".join(warnings)
    existing = list(current.get("conditions") or [])
    wanted = conditions.set_condition(
        existing,
        type_=conditions.READY,
        status=ready,
        reason=reason,
        message=message[: status.MESSAGE_LIMIT],
        generation=generation,
        now=common.timestamp(),
    )
    patch = {
        "observedGeneration": generation,
        "conditions": wanted,
        "items": items,
        "values": values,
        "rules": users,
    }
    if conditions.same(existing, wanted) and all(
        current.get(key) == patch[key] for key in ("observedGeneration", "items", "values", "rules")
    ):
        return None
    return patch


def refresh_rules(api: client.ApiClient, changed: Mapping[str, compiler.Outcome]) -> None:
    """Write the Ready status of rules that a DetectionException change re-applied (in a
    thread: these are blocking API calls)."""
    custom = client.CustomObjectsApi(api)
    for name, outcome in changed.items():
        try:
            body = _get(custom, "detectionrules", name)
            spec = body.get("spec") or {}
            patch = status.desired_patch(
                outcome,
                enabled=spec.get("enabled", True) is not False,
                generation=body.get("metadata", {}).get("generation"),
                current=body.get("status") or {},
            )
            if patch is None:
                continue
            _patch_status(custom, "detectionrules", name, patch)
        except api_exceptions.ApiException as error:
            # The rule's next watch event writes it; its outcome is already in the registry.
            LOG.warning(
                "Failed to update rule status", extra={"rule": name, "status": error.status}
            )


def refresh_lists(
    api: client.ApiClient, registry: registry_.Registry, known: dict[str, list[str]]
) -> None:
    """Write the status of every DetectionException whose users changed since ``known``
    (the users last written, by name; updated here): most rule events change none."""
    custom = client.CustomObjectsApi(api)
    for name in registry.exception_names():
        checked, users = registry.exception_status(name)
        if checked is None or known.get(name) == users:
            continue
        known[name] = users
        try:
            body = _get(custom, PLURAL, name)
            patch = status_patch(
                checked,
                users,
                generation=body.get("metadata", {}).get("generation"),
                current=body.get("status") or {},
            )
            if patch is None:
                continue
            _patch_status(custom, PLURAL, name, patch)
        except api_exceptions.ApiException as error:
            LOG.warning(
                "Failed to update DetectionException status",
                extra={"detectionexception": name, "status": error.status},
            )


def _patch_status(
    custom: client.CustomObjectsApi, plural: str, name: str, patch: dict[str, Any]
) -> None:
    custom.patch_cluster_custom_object_status(
        crdgen.GROUP,
        crdgen.VERSION,
        plural,
        name,
        {"status": patch},
        _content_type="application/merge-patch+json",
        _request_timeout=REQUEST_TIMEOUT,
    )


def _get(custom: client.CustomObjectsApi, plural: str, name: str) -> dict[str, Any]:
    body = custom.get_cluster_custom_object(
        crdgen.GROUP, crdgen.VERSION, plural, name, _request_timeout=REQUEST_TIMEOUT
    )
    return typing.cast(dict[str, Any], body)
