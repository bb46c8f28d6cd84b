"""A realistic Kubernetes API server audit log, deterministic for a seed, for benchmarks and tests.

Fed by: the command line (``python bench/generate.py --events N --out PATH``), ``bench/run.py``
and ``tests/bench``. Feeds: ``audithound scan`` (the benchmark) and the bench rules' tests.

The log is one ``audit.k8s.io/v1`` Event per line, as a kube-apiserver with a common audit
policy writes it (``omitStages: [RequestReceived]``; Metadata for reads, Request for writes of
pods, nodes status, RBAC and other objects that rules inspect). The traffic is that of a
mid-sized production cluster: kubelets renewing leases and reporting status, the controller
manager and scheduler at work, GitOps and CI service accounts, operators watching, people
running kubectl, and anonymous health probes. About one event in :data:`ATTACK_EVERY` is a
technique that one of the rules in ``bench/rules`` detects, cycling through all of them, so
every rule fires on any log of a few thousand events and more.

:func:`labelled` yields each event with the name of the scenario that made it (the rule name
for techniques, ``benign:...`` otherwise): the tests use it to prove that the rules and this
generator agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import pathlib
import random
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import orjson

Event = dict[str, Any]

DEFAULT_EVENTS: Final = 200_000
DEFAULT_SEED: Final = 1120
#: One technique event in each block of this many events, at a random place in the block.
ATTACK_EVERY: Final = 50
#: Mean request rate of the simulated cluster (events per second of audit time).
EVENTS_PER_SECOND: Final = 150.0
START: Final = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)
BENIGN: Final = "benign:"

VERSION: Final = "v1.31.4"
GIT: Final = "a78aa47"
KUBECTL_UA: Final = f"kubectl/{VERSION} (darwin/arm64) kubernetes/{GIT}"
KUBELET_UA: Final = f"kubelet/{VERSION} (linux/amd64) kubernetes/{GIT}"
KCM_UA: Final = f"kube-controller-manager/{VERSION} (linux/amd64) kubernetes/{GIT}"
SCHEDULER_UA: Final = f"kube-scheduler/{VERSION} (linux/amd64) kubernetes/{GIT}"
APISERVER_UA: Final = f"kube-apiserver/{VERSION} (linux/amd64) kubernetes/{GIT}"

APP_NAMESPACES: Final = ("shop", "checkout", "payments", "search", "catalog", "accounts")
PUBLIC_INFO = (
    'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole '
    '"system:public-info-viewer" to Group "system:unauthenticated"'
)
HEALTH_PATHS: Final = ("/healthz", "/livez", "/readyz", "/readyz?verbose", "/livez?exclude=etcd")
PSA_ENFORCE: Final = "pod-security.kubernetes.io/enforce-policy"


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who makes a request: the audit ``user`` object, client, addresses, RBAC reason."""

    user: dict[str, Any]
    agent: str
    ips: tuple[str, ...]
    reason: str = ""

    @property
    def name(self) -> str:
        return str(self.user.get("username", ""))


def _binding(kind: str, name: str, role: str, subject: str) -> str:
    return f'RBAC: allowed by {kind} "{name}" of ClusterRole "{role}" to {subject}'


def _sa(namespace: str, name: str, agent: str, ips: Sequence[str], role: str) -> Identity:
    username = f"system:serviceaccount:{namespace}:{name}"
    return Identity(
        user={
            "username": username,
            "uid": _stable_uid(username),
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
        },
        agent=agent,
        ips=tuple(ips),
        reason=_binding("ClusterRoleBinding", role, role, f'ServiceAccount "{name}/{namespace}"'),
    )


def _person(email: str, groups: Sequence[str], ip: str, agent: str = KUBECTL_UA) -> Identity:
    return Identity(
        user={
            "username": email,
            "groups": [*groups, "system:authenticated"],
            "extra": {"iss": ["https://sso.example.com"], "sub": [email.split("@")[0]]},
        },
        agent=agent,
        ips=(ip,),
        reason=_binding(
            "ClusterRoleBinding", f"{groups[0]}-binding", groups[0], f'Group "{groups[0]}"'
        ),
    )


ANONYMOUS: Final = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


class Cluster:
    """The simulated cluster: its clock, nodes, workloads and identities, and one method per
    kind of request. Every random choice goes through ``self.rng``, so a seed fixes the log."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock_us = int(START.timestamp() * 1_000_000)
        self._second = -1
        self._second_text = ""
        rng = self.rng
        self.nodes = [
            f"ip-10-0-{1 + i // 8}-{20 + i}.eu-west-1.compute.internal" for i in range(24)
        ]
        self.node_ips = {node: f"10.0.{1 + i // 8}.{20 + i}" for i, node in enumerate(self.nodes)}
        self.deployments = [
            (namespace, name)
            for namespace in APP_NAMESPACES
            for name in ("api", "web", "worker", "cache")[: 2 + rng.randrange(3)]
        ]
        self.pods = [
            (namespace, f"{name}-{self._hash(10)}-{self._hash(5)}", rng.choice(self.nodes))
            for namespace, name in self.deployments
            for _ in range(3)
        ]
        self.kcm = Identity(
            user={"username": "system:kube-controller-manager", "groups": ["system:authenticated"]},
            agent=KCM_UA + "/leader-election",
            ips=("10.0.0.11",),
            reason=_binding(
                "ClusterRoleBinding",
                "system:kube-controller-manager",
                "system:kube-controller-manager",
                'User "system:kube-controller-manager"',
            ),
        )
        self.scheduler = Identity(
            user={"username": "system:kube-scheduler", "groups": ["system:authenticated"]},
            agent=SCHEDULER_UA + "/scheduler",
            ips=("10.0.0.11",),
            reason=_binding(
                "ClusterRoleBinding",
                "system:kube-scheduler",
                "system:kube-scheduler",
                'User "system:kube-scheduler"',
            ),
        )
        self.apiserver = Identity(
            user={
                "username": "system:apiserver",
                "uid": "8d1a5c0e-6c3f-4a4b-9a8b-2f1f0d3c9e11",
                "groups": ["system:authenticated", "system:masters"],
            },
            agent=APISERVER_UA,
            ips=("::1",),
        )

        def controller(name: str) -> Identity:
            return _sa(
                "kube-system",
                name,
                f"{KCM_UA}/system:serviceaccount:kube-system:{name}",
                ["10.0.0.11"],
                f"system:controller:{name}",
            )

        self.replicaset_controller = controller("replicaset-controller")
        self.endpointslice_controller = controller("endpointslice-controller")
        self.daemonset_controller = controller("daemon-set-controller")
        self.gc_controller = controller("generic-garbage-collector")
        self.deployment_controller = controller("deployment-controller")
        pod_ips = [f"10.244.{i}.{j}" for i in range(1, 6) for j in (12, 37, 81)]
        self.argocd = _sa(
            "argocd",
            "argocd-application-controller",
            "argocd-application-controller/v2.13.1 (linux/amd64) argocd/8f3c2d1",
            pod_ips[:2],
            "argocd-application-controller",
        )
        self.deployer = _sa("ci", "deployer", "Helm/3.16.3", pod_ips[2:5], "ci-deployer")
        self.cert_manager = _sa(
            "cert-manager",
            "cert-manager",
            "cert-manager-controller/v1.16.2 (linux/amd64) cert-manager/"
            "2a0ef53b06e183356d922cd58af2510d8885bef5",
            pod_ips[5:6],
            "cert-manager-controller-certificates",
        )
        self.prometheus = _sa(
            "monitoring", "prometheus-k8s", "Prometheus/2.55.1", pod_ips[6:8], "prometheus-k8s"
        )
        self.ingress = _sa(
            "ingress-nginx",
            "ingress-nginx",
            "nginx-ingress-controller/v1.11.3 (linux/amd64) ingress-nginx/0ec3a7e4e0ca",
            pod_ips[8:10],
            "ingress-nginx",
        )
        self.coredns = _sa(
            "kube-system",
            "coredns",
            f"coredns/1.11.3 (linux/amd64) kubernetes/{GIT}",
            pod_ips[10:12],
            "system:coredns",
        )
        self.people = [
            _person("alice@example.com", ["platform-admins"], "10.8.0.14"),
            _person("bob@example.com", ["developers"], "10.8.0.27"),
            _person(
                "carol@example.com",
                ["developers"],
                "10.8.1.5",
                "k9s/v0.32.7 (darwin/arm64) kubernetes/v0.31.3",
            ),
            _person("erin@example.com", ["sre"], "10.8.0.33"),
        ]
        self.contractor = _person("dave@contractor.example.net", ["developers"], "10.8.3.9")
        self.compromised = _sa(
            "shop", "storefront", "Go-http-client/2.0", ["10.244.3.17"], "storefront-reader"
        )
        self.outside_ips = ("203.0.113.50", "198.51.100.23", "192.0.2.141", "185.220.101.7")

    # -- primitives ------------------------------------------------------------------------

    def _hash(self, length: int) -> str:
        return "".join(self.rng.choices("bcdfghjklmnpqrstvwxz2456789", k=length))

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def _stamp(self, us: int) -> str:
        second = us // 1_000_000
        if second != self._second:
            self._second = second
            when = datetime.datetime.fromtimestamp(second, tz=datetime.UTC)
            self._second_text = when.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{us % 1_000_000:06d}Z"

    def tick(self) -> None:
        """Advance the audit clock by one request's inter-arrival time."""
        self.clock_us += int(self.rng.expovariate(EVENTS_PER_SECOND) * 1_000_000)

    def event(
        self,
        who: Identity,
        verb: str,
        uri: str,
        ref: dict[str, Any] | None,
        *,
        code: int = 200,
        level: str = "Metadata",
        stage: str = "ResponseComplete",
        body: Any = None,
        response: Any = None,
        annotations: dict[str, str] | None = None,
        ips: Sequence[str] | None = None,
        agent: str | None = None,
        impersonated: dict[str, Any] | None = None,
        latency_us: int | None = None,
        message: str | None = None,
    ) -> Event:
        """One audit event as the API server writes it (same keys, same order), completed
        now: long requests (watches, logs) were received ``latency_us`` earlier."""
        done = self.clock_us
        received = done - (latency_us if latency_us is not None else self.rng.randrange(300, 9000))
        event: Event = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level,
            "auditID": self._uuid(),
            "stage": stage,
            "requestURI": uri,
            "verb": verb,
            "user": who.user,
        }
        if impersonated is not None:
            event["impersonatedUser"] = impersonated
        event["sourceIPs"] = list(ips if ips is not None else (self.rng.choice(who.ips),))
        event["userAgent"] = agent or who.agent
        if ref is not None:
            event["objectRef"] = ref
        status: dict[str, Any] = {"metadata": {}, "code": code}
        if code >= 400:
            status.update(_failure(code, verb, ref, who.name, message))
        event["responseStatus"] = status
        if body is not None:
            event["requestObject"] = body
        if response is not None:
            event["responseObject"] = response
        event["requestReceivedTimestamp"] = self._stamp(received)
        event["stageTimestamp"] = self._stamp(done)
        # A 403 is the authorizer's unless the caller adds admission annotations: an
        # admission plugin (Pod Security) rejects requests that RBAC allowed.
        forbidden = code == 403 and annotations is None
        notes = {
            "authorization.k8s.io/decision": "forbid" if forbidden else "allow",
            "authorization.k8s.io/reason": "" if forbidden else who.reason,
        }
        if annotations:
            notes.update(annotations)
        event["annotations"] = notes
        return event

    # -- object bodies ---------------------------------------------------------------------

    def pod(
        self,
        namespace: str,
        name: str,
        image: str,
        *,
        owner: str | None = None,
        service_account: str = "default",
        container: dict[str, Any] | None = None,
        spec: dict[str, Any] | None = None,
        volumes: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A Pod as a client submits it; hardened unless ``container``/``spec`` say otherwise."""
        security = {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        }
        main: dict[str, Any] = {
            "name": name.split("-")[0],
            "image": image,
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "resources": {
                "limits": {"memory": "512Mi"},
                "requests": {"cpu": "100m", "memory": "256Mi"},
            },
            "volumeMounts": [
                {
                    "name": "kube-api-access",
                    "readOnly": True,
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                }
            ],
            "terminationMessagePath": "/dev/termination-log",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": security,
        }
        if container:
            main.update(container)
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": name.split("-")[0]},
        }
        if owner:
            metadata["generateName"] = name[: name.rfind("-") + 1]
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": owner,
                    "uid": self._uuid(),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        pod_spec: dict[str, Any] = {
            "volumes": [
                *volumes,
                {
                    "name": "kube-api-access",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                        ],
                        "defaultMode": 420,
                    },
                },
            ],
            "containers": [main],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": service_account,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": False,
        }
        if spec:
            pod_spec.update(spec)
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": pod_spec,
            "status": {},
        }

    def _pod_create(
        self,
        who: Identity,
        namespace: str,
        body: dict[str, Any],
        code: int = 201,
        annotations: dict[str, str] | None = None,
        message: str | None = None,
    ) -> Event:
        name = body["metadata"]["name"]
        notes = {PSA_ENFORCE: "baseline:latest"} if namespace in APP_NAMESPACES else {}
        notes.update(annotations or {})
        return self.event(
            who,
            "create",
            f"/api/v1/namespaces/{namespace}/pods",
            {"resource": "pods", "namespace": namespace, "name": name, "apiVersion": "v1"},
            code=code,
            level="Request",
            body=body,
            annotations=notes or None,
            message=message,
        )

    def _image(self, name: str) -> str:
        return f"registry.example.com/{name}:1.{self.rng.randrange(4, 30)}.{self.rng.randrange(9)}"

    # -- benign traffic --------------------------------------------------------------------

    def kubelet(self, node: str | None = None) -> Identity:
        node = node or self.rng.choice(self.nodes)
        return Identity(
            user={
                "username": f"system:node:{node}",
                "groups": ["system:nodes", "system:authenticated"],
            },
            agent=KUBELET_UA,
            ips=(self.node_ips[node],),
        )

    def kubelet_lease(self) -> Event:
        node = self.rng.choice(self.nodes)
        return self.event(
            self.kubelet(node),
            "update",
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}?timeout=10s",
            {
                "resource": "leases",
                "namespace": "kube-node-lease",
                "name": node,
                "uid": f"{self.nodes.index(node):08d}-lease",
                "apiGroup": "coordination.k8s.io",
                "apiVersion": "v1",
                "resourceVersion": str(self.rng.randrange(10**7, 10**8)),
            },
        )

    def kubelet_node_status(self) -> Event:
        node = self.rng.choice(self.nodes)
        now = self._stamp(self.clock_us)[:19] + "Z"
        conditions = [
            {
                "type": kind,
                "lastHeartbeatTime": now,
                "status": status,
                "reason": reason,
                "message": message,
            }
            for kind, status, reason, message in (
                (
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                (
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                (
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            )
        ]
        body = {
            "status": {
                "$setElementOrder/conditions": [{"type": c["type"]} for c in conditions],
                "conditions": conditions,
            }
        }
        return self.event(
            self.kubelet(node),
            "patch",
            f"/api/v1/nodes/{node}/status?timeout=10s",
            {"resource": "nodes", "name": node, "apiVersion": "v1", "subresource": "status"},
            level="Request",
            body=body,
        )

    def kubelet_get_node(self) -> Event:
        node = self.rng.choice(self.nodes)
        return self.event(
            self.kubelet(node),
            "get",
            f"/api/v1/nodes/{node}?resourceVersion=0&timeout=10s",
            {"resource": "nodes", "name": node, "apiVersion": "v1"},
        )

    def kubelet_pod_status(self) -> Event:
        namespace, pod, node = self.rng.choice(self.pods)
        now = self._stamp(self.clock_us)[:19] + "Z"
        body = {
            "metadata": {"uid": self._uuid()},
            "status": {
                "$setElementOrder/conditions": [
                    {"type": t}
                    for t in (
                        "PodReadyToStartContainers",
                        "Initialized",
                        "Ready",
                        "ContainersReady",
                        "PodScheduled",
                    )
                ],
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                ],
                "containerStatuses": [
                    {
                        "containerID": f"containerd://{self.rng.getrandbits(256):064x}",
                        "image": self._image(pod.split("-")[0]),
                        "imageID": f"registry.example.com/{pod.split('-')[0]}@sha256:"
                        f"{self.rng.getrandbits(256):064x}",
                        "lastState": {},
                        "name": pod.split("-")[0],
                        "ready": True,
                        "restartCount": self.rng.choice((0, 0, 0, 1, 2)),
                        "started": True,
                        "state": {"running": {"startedAt": now}},
                    }
                ],
            },
        }
        return self.event(
            self.kubelet(node),
            "patch",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/status",
            {
                "resource": "pods",
                "namespace": namespace,
                "name": pod,
                "apiVersion": "v1",
                "subresource": "status",
            },
            level="Request",
            body=body,
        )

    def kubelet_watch(self) -> Event:
        namespace, pod, node = self.rng.choice(self.pods)
        resource = self.rng.choice(("configmaps", "secrets", "configmaps"))
        name = f"{pod.split('-')[0]}-{'config' if resource == 'configmaps' else 'credentials'}"
        return self.event(
            self.kubelet(node),
            "watch",
            f"/api/v1/namespaces/{namespace}/{resource}?allowWatchBookmarks=true&fieldSelector="
            f"metadata.name%3D{name}&resourceVersion={self.rng.randrange(10**7, 10**8)}"
            f"&timeout={self.rng.randrange(5, 10)}m{self.rng.randrange(60)}s"
            f"&timeoutSeconds={self.rng.randrange(300, 600)}&watch=true",
            {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"},
            latency_us=self.rng.randrange(300, 600) * 1_000_000,
        )

    def kubelet_token(self) -> Event:
        namespace, pod, node = self.rng.choice(self.pods)
        account = pod.split("-")[0]
        body = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": account, "namespace": namespace},
            "spec": {
                "audiences": ["https://kubernetes.default.svc.cluster.local"],
                "expirationSeconds": 3607,
                "boundObjectRef": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "name": pod,
                    "uid": self._uuid(),
                },
            },
            "status": {"token": "", "expirationTimestamp": None},
        }
        return self.event(
            self.kubelet(node),
            "create",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
            {
                "resource": "serviceaccounts",
                "namespace": namespace,
                "name": account,
                "apiVersion": "v1",
                "subresource": "token",
            },
            code=201,
            level="Request",
            body=body,
        )

    def event_create(self) -> Event:
        namespace, pod, node = self.rng.choice(self.pods)
        who = self.rng.choice((self.kubelet(node), self.replicaset_controller, self.scheduler))
        name = f"{pod}.{self.rng.getrandbits(64):x}"
        return self.event(
            who,
            "create",
            f"/api/v1/namespaces/{namespace}/events",
            {"resource": "events", "namespace": namespace, "name": name, "apiVersion": "v1"},
            code=201,
        )

    def leader_lease(self) -> Event:
        who, name = self.rng.choice(
            ((self.kcm, "kube-controller-manager"), (self.scheduler, "kube-scheduler"))
        )
        return self.event(
            who,
            self.rng.choice(("get", "update")),
            f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}?timeout=5s",
            {
                "resource": "leases",
                "namespace": "kube-system",
                "name": name,
                "apiGroup": "coordination.k8s.io",
                "apiVersion": "v1",
            },
        )

    def endpointslice_update(self) -> Event:
        namespace, name = self.rng.choice(self.deployments)
        slice_name = f"{name}-{self._hash(5)}"
        return self.event(
            self.endpointslice_controller,
            "update",
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{slice_name}",
            {
                "resource": "endpointslices",
                "namespace": namespace,
                "name": slice_name,
                "apiGroup": "discovery.k8s.io",
                "apiVersion": "v1",
            },
        )

    def replicaset_status(self) -> Event:
        namespace, name = self.rng.choice(self.deployments)
        rs = f"{name}-{self._hash(10)}"
        who = self.rng.choice((self.replicaset_controller, self.deployment_controller))
        resource, obj = (
            ("replicasets", rs) if who is self.replicaset_controller else ("deployments", name)
        )
        return self.event(
            who,
            "update",
            f"/apis/apps/v1/namespaces/{namespace}/{resource}/{obj}/status",
            {
                "resource": resource,
                "namespace": namespace,
                "name": obj,
                "apiGroup": "apps",
                "apiVersion": "v1",
                "subresource": "status",
            },
        )

    def replicaset_pod(self) -> Event:
        namespace, name = self.rng.choice(self.deployments)
        owner = f"{name}-{self._hash(10)}"
        pod = f"{owner}-{self._hash(5)}"
        body = self.pod(namespace, pod, self._image(name), owner=owner, service_account=name)
        return self._pod_create(self.replicaset_controller, namespace, body)

    def kube_proxy_pod(self) -> Event:
        """A node joined: the DaemonSet controller starts kube-proxy, privileged, on the host
        network, with host mounts. Normal, and excluded by the rules that look at pods."""
        pod = f"kube-proxy-{self._hash(5)}"
        body = self.pod(
            "kube-system",
            pod,
            f"registry.k8s.io/kube-proxy:{VERSION}",
            owner=None,
            service_account="kube-proxy",
            container={
                "securityContext": {"privileged": True},
                "command": [
                    "/usr/local/bin/kube-proxy",
                    "--config=/var/lib/kube-proxy/config.conf",
                ],
            },
            spec={"hostNetwork": True, "priorityClassName": "system-node-critical"},
            volumes=[
                {
                    "name": "xtables-lock",
                    "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
                },
                {"name": "lib-modules", "hostPath": {"path": "/lib/modules", "type": ""}},
            ],
        )
        return self._pod_create(self.daemonset_controller, "kube-system", body)

    def pod_binding(self) -> Event:
        namespace, pod, node = self.rng.choice(self.pods)
        body = {
            "kind": "Binding",
            "apiVersion": "v1",
            "metadata": {"name": pod, "namespace": namespace, "uid": self._uuid()},
            "target": {"kind": "Node", "name": node},
        }
        return self.event(
            self.scheduler,
            "create",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/binding",
            {
                "resource": "pods",
                "namespace": namespace,
                "name": pod,
                "apiVersion": "v1",
                "subresource": "binding",
            },
            code=201,
            level="Request",
            body=body,
        )

    def controller_watch(self) -> Event:
        who = self.rng.choice(
            (
                self.gc_controller,
                self.kcm,
                self.argocd,
                self.cert_manager,
                self.ingress,
                self.coredns,
                self.prometheus,
            )
        )
        group, resource = self.rng.choice(
            (
                ("", "configmaps"),
                ("apps", "deployments"),
                ("apps", "replicasets"),
                ("", "services"),
                ("discovery.k8s.io", "endpointslices"),
                ("networking.k8s.io", "ingresses"),
                ("", "pods"),
                ("batch", "jobs"),
            )
        )
        prefix = f"/apis/{group}/v1" if group else "/api/v1"
        ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
        if group:
            ref["apiGroup"] = group
        return self.event(
            who,
            "watch",
            f"{prefix}/{resource}?allowWatchBookmarks=true&resourceVersion="
            f"{self.rng.randrange(10**7, 10**8)}&timeout={self.rng.randrange(5, 10)}m"
            f"{self.rng.randrange(60)}s&timeoutSeconds={self.rng.randrange(300, 600)}&watch=true",
            ref,
            latency_us=self.rng.randrange(300, 600) * 1_000_000,
        )

    def operator_secrets(self) -> Event:
        who, namespace = self.rng.choice(
            ((self.cert_manager, "cert-manager"), (self.deployer, self.rng.choice(APP_NAMESPACES)))
        )
        if who is self.deployer:
            uri = f"/api/v1/namespaces/{namespace}/secrets?labelSelector=owner%3Dhelm"
            verb = "list"
        else:
            uri = "/api/v1/secrets?limit=500&resourceVersion=0"
            verb = "list"
            namespace = ""
        ref = {"resource": "secrets", "apiVersion": "v1"}
        if namespace:
            ref["namespace"] = namespace
        return self.event(who, verb, uri, ref)

    def apiserver_self(self) -> Event:
        resource, name, namespace = self.rng.choice(
            (
                ("endpoints", "kubernetes", "default"),
                ("services", "kubernetes", "default"),
                ("configmaps", "extension-apiserver-authentication", "kube-system"),
                ("leases", f"apiserver-{self._hash(26)}", "kube-system"),
            )
        )
        prefix = "/apis/coordination.k8s.io/v1" if resource == "leases" else "/api/v1"
        ref = {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"}
        if resource == "leases":
            ref["apiGroup"] = "coordination.k8s.io"
        return self.event(
            self.apiserver,
            self.rng.choice(("get", "update")),
            f"{prefix}/namespaces/{namespace}/{resource}/{name}",
            ref,
        )

    def person_read(self) -> Event:
        who = self.rng.choice(self.people)
        namespace = self.rng.choice(APP_NAMESPACES)
        group, resource = self.rng.choice(
            (
                ("", "pods"),
                ("", "pods"),
                ("apps", "deployments"),
                ("", "services"),
                ("", "configmaps"),
                ("", "events"),
                ("networking.k8s.io", "ingresses"),
                ("apps", "replicasets"),
            )
        )
        prefix = f"/apis/{group}/v1" if group else "/api/v1"
        ref: dict[str, Any] = {"resource": resource, "namespace": namespace, "apiVersion": "v1"}
        if group:
            ref["apiGroup"] = group
        if self.rng.random() < 0.4:
            _, pod, _ = self.rng.choice(self.pods)
            ref["name"] = pod if resource == "pods" else pod.split("-")[0]
            return self.event(
                who, "get", f"{prefix}/namespaces/{namespace}/{resource}/{ref['name']}", ref
            )
        return self.event(who, "list", f"{prefix}/namespaces/{namespace}/{resource}?limit=500", ref)

    def person_logs(self) -> Event:
        who = self.rng.choice(self.people)
        namespace, pod, _ = self.rng.choice(self.pods)
        return self.event(
            who,
            "get",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/log?container={pod.split('-')[0]}"
            f"&follow=true&tailLines=100",
            {
                "resource": "pods",
                "namespace": namespace,
                "name": pod,
                "apiVersion": "v1",
                "subresource": "log",
            },
            latency_us=self.rng.randrange(5, 900) * 1_000_000,
        )

    def person_apply(self) -> Event:
        who = self.rng.choice((*self.people, self.argocd, self.deployer))
        namespace, name = self.rng.choice(self.deployments)
        body = {
            "spec": {
                "template": {
                    "metadata": {
                        "annotations": {
                            "kubectl.kubernetes.io/restartedAt": self._stamp(self.clock_us)
                        }
                    },
                    "spec": {"containers": [{"name": name, "image": self._image(name)}]},
                }
            }
        }
        return self.event(
            who,
            "patch",
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}?fieldManager=kubectl-client-side-apply",
            {
                "resource": "deployments",
                "namespace": namespace,
                "name": name,
                "apiGroup": "apps",
                "apiVersion": "v1",
            },
            level="Request",
            body=body,
        )

    def person_forbidden(self) -> Event:
        who = self.people[1]
        return self.event(
            who,
            "list",
            "/api/v1/nodes?limit=500",
            {"resource": "nodes", "apiVersion": "v1"},
            code=403,
        )

    def person_access_review(self) -> Event:
        who = self.rng.choice(self.people)
        namespace = self.rng.choice(APP_NAMESPACES)
        body = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": "create",
                    "resource": "deployments",
                    "group": "apps",
                }
            },
            "status": {"allowed": False},
        }
        return self.event(
            who,
            "create",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            {
                "resource": "selfsubjectaccessreviews",
                "apiGroup": "authorization.k8s.io",
                "apiVersion": "v1",
            },
            code=201,
            level="Request",
            body=body,
        )

    def prometheus_scrape(self) -> Event:
        return self.event(self.prometheus, "get", "/metrics", None)

    def health_probe(self) -> Event:
        return self.event(
            Identity(
                user=ANONYMOUS,
                agent=self.rng.choice(("kube-probe/1.31", "ELB-HealthChecker/2.0")),
                ips=("10.0.0.5", "10.0.0.6", "10.0.0.7"),
                reason=PUBLIC_INFO,
            ),
            "get",
            self.rng.choice(HEALTH_PATHS),
            None,
        )

    def anonymous_version(self) -> Event:
        scanner = Identity(
            user=ANONYMOUS, agent="Mozilla/5.0 zgrab/0.x", ips=self.outside_ips, reason=PUBLIC_INFO
        )
        if self.rng.random() < 0.5:
            return self.event(scanner, "get", "/version", None)
        return self.event(scanner, "get", "/api", None, code=403)

    # -- techniques: one per bench rule ----------------------------------------------------

    def _attacker(self) -> Identity:
        return self.rng.choice((self.contractor, self.people[1], self.compromised))

    def _attack_pod(self, who: Identity | None = None, **shape: Any) -> Event:
        namespace = self.rng.choice((*APP_NAMESPACES, "default"))
        name = self.rng.choice(("debug", "tools", "node-shell", "busybox", "netshoot"))
        pod = f"{name}-{self._hash(5)}"
        image = self.rng.choice(
            (
                "docker.io/library/alpine:3.20",
                "docker.io/library/ubuntu:24.04",
                "ghcr.io/nicolaka/netshoot:v0.13",
            )
        )
        body = self.pod(namespace, pod, image, **shape)
        body["spec"]["containers"][0]["command"] = ["sleep", "infinity"]
        return self._pod_create(who or self._attacker(), namespace, body)

    def privileged_pod(self) -> Event:
        return self._attack_pod(container={"securityContext": {"privileged": True}})

    def hostpath_pod(self) -> Event:
        path = self.rng.choice(
            (
                "/",
                "/etc",
                "/var/run/docker.sock",
                "/run/containerd/containerd.sock",
                "/var/lib/kubelet/pki",
                "/root/.ssh",
            )
        )
        return self._attack_pod(
            volumes=[{"name": "host", "hostPath": {"path": path}}],
            container={"volumeMounts": [{"name": "host", "mountPath": "/host"}]},
        )

    def host_namespace_pod(self) -> Event:
        flag = self.rng.choice(("hostPID", "hostNetwork", "hostIPC"))
        return self._attack_pod(spec={flag: True})

    def capability_pod(self) -> Event:
        cap = self.rng.choice(("SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE"))
        return self._attack_pod(
            container={
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"add": [cap]},
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                }
            }
        )

    def root_pod(self) -> Event:
        if self.rng.random() < 0.5:
            return self._attack_pod(container={"securityContext": {"runAsUser": 0}})
        return self._attack_pod(
            container={
                "securityContext": {
                    "allowPrivilegeEscalation": True,
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                }
            }
        )

    def kube_system_pod(self) -> Event:
        pod = f"coredns-debug-{self._hash(5)}"
        body = self.pod(
            "kube-system", pod, "docker.io/library/busybox:1.36", service_account="coredns"
        )
        return self._pod_create(self.contractor, "kube-system", body)

    def psa_violation(self) -> Event:
        namespace = self.rng.choice(APP_NAMESPACES)
        name, _ = self.rng.choice([d for d in self.deployments if d[0] == namespace])
        body = self.pod(namespace, f"{name}-{self._hash(10)}-{self._hash(5)}", self._image(name))
        del body["spec"]["securityContext"]
        violation = (
            'would violate PodSecurity "restricted:latest": seccompProfile (pod or container '
            f'"{name}" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
            '"Localhost")'
        )
        if self.rng.random() < 0.5:
            return self._pod_create(
                self.replicaset_controller,
                namespace,
                body,
                annotations={"pod-security.kubernetes.io/audit-violations": violation},
            )
        return self._pod_create(
            self.people[1],
            namespace,
            body,
            code=403,
            annotations={PSA_ENFORCE: "restricted:latest"},
            message=f'pods "{body["metadata"]["name"]}" is forbidden: '
            + violation.replace("would violate", "violates"),
        )

    def _streaming(self, subresource: str, query: str, verb: str | None = None) -> Event:
        namespace, pod, _ = self.rng.choice(self.pods)
        who = self.rng.choice((self.people[0], self.people[3], self.contractor))
        return self.event(
            who,
            verb or self.rng.choice(("create", "get")),
            f"/api/v1/namespaces/{namespace}/pods/{pod}/{subresource}?{query}",
            {
                "resource": "pods",
                "namespace": namespace,
                "name": pod,
                "apiVersion": "v1",
                "subresource": subresource,
            },
            code=101,
            stage="ResponseStarted",
        )

    def exec_pod(self) -> Event:
        command = self.rng.choice(
            (
                "command=sh&command=-c&command=cat+%2Fvar%2Frun%2Fsecrets%2F"
                "kubernetes.io%2Fserviceaccount%2Ftoken",
                "command=%2Fbin%2Fbash",
                "command=tar&command=cf&command=-&command=%2Ftmp%2Fdump",
            )
        )
        return self._streaming("exec", f"{command}&container=app&stdin=true&stdout=true&tty=true")

    def attach_pod(self) -> Event:
        return self._streaming(
            "attach", "container=app&stderr=true&stdin=true&stdout=true&tty=true"
        )

    def port_forward(self) -> Event:
        return self._streaming("portforward", f"ports={self.rng.choice((5432, 6379, 8080, 9200))}")

    def ephemeral_container(self) -> Event:
        namespace, pod, _ = self.rng.choice(self.pods)
        body = {
            "spec": {
                "ephemeralContainers": [
                    {
                        "name": f"debugger-{self._hash(5)}",
                        "image": "docker.io/library/busybox:1.36",
                        "stdin": True,
                        "tty": True,
                        "targetContainerName": pod.split("-")[0],
                        "terminationMessagePolicy": "File",
                    }
                ]
            }
        }
        return self.event(
            self.rng.choice((self.people[3], self.contractor)),
            "patch",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/ephemeralcontainers",
            {
                "resource": "pods",
                "namespace": namespace,
                "name": pod,
                "apiVersion": "v1",
                "subresource": "ephemeralcontainers",
            },
            level="Request",
            body=body,
        )

    def secrets_by_person(self) -> Event:
        who = self.rng.choice((self.contractor, self.people[1]))
        namespace = self.rng.choice(APP_NAMESPACES)
        if self.rng.random() < 0.5:
            return self.event(
                who,
                "list",
                f"/api/v1/namespaces/{namespace}/secrets?limit=500",
                {"resource": "secrets", "namespace": namespace, "apiVersion": "v1"},
            )
        name = self.rng.choice(("db-credentials", "stripe-api-key", "registry-pull"))
        return self.event(
            who,
            "get",
            f"/api/v1/namespaces/{namespace}/secrets/{name}",
            {"resource": "secrets", "namespace": namespace, "name": name, "apiVersion": "v1"},
        )

    def secrets_anonymous(self) -> Event:
        namespace = self.rng.choice(APP_NAMESPACES)
        anonymous = Identity(
            user=ANONYMOUS,
            agent="Go-http-client/1.1",
            ips=self.outside_ips,
            reason=_binding(
                "ClusterRoleBinding",
                "debug-anonymous",
                "view-secrets",
                'Group "system:unauthenticated"',
            ),
        )
        return self.event(
            anonymous,
            "list",
            f"/api/v1/namespaces/{namespace}/secrets",
            {"resource": "secrets", "namespace": namespace, "apiVersion": "v1"},
        )

    def secrets_from_outside(self) -> Event:
        namespace = self.rng.choice(APP_NAMESPACES)
        name = f"sh.helm.release.v1.{self.rng.choice(('api', 'web'))}.v{self.rng.randrange(1, 40)}"
        return self.event(
            self.deployer,
            "get",
            f"/api/v1/namespaces/{namespace}/secrets/{name}",
            {"resource": "secrets", "namespace": namespace, "name": name, "apiVersion": "v1"},
            ips=[self.rng.choice(self.outside_ips)],
        )

    def _rbac(
        self,
        who: Identity,
        verb: str,
        resource: str,
        name: str,
        body: Any,
        namespace: str | None = None,
    ) -> Event:
        path = f"/namespaces/{namespace}" if namespace else ""
        uri = f"/apis/rbac.authorization.k8s.io/v1{path}/{resource}"
        if verb != "create":
            uri += f"/{name}"
        ref = {
            "resource": resource,
            "name": name,
            "apiGroup": "rbac.authorization.k8s.io",
            "apiVersion": "v1",
        }
        if namespace:
            ref["namespace"] = namespace
        return self.event(
            who, verb, uri, ref, code=201 if verb == "create" else 200, level="Request", body=body
        )

    def cluster_admin_binding(self) -> Event:
        name = self.rng.choice(("ops-temp", "support-access", "monitoring-admin"))
        body = {
            "kind": "ClusterRoleBinding",
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "storefront", "namespace": "shop"}],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
        }
        return self._rbac(
            self.rng.choice((self.contractor, self.deployer)),
            "create",
            "clusterrolebindings",
            name,
            body,
        )

    def wildcard_role(self) -> Event:
        name = self.rng.choice(("operator-all", "ci-helper", "tmp-debug"))
        rule = self.rng.choice(
            (
                {"apiGroups": [""], "resources": ["*"], "verbs": ["get", "list"]},
                {"apiGroups": ["*"], "resources": ["pods"], "verbs": ["*"]},
            )
        )
        body = {
            "kind": "ClusterRole",
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": name},
            "rules": [rule],
        }
        return self._rbac(self.deployer, "create", "clusterroles", name, body)

    def rbac_by_person(self) -> Event:
        namespace = self.rng.choice(APP_NAMESPACES)
        body = {
            "subjects": [
                {
                    "kind": "User",
                    "name": "dave@contractor.example.net",
                    "apiGroup": "rbac.authorization.k8s.io",
                }
            ]
        }
        return self._rbac(
            self.rng.choice((self.people[0], self.contractor)),
            "patch",
            "rolebindings",
            "developers-edit",
            body,
            namespace,
        )

    def token_request(self) -> Event:
        namespace = self.rng.choice(APP_NAMESPACES)
        body = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {"audiences": None, "expirationSeconds": 31536000, "boundObjectRef": None},
            "status": {"token": "", "expirationTimestamp": None},
        }
        return self.event(
            self.contractor,
            "create",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/default/token",
            {
                "resource": "serviceaccounts",
                "namespace": namespace,
                "name": "default",
                "apiVersion": "v1",
                "subresource": "token",
            },
            code=201,
            level="Request",
            body=body,
        )

    def csr_created(self) -> Event:
        name = f"csr-{self._hash(5)}"
        body = {
            "kind": "CertificateSigningRequest",
            "apiVersion": "certificates.k8s.io/v1",
            "metadata": {"name": name},
            "spec": {
                "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
                "signerName": "kubernetes.io/kube-apiserver-client",
                "expirationSeconds": 864000,
                "usages": ["client auth"],
            },
            "status": {},
        }
        return self.event(
            self.contractor,
            "create",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            {
                "resource": "certificatesigningrequests",
                "name": name,
                "apiGroup": "certificates.k8s.io",
                "apiVersion": "v1",
            },
            code=201,
            level="Request",
            body=body,
        )

    def csr_approved(self) -> Event:
        name = f"csr-{self._hash(5)}"
        body = {
            "kind": "CertificateSigningRequest",
            "apiVersion": "certificates.k8s.io/v1",
            "metadata": {"name": name},
            "status": {
                "conditions": [
                    {
                        "type": "Approved",
                        "status": "True",
                        "reason": "KubectlApprove",
                        "message": "This CSR was approved by kubectl certificate approve.",
                    }
                ]
            },
        }
        return self.event(
            self.rng.choice((self.people[0], self.contractor)),
            "update",
            f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/approval",
            {
                "resource": "certificatesigningrequests",
                "name": name,
                "apiGroup": "certificates.k8s.io",
                "apiVersion": "v1",
                "subresource": "approval",
            },
            level="Request",
            body=body,
        )

    def _workload(
        self,
        who: Identity,
        group: str,
        resource: str,
        kind: str,
        name: str,
        namespace: str,
        spec: dict[str, Any],
    ) -> Event:
        body = {
            "kind": kind,
            "apiVersion": f"{group}/v1",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
        return self.event(
            who,
            "create",
            f"/apis/{group}/v1/namespaces/{namespace}/{resource}",
            {
                "resource": resource,
                "namespace": namespace,
                "name": name,
                "apiGroup": group,
                "apiVersion": "v1",
            },
            code=201,
            level="Request",
            body=body,
        )

    def daemonset(self) -> Event:
        template = self.pod("monitoring", "node-agent", "docker.io/xmrig/xmrig:6.22")
        return self._workload(
            self.rng.choice((self.contractor, self.deployer)),
            "apps",
            "daemonsets",
            "DaemonSet",
            "node-agent",
            "monitoring",
            {
                "selector": {"matchLabels": {"app": "node-agent"}},
                "template": {
                    "metadata": {"labels": {"app": "node-agent"}},
                    "spec": template["spec"],
                },
            },
        )

    def cronjob(self) -> Event:
        namespace = self.rng.choice(APP_NAMESPACES)
        template = self.pod(namespace, "cleanup", "docker.io/library/alpine:3.20")
        return self._workload(
            self.rng.choice((self.contractor, self.deployer)),
            "batch",
            "cronjobs",
            "CronJob",
            f"cleanup-{self._hash(4)}",
            namespace,
            {
                "schedule": "*/5 * * * *",
                "jobTemplate": {"spec": {"template": {"spec": template["spec"]}}},
            },
        )

    def admission_webhook(self) -> Event:
        resource = self.rng.choice(
            ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
        )
        name = "pod-policy.example.com"
        verb = self.rng.choice(("create", "patch", "delete"))
        body = {
            "webhooks": [
                {
                    "name": name,
                    "clientConfig": {"url": "https://hooks.example.net/mutate"},
                    "failurePolicy": "Ignore",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                }
            ]
        }
        return self.event(
            self.contractor,
            verb,
            f"/apis/admissionregistration.k8s.io/v1/{resource}"
            + ("" if verb == "create" else f"/{name}"),
            {
                "resource": resource,
                "name": name,
                "apiGroup": "admissionregistration.k8s.io",
                "apiVersion": "v1",
            },
            code=201 if verb == "create" else 200,
            level="Request",
            body=None if verb == "delete" else body,
        )

    def exposed_service(self) -> Event:
        namespace, name = self.rng.choice(self.deployments)
        kind = self.rng.choice(("NodePort", "LoadBalancer"))
        body = {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {"name": f"{name}-public", "namespace": namespace},
            "spec": {
                "type": kind,
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"port": 5432, "targetPort": 5432, "protocol": "TCP"}],
            },
        }
        return self.event(
            self.rng.choice((self.people[1], self.deployer)),
            "create",
            f"/api/v1/namespaces/{namespace}/services",
            {
                "resource": "services",
                "namespace": namespace,
                "name": f"{name}-public",
                "apiVersion": "v1",
            },
            code=201,
            level="Request",
            body=body,
        )

    def impersonation(self) -> Event:
        target = self.rng.choice(
            (
                {"username": "system:admin", "groups": ["system:masters"]},
                {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            )
        )
        return self.event(
            self.rng.choice((self.people[0], self.contractor)),
            "list",
            "/api/v1/namespaces/kube-system/secrets",
            {"resource": "secrets", "namespace": "kube-system", "apiVersion": "v1"},
            impersonated=target,
        )

    def suspicious_client(self) -> Event:
        agent = self.rng.choice(
            (
                "curl/8.5.0",
                "python-requests/2.32.3",
                f"kubectl/{VERSION} (linux/amd64) kubernetes/{GIT}",
            )
        )
        return self.event(
            self.compromised,
            "list",
            "/api/v1/namespaces/shop/pods",
            {"resource": "pods", "namespace": "shop", "apiVersion": "v1"},
            agent=agent,
        )

    def service_account_forbidden(self) -> Event:
        resource = self.rng.choice(("secrets", "nodes", "clusterrolebindings"))
        group = "rbac.authorization.k8s.io" if resource == "clusterrolebindings" else ""
        ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
        if group:
            ref["apiGroup"] = group
        prefix = f"/apis/{group}/v1" if group else "/api/v1"
        return self.event(self.compromised, "list", f"{prefix}/{resource}", ref, code=403)

    def events_deleted(self) -> Event:
        namespace = self.rng.choice(APP_NAMESPACES)
        return self.event(
            self.contractor,
            "deletecollection",
            f"/api/v1/namespaces/{namespace}/events",
            {"resource": "events", "namespace": namespace, "apiVersion": "v1"},
        )

    def node_proxy(self) -> Event:
        node = self.rng.choice(self.nodes)
        path = self.rng.choice(("pods", "run/shop/api-0/api?cmd=id", "configz"))
        return self.event(
            self.rng.choice((self.contractor, self.compromised)),
            "get",
            f"/api/v1/nodes/{node}/proxy/{path}",
            {"resource": "nodes", "name": node, "apiVersion": "v1", "subresource": "proxy"},
        )

    def anonymous_resource(self) -> Event:
        anonymous = Identity(
            user=ANONYMOUS,
            agent="Go-http-client/1.1",
            ips=self.outside_ips,
            reason=_binding(
                "ClusterRoleBinding", "anonymous-view", "view", 'User "system:anonymous"'
            ),
        )
        resource = self.rng.choice(("pods", "namespaces", "configmaps"))
        return self.event(
            anonymous, "list", f"/api/v1/{resource}", {"resource": resource, "apiVersion": "v1"}
        )

    # -- the mix ---------------------------------------------------------------------------

    def benign_mix(self) -> list[tuple[float, Callable[[], Event]]]:
        """Weights of benign requests, roughly those of a real cluster's audit log."""
        return [
            (16.0, self.kubelet_lease),
            (6.0, self.kubelet_node_status),
            (6.0, self.kubelet_get_node),
            (7.0, self.kubelet_pod_status),
            (5.0, self.kubelet_watch),
            (1.5, self.kubelet_token),
            (3.0, self.event_create),
            (8.0, self.leader_lease),
            (5.0, self.endpointslice_update),
            (2.5, self.replicaset_status),
            (1.2, self.replicaset_pod),
            (0.05, self.kube_proxy_pod),
            (1.2, self.pod_binding),
            (8.0, self.controller_watch),
            (1.0, self.operator_secrets),
            (3.0, self.apiserver_self),
            (5.0, self.person_read),
            (1.0, self.person_logs),
            (1.0, self.person_apply),
            (0.3, self.person_forbidden),
            (0.3, self.person_access_review),
            (1.5, self.prometheus_scrape),
            (7.0, self.health_probe),
            (0.1, self.anonymous_version),
        ]

    def techniques(self) -> dict[str, Callable[[], Event]]:
        """For each bench rule (by metadata.name), requests that perform its technique."""
        return {
            "kubernetes-privileged-pod-created": self.privileged_pod,
            "kubernetes-sensitive-hostpath-mounted": self.hostpath_pod,
            "kubernetes-pod-shares-host-namespaces": self.host_namespace_pod,
            "kubernetes-exec-into-pod": self.exec_pod,
            "kubernetes-attach-to-pod": self.attach_pod,
            "kubernetes-port-forward-to-pod": self.port_forward,
            "kubernetes-secrets-read-by-user": self.secrets_by_person,
            "kubernetes-secrets-read-anonymously": self.secrets_anonymous,
            "kubernetes-secrets-read-from-outside-network": self.secrets_from_outside,
            "kubernetes-cluster-admin-binding": self.cluster_admin_binding,
            "kubernetes-wildcard-role": self.wildcard_role,
            "kubernetes-rbac-changed-by-user": self.rbac_by_person,
            "kubernetes-service-account-token-requested": self.token_request,
            "kubernetes-csr-created": self.csr_created,
            "kubernetes-csr-approved": self.csr_approved,
            "kubernetes-pod-created-in-kube-system": self.kube_system_pod,
            "kubernetes-daemonset-created": self.daemonset,
            "kubernetes-cronjob-created": self.cronjob,
            "kubernetes-admission-webhook-changed": self.admission_webhook,
            "kubernetes-service-exposed-outside-cluster": self.exposed_service,
            "kubernetes-container-added-capabilities": self.capability_pod,
            "kubernetes-container-root-or-privilege-escalation": self.root_pod,
            "kubernetes-ephemeral-container-added": self.ephemeral_container,
            "kubernetes-user-impersonation": self.impersonation,
            "kubernetes-suspicious-client": self.suspicious_client,
            "kubernetes-service-account-forbidden": self.service_account_forbidden,
            "kubernetes-events-deleted": self.events_deleted,
            "kubernetes-pod-security-violation": self.psa_violation,
            "kubernetes-node-proxy-access": self.node_proxy,
            "kubernetes-anonymous-resource-request-allowed": self.anonymous_resource,
        }


def _stable_uid(text: str) -> str:
    """A uid-shaped string that depends on ``text`` only (``hash()`` varies per process)."""
    checksum = zlib.crc32(text.encode())
    return f"{checksum:08x}-{checksum >> 16:04x}-4{checksum & 0xFFF:03x}-8{len(text):03x}-" + (
        f"{zlib.adler32(text.encode()):08x}{checksum & 0xFFFF:04x}"
    )


def _failure(
    code: int, verb: str, ref: dict[str, Any] | None, user: str, message: str | None
) -> dict[str, Any]:
    ref = ref or {}
    resource = ref.get("resource", "")
    namespace = ref.get("namespace")
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    default = (
        f'{resource} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API '
        f'group "{ref.get("apiGroup", "")}"{where}'
    )
    return {
        "status": "Failure",
        "message": message or default,
        "reason": "Forbidden" if code == 403 else "Invalid",
        "details": {"kind": resource, **({"name": ref["name"]} if "name" in ref else {})},
    }


def labelled(count: int, seed: int = DEFAULT_SEED) -> Iterator[tuple[str, Event]]:
    """``count`` events, each with its scenario: a bench rule's name, or ``benign:<kind>``."""
    cluster = Cluster(seed)
    rng = cluster.rng
    mix = cluster.benign_mix()
    benign = [make for _, make in mix]
    weights = list(_cumulative([weight for weight, _ in mix]))
    techniques = list(cluster.techniques().items())
    rng.shuffle(techniques)
    attack_at = rng.randrange(ATTACK_EVERY)
    for index in range(count):
        cluster.tick()
        block, offset = divmod(index, ATTACK_EVERY)
        if offset == 0:
            attack_at = rng.randrange(ATTACK_EVERY)
        if offset == attack_at:
            rule, make = techniques[block % len(techniques)]
            yield rule, make()
        else:
            make = rng.choices(benign, cum_weights=weights)[0]
            yield BENIGN + make.__name__, make()


def _cumulative(weights: Sequence[float]) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def write(path: pathlib.Path, count: int, seed: int = DEFAULT_SEED) -> int:
    """Write ``count`` events to ``path`` as JSON lines; returns the number of bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dumps = orjson.dumps
    size = 0
    with path.open("wb", buffering=1 << 20) as out:
        for _, event in labelled(count, seed):
            line = dumps(event) + b"\n"
            size += len(line)
            out.write(line)
    return size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="number of events")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="output file")
    args = parser.parse_args(argv)
    size = write(args.out, args.events, args.seed)
    print(
        f"Wrote {args.events:,} events ({size / args.events:,.0f} bytes each on average) "
        f"to {args.out}.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
