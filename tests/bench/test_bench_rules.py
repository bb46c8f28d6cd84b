"""The 30 bench rules are valid, well described, and agree with the benchmark's generator.

The generator labels each event with the scenario that made it: a bench rule's name for a
technique, ``benign:...`` for everyday traffic. Each technique must be detected by its rule,
and everyday traffic by none, so the benchmark measures realistic work and the rules are
shown to detect what they claim.
"""

from __future__ import annotations

import collections
import pathlib
import re
import subprocess
import sys
from types import ModuleType
from typing import Any

import orjson
import pytest
import yaml

from audithound import evaluate
from audithound.eql import nodes
from audithound.rules import compiler, loader, ruleset
from audithound.source import decode, files

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH_RULES = ROOT / "bench" / "rules"
TACTIC = re.compile(r"TA\d{4}")
TECHNIQUE = re.compile(r"T\d{4}")
SUBTECHNIQUE = re.compile(r"T\d{4}\.\d{3}")
#: Share of events that may raise alerts: techniques are one event in 50, a few hit 2 rules.
MAX_ALERT_RATE = 0.05


def rule_documents() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(BENCH_RULES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
    ]


def test_bench_rules_load_without_errors_or_warnings(bench_rules: loader.Loaded) -> None:
    assert [problem.render() for problem in bench_rules.all_problems()] == []
    assert len(bench_rules.rules) == 30


def test_rules_check_reports_thirty_clean_rules() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "audithound", "rules", "check", str(BENCH_RULES)],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "30 rule(s): 30 valid, 0 invalid; 0 error(s), 0 warning(s)." in result.stdout


def test_rule_ids_names_and_files_are_unique(compiled_rules: list[compiler.CompiledRule]) -> None:
    for attribute in ("name", "rule_id", "display_name"):
        values = [getattr(rule, attribute) for rule in compiled_rules]
        duplicates = [value for value, n in collections.Counter(values).items() if n > 1]
        assert duplicates == [], attribute
    for path in BENCH_RULES.glob("*.yaml"):
        (document,) = yaml.safe_load_all(path.read_text())
        assert document["metadata"]["name"] == path.stem


@pytest.mark.parametrize("document", rule_documents(), ids=lambda d: d["metadata"]["name"])
def test_mitre_mapping_is_well_formed(document: dict[str, Any]) -> None:
    threats = document["spec"]["threat"]
    assert threats, "every bench rule maps to MITRE ATT&CK"
    for threat in threats:
        assert threat["framework"] == "MITRE ATT&CK"
        tactic = threat["tactic"]
        assert TACTIC.fullmatch(tactic["id"]), tactic
        assert tactic["reference"] == f"https://attack.mitre.org/tactics/{tactic['id']}/"
        assert threat["technique"], "a tactic without technique says little"
        for technique in threat["technique"]:
            assert TECHNIQUE.fullmatch(technique["id"]), technique
            assert technique["reference"] == (
                f"https://attack.mitre.org/techniques/{technique['id']}/"
            )
            for sub in technique.get("subtechnique", []):
                assert SUBTECHNIQUE.fullmatch(sub["id"]), sub
                assert sub["id"].startswith(technique["id"] + "."), (technique["id"], sub["id"])
                parent, number = sub["id"].split(".")
                assert sub["reference"] == f"https://attack.mitre.org/techniques/{parent}/{number}/"


@pytest.mark.parametrize("document", rule_documents(), ids=lambda d: d["metadata"]["name"])
def test_rule_tells_an_analyst_what_to_do(document: dict[str, Any]) -> None:
    spec = document["spec"]
    assert "## Triage" in spec["note"] and "## Response" in spec["note"]
    assert spec["falsePositives"] and spec["references"]
    assert "Kubernetes" in spec["tags"]
    tactics = {threat["tactic"]["name"] for threat in spec["threat"]}
    assert tactics <= set(spec["tags"]), "every mapped tactic is also a tag"


def test_generated_log_decodes_line_by_line(
    generator: ModuleType, labelled_events: list[tuple[str, dict[str, Any]]], tmp_path: pathlib.Path
) -> None:
    log = tmp_path / "audit.log"
    size = generator.write(log, len(labelled_events))
    assert 700 <= size / len(labelled_events) <= 1500, "about 1 KB per event"
    stats = files.ReadStats()
    read = [event for _, _, event in files.read([str(log)], stats)]
    assert sum(stats.skipped.values()) == 0
    assert read == [event for _, event in labelled_events]
    for line in log.read_bytes().splitlines()[:50]:
        decoded = decode.decode_line(line)
        assert len(decoded.events) == 1 and decoded.rejected == []


def test_generator_is_deterministic_for_a_seed(generator: ModuleType) -> None:
    def lines(seed: int) -> list[bytes]:
        return [orjson.dumps(event) for _, event in generator.labelled(300, seed)]

    assert lines(7) == lines(7)
    assert lines(7) != lines(8)


def test_every_rule_detects_its_technique_and_ignores_everyday_traffic(
    compiled_rules: list[compiler.CompiledRule],
    labelled_events: list[tuple[str, dict[str, Any]]],
) -> None:
    evaluator = evaluate.Evaluator(ruleset.RuleSet(compiled_rules))
    missed: list[str] = []
    benign_hits: collections.Counter[tuple[str, str]] = collections.Counter()
    fired: collections.Counter[str] = collections.Counter()
    for scenario, event in labelled_events:
        # Through JSON and back, as the scanner sees it.
        matched = [rule.name for rule in evaluator.evaluate(orjson.loads(orjson.dumps(event)))]
        fired.update(matched)
        if scenario.startswith("benign:"):
            benign_hits.update((scenario, name) for name in matched)
        elif scenario not in matched:
            missed.append(scenario)
    assert sum(evaluator.failures.values()) == 0
    assert missed == []
    assert benign_hits == {}
    assert sorted(fired) == sorted(rule.name for rule in compiled_rules), "all 30 fired"
    assert sum(fired.values()) / len(labelled_events) <= MAX_ALERT_RATE


def test_generator_techniques_are_the_bench_rules(
    generator: ModuleType, compiled_rules: list[compiler.CompiledRule]
) -> None:
    techniques = generator.Cluster(0).techniques()
    assert sorted(techniques) == sorted(rule.name for rule in compiled_rules)


def test_the_eql_bench_rules_load_clean_and_run_in_the_one_generated_function() -> None:
    loaded = loader.load([str(ROOT / "bench" / "eql")])
    assert [problem.render() for problem in loaded.all_problems()] == []
    assert sorted(rule.spec.type for rule in loaded.rules) == ["eql"] * 5
    sequences = [rule.name for rule in loaded.rules if isinstance(rule.eql, nodes.Sequence)]
    assert sorted(sequences) == ["eql-rbac-change-then-workload", "eql-token-then-exec"]
    rules = ruleset.RuleSet(loaded.rules)
    assert rules.source.count("def ") == 1 and not rules.broken
