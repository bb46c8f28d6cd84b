"""Suppression across crashes, with an operator of its own (no other instance in this module
to make up for what a crashed one would lose)."""

from __future__ import annotations

import pathlib
import uuid

import pytest

from audithound.devcluster import controlplane
from tests.operator.conftest import (
    Kube,
    Operator,
    eventually,
    ready,
    rule_manifest,
    traffic_with_crashes,
)
from tests.operator.test_suppression import _alerts, _with_count

pytestmark = pytest.mark.cluster

#: Requests of the one group.
REQUESTS = 300


def test_a_group_counts_on_across_crashes_exactly_once(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    """SIGKILLs in the middle of a group's traffic: one alert, counting every request once
    (the open group is saved with the read position; its count is written as a value, so a
    replay writes it again instead of adding)."""
    tag = uuid.uuid4().hex[:8]
    name, agent = f"sup-crash-{tag}", f"sup-crash-{tag}/x"
    kube.apply(
        rule_manifest(
            name,
            f'user_agent.original:"{agent}"',
            interval="1d",
            alertSuppression={
                "groupBy": ["user_agent.original"],
                "duration": {"value": 1, "unit": "h"},
            },
        )
    )
    running = Operator(
        operator_kubeconfig, control_plane.audit_log, tmp_path / "state", node_name="test-node"
    )
    running.start()
    try:
        eventually(lambda: ready(kube, name), what="the rule")
        traffic_with_crashes(kube, running, REQUESTS, lambda _: agent)
        (alert,) = eventually(
            lambda: _with_count(kube, name, agent, REQUESTS), what=f"count {REQUESTS}", timeout=60
        )
        assert alert["spec"]["suppression"]["docsCount"] == REQUESTS - 1
        assert len(_alerts(kube, name, agent)) == 1
    finally:
        running.stop()
        kube.remove_rule(name)
