"""`audithound scan` and `rules check` with EQL rules: Elastic's sequence example alerts as
documented, exceptions apply to every event of a sequence, a sequence split over two API
servers' logs or over workers is found once, and a broken EQL rule is named at its position."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest
import yaml
from tests.cli.test_scan import alerts, audithound

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "kubernetes-role-change-then-workload"
RULE = ROOT / "examples/rules" / f"{NAME}.yaml"
LOG = ROOT / "examples/audit/rbac-then-workload.log"
EXPECTED = ROOT / "examples/expected" / f"{NAME}.jsonl"


def scan(*args: str) -> list[dict[str, Any]]:
    result = audithound("scan", "--output", "json", *args)
    assert result.returncode == 0, result.stderr
    return alerts(result.stdout)


def test_the_sequence_example_prints_the_expected_alert() -> None:
    found = scan("--rules", str(RULE), str(LOG))
    assert found == alerts(EXPECTED.read_text())
    (alert,) = found
    # mallory widened a ClusterRole, then created a DaemonSet 2 minutes later; carol's
    # workload came 6 minutes after her role change, the admin is in system:masters, dan
    # changed no role, erin's role change was denied.
    assert alert["group"] == {"user.name": "mallory@example.com"}
    assert alert["count"] == 2
    assert alert["events"] == [
        "5e9c1b7a-0000-4000-8000-000000000001",
        "5e9c1b7a-0000-4000-8000-000000000003",
    ]
    assert alert["auditID"] == alert["events"][-1]
    assert alert["reason"].startswith("sequence of 2 events by user.name=mallory@example.com")


def _with_exception(tmp_path: pathlib.Path, entry: dict[str, Any]) -> pathlib.Path:
    manifest = yaml.safe_load(RULE.read_text())
    tuned = copy.deepcopy(manifest)
    tuned["spec"]["exceptions"] = [{"name": "tuned", "entries": [entry]}]
    path = tmp_path / "rule.yaml"
    path.write_text(yaml.safe_dump(tuned))
    return path


@pytest.mark.parametrize(
    ("resource", "excepted"),
    # clusterroles: mallory's first step and the admin's; daemonsets: mallory's last step
    # (the admin's DaemonSet patch matches no step: system:masters).
    [("clusterroles", 2), ("daemonsets", 1)],
    ids=["first step", "last step"],
)
def test_an_exception_on_any_event_of_a_sequence_keeps_it_from_completing(
    tmp_path: pathlib.Path, resource: str, excepted: int
) -> None:
    entry = {
        "field": "kubernetes.audit.objectRef.resource",
        "type": "match",
        "operator": "included",
        "value": resource,
    }
    result = audithound("scan", "--rules", str(_with_exception(tmp_path, entry)), str(LOG))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == []  # the table's header only
    assert "Alerts: 0\n" in result.stderr
    assert f"{NAME}: 0 ({excepted} excepted)" in result.stderr


def test_a_sequence_split_over_two_logs_or_over_workers_is_found_once(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = LOG.read_text().splitlines(keepends=True)
    first, second = tmp_path / "apiserver-1.log", tmp_path / "apiserver-2.log"
    first.write_text("".join(lines[0::2]))
    second.write_text("".join(lines[1::2]))
    whole = scan("--rules", str(RULE), str(LOG))
    assert scan("--rules", str(RULE), str(second), str(first)) == whole
    assert scan("--rules", str(RULE), "--jobs", "2", str(first), str(second)) == whole


def test_a_broken_eql_rule_is_named_with_its_position(tmp_path: pathlib.Path) -> None:
    """``rules check`` checks each rule on its own; ``scan`` refuses to run a set with an
    invalid rule, as it does for KQL (the operator runs the others: tests/operator)."""
    broken = yaml.safe_load(RULE.read_text())
    broken["metadata"]["name"] = "broken"
    broken["spec"]["query"] = 'sequence by user.name\n  [any where verb == "get"]\n  [any where'
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump_all([broken, yaml.safe_load(RULE.read_text())]))
    check = audithound("rules", "check", str(path))
    assert check.returncode == 1
    assert "spec.query: line 3, column 13: unexpected end of the query" in check.stdout
    assert "2 rule(s): 1 valid, 1 invalid" in check.stdout
    result = audithound("scan", "--output", "json", "--rules", str(path), str(LOG))
    assert result.returncode == 2 and result.stdout == ""
    assert "line 3, column 13: unexpected end of the query" in result.stderr
    assert result.stderr.endswith("audithound: rule errors: nothing was scanned\n")
