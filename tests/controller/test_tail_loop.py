"""The operator's audit loop without a cluster: a real log directory, a sink that stands for
the API server (it remembers every alert name, as the API server answers 409), and restarts
that drop the loop on the floor, as kill -9 does."""

from __future__ import annotations

import datetime
import pathlib
from typing import Any

import pytest

from audithound.alerts import suppression
from audithound.controller import settings as settings_
from audithound.controller import tailing
from audithound.rules import compiler, registry
from tests import auditkit, recording
from tests.tail import tailkit

NEW_AGENTS = {
    "type": "new_terms",
    "query": "kubernetes.audit.verb:get",
    "newTermsFields": ["user_agent.original"],
    "historyWindowStart": "now-7d",
}


def line(agent: str, ago: datetime.timedelta = datetime.timedelta()) -> bytes:
    return auditkit.audit_line(
        agent, ago=ago, requestURI="/api", verb="get", user={"username": "system:anonymous"}
    )


class ApiServer(recording.Recorder):
    """Alerts by name across restarts of the loop; can be made to refuse writes."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def emit(self, alert: dict[str, Any]) -> bool:
        if self.down:
            raise ConnectionError("API server unreachable")
        return super().emit(alert)


@pytest.fixture
def log_dir(tmp_path: pathlib.Path) -> tailkit.AuditLogDir:
    return tailkit.AuditLogDir(tmp_path / "audit")


def rules(base: dict[str, Any] = NEW_AGENTS, **spec: Any) -> registry.Registry:
    found = registry.Registry()
    outcome = compiler.compile_rule("agents", {"severity": "low", "riskScore": 10, **base, **spec})
    assert outcome.rule is not None, outcome.problems
    found.put(outcome, 1)
    return found


def loop(
    tmp_path: pathlib.Path, log_dir: tailkit.AuditLogDir, rules: registry.Registry, sink: Any
) -> tailing.TailLoop:
    settings = settings_.OperatorSettings(
        audit_log=log_dir.path, state_dir=tmp_path / "state", node_name="test", state_interval=300
    )
    return tailing.TailLoop(settings, rules, sink)


def agents(sink: recording.Recorder) -> list[str]:
    return [alert["spec"]["event"]["userAgent"] for alert in sink.alerts]


def drain(running: tailing.TailLoop) -> None:
    while running.step():
        pass


def crash(running: tailing.TailLoop) -> None:
    """kill -9: nothing more is written or saved (the file is closed for the test's sake)."""
    running._log.close()


def test_history_on_disk_is_learned_before_alerting(
    tmp_path: pathlib.Path, log_dir: tailkit.AuditLogDir
) -> None:
    log_dir.write(line("curl/8.0", datetime.timedelta(days=2)))
    log_dir.rotate()
    log_dir.write(line("kubectl/v1.36.3", datetime.timedelta(hours=1)))
    sink = ApiServer()
    running = loop(tmp_path, log_dir, rules(), sink)
    log_dir.write(line("curl/8.0") + line("wget/1.21") + line("kubectl/v1.36.3"))
    drain(running)
    assert agents(sink) == ["wget/1.21"]
    assert running.pipeline.rule_states()["agents"].origin == "learned"
    assert running.pipeline.rule_states()["agents"].learned == 2
    running.close()


def test_a_crash_replays_from_a_position_and_state_that_agree(
    tmp_path: pathlib.Path, log_dir: tailkit.AuditLogDir
) -> None:
    sink = ApiServer()
    first = loop(tmp_path, log_dir, rules(), sink)
    log_dir.write(line("a/1") + line("b/1"))
    drain(first)
    first.close()  # saves position and state together
    second = loop(tmp_path, log_dir, rules(), sink)
    log_dir.write(line("a/1") + line("c/1"))
    drain(second)
    crash(second)
    # Killed: state changed since its last save (interval not reached), so neither the state
    # nor the position after "c/1" is on disk.
    third = loop(tmp_path, log_dir, rules(), sink)
    assert third.pipeline.rule_states()["agents"].origin == "restored"
    log_dir.write(line("c/1") + line("d/1"))
    drain(third)
    third.close()
    assert agents(sink) == ["a/1", "b/1", "c/1", "d/1"]
    assert third.pipeline.counts.duplicates["agents"] == 1  # c/1's alert, found again


def test_an_outage_holds_the_position_and_loses_no_alert(
    tmp_path: pathlib.Path, log_dir: tailkit.AuditLogDir
) -> None:
    sink = ApiServer()
    query = {"query": "kubernetes.audit.verb:get", "maxSignals": 1, "interval": "1d"}
    running = loop(tmp_path, log_dir, rules(query), sink)
    log_dir.write(line("a/1"))
    sink.down = True
    with pytest.raises(ConnectionError, match="API server unreachable"):
        running.step()
    saved = running._checkpoint.load()
    sink.down = False
    running.step()
    assert agents(sink) == ["a/1"]
    assert running._checkpoint.load() != saved
    assert running.pipeline.limiter.dropped_total["agents"] == 0
    running.close()


def test_a_spec_change_keeps_state_unless_what_it_depends_on_changed(
    tmp_path: pathlib.Path, log_dir: tailkit.AuditLogDir
) -> None:
    sink = ApiServer()
    live = rules()
    running = loop(tmp_path, log_dir, live, sink)
    log_dir.write(line("a/1"))
    drain(running)
    live.put(_outcome(severity="high"), 2)
    log_dir.write(line("a/1"))
    drain(running)
    assert running.pipeline.rule_states()["agents"].origin == "kept"
    live.put(_outcome(historyWindowStart="now-1d"), 3)
    log_dir.write(line("b/1"))
    drain(running)
    # Reset, then learned again from the log on disk: a/1 is known, b/1 new.
    assert running.pipeline.rule_states()["agents"].origin == "learned"
    assert agents(sink) == ["a/1", "b/1"]
    running.close()


def _outcome(**spec: Any) -> compiler.Outcome:
    return compiler.compile_rule(
        "agents", {"severity": "low", "riskScore": 10, **NEW_AGENTS, **spec}
    )


def test_the_rule_set_is_built_once_for_many_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from audithound.rules import ruleset

    built = []
    original = ruleset.RuleSet.__init__

    def counting(self: ruleset.RuleSet, rules: Any) -> None:
        built.append(1)
        original(self, rules)

    monkeypatch.setattr(ruleset.RuleSet, "__init__", counting)
    live = registry.Registry()
    for index in range(200):
        outcome = compiler.compile_rule(
            f"r{index}", {"severity": "low", "riskScore": 1, "query": f"user.name:u{index}"}
        )
        live.put(outcome, 1)
    assert len(live.ruleset) == 200
    assert live.ruleset is live.ruleset
    assert len(built) == 2  # the empty one at creation, then one for all 200


def test_the_execution_summary_says_what_the_rule_did_and_holds(
    tmp_path: pathlib.Path, log_dir: tailkit.AuditLogDir
) -> None:
    from audithound.controller import summaries

    sink = ApiServer()
    running = loop(tmp_path, log_dir, rules(maxSignals=1, interval="1d"), sink)
    log_dir.write(line("a/1") + line("b/1") + line("a/1"))
    drain(running)
    summary = summaries.current(running, ["agents"])["agents"]
    assert (summary["matches"], summary["alertsCreated"], summary["dropped"]) == (2, 1, 1)
    assert summary["maxSignalsReached"] is True
    assert summary["state"] == {
        "origin": "learned",
        "unit": "terms",
        "held": 2,
        "cap": 200_000,
        "capReached": False,
        "evicted": 0,
        "learned": 0,
    }
    assert "logLosses" not in summary
    running.close()


class UpdatingApiServer(ApiServer):
    """Stands for the API server where alerts are objects: a group's alert is updated in
    place (as ``sinks.kubernetes`` does), each update kept with its count."""

    updates_in_place = True

    def __init__(self) -> None:
        super().__init__()
        self.counts: list[int] = []

    def update(self, alert: dict[str, Any]) -> bool:
        self.counts.append(alert["spec"]["count"])
        return True


def test_a_groups_last_merges_reach_its_alert_while_the_log_is_idle(
    tmp_path: pathlib.Path, log_dir: tailkit.AuditLogDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storm's final count, with no event after it: the idle loop writes it once due."""
    monkeypatch.setattr(suppression, "UPDATE_SECONDS", 0.0)  # due at once
    grouped = rules(
        {"type": "query", "query": "kubernetes.audit.verb:get"},
        alertSuppression={"groupBy": ["user.name"], "duration": {"value": 1, "unit": "h"}},
    )
    sink = UpdatingApiServer()
    running = loop(tmp_path, log_dir, grouped, sink)
    log_dir.write(b"".join(line(f"agent-{n}") for n in range(3)))
    assert running.step() == 3  # the group's alert is created; two merges wait
    assert (len(sink.alerts), sink.counts) == (1, [])
    assert running.step() == 0  # nothing new in the log, yet the update goes out
    assert sink.counts == [3]
    running.close()
