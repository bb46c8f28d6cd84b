"""EQL sequences across SIGKILLs, with operators of the tests' own (no other instance in this
module to make up for what a killed one would lose): partial sequences are saved with the read
position and completed after a restart, and replays name the same alerts."""

from __future__ import annotations

import pathlib
import time
import uuid
from typing import Any

import pytest

from audithound.devcluster import controlplane
from tests.operator.conftest import (
    Kube,
    agent,
    eventually,
    own_operator,
    ready,
    traffic_with_crashes,
)
from tests.operator.test_eql_rules import eql_manifest
from tests.operator.test_stateful_rules import of_rule

pytestmark = pytest.mark.cluster

#: Requests of the crash test, two per sequence.
REQUESTS = 400


def test_sequences_complete_exactly_once_across_sigkills(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    """Two requests per user agent, in order, form one sequence each; the operator is killed
    twice while they flow, so first steps are read before a crash and second steps after
    (the partial sequences come back from the state saved with the read position) and some
    events are read twice (a replay names the same alert). One alert per agent, no more."""
    prefix = f"seq-crash-{uuid.uuid4().hex[:8]}"
    name = f"{prefix}-rule"
    kube.apply(
        eql_manifest(
            name,
            f"sequence by user_agent.original with maxspan=10m\n"
            f'  [any where user_agent.original : "{prefix}/*"]\n'
            f'  [any where user_agent.original : "{prefix}/*"]',
            maxSignals=10000,
            interval="1h",
        )
    )
    running = own_operator(operator_kubeconfig, control_plane, tmp_path)
    try:
        condition = eventually(lambda: ready(kube, name), what="the sequence rule")
        assert condition["status"] == "True", condition
        traffic_with_crashes(kube, running, REQUESTS, lambda i: f"{prefix}/{i // 2}")
        eventually(
            lambda: len(of_rule(kube, name)) >= REQUESTS // 2,
            what=f"{REQUESTS // 2} sequences",
            timeout=90,
        )
        found = of_rule(kube, name)
        agents = sorted(a["spec"]["group"]["user_agent.original"] for a in found)
        assert agents == sorted(f"{prefix}/{i}" for i in range(REQUESTS // 2))
        assert {a["spec"]["count"] for a in found} == {2}
        assert all(len(set(a["spec"]["auditIDs"])) == 2 for a in found)
    finally:
        running.stop()
        kube.remove_rule(name)


def test_a_sequence_whose_steps_straddle_a_restart_completes_from_the_saved_state(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    """The first step is read and saved with the read position, the operator is killed, the
    second step happens while it is down: on start it reads on from the saved position (not
    the first step again) and completes the sequence from its restored state."""
    probe = agent("straddle")
    name = f"seq-straddle-{uuid.uuid4().hex[:8]}"
    kube.apply(
        eql_manifest(
            name,
            f"sequence by user_agent.original with maxspan=10m\n"
            f'  [any where user_agent.original == "{probe}" and '
            'kubernetes.audit.objectRef.resource == "configmaps"]\n'
            f'  [any where user_agent.original == "{probe}" and '
            'kubernetes.audit.objectRef.resource == "secrets"]',
        )
    )
    running = own_operator(operator_kubeconfig, control_plane, tmp_path)
    try:
        condition = eventually(lambda: ready(kube, name), what="the sequence rule")
        assert condition["status"] == "True", condition
        assert kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", probe) == 200

        def pending() -> dict[str, Any] | None:
            execution = (kube.rule(name).get("status") or {}).get("execution", {})
            state: dict[str, Any] | None = execution.get("test-node", {}).get("state")
            return state if state and state["held"] == 1 else None

        state = eventually(pending, what="the first step pending in the rule's status")
        assert state["unit"] == "partials" and state["cap"] == 10_000
        time.sleep(3)  # past --state-interval: the pending step is saved with the position
        running.kill()
        assert kube.admin_get("/api/v1/namespaces/default/secrets?limit=1", probe) == 200
        assert of_rule(kube, name) == []
        running.start()
        (alert,) = eventually(lambda: of_rule(kube, name), what="the sequence's alert")
        assert alert["spec"]["count"] == 2
        assert [e["objectRef"]["resource"] for e in alert["spec"]["sampleEvents"]] == [
            "configmaps",
            "secrets",
        ]
        restart = running.log.read_text().split('"Started reading audit log"')[-1]
        assert 'from="checkpoint"' in restart.splitlines()[0]
        assert name in restart.splitlines()[0]  # restoredRules: its state came back
    finally:
        running.stop()
        kube.remove_rule(name)
