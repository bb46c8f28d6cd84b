"""Start and stop a local etcd + kube-apiserver with audit logging, the way envtest does.

Fed by the binaries from `build`, the certificates from `certs` and the audit policy shipped
beside this module; feeds the pytest plugin, the CLI (`up`, `down`, `status`) and through
them every test, CI job and demo that needs a real API server. Everything a run needs lives
in one directory:

    <dir>/pki/            CA, serving and admin certificates, service-account keys
    <dir>/etcd/           etcd's data (wiped at each start)
    <dir>/audit/audit.log the audit log (wiped at each start), rotated backups beside it
    <dir>/audit-policy.yaml, <dir>/kubeconfig, <dir>/etcd.log, <dir>/kube-apiserver.log
    <dir>/state.json      pids, start times and the server URL, for `down` and `status`
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from audithound.devcluster import build, certs, client, crds, process

STATE_FILE = "state.json"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
_LOG_TAIL_BYTES = 4000


class StartError(RuntimeError):
    """A component did not become ready; the message carries the end of its log."""


@dataclasses.dataclass(frozen=True)
class AuditSettings:
    """Audit log rotation, passed to kube-apiserver's --audit-log-* flags."""

    maxsize_mb: int = 100
    """--audit-log-maxsize: MiB before lumberjack rotates audit.log. Tests use 1."""
    maxbackup: int = 3
    """--audit-log-maxbackup: rotated files kept beside audit.log."""
    compress: bool = False
    """--audit-log-compress: gzip the rotated files."""
    policy: Path | None = None
    """--audit-policy-file's content: this file, or None for the shipped audit-policy.yaml."""


@dataclasses.dataclass(frozen=True)
class State:
    """What `up` leaves behind for `down` and `status`."""

    server: str
    etcd: process.Record
    kube_apiserver: process.Record

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> State:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            server=raw["server"],
            etcd=process.Record(**raw["etcd"]),
            kube_apiserver=process.Record(**raw["kube_apiserver"]),
        )


class ControlPlane:
    """One etcd and one kube-apiserver with audit logging, run from `directory`.

    `detach=True` starts both in their own session so they outlive this Python process (the
    CLI's `up`); otherwise they are plain children, stopped by `stop()` or the context
    manager's exit.
    """

    def __init__(
        self,
        directory: Path,
        *,
        audit: AuditSettings = AuditSettings(),
        binaries: build.Binaries | None = None,
        detach: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        self.directory = directory.resolve()
        self.audit = audit
        self._binaries = binaries
        self._detach = detach
        self._start_timeout = start_timeout
        self._children: list[subprocess.Popen[bytes]] = []
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._apiserver_args: list[str] = []
        self._server: str | None = None
        self.pki = certs.pki_paths(self.directory / "pki")

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (CN=admin, O=system:masters), credentials embedded."""
        return self.directory / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        """The live audit log; rotated files appear beside it as audit-<time>.log."""
        return self.directory / "audit" / "audit.log"

    @property
    def audit_policy(self) -> Path:
        return self.directory / "audit-policy.yaml"

    @property
    def ca_cert(self) -> Path:
        return self.pki.ca_cert

    @property
    def admin_cert(self) -> Path:
        return self.pki.admin_cert

    @property
    def admin_key(self) -> Path:
        return self.pki.admin_key

    @property
    def server(self) -> str:
        """https://127.0.0.1:<port>, known once `start()` has picked the port."""
        if self._server is None:
            raise RuntimeError("The control plane has not been started")
        return self._server

    def admin_client(self) -> client.ApiClient:
        return client.ApiClient(self.server, self.ca_cert, self.admin_cert, self.admin_key)

    def anonymous_client(self) -> client.ApiClient:
        return client.ApiClient(self.server, self.ca_cert)

    def install_crds(self, directory: Path, timeout: float = 30.0) -> list[str]:
        """Server-side apply every CRD in `directory`, wait for Established, return names."""
        return crds.install(self.admin_client(), directory, timeout)

    def start(self) -> None:
        """Start etcd, then kube-apiserver; return once /readyz and namespace default answer."""
        binaries = self._binaries or build.ensure()
        for stale in ("etcd", "audit", "pki"):
            shutil.rmtree(self.directory / stale, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)
        self.audit_log.parent.mkdir(parents=True)
        certs.write_pki(self.directory / "pki")
        shipped = resources.files("audithound.devcluster").joinpath("audit-policy.yaml")
        policy = self.audit.policy.read_bytes() if self.audit.policy else shipped.read_bytes()
        self.audit_policy.write_bytes(policy)
        etcd_client, etcd_peer, secure_port = free_ports(3)
        self._server = f"https://127.0.0.1:{secure_port}"
        self._apiserver_args = self._apiserver_command(
            binaries.kube_apiserver, etcd_client, secure_port
        )
        try:
            self._etcd = self._spawn(
                "etcd", self._etcd_command(binaries.etcd, etcd_client, etcd_peer)
            )
            self._wait("etcd", self._etcd, lambda: _etcd_healthy(etcd_client))
            self._start_apiserver()
        except BaseException:
            self.stop()
            raise
        self._write_kubeconfig()

    def stop_apiserver(self, timeout: float = 10.0) -> None:
        """Stop kube-apiserver alone (an outage, for tests): etcd, certificates, audit log and
        port stay, so `start_apiserver` brings back the same cluster at the same address."""
        if self._apiserver is None:
            raise RuntimeError("kube-apiserver is not running")
        _end(self._apiserver, timeout)
        self._children.remove(self._apiserver)
        self._apiserver = None

    def start_apiserver(self) -> None:
        """Start kube-apiserver again after `stop_apiserver`, on the same port and etcd;
        return once it is ready."""
        if self._apiserver is not None or self._etcd is None:
            raise RuntimeError("kube-apiserver runs already, or the control plane was stopped")
        self._start_apiserver()

    def _start_apiserver(self) -> None:
        self._apiserver = self._spawn("kube-apiserver", self._apiserver_args)
        self._wait("kube-apiserver", self._apiserver, self._apiserver_ready)
        assert self._etcd is not None
        state = State(
            self.server, process.record(self._etcd.pid), process.record(self._apiserver.pid)
        )
        (self.directory / STATE_FILE).write_text(state.to_json())

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM kube-apiserver then etcd, SIGKILL whichever outlives `timeout`."""
        for child in reversed(self._children):
            _end(child, timeout)
        self._children.clear()
        self._etcd = self._apiserver = None
        (self.directory / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _etcd_command(self, binary: Path, client_port: int, peer_port: int) -> list[str]:
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        return [
            str(binary),
            "--name=audithound",
            f"--data-dir={self.directory / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=audithound={peer_url}",
            # A throwaway store: losing it on a crash costs nothing, fsync costs seconds.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_command(self, binary: Path, etcd_port: int, secure_port: int) -> list[str]:
        pki = self.pki
        command = [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={secure_port}",
            # Never fall back to writing self-signed certificates in /var/run/kubernetes.
            f"--cert-dir={pki.ca_cert.parent}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={self.server}/",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=true",
            # No controller-manager runs to create default ServiceAccounts and their tokens.
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            f"--audit-policy-file={self.audit_policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            f"--audit-log-maxsize={self.audit.maxsize_mb}",
            f"--audit-log-maxbackup={self.audit.maxbackup}",
            # Each event is on disk before its response is sent, so a test that made a
            # request can read the event right after.
            "--audit-log-mode=blocking",
        ]
        if self.audit.compress:
            command.append("--audit-log-compress")
        return command

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with (self.directory / f"{name}.log").open("ab") as log:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self._detach,
            )
        self._children.append(child)
        return child

    def _wait(self, name: str, child: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._start_timeout
        while not ready():
            if child.poll() is not None:
                raise StartError(f"{name} exited with {child.returncode}:\n{self._log_tail(name)}")
            if time.monotonic() > deadline:
                raise StartError(
                    f"{name} was not ready within {self._start_timeout:g}s:\n{self._log_tail(name)}"
                )
            time.sleep(0.1)

    def _apiserver_ready(self) -> bool:
        api = self.admin_client()
        try:
            # /readyz includes the RBAC bootstrap hook, so the default roles exist once it
            # is 200; namespace default is created by a controller right after.
            return (
                api.get("/readyz").status == 200
                and api.get("/api/v1/namespaces/default").status == 200
            )
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _log_tail(self, name: str) -> str:
        data = (self.directory / f"{name}.log").read_bytes()
        return data[-_LOG_TAIL_BYTES:].decode("utf-8", errors="replace")

    def _write_kubeconfig(self) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "audithound-devcluster",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(self.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": b64(self.admin_cert),
                        "client-key-data": b64(self.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "audithound-devcluster",
                    "context": {"cluster": "audithound-devcluster", "user": "admin"},
                }
            ],
            "current-context": "audithound-devcluster",
        }
        partial = self.kubeconfig.with_name(".kubeconfig.tmp")
        partial.touch(mode=0o600)
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.replace(self.kubeconfig)


def _end(child: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a child, SIGKILL it if it outlives `timeout`."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def read_state(directory: Path) -> State | None:
    """The state `up` recorded in `directory`, or None when nothing was started there."""
    path = directory / STATE_FILE
    if not path.exists():
        return None
    return State.from_json(path.read_text())


def stop_recorded(directory: Path, timeout: float = 10.0) -> list[str]:
    """Stop the processes recorded in `directory` by pid; returns the names of those killed."""
    state = read_state(directory)
    if state is None:
        return []
    killed = [
        name
        for name, entry in (("kube-apiserver", state.kube_apiserver), ("etcd", state.etcd))
        if process.terminate(entry, timeout)
    ]
    (directory / STATE_FILE).unlink()
    return killed


def free_ports(count: int) -> list[int]:
    """``count`` different free TCP ports on 127.0.0.1."""
    # Hold every socket open until all are bound, so the ports differ from each other.
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            body: dict[str, Any] = json.loads(reply.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return False
    return body.get("health") == "true"
