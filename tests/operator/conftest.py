"""The operator as users run it: `audithound run` against the real control plane, with the
ServiceAccount and RBAC of manifests/ (a token from the TokenRequest API), never as admin."""

from __future__ import annotations

import json
import pathlib
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from audithound.alerts import evidence
from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_

ROOT = pathlib.Path(__file__).resolve().parents[2]

eventually = operator_.eventually
Operator = operator_.OperatorProcess


class Kube:
    """kubectl and raw requests as the cluster admin, or anonymous."""

    def __init__(self, plane: controlplane.ControlPlane) -> None:
        self.plane = plane

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return operator_.kubectl(self.plane.kubeconfig, *args, stdin=stdin)

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def alerts(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get_json("securityalerts")["items"]
        return items

    def alerts_with_agent(self, agent: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts() if a["spec"]["event"].get("userAgent") == agent]

    def rule(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get_json("detectionrule", name)
        return found

    def remove_rule(self, name: str) -> None:
        """Delete a test's rule and its alerts, so later tests list fewer objects."""
        self.kubectl("delete", "detectionrule", name)
        # One deletecollection request: `kubectl delete -l` deletes object by object.
        selector = urllib.parse.quote(f"audithound.io/rule={evidence.rule_label(name)}")
        self.kubectl(
            "delete",
            "--raw",
            f"/apis/audithound.io/v1alpha1/securityalerts?labelSelector={selector}",
        )

    def anonymous(self, path: str, agent: str) -> int:
        """An anonymous GET (no certificate, no token) with a user agent to find it by."""
        return operator_.request(self.plane.server, self.plane.ca_cert, path, agent)

    def admin_get(self, path: str, agent: str) -> int:
        return operator_.request(
            self.plane.server,
            self.plane.ca_cert,
            path,
            agent,
            client_cert=(self.plane.admin_cert, self.plane.admin_key),
        )


def agent(label: str) -> str:
    return f"audithound-test/{label}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kube(control_plane: controlplane.ControlPlane, audithound_crds: list[str]) -> Kube:
    return Kube(control_plane)


@pytest.fixture(scope="session")
def operator_kubeconfig(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A kubeconfig holding a TokenRequest token of the shipped ServiceAccount."""
    return operator_.install_identity(
        kube.plane.kubeconfig,
        ROOT / "manifests",
        kube.plane.server,
        kube.plane.ca_cert,
        tmp_path_factory.mktemp("operator") / "kubeconfig",
    )


def start_operator(
    kubeconfig: pathlib.Path, audit_log: pathlib.Path, state_dir: pathlib.Path
) -> operator_.OperatorProcess:
    running = operator_.OperatorProcess(kubeconfig, audit_log, state_dir, node_name="test-node")
    running.start()
    return running


@pytest.fixture(scope="module")
def operator(
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[operator_.OperatorProcess]:
    running = start_operator(
        operator_kubeconfig, control_plane.audit_log, tmp_path_factory.mktemp("state") / "state"
    )
    yield running
    running.stop()


def own_operator(
    kubeconfig: pathlib.Path, plane: controlplane.ControlPlane, tmp_path: pathlib.Path
) -> Operator:
    """An operator of the test's own that saves its state every second, started (under
    ``tmp_path / "state"``, node name ``test-node``)."""
    running = Operator(
        kubeconfig,
        plane.audit_log,
        tmp_path / "state",
        node_name="test-node",
        extra_args=["--state-interval", "1"],
    )
    running.start()
    return running


def rule_manifest(name: str, query: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "audithound.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": name},
        "spec": {"query": query, "severity": "low", "riskScore": 10, **spec},
    }


def ready(kube: Kube, name: str) -> dict[str, Any] | None:
    """The rule's Ready condition once it describes the current generation."""
    body = kube.rule(name)
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"]["generation"]:
        return None
    found: dict[str, Any] | None = next(
        (c for c in (status.get("conditions") or []) if c["type"] == "Ready"), None
    )
    return found


def traffic_with_crashes(
    kube: Kube, operator: operator_.OperatorProcess, requests: int, agent: Callable[[int], str]
) -> None:
    """``requests`` admin reads, request ``i`` with user agent ``agent(i)``, while the operator
    is killed (SIGKILL) at a fifth and three fifths of them and started again at two and four
    fifths. Returns once all were sent and the operator runs."""
    sent = 0
    failures: list[BaseException] = []

    def traffic() -> None:
        nonlocal sent
        try:
            for i in range(requests):
                kube.admin_get("/api/v1/namespaces/default/configmaps?limit=1", agent(i))
                sent = i + 1
        except BaseException as error:
            failures.append(error)

    sender = threading.Thread(target=traffic)
    sender.start()
    for fifth, action in ((1, "kill"), (2, "start"), (3, "kill"), (4, "start")):
        at = fifth * requests // 5
        eventually(lambda at=at: sent >= at or failures, timeout=120, what=f"{at} requests")
        if action == "kill":
            operator.kill()
        else:
            operator.start()
    sender.join(120)
    assert not failures, failures
