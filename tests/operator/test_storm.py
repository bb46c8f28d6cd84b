"""An alert storm: 100,000 matching events appended to the audit log within a minute.

The operator reads its own log file here (the API server cannot take 100,000 requests a
minute on two cores); its alerts and Events go to the real API server. What users must see:
etcd ends with a bounded number of objects (the cap on alert creations per minute, the
Event rate), the operator keeps up (lag bounded), its memory stays flat, a rule that matches
three quiet events in the middle of the storm still alerts on each, and the rules' status
and metrics account for every match: created, dropped at maxSignals, storm-dropped or
suppressed.
"""

from __future__ import annotations

import pathlib
import time
import uuid
from typing import Any

import pytest

from audithound.devcluster import operator as operator_
from tests import auditkit
from tests.operator.conftest import Kube, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster

EVENTS = 100_000
CHUNKS = 50
#: The operator's default cap, written out so that the bounds below read plainly.
PER_MINUTE = 600
#: The Event token bucket's defaults (``--events-per-second``, its burst).
EVENTS_PER_SECOND, EVENTS_BURST = 5, 20
#: How far behind the log the operator may fall during the storm (unit: seconds).
MAX_LAG = 30.0
#: RSS growth allowed from a fifth of the storm to its end (unit: bytes).
MAX_GROWTH = 40 * 2**20


def test_an_alert_storm_stays_within_its_bounds_and_every_match_is_accounted_for(
    kube: Kube, operator_kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    flood_agent, quiet_agent = f"storm-{tag}/flood", f"storm-{tag}/quiet"
    names = {kind: f"storm-{kind}-{tag}" for kind in ("flood", "capped", "grouped", "quiet")}
    flood_query = f'user_agent.original:"{flood_agent}"'
    rules = [
        rule_manifest(names["flood"], flood_query, maxSignals=10_000, interval="5m"),
        rule_manifest(names["capped"], flood_query),  # maxSignals 100 per 5m, the default
        rule_manifest(
            names["grouped"],
            flood_query,
            alertSuppression={"groupBy": ["user.name"], "duration": {"value": 1, "unit": "h"}},
        ),
        rule_manifest(names["quiet"], f'user_agent.original:"{quiet_agent}"'),
    ]
    for manifest in rules:
        kube.apply(manifest)
    log = tmp_path / "audit" / "audit.log"
    log.parent.mkdir()
    log.touch()
    running = operator_.OperatorProcess(
        operator_kubeconfig,
        log,
        tmp_path / "state",
        extra_args=("--heartbeat-timeout", "0"),  # no API server writes this log
    )
    running.start()
    try:
        for name in names.values():
            eventually(lambda name=name: ready(kube, name), what=f"rule {name}")
        started = time.time()
        lags, rss = _storm(log, running, flood_agent, quiet_agent)
        eventually(
            lambda: running.metric("audithound_audit_events_total") >= EVENTS + 3,
            timeout=MAX_LAG,
            what="the operator to read the whole storm",
        )
        rss.append(_rss(running))
        finished = time.time()
        minutes = int(finished // 60 - started // 60) + 1

        # The operator kept up and its memory stayed flat.
        assert max(lags) <= MAX_LAG, lags
        assert rss[-1] - rss[0] <= MAX_GROWTH, rss

        # Every quiet event alerted: the flood did not silence another rule.
        eventually(lambda: len(_alerts(kube, names["quiet"])) == 3, what="the quiet alerts")

        # Every match is accounted for, per rule, in the metrics.
        def total(metric: str, kind: str) -> int:
            return int(running.metric(f'audithound_{metric}_total{{rule="{names[kind]}"}}'))

        def settled() -> bool:
            return (
                total("alerts", "grouped") == 1
                and running.metric(f'audithound_alert_updates_total{{rule="{names["grouped"]}"}}')
                >= 1
            )

        eventually(settled, timeout=30, what="the group's alert written")
        outcomes = ("alerts", "alerts_dropped", "alerts_storm_dropped")
        flood = {outcome: total(outcome, "flood") for outcome in outcomes}
        capped = {outcome: total(outcome, "capped") for outcome in outcomes}
        assert total("matches", "flood") == total("matches", "capped") == EVENTS
        assert sum(flood.values()) == EVENTS, flood
        assert flood["alerts_dropped"] == 0  # maxSignals 10,000: the storm cap held it
        assert flood["alerts"] > 0 and flood["alerts_storm_dropped"] > 0
        # The first half of each minute's budget, the rest kept for rules below a tenth of it.
        assert flood["alerts"] <= (PER_MINUTE // 2) * minutes
        assert sum(capped.values()) == EVENTS, capped
        assert capped["alerts"] <= 100 * minutes  # at most two 5m intervals in the storm
        assert total("alerts_suppressed", "grouped") == EVENTS - 1

        # etcd holds what the bounds say, no more.
        created = sum(len(_alerts(kube, names[kind])) for kind in ("flood", "capped"))
        assert created == flood["alerts"] + capped["alerts"]
        assert created + 1 + 3 <= PER_MINUTE * minutes  # the group's alert, the quiet ones
        (group,) = _alerts(kube, names["grouped"])
        eventually(
            lambda: _alerts(kube, names["grouped"])[0]["spec"]["count"] == EVENTS,
            timeout=30,
            what="the group's final count",
        )
        assert group["spec"]["suppression"]["terms"] == [{"field": "user.name", "value": "alice"}]
        elapsed = time.time() - started  # the bucket refills until the Events are counted
        events = _events(kube, tag)
        assert 0 < events <= EVENTS_BURST + EVENTS_PER_SECOND * elapsed + 1

        # The status says the same as the metrics, for the interval it shows.
        def execution(kind: str) -> dict[str, Any]:
            status = kube.rule(names[kind]).get("status") or {}
            found: dict[str, Any] = status.get("execution", {}).get("local", {})
            return found

        eventually(
            lambda: execution("flood").get("stormDropped", 0) > 0, what="stormDropped in status"
        )
        eventually(lambda: execution("grouped").get("suppressed", 0) > 0, what="suppressed")
        eventually(lambda: execution("capped").get("dropped", 0) > 0, what="dropped in status")
        log_text = running.log.read_text(errors="replace")
        assert log_text.count("Alert storm: the cap on alert creations") <= minutes
    finally:
        running.stop()
        for name in names.values():
            kube.remove_rule(name)


def _storm(
    log: pathlib.Path, running: operator_.OperatorProcess, flood: str, quiet: str
) -> tuple[list[float], list[int]]:
    """Append the storm in CHUNKS over about 50 seconds, a quiet event after the first, the
    middle and the last chunk; the lag seen after each chunk, and the RSS at a fifth."""
    lags: list[float] = []
    rss: list[int] = []
    size = EVENTS // CHUNKS
    for chunk in range(CHUNKS):
        began = time.monotonic()
        lines = b"".join(auditkit.audit_line(flood) for _ in range(size))
        if chunk in (0, CHUNKS // 2, CHUNKS - 1):
            lines += auditkit.audit_line(quiet)
        with log.open("ab") as out:
            out.write(lines)
        lags.append(running.metric("audithound_audit_lag_seconds"))
        if chunk == CHUNKS // 5:
            rss.append(_rss(running))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    return lags, rss


def _rss(running: operator_.OperatorProcess) -> int:
    assert running.process is not None
    status = pathlib.Path(f"/proc/{running.process.pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) * 1024


def _alerts(kube: Kube, rule: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = kube.get_json(
        "securityalerts", "-l", f"audithound.io/rule={rule}"
    )["items"]
    return found


def _events(kube: Kube, tag: str) -> int:
    """Kubernetes Events about the storm's alerts, in every namespace."""
    items = kube.get_json("events", "--all-namespaces")["items"]
    return sum(1 for e in items if tag in (e.get("involvedObject") or {}).get("name", ""))
