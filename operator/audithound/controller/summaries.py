"""Execution summaries: ``status.execution.<node>`` of each rule, from the audit loop's counts.

Fed by: the pipeline's per-rule counts of the current interval (matches, alerts, duplicates,
drops, failures), the state of stateful rules, what the reader lost of its log, and the audit
loop's lag. Feeds: the status subresource of DetectionRules,
one merge patch per rule whose counts moved, every ``--status-interval`` (a step of the
``status`` background loop, ``controller.loops``).

Lag and time of writing go along with a write but never cause one: an idle operator writes
nothing. A rule the API server refuses (deleted meanwhile, invalid patch) is skipped and
tried again next time; anything else (the API server unreachable) ends the step, and the
loop retries it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterable
from typing import Any

from kubernetes import client
from kubernetes.client import exceptions

from audithound.api import common, crdgen
from audithound.controller import settings as settings_
from audithound.controller import tailing
from audithound.rules import registry as registry_

LOG = logging.getLogger("audithound.controller.summaries")

#: Longest wait for one status patch (unit: seconds): a hung connection must not hang the loop.
REQUEST_TIMEOUT = 30.0


def current(loop: tailing.TailLoop, active: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each rule's counts in its current interval, its detector's state, and what this
    instance lost of its log (what, when changed, is worth a write). Called off the event
    loop: it waits for the audit loop's batch (the pipeline's lock)."""
    scan = loop.pipeline
    states = scan.rule_states()
    out: dict[str, dict[str, Any]] = {}
    for name, summary in scan.summaries().items():
        counts = summary.counts
        out[name] = {
            "intervalStart": common.timestamp(counts.interval_start),
            "matches": counts.matches,
            "alertsCreated": counts.alerts,
            "duplicates": counts.duplicates,
            "dropped": counts.dropped,
            "excepted": counts.excepted,
            "suppressed": counts.suppressed,
            "stormDropped": counts.storm_dropped,
            "maxSignalsReached": counts.limit_reached,
            "failures": summary.failures,
        }
    losses = loop.losses
    if losses.gaps:
        lost = {
            "gaps": losses.gaps,
            "lostBytes": losses.lost_bytes,
            "lostLines": losses.lost_lines,
            "unmeasured": losses.unmeasured,
        }
        for name in active:
            out.setdefault(name, {})["logLosses"] = lost
    for name, state in states.items():
        if state.size is None:
            continue
        out.setdefault(name, {})["state"] = {
            "origin": state.origin,
            "unit": state.size.unit,
            "held": state.size.held,
            "cap": state.size.cap,
            "capReached": state.size.cap_reached,
            "evicted": state.size.evicted,
            "learned": state.learned,
        }
    return out


class Writer:
    """Writes the summaries that changed since the last successful write of each rule."""

    def __init__(
        self,
        api: client.ApiClient,
        settings: settings_.OperatorSettings,
        registry: registry_.Registry,
        loop: tailing.TailLoop,
    ) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._node = settings.node_name
        self._registry = registry
        self._loop = loop
        self._written: dict[str, dict[str, Any]] = {}

    async def write(self) -> None:
        """One round: patch every active rule whose summary differs from what was written."""
        active = self._registry.ruleset.by_name
        summaries = await asyncio.to_thread(current, self._loop, list(active))
        for name, summary in summaries.items():
            if self._written.get(name) == summary or name not in active:
                continue
            now = datetime.datetime.now(datetime.UTC)
            lag = self._loop.progress.lag_seconds(now)
            stamped = {
                **summary,
                "lagSeconds": round(lag, 3) if lag is not None else None,
                "updated": common.timestamp(now),
            }
            try:
                await asyncio.to_thread(self._patch, name, stamped)
            except exceptions.ApiException as error:
                LOG.warning(
                    "Failed to update rule status", extra={"rule": name, "status": error.status}
                )
                continue
            self._written[name] = summary

    def _patch(self, name: str, summary: dict[str, Any]) -> None:
        self._custom.patch_cluster_custom_object_status(
            crdgen.GROUP,
            crdgen.VERSION,
            "detectionrules",
            name,
            {"status": {"execution": {self._node: summary}}},
            _content_type="application/merge-patch+json",
            _request_timeout=REQUEST_TIMEOUT,
        )
