"""Fixtures of the ``tune`` tests: the command run as a user runs it, and what it printed."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tune(*args: str | pathlib.Path) -> subprocess.CompletedProcess[str]:
    """``audithound tune ARGS`` from the repository's root, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "audithound", "tune", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


def proposed_items(report: str) -> list[list[dict[str, Any]]]:
    """The exception items of a text report, in order, each parsed as the YAML a user pastes."""
    found: list[list[dict[str, Any]]] = []
    lines = report.splitlines()
    for index, line in enumerate(lines):
        if line.strip() != "Exception item (DetectionRule spec.exceptions):":
            continue
        block = []
        for following in lines[index + 1 :]:
            if not following.strip():
                break
            block.append(following)
        found.append(yaml.safe_load(textwrap.dedent("\n".join(block))))
    return found


def rule_file(directory: pathlib.Path, name: str, query: str) -> pathlib.Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        "apiVersion: audithound.io/v1alpha1\nkind: DetectionRule\n"
        f"metadata:\n  name: {name}\nspec:\n  query: '{query}'\n"
        "  severity: medium\n  riskScore: 47\n  maxSignals: 1000\n"
    )
    return path


def scan_alerts(rule: pathlib.Path, log: pathlib.Path, items: list[dict[str, Any]]) -> list[str]:
    """The auditIDs ``scan`` alerts on over ``log`` once the rule in ``rule`` carries the
    exception items ``items``: what pasting a proposal into the rule does."""
    document = yaml.safe_load(rule.read_text())
    document["spec"]["exceptions"] = items
    tuned = rule.with_name(f"{rule.stem}-tuned.yaml")
    tuned.write_text(yaml.safe_dump(document))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "audithound",
            "scan",
            "--rules",
            str(tuned),
            "--output",
            "json",
            str(log),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return [yaml.safe_load(line)["auditID"] for line in done.stdout.splitlines()]
