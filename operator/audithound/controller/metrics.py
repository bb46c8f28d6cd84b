"""Prometheus metrics of the operator, read from its counters when scraped.

Fed by: the audit loop's progress, the pipeline's per-rule counts, the sink's counts, the
background loops' failures and retention's counts. Feeds: ``/metrics``
(``controller.metrics_server``, the DaemonSet's metrics Service). A collector reads the
counters at scrape time, so the per-event path pays nothing for metrics.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator

from prometheus_client import core, registry

from audithound.controller import loops, retainer, tailing
from audithound.rules import registry as rules_registry
from audithound.sinks import kubernetes as kubernetes_sink


class OperatorCollector(registry.Collector):
    """Exports what the operator has done since it started."""

    def __init__(
        self,
        loop: Callable[[], tailing.TailLoop | None],
        rules: rules_registry.Registry,
        sink: Callable[[], kubernetes_sink.KubernetesSink | None],
        background: loops.Loops,
        retention: Callable[[], retainer.Retainer | None],
    ) -> None:
        self._loop = loop
        self._rules = rules
        self._sink = sink
        self._background = background
        self._retention = retention

    def collect(self) -> Iterator[core.Metric]:
        yield from self._loops()
        yield from self._retained()
        loop = self._loop()
        rules = core.GaugeMetricFamily(
            "audithound_rules", "DetectionRules by whether they run.", labels=["state"]
        )
        active = len(self._rules.ruleset)
        rules.add_metric(["active"], active)
        rules.add_metric(["invalid"], self._rules.invalid_count())
        yield rules
        if loop is None:
            return
        progress = loop.progress
        yield core.CounterMetricFamily(
            "audithound_audit_lines", "Audit log lines read.", value=progress.lines
        )
        yield core.CounterMetricFamily(
            "audithound_audit_events", "Audit events evaluated.", value=progress.events
        )
        skipped = core.CounterMetricFamily(
            "audithound_audit_skipped_lines", "Audit lines skipped, by reason.", labels=["reason"]
        )
        for reason, count in progress.skipped.items():
            skipped.add_metric([reason], count)
        yield skipped
        yield core.CounterMetricFamily(
            "audithound_batch_failures", "Batches retried after a failure.", value=progress.failures
        )
        losses = loop.losses
        for name, help_text, value in (
            (
                "audithound_audit_gaps",
                "Parts of the audit log that could not be read.",
                losses.gaps,
            ),
            (
                "audithound_audit_lost_bytes",
                "Audit log bytes lost (known sizes).",
                losses.lost_bytes,
            ),
            (
                "audithound_audit_lost_lines",
                "Audit log lines lost (known counts).",
                losses.lost_lines,
            ),
            ("audithound_audit_unmeasured_gaps", "Gaps of unknown size.", losses.unmeasured),
        ):
            yield core.CounterMetricFamily(name, help_text, value=value)
        lag = progress.lag_seconds(datetime.datetime.now(datetime.UTC))
        if lag is not None:
            yield core.GaugeMetricFamily(
                "audithound_audit_lag_seconds",
                "Now minus the event time of the newest line read.",
                value=lag,
            )
        totals = loop.pipeline.totals()
        for name, help_text, counts in (
            ("audithound_matches", "Events that matched a rule.", totals.matches),
            ("audithound_alerts", "SecurityAlerts created.", totals.alerts),
            ("audithound_alert_duplicates", "Alerts that existed already.", totals.duplicates),
            ("audithound_alerts_rejected", "Alerts the API server refused.", totals.rejected),
            ("audithound_alerts_dropped", "Findings over maxSignals.", totals.dropped),
            (
                "audithound_alerts_storm_dropped",
                "Alerts refused by the cap on alert creations per minute.",
                totals.storm_dropped,
            ),
            ("audithound_matches_excepted", "Matches an exception item silenced.", totals.excepted),
            (
                "audithound_alerts_suppressed",
                "Findings merged into a suppression group's alert.",
                totals.suppressed,
            ),
            (
                "audithound_alert_updates",
                "Writes of a suppression group's count into its alert.",
                totals.updates,
            ),
            ("audithound_rule_failures", "Events a rule failed on.", totals.failures),
        ):
            family = core.CounterMetricFamily(name, help_text, labels=["rule"])
            for rule, count in counts.items():
                family.add_metric([rule], count)
            yield family
        held = core.GaugeMetricFamily(
            "audithound_rule_state",
            "What stateful rules hold: terms (new_terms), entries (threshold).",
            labels=["rule", "unit"],
        )
        capped = core.CounterMetricFamily(
            "audithound_rule_state_evicted",
            "Terms or entries given up because a rule's state reached its cap.",
            labels=["rule"],
        )
        for rule, state in loop.pipeline.rule_states().items():
            if state.size is not None:
                held.add_metric([rule, state.size.unit], state.size.held)
                capped.add_metric([rule], state.size.evicted)
        yield held
        yield capped
        sink = self._sink()
        if sink is not None:
            events = core.CounterMetricFamily(
                "audithound_kubernetes_events", "Kubernetes Events, by outcome.", labels=["outcome"]
            )
            events.add_metric(["created"], sink.counts.events)
            events.add_metric(["rate_limited"], sink.counts.events_limited)
            events.add_metric(["failed"], sink.counts.events_failed)
            yield events

    def _loops(self) -> Iterator[core.Metric]:
        failures = core.CounterMetricFamily(
            "audithound_loop_failures",
            "Steps of a background loop that failed (each is retried after a backoff).",
            labels=["loop"],
        )
        for state in self._background.states:
            failures.add_metric([state.name], state.failures)
        yield failures

    def _retained(self) -> Iterator[core.Metric]:
        found = self._retention()
        if found is None:
            return
        counts = found.counts
        yield core.CounterMetricFamily(
            "audithound_retention_passes", "Retention passes completed.", value=counts.passes
        )
        deleted = core.CounterMetricFamily(
            "audithound_retention_deleted",
            "SecurityAlerts deleted by retention, by reason.",
            labels=["reason"],
        )
        deleted.add_metric(["expired"], counts.deleted_expired)
        deleted.add_metric(["over_cap"], counts.deleted_over_cap)
        yield deleted
        if counts.last_pass_seconds is not None:
            yield core.GaugeMetricFamily(
                "audithound_retention_pass_seconds",
                "How long the last retention pass took.",
                value=counts.last_pass_seconds,
            )
        if counts.alerts is not None:
            yield core.GaugeMetricFamily(
                "audithound_securityalerts",
                "SecurityAlerts the last retention pass counted, before its deletions.",
                value=counts.alerts,
            )
