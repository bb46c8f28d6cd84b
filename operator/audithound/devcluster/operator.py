"""The AuditHound operator against the local control plane, as it runs in a cluster.

Fed by: a started control plane (its admin kubeconfig, CA and audit log) and the
repository's ``manifests/`` (namespace, ServiceAccount, RBAC). Feeds: the operator tests
and ``make demo``. The operator never runs as the admin: it gets a kubeconfig holding a
TokenRequest token of the ServiceAccount it ships with, so a missing permission fails here
exactly as it would in a cluster.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from audithound.devcluster import controlplane, process

NAMESPACE = "audithound-system"
SERVICE_ACCOUNT = "audithound"


def kubectl_binary() -> str:
    """``$KUBECTL``, else kubectl on the PATH."""
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl is not on the PATH (set KUBECTL to its path)")
    return found


def run_kubectl(
    kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run kubectl with ``kubeconfig``; the result whatever the exit code (``auth can-i`` and
    ``diff`` answer through it)."""
    return subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """Run kubectl with ``kubeconfig``; raise with its stderr when it fails."""
    result = run_kubectl(kubeconfig, *args, stdin=stdin)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def eventually(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def request(
    server: str,
    ca_cert: Path,
    path: str,
    agent: str,
    *,
    token: str | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> int:
    """One GET with a chosen user agent (to find its audit event and alert); the status code.

    Without ``token`` and ``client_cert`` the request is anonymous.
    """
    context = ssl.create_default_context(cafile=str(ca_cert))
    if client_cert is not None:
        context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    sent = urllib.request.Request(server + path, headers={"User-Agent": agent})
    if token:
        sent.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(sent, context=context, timeout=10) as reply:
            status: int = reply.status
            return status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def install_identity(
    admin_kubeconfig: Path,
    manifests: Path,
    server: str,
    ca_cert: Path,
    target: Path,
    duration: str = "6h",
) -> Path:
    """Apply the namespace and RBAC of ``manifests``, mint a ServiceAccount token, and write
    a kubeconfig holding it to ``target``."""
    for name in ("namespace.yaml", "rbac.yaml"):
        kubectl(admin_kubeconfig, "apply", "-f", str(manifests / "base" / name))
    token = kubectl(
        admin_kubeconfig,
        "create",
        "token",
        SERVICE_ACCOUNT,
        "-n",
        NAMESPACE,
        "--duration",
        duration,
    ).strip()
    return token_kubeconfig(server, ca_cert, SERVICE_ACCOUNT, token, target)


def token_kubeconfig(server: str, ca_cert: Path, user: str, token: str, target: Path) -> Path:
    """Write a kubeconfig that authenticates to ``server`` with ``token`` to ``target``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "local", "user": user}}],
        "current-context": user,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
    return target


class OperatorProcess:
    """``audithound run`` as a child process with its own state directory and log file.

    ``detach=True`` starts it in its own session with its pid in ``<state_dir>.pid``, so it
    outlives the starting process (``make demo``).
    """

    def __init__(
        self,
        kubeconfig: Path,
        audit_log: Path,
        state_dir: Path,
        *,
        node_name: str = "local",
        status_interval: float = 1.0,
        detach: bool = False,
        metrics_auth: str = "none",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.audit_log = audit_log
        self.state_dir = state_dir
        self.log = state_dir.with_name(state_dir.name + ".log")
        self.pid_file = state_dir.with_name(state_dir.name + ".pid")
        self.node_name = node_name
        self.status_interval = status_interval
        self.detach = detach
        #: ``none``: plain HTTP on 127.0.0.1 (what the tests read counters from); ``kubernetes``:
        #: HTTPS with a self-signed certificate, for scrapers with a token and the RBAC.
        self.metrics_auth = metrics_auth
        self.extra_args = tuple(extra_args)
        self.port, self.metrics_port = controlplane.free_ports(2)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start and return once its liveness probe says the audit loop runs."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
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
                    self.node_name,
                    "--status-interval",
                    str(self.status_interval),
                    "--liveness",
                    f"http://127.0.0.1:{self.port}/healthz",
                    "--metrics",
                    f"127.0.0.1:{self.metrics_port}",
                    "--metrics-auth",
                    self.metrics_auth,
                    *self.extra_args,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detach,
            )
        entry = process.record(self.process.pid)
        self.pid_file.write_text(json.dumps(dataclasses.asdict(entry)))
        eventually(self.probe, timeout=timeout, what=f"the operator's probe (log: {self.log})")

    def probe(self) -> dict[str, Any] | None:
        """The liveness probe's body once the audit loop started; None before."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"The operator exited; its log: {self.log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                body: dict[str, Any] = json.loads(r.read())
        except (OSError, ValueError):
            return None
        return body if body.get("audit", {}).get("started") else None

    @property
    def metrics_url(self) -> str:
        scheme = "http" if self.metrics_auth == "none" else "https"
        return f"{scheme}://127.0.0.1:{self.metrics_port}/metrics"

    def scrape(self, token: str | None = None) -> tuple[int, str]:
        """GET /metrics (with ``token`` as bearer); the status code and the body. Over HTTPS
        the self-signed certificate is not verified, as Prometheus is told to skip it."""
        request = urllib.request.Request(self.metrics_url)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as reply:
                return int(reply.status), reply.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def metric(self, name: str) -> float:
        """One sample from the Prometheus endpoint, labels included in ``name`` (0 when
        absent)."""
        status, text = self.scrape()
        if status != 200:
            raise RuntimeError(f"GET {self.metrics_url} answered {status}: {text}")
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def kill(self) -> None:
        """SIGKILL: no clean-up and no last checkpoint, the crash case."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.pid_file.unlink(missing_ok=True)


def stop_recorded(pid_file: Path, timeout: float = 20.0) -> bool:
    """Stop a detached operator by the record in ``pid_file``; False when none was running."""
    if not pid_file.exists():
        return False
    entry = process.Record(**json.loads(pid_file.read_text()))
    running = process.is_running(entry)
    if running:
        process.terminate(entry, timeout)
    pid_file.unlink()
    return running
