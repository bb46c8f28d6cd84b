"""The metrics endpoint on the real API server: HTTPS, and only for scrapers whose token the
API server knows (TokenReview) and whose RBAC grants `get` on /metrics (SubjectAccessReview),
as kubebuilder's operators serve them."""

from __future__ import annotations

import pathlib
import socket
import ssl
import uuid
from collections.abc import Iterator

import pytest

from audithound.controller import servingcert
from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from tests.operator.conftest import Kube

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def secure_operator(
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[operator_.OperatorProcess]:
    running = operator_.OperatorProcess(
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path_factory.mktemp("secure") / "state",
        metrics_auth="kubernetes",
    )
    running.start()
    yield running
    running.stop()


def service_account_token(kube: Kube, namespace: str, name: str) -> str:
    kube.kubectl("create", "serviceaccount", name, "-n", namespace)
    return kube.kubectl("create", "token", name, "-n", namespace).strip()


@pytest.fixture(scope="module")
def namespace(kube: Kube) -> Iterator[str]:
    name = f"scrapers-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false")


def test_only_scrapers_with_the_role_read_the_metrics(
    kube: Kube, secure_operator: operator_.OperatorProcess, namespace: str
) -> None:
    # audithound-metrics-reader ships in manifests/base/rbac.yaml, applied with the identity.
    allowed = service_account_token(kube, namespace, "prometheus")
    kube.kubectl(
        "create",
        "clusterrolebinding",
        f"{namespace}-metrics",
        "--clusterrole=audithound-metrics-reader",
        f"--serviceaccount={namespace}:prometheus",
    )
    other = service_account_token(kube, namespace, "someone")
    try:
        status, body = secure_operator.scrape()
        assert status == 401 and "audithound_" not in body
        status, body = secure_operator.scrape("not-a-token")
        assert status == 401 and "audithound_" not in body
        status, body = secure_operator.scrape(other)
        assert status == 403 and "audithound_" not in body
        status, body = secure_operator.scrape(allowed)
        assert status == 200
        assert "audithound_rules{state=" in body
        assert 'audithound_loop_failures_total{loop="retention"} 0.0' in body
        # Asked again within the cache's lifetime: the same answers.
        assert secure_operator.scrape(other)[0] == 403
        assert secure_operator.scrape(allowed)[0] == 200
    finally:
        kube.kubectl("delete", "clusterrolebinding", f"{namespace}-metrics")


def test_metrics_are_served_over_tls_only(secure_operator: operator_.OperatorProcess) -> None:
    with socket.create_connection(("127.0.0.1", secure_operator.metrics_port), timeout=10) as raw:
        raw.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            answer = raw.recv(4096)
        except ConnectionResetError:  # the TLS handshake failed: what a plain client gets
            answer = b""
    assert b"audithound_" not in answer
    assert not answer.startswith(b"HTTP/1.")


def test_a_given_certificate_is_served(
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    given = tmp_path / "cert"
    given.mkdir()
    cert, _ = servingcert.self_signed(given, ["localhost", "127.0.0.1"])
    running = operator_.OperatorProcess(
        operator_kubeconfig,
        control_plane.audit_log,
        tmp_path / "state",
        metrics_auth="kubernetes",
        extra_args=("--metrics-cert-dir", str(given)),
    )
    running.start()
    try:
        served = ssl.get_server_certificate(("127.0.0.1", running.metrics_port))
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(cert.read_text())
        # Trusting that certificate is enough to verify the endpoint.
        context = ssl.create_default_context(cafile=str(cert))
        with (
            socket.create_connection(("127.0.0.1", running.metrics_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        running.stop()
