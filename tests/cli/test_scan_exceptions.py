"""`scan` and `rules check` apply DetectionExceptions found in the --rules paths, so a rule
repository tests its tuning offline; their problems are placed in their files."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

RULE = """\
apiVersion: audithound.io/v1alpha1
kind: DetectionRule
metadata:
  name: configmap-readers
spec:
  query: kubernetes.audit.objectRef.resource:configmaps
  severity: low
  riskScore: 21
  exceptionsList:
    - name: trusted
  exceptions:
    - name: kubectl on the admin workstation
      entries:
        - {field: user_agent.original, type: wildcard, value: "kubectl/v1.3?.*"}
        - {field: source.ip, type: list, list: {id: workstations, type: ip_range}}
"""

SHARED = """\
apiVersion: audithound.io/v1alpha1
kind: DetectionException
metadata:
  name: trusted
spec:
  items:
    - name: The backup job
      entries:
        - {field: user.name, type: match, value: "system:serviceaccount:ops:backup"}
  valueLists:
    - id: workstations
      type: ip_range
      values: ["10.1.0.0/16", "192.168.7.10-192.168.7.20"]
"""


def _event(n: int, user: str, agent: str, ip: str) -> str:
    return (
        '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",'
        f'"auditID":"id-{n}","stage":"ResponseComplete",'
        '"requestURI":"/api/v1/namespaces/default/configmaps","verb":"list",'
        f'"user":{{"username":"{user}"}},"sourceIPs":["{ip}"],"userAgent":"{agent}",'
        '"objectRef":{"resource":"configmaps","namespace":"default","apiVersion":"v1"},'
        f'"requestReceivedTimestamp":"2026-12-01T10:00:0{n}.000000Z",'
        f'"stageTimestamp":"2026-12-01T10:00:0{n}.100000Z"}}\n'
    )


def _scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audithound", *args], capture_output=True, text=True, check=False
    )


def test_scan_applies_rule_exceptions_and_shared_lists_from_the_rules_path(
    tmp_path: pathlib.Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rule.yaml").write_text(RULE)
    (rules / "tuning.yaml").write_text(SHARED)
    log = tmp_path / "audit.log"
    log.write_text(
        _event(1, "system:serviceaccount:ops:backup", "backup/1.0", "10.9.0.1")  # shared item
        + _event(2, "alice", "kubectl/v1.36.0", "192.168.7.15")  # own item, listed range
        + _event(3, "alice", "kubectl/v1.36.0", "192.168.7.21")  # outside the range: alerts
        + _event(4, "alice", "kubectl/v1.4.0", "10.1.2.3")  # ? is one character: alerts
        + _event(5, "bob", "curl/8", "10.1.2.3")  # alerts
    )
    done = _scan("scan", "--rules", str(rules), "--output", "json", str(log))
    assert done.returncode == 0, done.stderr
    alerted = [json.loads(line)["auditID"] for line in done.stdout.splitlines()]
    assert alerted == ["id-3", "id-4", "id-5"]
    assert "configmap-readers: 3 (2 excepted)" in done.stderr


def test_rules_check_places_a_lists_problem_in_its_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "rule.yaml").write_text(RULE)
    (tmp_path / "tuning.yaml").write_text(
        SHARED.replace('"192.168.7.10-192.168.7.20"', '"192.168.7.10-nowhere"')
    )
    done = _scan("rules", "check", str(tmp_path))
    assert done.returncode == 1
    assert (
        f"{tmp_path / 'tuning.yaml'}:13:31: error: spec.valueLists[0].values[1]: "
        "DetectionException trusted: '192.168.7.10-nowhere' is not an IP address, CIDR network "
        "or first-last range" in done.stdout
    )
    assert (
        "rule configmap-readers: error: spec.exceptionsList[0].name: DetectionException trusted "
        "is invalid" in done.stdout
    )


ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_tuned_seed_rule_drops_the_version_alert_and_nothing_else() -> None:
    sample = str(ROOT / "examples/audit/sample-audit.log")
    tuned = _scan(
        "scan",
        "--rules",
        str(ROOT / "examples/rules/kubernetes-anonymous-request-authorized-tuned.yaml"),
        "--output",
        "json",
        sample,
    )
    seed = _scan("scan", "--output", "json", sample)
    expected = ROOT / "examples/expected/kubernetes-anonymous-request-authorized-tuned.jsonl"
    assert tuned.stdout == expected.read_text()
    kept = [json.loads(line)["auditID"] for line in tuned.stdout.splitlines()]
    dropped = [
        alert for alert in map(json.loads, seed.stdout.splitlines()) if alert["auditID"] not in kept
    ]
    assert [alert["requestURI"] for alert in dropped] == ["/version"]
    assert "kubernetes-anonymous-request-authorized-tuned: 4 (1 excepted)" in tuned.stderr
