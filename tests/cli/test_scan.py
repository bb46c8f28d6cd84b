"""`audithound scan`, `rules check`, `crds` and `fields` run as a user runs them."""

from __future__ import annotations

import gzip
import json
import pathlib
import subprocess
import sys

from audithound.api import crdgen

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples/audit/sample-audit.log"
EXPECTED = ROOT / "examples/expected/kubernetes-anonymous-request-authorized.jsonl"
RULES = ROOT / "examples/rules/kubernetes-anonymous-request-authorized.yaml"


def audithound(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audithound", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def alerts(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_scan_example_prints_the_expected_alerts() -> None:
    result = audithound("scan", "--output", "json", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    assert alerts(result.stdout) == alerts(EXPECTED.read_text())
    found = alerts(result.stdout)
    assert [alert["requestURI"] for alert in found] == [
        "/api",
        "/version",
        "/api/v1/namespaces/shop/pods",
        "/apis",
        "/api/v1/namespaces/shop/services",
    ]
    first = found[0]
    assert first["rule"] == "kubernetes-anonymous-request-authorized"
    assert first["severity"] == "medium" and first["riskScore"] == 47
    assert first["user"] == "system:anonymous"
    assert first["sourceIPs"] == ["203.0.113.7"]
    assert first["threat"] == ["TA0001", "T1078", "T1078.001"]
    assert first["reason"] == "system:anonymous was allowed to get /api from 203.0.113.7"
    for key in ("auditID", "stage", "timestamp", "verb"):
        assert first[key]


def test_scan_summary_counts_events_skips_and_alerts() -> None:
    result = audithound("scan", str(SAMPLE))
    assert result.returncode == 0
    assert "Using the built-in seed rule" in result.stderr
    assert "Scanned 17 events in 18 lines from 1 input(s)" in result.stderr
    assert "Skipped 1 line(s):" in result.stderr
    assert f"{SAMPLE.relative_to(ROOT)}:10" in result.stderr or f"{SAMPLE}:10" in result.stderr
    assert "kubernetes-anonymous-request-authorized: 5" in result.stderr
    table = result.stdout.splitlines()
    assert table[0].split() == ["TIME", "RULE", "SEVERITY", "USER", "SOURCE", "VERB", "URI"]
    assert len(table) == 6
    assert "system:anonymous" in table[1] and table[1].rstrip().endswith("/api")


def test_scan_reads_stdin_and_gzip(tmp_path: pathlib.Path) -> None:
    packed = tmp_path / "audit.log.1.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    from_gzip = audithound("scan", "--rules", str(RULES), "--output", "json", str(packed))
    from_stdin = audithound("scan", "--output", "json", "-", stdin=SAMPLE.read_bytes())
    assert from_gzip.returncode == from_stdin.returncode == 0
    assert alerts(from_gzip.stdout) == alerts(from_stdin.stdout) == alerts(EXPECTED.read_text())


def test_adhoc_query_hunts_without_rule_files() -> None:
    result = audithound(
        "scan",
        "--query",
        "kubernetes.audit.verb:(create or patch) and user.name:*",
        "--output",
        "json",
        str(SAMPLE),
    )
    assert result.returncode == 0, result.stderr
    found = alerts(result.stdout)
    assert {(alert["rule"], alert["verb"]) for alert in found} == {
        ("adhoc-query", "create"),
        ("adhoc-query", "patch"),
    }


def test_scan_refuses_invalid_rules_with_position(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: audithound.io/v1alpha1\nkind: DetectionRule\nmetadata:\n  name: bad\n"
        "spec:\n  severity: low\n  riskScore: 5\n  query: 'verb:get and'\n"
    )
    result = audithound("scan", "--rules", str(bad), str(SAMPLE))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{bad}:8:" in result.stderr and "rule bad: error: spec.query: line 1, column" in (
        result.stderr
    )
    bad_query = audithound("scan", "--query", "verb:", str(SAMPLE))
    assert bad_query.returncode == 2
    assert "adhoc-query" in bad_query.stderr and "column 6" in bad_query.stderr


def test_scan_usage_errors_exit_2() -> None:
    assert audithound("scan", "no-such-file.log").returncode == 2
    assert audithound("scan", "--output", "xml", str(SAMPLE)).returncode == 2


def test_rules_check_reports_every_problem(tmp_path: pathlib.Path) -> None:
    good = audithound("rules", "check", str(RULES))
    assert good.returncode == 0, good.stdout
    assert "1 rule(s): 1 valid, 0 invalid; 0 error(s), 0 warning(s)." in good.stdout
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "apiVersion: audithound.io/v1alpha1\nkind: DetectionRule\nmetadata:\n  name: a\n"
        "spec:\n  severity: low\n  riskScore: 5\n  query: 'verb:(get'\n"
        "---\n"
        "apiVersion: audithound.io/v1alpha1\nkind: DetectionRule\nmetadata:\n  name: b\n"
        "spec:\n  severity: low\n  riskScore: 90\n  query: 'kubernetes.audit.vreb:get'\n"
    )
    result = audithound("rules", "check", str(bad))
    assert result.returncode == 1
    assert f"{bad}:8:" in result.stdout and "rule a: error: spec.query" in result.stdout
    assert "rule b: warning: spec.query: line 1, column 1: unknown field" in result.stdout
    assert "rule b: warning: spec.riskScore: riskScore 90 is outside the low band" in (
        result.stdout
    )
    assert "2 rule(s): 1 valid, 1 invalid; 1 error(s), 2 warning(s)." in result.stdout


def test_crds_command_prints_the_committed_crds() -> None:
    result = audithound("crds")
    assert result.returncode == 0
    committed = [ROOT / "crds" / crdgen.file_name(definition) for definition in crdgen.DEFINITIONS]
    assert result.stdout == "---\n".join(path.read_text() for path in committed)


def test_fields_table_is_in_the_readme() -> None:
    result = audithound("fields")
    assert result.returncode == 0
    assert "| `kubernetes.audit.user.username` |" in result.stdout
    assert result.stdout in (ROOT / "README.md").read_text(), (
        "README.md's field table is stale: paste `audithound fields` into it"
    )


def test_a_hunt_on_typed_fields_answers_as_elasticsearch(tmp_path: pathlib.Path) -> None:
    """The query that matched every event before typed fields: "not from the internal
    network" (a CIDR on an ip field), on a day (a date field), with a status code bound."""

    def event(audit_id: str, address: str, stamp: str, code: int) -> str:
        return json.dumps(
            {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "level": "Metadata",
                "auditID": audit_id,
                "stage": "ResponseComplete",
                "requestURI": "/api/v1/secrets",
                "verb": "list",
                "user": {"username": "alice"},
                "sourceIPs": [address],
                "objectRef": {"resource": "secrets", "apiVersion": "v1"},
                "responseStatus": {"code": code},
                "requestReceivedTimestamp": stamp,
                "stageTimestamp": stamp,
            }
        )

    log = tmp_path / "audit.log"
    lines = [
        event("inside", "10.1.2.3", "2026-11-27T10:00:00.000001Z", 200),
        event("mapped-inside", "::ffff:10.9.9.9", "2026-11-27T11:00:00Z", 200),
        event("outside", "203.0.113.7", "2026-11-27T23:59:59.999999Z", 200),
        event("outside-next-day", "203.0.113.7", "2026-11-28T00:00:00Z", 200),
        event("outside-refused", "203.0.113.7", "2026-11-27T12:00:00Z", 403),
    ]
    log.write_text("\n".join(lines) + "\n")
    query = (
        "not source.ip:10.0.0.0/8 and kubernetes.audit.stageTimestamp:2026-11-27"
        " and kubernetes.audit.responseStatus.code < 399.5"
    )
    result = audithound("scan", "--query", query, "--output", "json", str(log))
    assert result.returncode == 0, result.stderr
    assert [alert["auditID"] for alert in alerts(result.stdout)] == ["outside"]
