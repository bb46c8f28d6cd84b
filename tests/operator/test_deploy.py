"""The shipped manifests on the real API server: they apply, the ServiceAccount holds exactly
the RBAC it needs, and nothing the operator writes makes a GitOps diff."""

from __future__ import annotations

import pathlib
import re
import uuid

import pytest

from audithound.devcluster import operator as operator_
from tests.operator.conftest import ROOT, Kube, agent, eventually, ready, start_operator

pytestmark = pytest.mark.cluster

SERVICE_ACCOUNT = "system:serviceaccount:audithound-system:audithound"
SEED = ROOT / "examples/rules/kubernetes-anonymous-request-authorized.yaml"
#: What `kubectl apply --server-side` records for a GitOps tool (Argo CD's field manager).
GITOPS = "argocd-controller"


def test_manifests_apply_server_side(kube: Kube) -> None:
    # A server-side dry run creates nothing, so the namespaced objects need their namespace.
    kube.kubectl("apply", "--server-side", "-f", str(ROOT / "manifests/base/namespace.yaml"))
    kube.kubectl("apply", "--server-side", "--dry-run=server", "-k", str(ROOT / "manifests"))
    applied = kube.kubectl("apply", "--server-side", "-k", str(ROOT / "manifests"))
    for expected in (
        "namespace/audithound-system",
        "customresourcedefinition.apiextensions.k8s.io/detectionrules.audithound.io",
        "serviceaccount/audithound",
        "clusterrole.rbac.authorization.k8s.io/audithound-operator",
        "clusterrole.rbac.authorization.k8s.io/audithound-metrics-reader",
        "daemonset.apps/audithound",
        "service/audithound-metrics",
    ):
        assert expected in applied
    overlay = ROOT / "manifests/overlays/custom-node-setup"
    kube.kubectl("apply", "--server-side", "--dry-run=server", "-k", str(overlay))


def _can_i(kube: Kube) -> dict[str, set[str]]:
    table = kube.kubectl("auth", "can-i", "--list", f"--as={SERVICE_ACCOUNT}")
    granted: dict[str, set[str]] = {}
    for line in table.splitlines()[1:]:
        match = re.match(r"\s*(\S*)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]", line)
        assert match, line
        resource, urls, _names, verbs = match.groups()
        if resource and not urls:
            granted.setdefault(resource, set()).update(verbs.split())
    return granted


def test_service_account_holds_exactly_what_it_needs(kube: Kube) -> None:
    kube.kubectl("apply", "--server-side", "-k", str(ROOT / "manifests"))
    granted = _can_i(kube)
    # Every authenticated identity holds the self-review APIs (system:basic-user).
    for review in (
        "selfsubjectreviews.authentication.k8s.io",
        "selfsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectrulesreviews.authorization.k8s.io",
    ):
        assert granted.pop(review) == {"create"}
    assert granted == {
        "detectionrules.audithound.io": {"get", "list", "watch"},
        "detectionrules.audithound.io/status": {"patch"},
        "detectionexceptions.audithound.io": {"get", "list", "watch"},
        "detectionexceptions.audithound.io/status": {"patch"},
        "securityalerts.audithound.io": {"create", "get", "patch", "list", "delete"},
        "events": {"create"},
        "customresourcedefinitions.apiextensions.k8s.io": {"list", "watch"},
        # The metrics endpoint asks the API server who a scraper is and what it may do.
        "tokenreviews.authentication.k8s.io": {"create"},
        "subjectaccessreviews.authorization.k8s.io": {"create"},
    }
    for verb, resource in (
        ("get", "secrets"),
        ("list", "secrets"),
        ("get", "pods"),
        ("get", "configmaps"),
        ("update", "detectionrules.audithound.io"),
        ("update", "detectionexceptions.audithound.io"),
        ("update", "securityalerts.audithound.io"),
        ("watch", "securityalerts.audithound.io"),
        # The scrapers' role is for scrapers: the operator does not read its own metrics.
        ("get", "/metrics"),
    ):
        assert _can(kube, verb, resource) == "no", (verb, resource)


def _can(kube: Kube, verb: str, resource: str) -> str:
    """kubectl auth can-i's answer (it exits 1 for "no", so not through Kube.kubectl)."""
    answer = operator_.run_kubectl(
        kube.plane.kubeconfig,
        "auth",
        "can-i",
        verb,
        resource,
        f"--as={SERVICE_ACCOUNT}",
        "--all-namespaces",
    )
    return answer.stdout.strip()


def test_operator_writes_cause_no_gitops_drift(
    kube: Kube, operator_kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    manifests = ROOT / "manifests"
    # Argo CD's server-side apply takes ownership of every field in Git (--force-conflicts).
    for target in (("-k", str(manifests)), ("-f", str(SEED))):
        kube.kubectl(
            "apply", "--server-side", "--force-conflicts", f"--field-manager={GITOPS}", *target
        )
    running = start_operator(operator_kubeconfig, kube.plane.audit_log, tmp_path / "state")
    try:
        name = SEED.stem
        eventually(lambda: ready(kube, name), what="the seed rule's status")
        mine = agent(f"drift-{uuid.uuid4().hex[:6]}")
        assert kube.anonymous("/version", mine) == 200
        (alert,) = eventually(lambda: kube.alerts_with_agent(mine), what="an alert")

        def summarised() -> bool:
            execution = (kube.rule(name).get("status") or {}).get("execution", {})
            return "test-node" in execution

        eventually(summarised, what="the rule's execution summary")
        for target in (("-k", str(manifests)), ("-f", str(SEED))):
            diff = operator_.run_kubectl(
                kube.plane.kubeconfig,
                "diff",
                "--server-side",
                f"--field-manager={GITOPS}",
                *target,
            )
            assert diff.returncode == 0, diff.stdout + diff.stderr
        rule = kube.rule(name)
        assert "finalizers" not in rule["metadata"]
        assert not any("kopf" in key for key in rule["metadata"].get("annotations", {}))
        labels = alert["metadata"].get("labels", {})
        annotations = alert["metadata"].get("annotations", {})
        assert set(labels) == {"audithound.io/rule", "audithound.io/severity"}
        assert not any("argocd" in key for key in annotations)
        assert "ownerReferences" not in alert["metadata"]
    finally:
        running.stop()
