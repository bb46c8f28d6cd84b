"""`rules check` and `scan` report every broken rule file as errors with file:line:column and
never print a traceback, whatever the YAML, the spec or the compiler does."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import pytest

from audithound import cli
from audithound.kql import compiler as kql_compiler
from audithound.kql import nodes

ROOT = pathlib.Path(__file__).resolve().parents[2]
HUGE = "1" * 4301
HEAD = "apiVersion: audithound.io/v1alpha1\nkind: DetectionRule\nmetadata:\n  name: {name}\nspec:\n"


def audithound(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audithound", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def rule_file(directory: pathlib.Path, name: str, spec: str) -> pathlib.Path:
    path = directory / f"{name}.yaml"
    path.write_text(HEAD.format(name=name) + spec)
    return path


# Each of these raised out of `rules check` (or crashed it) before: PyYAML's constructors on
# a timestamp that is no date and on an integer past Python's conversion limit, a query
# number past that limit in the KQL compiler, nesting past Python's recursion limit.
BROKEN = {
    "bad-date": (
        "  query: user.name:x\n  severity: low\n  riskScore: 1\n"
        "  description: !!timestamp 2024-02-30\n",
        "9:16",
        "spec.description: cannot read '2024-02-30' as !!timestamp",
    ),
    "huge-risk": (
        f"  query: user.name:x\n  severity: low\n  riskScore: {HUGE}\n",
        "8:14",
        "spec.riskScore: Input should be a valid integer, not a string",
    ),
    "deep": (
        "  query: user.name:x\n  severity: low\n  riskScore: 1\n  tags: "
        + "[" * 600
        + "]" * 600
        + "\n",
        "9:",
        "nesting deeper than 100 levels: document not read",
    ),
    "twice": (
        "  query: user.name:x\n  severity: low\n  riskScore: 1\n  severity: high\n",
        "9:3",
        "spec.severity: duplicate key 'severity' (first at line 7, column 3)",
    ),
    # A query Elasticsearch refuses on the field's type: a wildcard on an ip field.
    "ip-wildcard": (
        "  query: source.ip:(10.* or 192.168.*)\n  severity: low\n  riskScore: 1\n",
        "6:21",
        "spec.query: line 1, column 12: source.ip is an ip field: Elasticsearch refuses "
        "wildcard queries on it",
    ),
    "loop": (
        "  query: user.name:x\n  severity: low\n  riskScore: 1\n  threat: &t [*t]\n",
        "9:15",
        "invalid YAML: alias 't' refers to a node that contains it",
    ),
}


@pytest.fixture
def broken(tmp_path: pathlib.Path) -> pathlib.Path:
    for name, (spec, _, _) in BROKEN.items():
        rule_file(tmp_path, name, spec)
    rule_file(tmp_path, "fine", "  query: user.name:x\n  severity: low\n  riskScore: 1\n")
    # Not a date, so text to go-yaml and kubectl: fine (PyYAML's constructor raised on it).
    rule_file(
        tmp_path,
        "date-text",
        "  query: user.name:x\n  severity: low\n  riskScore: 1\n  description: 2024-02-30\n",
    )
    rule_file(
        tmp_path,
        "huge-number",
        f"  query: kubernetes.audit.objectRef.name:{HUGE}\n  severity: low\n  riskScore: 1\n",
    )
    return tmp_path


def test_rules_check_reports_every_broken_file_with_positions(broken: pathlib.Path) -> None:
    result = audithound("rules", "check", str(broken))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for name, (_, position, message) in BROKEN.items():
        path = broken / f"{name}.yaml"
        reported = [line for line in lines if line.startswith(f"{path}:{position}")]
        assert reported and message in reported[0], (name, lines)
    # The 4,301-digit query compiles; the other good rule is valid too.
    for good in ("huge-number", "fine", "date-text"):
        assert not [line for line in lines if f"{good}.yaml" in line]
    assert lines[-1].startswith("7 rule(s): 3 valid, 4 invalid;")


def test_scan_refuses_to_run_with_the_same_errors(broken: pathlib.Path) -> None:
    result = audithound("scan", "--rules", str(broken), "/dev/null")
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert "audithound: rule errors: nothing was scanned" in result.stderr
    for name, (_, position, _) in BROKEN.items():
        assert f"{broken / name}.yaml:{position}" in result.stderr


def test_a_compiler_failure_is_a_rule_error_with_its_position(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever raises while compiling one rule (here an injected fault) is reported."""
    original = kql_compiler.compile_condition

    def compile_condition(node: nodes.Node, access: Any, *rest: Any) -> Any:
        if isinstance(node, nodes.Match) and node.field == "boom":
            raise ValueError("injected")
        return original(node, access, *rest)

    monkeypatch.setattr(kql_compiler, "compile_condition", compile_condition)
    path = rule_file(
        tmp_path, "r", "  query: user.name:x or boom:1\n  severity: low\n  riskScore: 1\n"
    )
    assert cli.main(["rules", "check", str(path)]) == cli.EXIT_INVALID_RULES
    out = capsys.readouterr().out
    assert out.startswith(
        f"{path}:6:25: rule r: error: spec.query: line 1, column 16: the query could not be "
        "compiled (ValueError: injected); this is a bug in AuditHound, please report it\n"
        "    user.name:x or boom:1\n"
        "                   ^\n"
    )
    assert cli.main(["scan", "--rules", str(path), "/dev/null"]) == cli.EXIT_USAGE
    assert "Traceback" not in capsys.readouterr().err
