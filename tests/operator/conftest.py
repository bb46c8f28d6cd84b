"""The operator as users run it: `audithound run` against the real control plane, with the
ServiceAccount and RBAC of manifests/ (a token from the TokenRequest API), never as admin."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from audithound.devcluster import controlplane

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBECTL = os.environ.get("KUBECTL", "kubectl")
GROUP_PATH = "/apis/audithound.io/v1alpha1"


class Kube:
    """kubectl and raw API calls as the cluster admin."""

    def __init__(self, plane: controlplane.ControlPlane) -> None:
        self.plane = plane

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.plane.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def apply(self, manifest: str | dict[str, Any]) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        self.kubectl("apply", "-f", "-", stdin=text)

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

    def anonymous(self, path: str, agent: str) -> int:
        """An anonymous GET (no certificate, no token) with a user agent to find it by."""
        return _request(self.plane, path, agent, token=None)

    def as_token(self, token: str, path: str, agent: str) -> int:
        return _request(self.plane, path, agent, token=token)

    def admin_get(self, path: str, agent: str) -> int:
        return _request(self.plane, path, agent, token=None, admin=True)


def _request(
    plane: controlplane.ControlPlane, path: str, agent: str, token: str | None, admin: bool = False
) -> int:
    context = ssl.create_default_context(cafile=str(plane.ca_cert))
    if admin:
        context.load_cert_chain(str(plane.admin_cert), str(plane.admin_key))
    request = urllib.request.Request(plane.server + path, headers={"User-Agent": agent})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as reply:
            status: int = reply.status
            return status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def eventually(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def agent(label: str) -> str:
    return f"audithound-test/{label}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kube(control_plane: controlplane.ControlPlane, audithound_crds: list[str]) -> Kube:
    return Kube(control_plane)


@pytest.fixture(scope="session")
def operator_kubeconfig(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A kubeconfig holding a TokenRequest token of the shipped ServiceAccount."""
    kube.kubectl("apply", "-f", str(ROOT / "manifests/namespace.yaml"))
    kube.kubectl("apply", "-f", str(ROOT / "manifests/rbac.yaml"))
    token = kube.kubectl(
        "create", "token", "audithound", "-n", "audithound-system", "--duration", "6h"
    ).strip()
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {
                            "server": kube.plane.server,
                            "certificate-authority": str(kube.plane.ca_cert),
                        },
                    }
                ],
                "users": [{"name": "audithound", "user": {"token": token}}],
                "contexts": [
                    {"name": "audithound", "context": {"cluster": "local", "user": "audithound"}}
                ],
                "current-context": "audithound",
            }
        )
    )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Operator:
    """`audithound run` as a child process, with its own state directory and log file."""

    def __init__(
        self, kubeconfig: pathlib.Path, audit_log: pathlib.Path, state_dir: pathlib.Path
    ) -> None:
        self.kubeconfig = kubeconfig
        self.audit_log = audit_log
        self.state_dir = state_dir
        self.log = state_dir.parent / f"{state_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = _free_port()
        self.starts = 0

    def start(self, *extra: str) -> None:
        self.starts += 1
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "audithound",
                    "run",
                    "--audit-log",
                    str(self.audit_log),
                    "--state-dir",
                    str(self.state_dir),
                    "--node-name",
                    "test-node",
                    "--status-interval",
                    "1",
                    "--liveness",
                    f"http://127.0.0.1:{self.port}/healthz",
                    *extra,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        eventually(self.probe, timeout=30, what=f"the operator's liveness probe ({self.log})")

    def probe(self) -> dict[str, Any] | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited: {self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                body: dict[str, Any] = json.loads(r.read())
        except (OSError, ValueError):
            return None
        return body if body.get("audit", {}).get("started") else None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last checkpoint: the crash case."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def operator(
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    running = Operator(
        operator_kubeconfig, control_plane.audit_log, tmp_path_factory.mktemp("state") / "state"
    )
    running.start()
    yield running
    running.stop()


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
        (c for c in status.get("conditions", []) if c["type"] == "Ready"), None
    )
    return found
