"""What `rules check` accepts is what `kubectl apply` accepts, value for value: each row is a
rule file run through the loader and through kubectl against the real API server (with the
crds/ of this repository), and both must give the row's answer.

The one difference is on purpose: a key given twice is an error for `rules check`, while
kubectl keeps the last one silently.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from audithound.rules import loader

pytestmark = pytest.mark.cluster

HUGE = "1" * 4301
HEAD = (
    "apiVersion: audithound.io/v1alpha1\nkind: DetectionRule\nmetadata:\n  name: agree-{n}\n"
    "spec:\n  query: user.name:x\n  severity: low\n"
)

# (lines of spec after query and severity, the field to compare, its value when taken, or
# None when both must refuse the rule)
TAKEN = object()
ROWS: list[tuple[str, str, Any]] = [
    ("riskScore: 10\nenabled: no", "enabled", False),
    ("riskScore: 10\nenabled: NO", "enabled", False),
    ("riskScore: 10\nenabled: y", "enabled", True),
    ("riskScore: 10\nenabled: on", "enabled", True),
    ("riskScore: 10\nenabled: 'no'", "enabled", None),
    ("riskScore: 10\nenabled: nO", "enabled", None),
    ("riskScore: 10\nenabled: 1", "enabled", None),
    ("riskScore: 1e1", "riskScore", 10),
    ("riskScore: 50.0", "riskScore", 50),
    ("riskScore: 10.", "riskScore", 10),
    ("riskScore: .5e1", "riskScore", 5),
    ("riskScore: 0x1F", "riskScore", 31),
    ("riskScore: 017", "riskScore", 15),
    ("riskScore: 0o17", "riskScore", 15),
    ("riskScore: 0b11", "riskScore", 3),
    ("riskScore: 1_0", "riskScore", 10),
    ("riskScore: +10", "riskScore", 10),
    ("riskScore: !!int '5'", "riskScore", 5),
    ("riskScore: true", "riskScore", None),
    ("riskScore: '50'", "riskScore", None),
    ("riskScore: 50.5", "riskScore", None),
    ("riskScore: 1:30", "riskScore", None),
    ("riskScore: 101", "riskScore", None),
    (f"riskScore: {HUGE}", "riskScore", None),
    ("riskScore: !!int abc", "riskScore", None),
    ("riskScore: 10\ndescription: 2024-02-30", "description", "2024-02-30"),
    ("riskScore: 10\ndescription: 2024-01-01T10:00:00Z", "description", "2024-01-01T10:00:00Z"),
    ("riskScore: 10\ndescription: 10:30", "description", "10:30"),
    ("riskScore: 10\ndescription: =", "description", "="),
    ("riskScore: 10\ndescription: 1e400", "description", "1e400"),
    ("riskScore: 10\ndescription: !!str 5", "description", "5"),
    (f"riskScore: 10\ndescription: {HUGE}", "description", HUGE),
    ("riskScore: 10\ndescription: null", "description", ""),
    ("riskScore: 10\ndescription: ~", "description", ""),
    ("riskScore: 10\ndescription: 0o17", "description", None),
    ("riskScore: 10\ndescription: 1e5", "description", None),
    ("riskScore: 10\ndescription: .inf", "description", None),
    ("riskScore: 10\ndescription: !!timestamp 2024-02-30", "description", None),
    ("riskScore: 10\ntags: null", "tags", TAKEN),
    ("riskScore: 10\ntags: [y, n, on]", "tags", None),
    ("riskScore: 10\ntags: [1:30, 0x10]", "tags", None),
    ("riskScore: 10\ntags: [a, null]", "tags", None),
    ("riskScore: 10\nrisk_score: 10", "risk_score", None),
    ("riskScore: 10\ny: 1", "true", None),
    ("riskScore: 10\ninterval: 365d", "interval", "365d"),
    ("riskScore: 10\ninterval: 8760h", "interval", "8760h"),
    ("riskScore: 10\ninterval: 366d", "interval", None),
    ("riskScore: 10\ninterval: 31536001s", "interval", None),
    ("riskScore: 10\ninterval: 99999999999d", "interval", None),
    ("riskScore: 10\ninterval: " + "9" * 40 + "s", "interval", None),
    ("riskScore: 10\ninterval: 5 minutes", "interval", None),
    ("riskScore: 10\ninterval: 0s", "interval", None),
    ("riskScore: 10\nfrom: now-365d", "from", "now-365d"),
    ("riskScore: 10\nfrom: now-366d", "from", None),
    ("riskScore: 10\nfrom: now-99999999999d", "from", None),
    ("riskScore: 10\nmaxSignals: 10000", "maxSignals", 10000),
    ("riskScore: 10\nmaxSignals: 10001", "maxSignals", None),
    ("riskScore: 10\nversion: 2147483647", "version", 2147483647),
    ("riskScore: 10\nversion: 2147483648", "version", None),
    ("riskScore: 10\nversion: 99999999999999999999", "version", None),
]


def _file(directory: pathlib.Path, number: int, lines: str) -> pathlib.Path:
    path = directory / f"agree-{number}.yaml"
    body = "".join(f"  {line}\n" for line in lines.split("\n"))
    path.write_text(HEAD.format(n=number) + body)
    return path


def _kubectl(kubeconfig: pathlib.Path, path: pathlib.Path) -> dict[str, Any] | str:
    """The spec the API server would store, or its refusal."""
    result = operator_.run_kubectl(
        kubeconfig, "apply", "--dry-run=server", "-f", str(path), "-o", "json"
    )
    if result.returncode != 0:
        return result.stderr.strip()
    spec: dict[str, Any] = json.loads(result.stdout)["spec"]
    return spec


def _rules_check(path: pathlib.Path) -> dict[str, Any] | str:
    """The spec `rules check` validated, or its errors."""
    loaded = loader.load([str(path)])
    errors = [problem.render() for problem in loaded.all_problems() if problem.is_error]
    if errors:
        return "\n".join(errors)
    (rule,) = loaded.rules
    spec: dict[str, Any] = rule.spec.model_dump(by_alias=True, mode="json")
    return spec


@pytest.mark.parametrize(
    ("number", "lines", "field", "expected"),
    [(number, *row) for number, row in enumerate(ROWS)],
    ids=[row[0].split("\n")[-1][:40] for row in ROWS],
)
def test_rules_check_and_kubectl_apply_agree(
    control_plane: controlplane.ControlPlane,
    audithound_crds: list[str],
    tmp_path: pathlib.Path,
    number: int,
    lines: str,
    field: str,
    expected: Any,
) -> None:
    path = _file(tmp_path, number, lines)
    applied = _kubectl(control_plane.kubeconfig, path)
    checked = _rules_check(path)
    if expected is None:
        assert isinstance(applied, str), f"the API server took it: {applied}"
        assert isinstance(checked, str), f"rules check took it: {checked}"
        return
    assert isinstance(applied, dict), applied
    assert isinstance(checked, dict), checked
    if expected is not TAKEN:
        assert applied[field] == checked[field] == expected


def test_a_duplicate_key_kubectl_takes_silently_is_an_error_for_rules_check(
    control_plane: controlplane.ControlPlane, audithound_crds: list[str], tmp_path: pathlib.Path
) -> None:
    path = _file(tmp_path, len(ROWS), "riskScore: 10\nseverity: high")
    applied = _kubectl(control_plane.kubeconfig, path)
    assert isinstance(applied, dict) and applied["severity"] == "high"
    checked = _rules_check(path)
    assert isinstance(checked, str)
    assert "spec.severity: duplicate key 'severity' (first at line 7, column 3)" in checked


def test_the_api_server_says_why_a_duration_is_refused(
    control_plane: controlplane.ControlPlane, audithound_crds: list[str], tmp_path: pathlib.Path
) -> None:
    path = _file(tmp_path, len(ROWS) + 1, "riskScore: 10\ninterval: 99999999999d")
    refused = _kubectl(control_plane.kubeconfig, path)
    assert isinstance(refused, str)
    assert 'spec.interval: Invalid value: "99999999999d": must be at most 365d' in refused
    checked = _rules_check(path)
    assert isinstance(checked, str)
    assert "spec.interval: must be at most 365d (8760h, 525600m, 31536000s)" in checked
