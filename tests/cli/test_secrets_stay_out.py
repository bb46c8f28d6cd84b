"""Secrets stay out of `scan`: a log at level RequestResponse (a Secret created and read, a
ConfigMap with a password, a Pod with an env value, tokens in query strings and a user agent,
a TokenRequest's token, credential ids and an impersonated user's extra values), run through
query, new_terms and threshold rules that match on those very values, prints none of them in
any output format, from a file, stdin or gzip, with one process or several, and writes no
file."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import pathlib
import subprocess
import sys
import uuid
from typing import Any

import pytest
import yaml
from tests import secretkit

from audithound import cli, parallel
from audithound.source import files

NAMESPACE = "shop"
ADMIN = {
    "username": "admin",
    "groups": ["system:masters", "system:authenticated"],
    "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=6a4aa3cc9879113"]},
}
APP = "system:serviceaccount:shop:app"
KUBECTL = "kubectl/v1.36.3 (linux/amd64) kubernetes/0a1b2c3"
ALLOWED = (
    'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group'
    ' "system:masters"'
)
START = datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.UTC)


class _Log:
    """Audit events as kube-apiserver writes them at level RequestResponse, one per second."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, verb: str, uri: str, ref: dict[str, Any], code: int, **fields: Any) -> None:
        stamp = (START + datetime.timedelta(seconds=len(self.events))).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        decision = "forbid" if code == 403 else "allow"
        self.events.append(
            {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "level": "RequestResponse",
                "auditID": str(uuid.uuid4()),
                "stage": "ResponseComplete",
                "requestURI": uri,
                "verb": verb,
                "user": ADMIN,
                "sourceIPs": ["192.0.2.10"],
                "userAgent": KUBECTL,
                "objectRef": {"namespace": NAMESPACE, "apiVersion": "v1", **ref},
                "responseStatus": {"metadata": {}, "code": code},
                "requestReceivedTimestamp": stamp,
                "stageTimestamp": stamp,
                "annotations": {
                    "authorization.k8s.io/decision": decision,
                    "authorization.k8s.io/reason": "" if code == 403 else ALLOWED,
                },
                **fields,
            }
        )


def _meta(name: str, applied: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": str(uuid.uuid4()),
        "resourceVersion": "4711",
        "creationTimestamp": "2026-11-20T10:00:00Z",
    }
    if applied is not None:
        # kubectl apply keeps the whole object it applied in an annotation.
        meta["annotations"] = {
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied) + "\n"
        }
    return meta


def crafted(secrets: secretkit.Secrets) -> list[dict[str, Any]]:
    """The events of the module docstring, in the order a user would cause them."""
    log = _Log()
    secret_ref = {"resource": "secrets", "name": "db-credentials"}
    applied = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-credentials", "namespace": NAMESPACE},
        "stringData": {"password": secrets.password},
        "data": {"api-key": secretkit.b64(secrets.api_key)},
        "type": "Opaque",
    }
    stored = {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": _meta("db-credentials", applied),
        "data": {
            "api-key": secretkit.b64(secrets.api_key),
            "password": secretkit.b64(secrets.password),
        },
        "type": "Opaque",
    }
    create = "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"
    # As the API server logs a create: stringData merged into data (the annotation keeps it).
    requested = {**stored, "metadata": _meta("db-credentials", applied)}
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        del requested["metadata"][key]
    log.add(
        "create",
        f"/api/v1/namespaces/{NAMESPACE}/secrets{create}",
        secret_ref,
        201,
        requestObject=requested,
        responseObject=stored,
    )
    log.add(
        "get",
        f"/api/v1/namespaces/{NAMESPACE}/secrets/db-credentials",
        secret_ref,
        200,
        responseObject=stored,
    )
    configmap = {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": _meta("app-config"),
        "data": {
            "password": secrets.configmap,
            "app.properties": f"db.user=app\ndb.password={secrets.configmap}\n",
        },
    }
    log.add(
        "create",
        f"/api/v1/namespaces/{NAMESPACE}/configmaps?fieldManager=kubectl-create",
        {"resource": "configmaps", "name": "app-config"},
        201,
        requestObject=configmap,
        responseObject=configmap,
    )
    pod = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": _meta("web"),
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/app:1",
                    "env": [
                        {"name": "DB_USER", "value": "app"},
                        {"name": "DB_PASSWORD", "value": secrets.env},
                    ],
                }
            ],
            "serviceAccountName": "app",
            "automountServiceAccountToken": False,
        },
    }
    log.add(
        "create",
        f"/api/v1/namespaces/{NAMESPACE}/pods?fieldManager=kubectl-create",
        {"resource": "pods", "name": "web"},
        201,
        requestObject=pod,
        responseObject={**pod, "status": {"phase": "Pending", "qosClass": "BestEffort"}},
    )
    # Tokens in the query string, and a script's user agent with a header pasted in; a list
    # at RequestResponse answers with every object and its data.
    log.add(
        "list",
        f"/api/v1/namespaces/{NAMESPACE}/configmaps?access_token={secrets.access_token}&limit=500",
        {"resource": "configmaps"},
        200,
        userAgent=secrets.agent(),
        responseObject={"kind": "ConfigMapList", "apiVersion": "v1", "items": [configmap]},
    )
    log.add(
        "list",
        f"/api/v1/namespaces/{NAMESPACE}/secrets?token={secrets.query_token}",
        {"resource": "secrets"},
        200,
        userAgent=secrets.agent(),
        responseObject={"kind": "SecretList", "apiVersion": "v1", "items": [stored]},
    )
    log.add(
        "create",
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/app/token",
        {"resource": "serviceaccounts", "subresource": "token", "name": "app"},
        201,
        requestObject={
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {
                "audiences": None,
                "expirationSeconds": 3600,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"},
            },
            "status": {"token": "", "expirationTimestamp": None},
        },
        responseObject={
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": "app", "namespace": NAMESPACE},
            "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600},
            "status": {"token": secrets.jwt, "expirationTimestamp": "2026-11-20T11:00:06Z"},
        },
    )
    # The token in use: its requests carry the credential id and the bound pod.
    log.add(
        "get",
        f"/api/v1/namespaces/{NAMESPACE}/secrets/db-credentials",
        secret_ref,
        403,
        user={
            "username": APP,
            "uid": "5b0c1f7e-8f54-4f0e-9d0a-2a7f3c1e9b11",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:shop"],
            "extra": {
                "authentication.kubernetes.io/credential-id": [secrets.credential_id],
                "authentication.kubernetes.io/pod-name": ["web"],
                "authentication.kubernetes.io/pod-uid": ["0c6a3c1e-7d1b-4b8a-9a55-0f3f6e2d9c10"],
            },
        },
        userAgent="curl/8.5.0",
        responseObject={"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403},
    )
    log.add(
        "list",
        f"/api/v1/namespaces/{NAMESPACE}/configmaps",
        {"resource": "configmaps"},
        200,
        impersonatedUser={
            "username": "alice",
            "groups": ["system:authenticated"],
            "extra": {"token": [secrets.impersonated]},
        },
        responseObject={"kind": "ConfigMapList", "apiVersion": "v1", "items": [configmap]},
    )
    return log.events


def _filler(number: int) -> dict[str, Any]:
    stamp = (START + datetime.timedelta(milliseconds=number)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": str(uuid.UUID(int=number)),
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/other/pods?limit=500",
        "verb": "list",
        "user": {"username": "bob", "groups": ["system:authenticated"]},
        "sourceIPs": ["192.0.2.20"],
        "userAgent": KUBECTL,
        "objectRef": {"resource": "pods", "namespace": "other", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": stamp,
        "stageTimestamp": stamp,
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }


@pytest.fixture
def secrets() -> secretkit.Secrets:
    return secretkit.Secrets()


@pytest.fixture
def inputs(tmp_path: pathlib.Path, secrets: secretkit.Secrets) -> pathlib.Path:
    """``audit.log`` (the crafted events among benign ones: most of the file matches no rule,
    so that workers read it), ``audit.log.gz`` and ``rules.yaml``, in ``tmp_path/in``."""
    directory = tmp_path / "in"
    directory.mkdir()
    lines = []
    for number, event in enumerate(crafted(secrets)):
        lines += [json.dumps(_filler(number * 40 + k)) for k in range(40)]
        lines.append(json.dumps(event))
    text = "\n".join(lines) + "\n"
    (directory / "audit.log").write_text(text)
    (directory / "audit.log.gz").write_bytes(gzip.compress(text.encode()))
    (directory / "rules.yaml").write_text(
        yaml.safe_dump_all(secretkit.rules(NAMESPACE, APP), sort_keys=False)
    )
    return directory


def _files(directory: pathlib.Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def _scan(tmp_path: pathlib.Path, *args: str, stdin: bytes | None = None) -> str:
    """``audithound scan`` in an empty directory with a home of its own; what it printed and
    every file it wrote (its query parser's cache, nothing else) or changed under
    ``tmp_path``, after checking that it succeeded."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    before = _files(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "audithound", "scan", *args],
        input=stdin,
        capture_output=True,
        cwd=work,
        env={
            **os.environ,
            "HOME": str(home),
            "TMPDIR": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
        },
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    written = [
        content.decode(errors="replace")
        for name, content in _files(tmp_path).items()
        if before.get(name) != content
    ]
    return "\n".join([result.stdout.decode(), result.stderr.decode(), *written])


def _check(secrets: secretkit.Secrets, written: str) -> None:
    assert secrets.leaks(written) == [], written


def _found(json_lines: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in json_lines.splitlines():
        if line.startswith("{"):
            rule = json.loads(line)["rule"]
            counts[rule] = counts.get(rule, 0) + 1
    return counts


def test_no_secret_reaches_any_output_of_scan(
    tmp_path: pathlib.Path, inputs: pathlib.Path, secrets: secretkit.Secrets
) -> None:
    rules = str(inputs / "rules.yaml")
    log = str(inputs / "audit.log")
    # The secrets are in the log, and every rule matches on them.
    text = (inputs / "audit.log").read_text()
    assert all(s in text or secretkit.b64(s) in text for s in secrets.all())
    as_json = _scan(tmp_path, "--rules", rules, "--output", "json", "--jobs", "1", log)
    _check(secrets, as_json)
    assert _found(as_json) == {
        "query-secret-request": 1,
        "query-secret-response": 2,  # the create's and the get's
        "query-configmap": 1,
        "query-pod-env": 1,
        "query-uri": 2,
        "query-agent": 2,
        "query-token-request": 1,
        "query-impersonated": 1,
        "query-credential-id": 1,
        "new-password": 1,
        "new-credential-id": 1,
        "password-reads": 1,
        "suppressed-by-password": 2,  # the Secret's and the ConfigMap's password
        "agent-burst": 1,
    }
    groups = [json.loads(line)["group"] for line in as_json.splitlines() if '"group"' in line]
    assert {"kubernetes.audit.requestObject.data.password": "[REDACTED]"} in groups
    for output in ("table", "json"):
        _check(secrets, _scan(tmp_path, "--rules", rules, "--output", output, log))
        _check(secrets, _scan(tmp_path, "--rules", rules, "--output", output, f"{log}.gz"))
        _check(
            secrets,
            _scan(
                tmp_path,
                "--rules",
                rules,
                "--output",
                output,
                "-",
                stdin=(inputs / "audit.log").read_bytes(),
            ),
        )
    # The events before --alerts-from only build history: the stateful rules still keep
    # (digests of) the secrets, and the query rules alert.
    _check(
        secrets,
        _scan(
            tmp_path, "--rules", rules, "--alerts-from", "2026-11-20T10:00:05Z", log, f"{log}.gz"
        ),
    )


def test_no_secret_reaches_the_output_of_scan_with_workers(
    inputs: pathlib.Path,
    secrets: secretkit.Secrets,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel, "PIECE_BYTES", 20_000)
    monkeypatch.setattr(parallel, "MIN_FILE_BYTES", 0)
    log = str(inputs / "audit.log")
    assert parallel.worth_it(log, 2)
    read_in_parent: list[int] = []
    read_range = files.read_range

    def spied(label: str, path: str, start: int, *rest: Any, **options: Any) -> Any:
        read_in_parent.append(start)
        return read_range(label, path, start, *rest, **options)

    monkeypatch.setattr(files, "read_range", spied)
    outputs = []
    for jobs in ("1", "2"):
        for output in ("json", "table"):
            args = ["scan", "--rules", str(inputs / "rules.yaml"), "--output", output]
            assert cli.main([*args, "--jobs", jobs, log]) == cli.EXIT_OK
            captured = capfd.readouterr()
            _check(secrets, captured.out + captured.err)
            outputs.append(captured.out)
    assert read_in_parent == [], "workers read every piece"
    assert outputs[:2] == outputs[2:]
