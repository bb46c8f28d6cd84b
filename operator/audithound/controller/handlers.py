"""kopf handlers: DetectionRules and DetectionExceptions in, the operator's work started and
stopped, their status.

Fed by: kopf (the watch of DetectionRules and DetectionExceptions, start-up, clean-up and the
liveness probe), with
the runtime in ``memo``. Feeds: the rule registry, the rules' Ready status, and the start
of the audit loop (``tailing``), the metrics server (``metrics_server``) and the background
loops (``loops``: status summaries, retention).

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

from audithound.controller import (
    exception_lists,
    heartbeat,
    loops,
    metrics,
    metrics_server,
    retainer,
    selfwrites,
    status,
    summaries,
    tailing,
)
from audithound.controller import settings as settings_
from audithound.rules import compiler
from audithound.rules import registry as registry_
from audithound.sinks import kubernetes as kubernetes_sink

LOG = logging.getLogger("audithound.controller")

RULES = ("audithound.io", "v1alpha1", "detectionrules")
EXCEPTIONS = ("audithound.io", "v1alpha1", exception_lists.PLURAL)


@dataclasses.dataclass
class Runtime:
    """Everything the handlers share, created by ``main`` and passed through kopf's memo."""

    settings: settings_.OperatorSettings
    registry: registry_.Registry = dataclasses.field(default_factory=registry_.Registry)
    api: client.ApiClient | None = None
    loop: tailing.TailLoop | None = None
    sink: kubernetes_sink.KubernetesSink | None = None
    retainer: retainer.Retainer | None = None
    metrics: metrics_server.MetricsServer | None = None
    own_writes: selfwrites.OwnWrites | None = None
    heartbeat: heartbeat.Heartbeat | None = None
    stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    background: loops.Loops = dataclasses.field(init=False)
    tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)
    #: The rules each DetectionException's status names, as last written by this instance.
    list_users: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.background = loops.Loops(self.stop)


def _compile(runtime: Runtime, name: str, body: dict[str, Any]) -> compiler.Outcome:
    generation = body.get("metadata", {}).get("generation")
    outcome, compiled = runtime.registry.compile(name, body.get("spec") or {}, generation)
    if compiled:
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
    """Configure kopf, load every rule, then start the metrics server, the audit loop and
    the background loops."""
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
    # The shared lists, then the rules that compile against them: a rule never starts as
    # "waiting for its DetectionException" because the watch delivered it first.
    shared = await asyncio.to_thread(custom.list_cluster_custom_object, *EXCEPTIONS)
    for body in typing.cast(dict[str, Any], shared).get("items", []):
        runtime.registry.put_exceptions(body["metadata"]["name"], body.get("spec"))
    # Rules next, so that a first start without a checkpoint knows the longest look-back.
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
    if runtime.settings.metrics and runtime.metrics is None:
        collectors = prometheus_client.CollectorRegistry()
        collectors.register(
            metrics.OperatorCollector(
                lambda: runtime.loop,
                runtime.registry,
                lambda: runtime.sink,
                runtime.background,
                lambda: runtime.retainer,
            )
        )
        collectors.register(selfwrites.Collector(lambda: runtime.own_writes))
        collectors.register(heartbeat.Collector(lambda: runtime.heartbeat))
        runtime.metrics = metrics_server.MetricsServer(runtime.settings, collectors, runtime.api)
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
        if beat.timeout > 0:
            heartbeat.log_start(beat)

            async def tick() -> None:
                await asyncio.to_thread(beat.tick)

            runtime.tasks.append(runtime.background.start("heartbeat", tick, beat.interval))
    # Finding the start (a look-back scans the log) reads files: not on the event loop.
    own = runtime.own_writes
    runtime.loop = await asyncio.to_thread(
        tailing.TailLoop,
        runtime.settings,
        runtime.registry,
        sink,
        own.observe,
        own.identity.username,
    )
    writer = summaries.Writer(runtime.api, runtime.settings, runtime.registry, runtime.loop)
    runtime.retainer = retain = retainer.Retainer(
        runtime.api, runtime.settings, lambda: sink.counts.created
    )
    background = runtime.background
    runtime.tasks += [
        asyncio.create_task(tailing.run(runtime.loop, runtime.settings, runtime.stop)),
        background.start(
            "status", writer.write, runtime.settings.status_interval, last_on_stop=True
        ),
        background.start("retention", retain.step, retain.poll_interval),
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
    if runtime.api is not None and runtime.registry.exception_names():
        # Which rules use which list may have changed: the lists' status names them.
        exception_lists.refresh_lists(runtime.api, runtime.registry, runtime.list_users)


@kopf.on.event(*EXCEPTIONS)
def exceptions_changed(
    type: str | None, name: str, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Check the lists, re-apply every rule that uses shared lists, and report both."""
    runtime: Runtime = memo.runtime
    deleted = type == "DELETED"
    changed = runtime.registry.put_exceptions(name, None if deleted else dict(body).get("spec"))
    LOG.info(
        "Removed DetectionException" if deleted else "Checked DetectionException",
        extra={"detectionexception": name, "rules": sorted(changed)},
    )
    if runtime.api is not None and changed:
        exception_lists.refresh_rules(runtime.api, changed)
    if deleted:
        return
    checked, users = runtime.registry.exception_status(name)
    if checked is None:
        return
    raw = dict(body)
    wanted = exception_lists.status_patch(
        checked,
        users,
        generation=raw.get("metadata", {}).get("generation"),
        current=raw.get("status") or {},
    )
    runtime.list_users[name] = users
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
