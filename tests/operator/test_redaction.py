"""Credentials in what a request sent (a token in a `kubectl exec` command line, in a query
parameter, in a user agent) never reach SecurityAlerts or Events, while the rules still see
them and the rest of the URI stays as evidence."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

import pytest

from audithound.devcluster import operator as operator_
from tests.operator.conftest import Kube, Operator, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster

MARKER = "[REDACTED]"


@pytest.fixture(scope="module")
def namespace(kube: Kube) -> str:
    """A namespace with one Pod: no scheduler runs, so it stays Pending, and an exec into it
    fails after the API server has logged the request with its full URI."""
    name = f"redact-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": name},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        }
    )
    return name


def _alerts(kube: Kube, rule: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = kube.get_json(
        "securityalerts", "-l", f"audithound.io/rule={rule}"
    )["items"]
    return found


def _events_about(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = kube.get_json(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return found


def test_a_token_in_an_exec_command_line_reaches_no_alert_and_no_event(
    kube: Kube, operator: Operator, namespace: str
) -> None:
    bearer = f"bearer{uuid.uuid4().hex}"
    in_url = f"query{uuid.uuid4().hex}"
    flag = f"flag{uuid.uuid4().hex}"
    rule = f"exec-{namespace}"
    kube.apply(
        rule_manifest(
            rule,
            f"kubernetes.audit.objectRef.subresource:exec and "
            f"kubernetes.audit.objectRef.namespace:{namespace}",
        )
    )
    eventually(lambda: ready(kube, rule), what="the exec rule")
    try:
        result = operator_.run_kubectl(
            kube.plane.kubeconfig,
            "exec",
            "-n",
            namespace,
            "web",
            "--",
            "curl",
            "-H",
            f"Authorization: Bearer {bearer}",
            f"https://api.example/v1/items?access_token={in_url}&page=2",
            "--token",
            flag,
        )
        assert result.returncode != 0  # the Pod has no node: the API server refuses
        alerts = eventually(lambda: _alerts(kube, rule), what="the exec alert")
        for alert in alerts:
            written = json.dumps(alert)
            for secret in (bearer, in_url, flag):
                assert secret not in written
            uri = alert["spec"]["event"]["requestURI"]
            assert uri.startswith(f"/api/v1/namespaces/{namespace}/pods/web/exec?")
            argv = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)["command"]
            assert argv == [
                "curl",
                "-H",
                f"Authorization: Bearer {MARKER}",
                f"https://api.example/v1/items?access_token={MARKER}&page=2",
                "--token",
                MARKER,
            ]
            assert MARKER in alert["spec"]["reason"]
            name = alert["metadata"]["name"]
            (about_alert,) = eventually(
                lambda name=name: _events_about(kube, "default", name), what="the alert's Event"
            )
            assert MARKER in about_alert["message"]
            for secret in (bearer, in_url, flag):
                assert secret not in json.dumps(about_alert)
        # The admin was allowed: the Pod's namespace has Events about the exec too.
        in_namespace = eventually(
            lambda: _events_about(kube, namespace, "web"), what="the Events about the Pod"
        )
        for event in in_namespace:
            assert MARKER in event["message"]
            for secret in (bearer, in_url, flag):
                assert secret not in json.dumps(event)
    finally:
        kube.remove_rule(rule)


def test_tokens_in_query_parameters_and_user_agents_are_redacted_but_still_matched(
    kube: Kube, operator: Operator, namespace: str
) -> None:
    token = f"tok{uuid.uuid4().hex}"
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9." + uuid.uuid4().hex
    agent = f"audithound-test/agent {jwt}"
    rule = f"query-{namespace}"
    # The rule matches on the secret itself: rules see the raw event.
    kube.apply(rule_manifest(rule, f"kubernetes.audit.requestURI:*{token}*"))
    eventually(lambda: ready(kube, rule), what="the query rule")
    try:
        path = f"/api/v1/namespaces/{namespace}/configmaps?limit=5&token={token}"
        assert kube.admin_get(path, agent) == 200
        (alert,) = eventually(lambda: _alerts(kube, rule), what="the alert")
        event = alert["spec"]["event"]
        assert event["requestURI"] == (
            f"/api/v1/namespaces/{namespace}/configmaps?limit=5&token={MARKER}"
        )
        assert event["userAgent"] == f"audithound-test/agent {MARKER}"
        name = alert["metadata"]["name"]
        (about_alert,) = eventually(
            lambda: _events_about(kube, "default", name), what="the alert's Event"
        )
        for written in (json.dumps(alert), json.dumps(about_alert)):
            assert token not in written and jwt not in written
    finally:
        kube.remove_rule(rule)


def test_a_huge_uri_becomes_a_cut_alert_and_detection_goes_on(
    kube: Kube, operator: Operator, namespace: str
) -> None:
    tag = f"huge-{uuid.uuid4().hex[:8]}"
    rule = f"agent-{tag}"
    kube.apply(rule_manifest(rule, f"user_agent.original:audithound-test/{tag}*"))
    eventually(lambda: ready(kube, rule), what="the agent rule")
    try:
        # Twice this (excerpt and reason) is more than etcd stores in one object.
        padding = "a" * 900_000
        path = f"/api/v1/namespaces/{namespace}/configmaps?limit=1&pad={padding}"
        assert kube.admin_get(path, f"audithound-test/{tag}/huge") == 200
        assert kube.admin_get("/version", f"audithound-test/{tag}/after") == 200
        found = eventually(
            lambda: len(alerts := _alerts(kube, rule)) == 2 and alerts,
            timeout=30,
            what="both alerts",
        )
        huge = next(a for a in found if a["spec"]["event"]["userAgent"].endswith("/huge"))
        uri = huge["spec"]["event"]["requestURI"]
        assert uri.startswith(f"/api/v1/namespaces/{namespace}/configmaps?limit=1&{MARKER}…(+")
        assert uri.endswith(" characters)") and len(uri) < 5000
    finally:
        kube.remove_rule(rule)
