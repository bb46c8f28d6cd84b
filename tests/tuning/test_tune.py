"""``audithound tune`` as a user reads it: the seed rule's ``/version`` exception on the
sample log, a service account burst with what its item also hides, and the JSON output."""

from __future__ import annotations

import datetime
import json
import pathlib
import re

import orjson
import pytest
from tests import auditkit
from tests.tuning.conftest import ROOT, proposed_items, rule_file, tune

SAMPLE = ROOT / "examples" / "audit" / "sample-audit.log"
SEED = ROOT / "examples" / "rules" / "kubernetes-anonymous-request-authorized.yaml"
ALLOW = {"authorization.k8s.io/decision": "allow"}
JOB = "system:serviceaccount:payments:report-job"


def _seed_alerts() -> list[dict[str, object]]:
    """The sample's events the seed rule alerts on, read here from its query's own terms."""
    found = []
    for line in SAMPLE.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        user = event.get("user", {}).get("username")
        decision = event.get("annotations", {}).get("authorization.k8s.io/decision")
        health = event["requestURI"].startswith(("/healthz", "/livez", "/readyz"))
        anonymous = user in (None, "", "system:anonymous", "system:unauthenticated")
        if decision == "allow" and anonymous and not health:
            found.append(event)
    return found


def test_seed_rule_on_its_sample_proposes_the_version_exception() -> None:
    done = tune("--rules", SEED, SAMPLE)
    assert done.returncode == 0, done.stderr
    alerts = _seed_alerts()
    version = [event for event in alerts if event["requestURI"] == "/version"]
    share = f"{len(version) / len(alerts):.0%}"
    assert f"kubernetes-anonymous-request-authorized ({'Kubernetes Anonymous'}" in done.stdout
    assert f": {len(alerts)} alert(s)" in done.stdout
    [proposal] = proposed_items(done.stdout)  # only /version: every other alert is a finding
    [item] = proposal
    assert item["name"] == "Anonymous requests to /version"
    assert item["entries"] == [
        {
            "field": "kubernetes.audit.requestURI",
            "type": "match",
            "operator": "included",
            "value": "/version",
        }
    ]
    assert "system:public-info-viewer" in item["description"]
    [block] = [block for block in _tuples(done.stdout) if "Exception item" in block]
    assert block.startswith(f"{share} ({len(version)} alert(s))  what:  [proposed]")
    assert "path=/version" in block
    assert "hides no other alert in these logs" in block
    assert "Caution: a probe of /version is reconnaissance too" in block


def _tuples(report: str) -> list[str]:
    """The tuples of a text report, each from its share on."""
    return [block.split(". ", 1)[1] for block in re.split(r"\n(?=  \d+\. )", report)[1:]]


def test_seed_rule_never_proposes_its_own_identity_values() -> None:
    done = tune(SAMPLE)  # the built-in seed rule
    assert done.returncode == 0, done.stderr
    assert "user.name system:anonymous, system:unauthenticated, (missing)" in done.stdout
    assert "an anonymous client is anyone" in done.stdout
    for proposal in proposed_items(done.stdout):
        for item in proposal:
            fields = {entry["field"] for entry in item["entries"]}
            assert fields.isdisjoint({"user.name", "kubernetes.audit.user.groups"})


def _get(name: str, source: str, *, verb: str = "get", user: str = JOB, ago: int = 0) -> bytes:
    namespace = "payments" if user == JOB else "default"
    path = f"/api/v1/namespaces/{namespace}/secrets"
    ref = {"resource": "secrets", "namespace": namespace, "apiVersion": "v1"}
    if verb == "get":
        path, ref = f"{path}/{name}", {**ref, "name": name}
    return auditkit.audit_line(
        "report-job/1.4.2" if user == JOB else "kubectl/v1.36.3",
        ago=datetime.timedelta(seconds=600 - ago),
        user={"username": user, "groups": ["system:serviceaccounts", "system:authenticated"]},
        sourceIPs=[source],
        verb=verb,
        requestURI=path,
        objectRef=ref,
        annotations=ALLOW,
    )


@pytest.fixture
def burst(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A secrets rule over a log where one service account's burst from one pod raises 8 of
    10 alerts; the same account lists the secrets once from another pod, alice reads one."""
    lines = [_get(f"signing-key-{n}", "10.244.3.7", ago=n) for n in range(8)]
    lines.append(_get("", "10.244.9.9", verb="list", ago=20))
    lines.append(_get("db", "198.51.100.20", user="alice@example.com", ago=30))
    log = tmp_path / "burst.log"
    log.write_bytes(b"".join(lines))
    rule = rule_file(
        tmp_path,
        "secrets-read",
        "kubernetes.audit.objectRef.resource:secrets and kubernetes.audit.verb:(get or list)"
        " and event.outcome:success",
    )
    return rule, log


def test_a_service_account_burst_is_proposed_with_what_else_it_hides(
    burst: tuple[pathlib.Path, pathlib.Path],
) -> None:
    rule, log = burst
    done = tune("--rules", rule, log)
    assert done.returncode == 0, done.stderr
    assert "secrets-read (secrets-read): 10 alert(s)" in done.stdout
    first, *others = _tuples(done.stdout)
    assert first.startswith("80% (8 alert(s))  who:  [proposed]")
    assert f"user={JOB}" in first and "source=10.244.3.7" in first
    # The query names both verbs: the item cannot name one, and so also hides the list.
    assert "also hides 1 other alert(s), such as:" in first
    assert f"{JOB} was allowed to list /api/v1/namespaces/payments/secrets from 10.244.9.9" in first
    assert "stolen token" in first
    [item] = proposed_items(first)[0]
    assert item["entries"] == [
        {"field": "user.name", "type": "match", "operator": "included", "value": JOB},
        {
            "field": "kubernetes.audit.objectRef.namespace",
            "type": "match",
            "operator": "included",
            "value": "payments",
        },
    ]
    assert "also hides 1 other alert(s)" in item["description"]
    # alice's single read is a finding, listed without an item.
    assert any("user=alice@example.com" in other for other in others)
    assert all("Exception item" not in other for other in others)


def test_json_output_has_one_object_per_rule(burst: tuple[pathlib.Path, pathlib.Path]) -> None:
    rule, log = burst
    done = tune("--rules", rule, "--output", "json", log)
    assert done.returncode == 0, done.stderr
    [record] = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert record["rule"] == "secrets-read"
    assert record["alerts"] == 10
    assert record["queryNames"]["kubernetes.audit.verb"] == ["get", "list"]
    top = record["tuples"][0]
    assert top["kind"] == "who"
    assert (top["alerts"], top["share"], top["proposed"]) == (8, 0.8, True)
    assert top["shared"]["user"] == JOB and top["shared"]["source"] == "10.244.3.7"
    assert top["alsoHides"]["count"] == 1
    assert "10.244.9.9" in top["alsoHides"]["examples"][0]["reason"]
    assert [entry["value"] for entry in top["exception"]["entries"]] == [JOB, "payments"]
    assert all(t["exception"] is None for t in record["tuples"][1:])


def test_top_and_min_share_cut_the_list(burst: tuple[pathlib.Path, pathlib.Path]) -> None:
    rule, log = burst
    done = tune("--rules", rule, "--output", "json", "--min-share", "50", log)
    [record] = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [t["alerts"] for t in record["tuples"]] == [8]
    done = tune("--rules", rule, "--output", "json", "--top", "1", "--min-alerts", "1", log)
    [record] = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(record["tuples"]) == 1
