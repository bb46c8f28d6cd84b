"""A broken audit pipeline shows: the operator's own heartbeat requests must come back through
the log it reads, else the metric, a Warning Event and its log name the likely cause; recovery
is reported too. The real API server, the real log; a second control plane for a policy that
drops what the operator (and the rules) need."""

from __future__ import annotations

import os
import pathlib
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import parser

from audithound.devcluster import build, controlplane
from audithound.devcluster import operator as operator_
from tests.operator.conftest import ROOT, Kube, eventually

pytestmark = pytest.mark.cluster

#: Seconds: beats every second, a verdict after four without one.
TIMEOUT = "4"
WAIT = 40.0


def samples(running: operator_.OperatorProcess) -> list[Any]:
    url = f"http://127.0.0.1:{running.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return [
        sample
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
    ]


def pipeline_state(running: operator_.OperatorProcess) -> str | None:
    """The ``state`` whose ``audithound_audit_pipeline_state`` is 1, None before there is one."""
    try:
        found = samples(running)
    except OSError:
        return None
    return next(
        (
            s.labels["state"]
            for s in found
            if s.name == "audithound_audit_pipeline_state" and s.value == 1
        ),
        None,
    )


def value(running: operator_.OperatorProcess, name: str) -> float | None:
    return next((s.value for s in samples(running) if s.name == name), None)


class Operator(operator_.OperatorProcess):
    """The operator with a short heartbeat timeout; ``start`` returns once its metrics serve
    the pipeline's state, which they do even when the audit loop itself cannot start."""

    def __init__(
        self,
        kubeconfig: pathlib.Path,
        audit_log: pathlib.Path,
        state: pathlib.Path,
        *extra: str,
    ) -> None:
        self.node = f"hb-{uuid.uuid4().hex[:8]}"
        super().__init__(
            kubeconfig,
            audit_log,
            state,
            node_name=self.node,
            extra_args=("--heartbeat-timeout", TIMEOUT, "--start", "end", *extra),
        )

    def probe(self) -> dict[str, Any] | None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"The operator exited; its log: {self.log}")
        return {"state": found} if (found := pipeline_state(self)) else None

    def reaches(self, state: str) -> None:
        eventually(
            lambda: pipeline_state(self) == state,
            timeout=WAIT,
            what=f"pipeline state {state} (log: {self.log})",
        )

    def logged(self, message: str, state: str | None = None) -> bool:
        text = self.log.read_text()
        return any(
            f'"{message}"' in line and (state is None or f'state="{state}"' in line)
            for line in text.splitlines()
        )


def events_of(kube: Kube, running: Operator) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.get_json("events", "-n", operator_.NAMESPACE)["items"]
    return [e for e in items if e.get("reportingInstance") == running.node]


def event_with(kube: Kube, running: Operator, reason: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = eventually(
        lambda: [e for e in events_of(kube, running) if e["reason"] == reason],
        timeout=WAIT,
        what=f"Event {reason}",
    )
    return found[0]


@pytest.fixture
def started() -> Iterator[list[Operator]]:
    """Operators a test starts, stopped at its end."""
    running: list[Operator] = []
    yield running
    for each in running:
        each.stop()


def start(
    started: list[Operator],
    kubeconfig: pathlib.Path,
    log: pathlib.Path,
    state: pathlib.Path,
    *extra: str,
) -> Operator:
    running = Operator(kubeconfig, log, state, *extra)
    started.append(running)
    running.start(timeout=WAIT)
    return running


def test_a_healthy_pipeline_reports_healthy_and_raises_no_event(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    started: list[Operator],
    tmp_path: pathlib.Path,
) -> None:
    # The API server addressed by name, as a node's own address would be: a client of its own.
    local = control_plane.server.replace("127.0.0.1", "localhost")
    running = start(
        started,
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path / "state",
        "--heartbeat-server",
        local,
    )

    running.reaches("healthy")

    assert (value(running, "audithound_heartbeats_seen_total") or 0) >= 1
    delay = value(running, "audithound_heartbeat_delay_seconds")
    assert delay is not None and delay < float(TIMEOUT)
    assert eventually(lambda: running.logged("Confirmed audit pipeline"), what="log line")
    assert events_of(kube, running) == []


def test_a_wrong_log_path_is_reported_as_missing_and_its_recovery_too(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    started: list[Operator],
    tmp_path: pathlib.Path,
) -> None:
    wrong = tmp_path / "audit.log"
    running = start(started, operator_kubeconfig, wrong, tmp_path / "state")

    running.reaches("file_missing")

    warning = event_with(kube, running, "AuditLogMissing")
    assert warning["type"] == "Warning"
    assert warning["involvedObject"]["kind"] == "ServiceAccount"
    assert warning["involvedObject"]["name"] == operator_.SERVICE_ACCOUNT
    assert str(wrong) in warning["message"]
    assert "wrong --audit-log path" in warning["message"]
    assert running.logged("Detected broken audit pipeline", "file_missing")
    assert 'likelyCause="the audit log file does not exist: a wrong --audit-log path' in (
        running.log.read_text()
    )

    # The right file appears at that path: the heartbeats come back through it.
    os.link(control_plane.audit_log, wrong)
    running.reaches("healthy")
    recovered = event_with(kube, running, "AuditPipelineRecovered")
    assert recovered["type"] == "Normal"
    assert "is moving again" in recovered["message"]
    assert running.logged("Recovered audit pipeline")


def test_a_log_directory_that_is_not_there_is_reported_while_start_up_fails(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    started: list[Operator],
    tmp_path: pathlib.Path,
) -> None:
    running = start(
        started, operator_kubeconfig, tmp_path / "not-mounted" / "audit.log", tmp_path / "state"
    )

    running.reaches("file_missing")

    assert "not-mounted" in event_with(kube, running, "AuditLogMissing")["message"]


def test_a_log_that_does_not_grow_is_reported_as_not_growing(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    started: list[Operator],
    tmp_path: pathlib.Path,
) -> None:
    # A copy, as on a node whose API server stopped writing: it stays as it was.
    stale = tmp_path / "audit.log"
    shutil.copyfile(control_plane.audit_log, stale)
    running = start(started, operator_kubeconfig, stale, tmp_path / "state")

    running.reaches("file_not_growing")

    warning = event_with(kube, running, "AuditLogNotGrowing")
    assert "the API server stopped writing" in warning["message"]
    assert running.logged("Detected broken audit pipeline", "file_not_growing")


@pytest.fixture(scope="module")
def reads_dropped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    """A control plane whose policy drops every read (a common way to cut audit volume), so
    neither the operator's heartbeats nor the anonymous reads the seed rule needs are logged."""
    directory = tmp_path_factory.mktemp("reads-dropped")
    shipped = yaml.safe_load((ROOT / "manifests/api-server/audit-policy.yaml").read_text())
    shipped["rules"].insert(0, {"level": "None", "verbs": ["get", "list", "watch"]})
    policy = directory / "policy.yaml"
    policy.write_text(yaml.safe_dump(shipped))
    plane = controlplane.ControlPlane(
        directory / "plane",
        audit=controlplane.AuditSettings(maxsize_mb=1, policy=policy),
        binaries=build.ensure(),
    )
    with plane:
        plane.install_crds(ROOT / "crds")
        yield plane


def test_a_policy_that_drops_the_operators_reads_is_reported_with_that_cause(
    reads_dropped: controlplane.ControlPlane,
    started: list[Operator],
    tmp_path: pathlib.Path,
) -> None:
    kube = Kube(reads_dropped)
    kubeconfig = operator_.install_identity(
        reads_dropped.kubeconfig,
        ROOT / "manifests",
        reads_dropped.server,
        reads_dropped.ca_cert,
        tmp_path / "kubeconfig",
    )
    running = start(started, kubeconfig, reads_dropped.audit_log, tmp_path / "state")
    admin = reads_dropped.admin_client()

    def others_write() -> bool:
        # Writes are still logged: the file grows, without the operator's requests in it.
        name = f"traffic-{uuid.uuid4().hex[:8]}"
        admin.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": name}})
        return pipeline_state(running) == "requests_not_logged"

    eventually(others_write, timeout=WAIT, what=f"requests_not_logged (log: {running.log})")

    warning = event_with(kube, running, "AuditRequestsNotLogged")
    assert "the audit policy drops them" in warning["message"]
    assert str(reads_dropped.audit_log) in warning["message"]
    assert running.logged("Detected broken audit pipeline", "requests_not_logged")
    assert (value(running, "audithound_heartbeats_sent_total") or 0) >= 4
    assert value(running, "audithound_heartbeats_seen_total") == 0
