"""kopf handlers: DetectionRules in, the audit loop started and stopped, status written.

Fed by: kopf (the watch of DetectionRules, start-up and clean-up), with the runtime in
``memo``. Feeds: the rule registry, the audit loop, and the rules' status.

Only ``on.event`` watches rules: it keeps no diff-base or progress records, so kopf writes
no annotations and no finalizers, and GitOps tools see nothing but the status the operator
owns. Every instance (one per control-plane node) runs the same handlers standalone, with no
peering: rule status is a pure function of the spec, identical on every instance, and is
written only when it differs, while execution summaries are keyed by node name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import typing
from typing import Any

import kopf
import prometheus_client
from kubernetes import client, config
from kubernetes.client import exceptions

from audithound.api import common, crdgen
from audithound.controller import heartbeat, metrics, retention, selfwrites, status, tailing
from audithound.controller import settings as settings_
from audithound.rules import compiler
from audithound.rules import registry as registry_
from audithound.sinks import kubernetes as kubernetes_sink

LOG = logging.getLogger("audithound.controller")

RULES = ("audithound.io", "v1alpha1", "detectionrules")


@dataclasses.dataclass
class Runtime:
    """Everything the handlers share, created by ``main`` and passed through kopf's memo."""

    settings: settings_.OperatorSettings
    registry: registry_.Registry = dataclasses.field(default_factory=registry_.Registry)
    api: client.ApiClient | None = None
    loop: tailing.TailLoop | None = None
    sink: kubernetes_sink.KubernetesSink | None = None
    metrics_started: bool = False
    own_writes: selfwrites.OwnWrites | None = None
    heartbeat: heartbeat.Heartbeat | None = None
    stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)


def _compile(runtime: Runtime, name: str, body: dict[str, Any]) -> compiler.Outcome:
    generation = body.get("metadata", {}).get("generation")
    outcome = runtime.registry.current(name, generation)
    if outcome is None:
        outcome = compiler.compile_rule(name, body.get("spec") or {}, generation)
        runtime.registry.put(outcome, generation)
        if outcome.errors:
            LOG.warning(
                "Rejected DetectionRule",
                extra={
                    "rule": name,
                    "generation": generation,
                    "problems": [problem.short() for problem in outcome.errors],
                },
            )
        else:
            LOG.info("Compiled DetectionRule", extra={"rule": name, "generation": generation})
    return outcome


def _status_patch(outcome: compiler.Outcome, body: dict[str, Any]) -> dict[str, Any] | None:
    spec = body.get("spec") or {}
    return status.desired_patch(
        outcome,
        enabled=spec.get("enabled", True) is not False,
        generation=body.get("metadata", {}).get("generation"),
        current=body.get("status") or {},
    )


@kopf.on.startup()
async def start(memo: kopf.Memo, settings: kopf.OperatorSettings, **_: Any) -> None:
    """Configure kopf, load every rule, then start the audit loop and the status writer."""
    runtime: Runtime = memo.runtime
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.diffbase")
    settings.posting.level = logging.WARNING
    config.load_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    # One connection per concurrent alert writer, and a few for status and retention.
    configuration.connection_pool_maxsize = runtime.settings.alert_writers + 4
    runtime.api = client.ApiClient(configuration)
    runtime.api.user_agent = selfwrites.USER_AGENT  # how rules tell the operator's requests
    custom = client.CustomObjectsApi(runtime.api)
    # Rules first, so that a first start without a checkpoint knows the longest look-back.
    listing = await asyncio.to_thread(custom.list_cluster_custom_object, *RULES)
    for body in typing.cast(dict[str, Any], listing).get("items", []):
        _compile(runtime, body["metadata"]["name"], body)
    runtime.sink = sink = kubernetes_sink.KubernetesSink(
        runtime.api,
        instance=runtime.settings.node_name,
        events_per_second=runtime.settings.events_per_second,
        events_burst=runtime.settings.events_burst,
        concurrency=runtime.settings.alert_writers,
    )
    # kopf retries a failed start-up: the metrics server must start only once.
    if runtime.settings.metrics and not runtime.metrics_started:
        host, port = runtime.settings.metrics.rsplit(":", 1)
        collectors = prometheus_client.CollectorRegistry()
        collectors.register(
            metrics.OperatorCollector(lambda: runtime.loop, runtime.registry, lambda: runtime.sink)
        )
        collectors.register(selfwrites.Collector(lambda: runtime.own_writes))
        collectors.register(heartbeat.Collector(lambda: runtime.heartbeat))
        prometheus_client.start_http_server(int(port), host or "0.0.0.0", registry=collectors)
        runtime.metrics_started = True
    # Own identity, own writes kept from the rules, and the heartbeat, which runs even while
    # the audit loop cannot start (a missing log directory). Once: kopf retries start-up.
    if runtime.own_writes is None:
        identity = await asyncio.to_thread(selfwrites.review, runtime.api)
        runtime.heartbeat = beat = heartbeat.start(
            runtime.api,
            runtime.settings,
            identity,
            lambda: runtime.loop.progress.last_event_time if runtime.loop else None,
        )
        runtime.own_writes = selfwrites.OwnWrites(identity, beat.see)
        runtime.tasks.append(asyncio.create_task(heartbeat.run(beat, runtime.stop)))
    # Finding the start (a look-back scans the log) reads files: not on the event loop.
    runtime.loop = await asyncio.to_thread(
        tailing.TailLoop, runtime.settings, runtime.registry, sink, runtime.own_writes.observe
    )
    runtime.tasks += [
        asyncio.create_task(tailing.run(runtime.loop, runtime.settings, runtime.stop)),
        asyncio.create_task(_write_summaries(runtime)),
        asyncio.create_task(_retain_alerts(runtime)),
    ]


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Let the current batch finish, save its position, write the last summaries."""
    runtime: Runtime = memo.runtime
    runtime.stop.set()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    LOG.info("Stopped reading audit log")


@kopf.on.event(*RULES)
def rule_changed(
    type: str | None, name: str, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Compile a new generation once, swap it into the rule set, and report it in status."""
    runtime: Runtime = memo.runtime
    if type == "DELETED":
        runtime.registry.remove(name)
        LOG.info("Removed DetectionRule", extra={"rule": name})
        return
    raw = dict(body)
    outcome = _compile(runtime, name, raw)
    wanted = _status_patch(outcome, raw)
    if wanted is not None:
        for key, value in wanted.items():
            patch.status[key] = value


@kopf.on.probe(id="audit")
def audit_probe(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Liveness details: how far the audit loop got and how far behind it is."""
    runtime: Runtime = memo.runtime
    if runtime.loop is None:
        return {"started": False}
    progress = runtime.loop.progress
    now = datetime.datetime.now(datetime.UTC)
    return {
        "started": True,
        "lines": progress.lines,
        "events": progress.events,
        "skipped": dict(progress.skipped),
        "failures": progress.failures,
        "lagSeconds": progress.lag_seconds(now),
        "lastPoll": progress.last_poll.isoformat() if progress.last_poll else None,
        "rules": len(runtime.registry.ruleset),
    }


def _summaries(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """Each rule's counts in its current interval and its detector's state (what, when
    changed, is worth a write)."""
    assert runtime.loop is not None
    scan = runtime.loop.pipeline
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
            "maxSignalsReached": counts.limit_reached,
            "failures": summary.failures,
        }
    losses = runtime.loop.losses
    if losses.gaps:
        lost = {
            "gaps": losses.gaps,
            "lostBytes": losses.lost_bytes,
            "lostLines": losses.lost_lines,
            "unmeasured": losses.unmeasured,
        }
        for name in runtime.registry.ruleset.by_name:
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


async def _write_summaries(runtime: Runtime) -> None:
    """Every status interval, patch ``status.execution.<node>`` of rules whose counts moved.

    Lag and time of writing go along with a write but never cause one: an idle operator
    writes nothing.
    """
    written: dict[str, dict[str, Any]] = {}
    custom = client.CustomObjectsApi(runtime.api)
    node = runtime.settings.node_name
    while True:
        stopping = runtime.stop.is_set()
        # The summaries wait for the audit loop's batch (its lock): not on the event loop.
        for name, summary in (await asyncio.to_thread(_summaries, runtime)).items():
            if written.get(name) == summary or name not in runtime.registry.ruleset.by_name:
                continue
            now = datetime.datetime.now(datetime.UTC)
            assert runtime.loop is not None
            lag = runtime.loop.progress.lag_seconds(now)
            stamped = {
                **summary,
                "lagSeconds": round(lag, 3) if lag is not None else None,
                "updated": common.timestamp(now),
            }
            body = {"status": {"execution": {node: stamped}}}
            try:
                await asyncio.to_thread(
                    custom.patch_cluster_custom_object_status,
                    crdgen.GROUP,
                    crdgen.VERSION,
                    "detectionrules",
                    name,
                    body,
                    _content_type="application/merge-patch+json",
                )
            except exceptions.ApiException as error:
                LOG.warning(
                    "Failed to update rule status", extra={"rule": name, "status": error.status}
                )
                continue
            written[name] = summary
        if stopping:
            return
        await tailing.wait(runtime.stop, runtime.settings.status_interval)


def _retention_pass(runtime: Runtime) -> int:
    """List SecurityAlerts, delete the expired ones; returns how many were deleted."""
    settings = runtime.settings
    ttl = None if settings.alert_ttl == "0" else compiler.duration(settings.alert_ttl)
    cap = settings.max_alerts or None
    custom = client.CustomObjectsApi(runtime.api)
    listing = typing.cast(
        dict[str, Any],
        custom.list_cluster_custom_object(crdgen.GROUP, crdgen.VERSION, "securityalerts"),
    )
    doomed = retention.expired(
        (retention.stored(item) for item in listing.get("items", [])),
        now=datetime.datetime.now(datetime.UTC),
        ttl=ttl,
        cap=cap,
    )
    deleted = 0
    for name in doomed:
        try:
            custom.delete_cluster_custom_object(
                crdgen.GROUP, crdgen.VERSION, "securityalerts", name
            )
            deleted += 1
        except exceptions.ApiException as error:
            if error.status != 404:  # another instance deleted it first
                raise
    if deleted:
        LOG.info("Deleted expired SecurityAlerts", extra={"count": deleted})
    return deleted


async def _retain_alerts(runtime: Runtime) -> None:
    """Every retention interval, apply the alerts' time-to-live and cap."""
    while not runtime.stop.is_set():
        try:
            await asyncio.to_thread(_retention_pass, runtime)
        except exceptions.ApiException as error:
            LOG.warning("Failed to apply SecurityAlert retention", extra={"status": error.status})
        await tailing.wait(runtime.stop, runtime.settings.retention_interval)
