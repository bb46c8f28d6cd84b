"""``make demo``: the operator on the local control plane, catching anonymous requests.

Fed by: a control plane started by ``make cluster`` in ``--dir`` and the repository's
``manifests/``, ``crds/`` and ``examples/rules/``. Feeds: the terminal. It runs the operator
in the background under its own ServiceAccount, applies the seed rule, sends anonymous
requests (allowed ones, health probes, a forbidden one) and prints
``kubectl get securityalerts``. ``down`` stops the operator; ``make cluster-down`` the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

from audithound.devcluster import certs, controlplane
from audithound.devcluster import operator as operator_

SEED = "kubernetes-anonymous-request-authorized"
DEMO_NAMESPACE = "demo"

_OPEN_CONFIGMAPS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {DEMO_NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: configmap-reader, namespace: {DEMO_NAMESPACE}}}
rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get, list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: public-configmaps, namespace: {DEMO_NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: configmap-reader}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:unauthenticated"}}]
"""


def _say(text: str) -> None:
    print(f"==> {text}", flush=True)


def up(directory: Path, repository: Path) -> int:
    state = controlplane.read_state(directory)
    if state is None:
        print(f"No control plane in {directory}: run `make cluster` first", file=sys.stderr)
        return 1
    admin = directory / "kubeconfig"
    ca_cert = certs.pki_paths(directory / "pki").ca_cert
    _say("Installing the operator's ServiceAccount and RBAC (manifests/)")
    identity = operator_.install_identity(
        admin, repository / "manifests", state.server, ca_cert, directory / "operator.kubeconfig"
    )
    pid_file = directory / "operator-state.pid"
    operator_.stop_recorded(pid_file)
    running = operator_.OperatorProcess(
        identity,
        directory / "audit" / "audit.log",
        directory / "operator-state",
        node_name="demo",
        detach=True,
    )
    _say(
        f"Starting `audithound run` as system:serviceaccount:audithound-system:audithound "
        f"(log: {running.log})"
    )
    running.start()
    _say("Applying the seed rule with kubectl")
    operator_.kubectl(admin, "apply", "-f", str(repository / "examples/rules" / f"{SEED}.yaml"))

    def ready() -> bool:
        rule = json.loads(operator_.kubectl(admin, "get", "detectionrule", SEED, "-o", "json"))
        conditions = (rule.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    operator_.eventually(ready, what="the seed rule to be Ready")
    print(operator_.kubectl(admin, "get", "detectionrules"), end="")
    operator_.kubectl(admin, "apply", "-f", "-", stdin=_OPEN_CONFIGMAPS)
    run = uuid.uuid4().hex[:6]
    requests = [
        ("/version", "allowed by system:public-info-viewer: alert"),
        (
            f"/api/v1/namespaces/{DEMO_NAMESPACE}/configmaps",
            "allowed by a RoleBinding to system:unauthenticated: alert",
        ),
        ("/healthz", "health probe: no alert"),
        ("/livez", "health probe: no alert"),
        ("/readyz", "health probe: no alert"),
        (f"/api/v1/namespaces/{DEMO_NAMESPACE}/secrets", "forbidden by RBAC: no alert"),
    ]
    _say("Sending anonymous requests")
    agent = f"demo-client/{run}"
    for path, what in requests:
        status = operator_.request(state.server, ca_cert, path, agent)
        print(f"    GET {path:45} -> {status}  ({what})")

    def alerted() -> bool:
        alerts = json.loads(operator_.kubectl(admin, "get", "securityalerts", "-o", "json"))
        ours = [a for a in alerts["items"] if a["spec"]["event"].get("userAgent") == agent]
        return len(ours) >= 2

    operator_.eventually(alerted, what="the two alerts")
    _say("kubectl get securityalerts")
    print(operator_.kubectl(admin, "get", "securityalerts"), end="")
    _say(
        f"Try: KUBECONFIG={admin} kubectl describe securityalert <name>;  "
        "stop with `make cluster-down`"
    )
    return 0


def down(directory: Path) -> int:
    if operator_.stop_recorded(directory / "operator-state.pid"):
        _say("Stopped the operator")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audithound.devcluster.demo")
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", type=Path, default=Path(".cluster"))
    parser.add_argument("--repository", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.dir.resolve(), args.repository.resolve())
    return down(args.dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
