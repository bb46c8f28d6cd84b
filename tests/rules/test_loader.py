"""Rule files: every problem is found at once and points at its line and column in the file."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from audithound.rules import loader


def write(tmp_path: pathlib.Path, text: str, name: str = "rules.yaml") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


RULE = """
apiVersion: audithound.io/v1alpha1
kind: DetectionRule
metadata:
  name: {name}
spec:
  query: {query}
  severity: high
  riskScore: 73
"""


def test_valid_rule_compiles_with_defaults(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, RULE.format(name="exec", query="kubernetes.audit.verb:create"))
    loaded = loader.load([str(path)])
    assert loaded.all_problems() == []
    (rule,) = loaded.rules
    assert (rule.name, rule.rule_id, rule.display_name) == ("exec", "exec", "exec")
    assert (rule.spec.interval, rule.spec.from_, rule.spec.max_signals) == ("5m", "now-6m", 100)
    assert rule.lookback.total_seconds() == 360


def test_query_error_points_into_the_file(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        """
        apiVersion: audithound.io/v1alpha1
        kind: DetectionRule
        metadata:
          name: broken
        spec:
          severity: low
          riskScore: 10
          query: |
            kubernetes.audit.verb:create
              and kubernetes.audit.objectRef.resource:
        """,
    )
    loaded = loader.load([str(path)])
    (problem,) = loaded.all_problems()
    assert problem.is_error
    assert (problem.rule, problem.path, problem.line) == ("broken", "spec.query", 2)
    assert problem.file_line == 10
    line_text = path.read_text().splitlines()[problem.file_line - 1]
    assert line_text[problem.file_column - 1 :] == "" or problem.file_column == len(line_text) + 1
    assert "^" in problem.excerpt
    assert problem.render().startswith(f"{path}:10:{problem.file_column}: rule broken: error: ")


def test_one_line_query_error_column(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, RULE.format(name="quoted", query='"verb:(get or"'))
    (problem,) = loader.load([str(path)]).all_problems()
    assert problem.path == "spec.query"
    assert problem.file_line == 6
    # The column counts the opening quote of the YAML scalar.
    text = path.read_text().splitlines()[5]
    assert text.index('"') + 1 + problem.column == problem.file_column


def test_spec_errors_are_all_reported_with_positions(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        """
        apiVersion: audithound.io/v1alpha1
        kind: DetectionRule
        metadata:
          name: bad-spec
        spec:
          query: "kubernetes.audit.verb:get"
          severity: urgent
          riskScore: 200
          interval: 5 minutes
        """,
    )
    problems = loader.load([str(path)]).all_problems()
    assert sorted((p.path, p.file_line) for p in problems) == [
        ("spec.interval", 9),
        ("spec.riskScore", 8),
        ("spec.severity", 7),
    ]
    assert all(problem.is_error for problem in problems)


def test_warnings_do_not_invalidate(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        RULE.format(name="odd", query="kubernetes.audit.no_such_field:x or user.name:*admin"),
    )
    loaded = loader.load([str(path)])
    problems = loaded.all_problems()
    assert [problem.level for problem in problems] == ["warning", "warning"]
    assert "unknown field 'kubernetes.audit.no_such_field'" in problems[0].message
    assert "leading wildcard" in problems[1].message
    assert len(loaded.rules) == 1


def test_other_kinds_are_skipped_and_duplicates_refused(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "a.yaml")
    write(
        tmp_path,
        RULE.format(name="twice", query="event.action:get")
        + "---\n"
        + RULE.format(name="twice", query="event.action:list"),
        "b.yml",
    )
    loaded = loader.load([str(tmp_path)])
    messages = [(p.level, p.message.split(" (")[0]) for p in loaded.all_problems()]
    assert ("warning", "kind 'ConfigMap' is not a DetectionRule, ignored") in messages
    assert ("error", "duplicate rule name") in messages
    assert [rule.name for rule in loaded.rules] == ["twice"]


def test_invalid_yaml_has_a_position(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "kind: DetectionRule\nspec: [unclosed\n")
    (problem,) = loader.load([str(path)]).all_problems()
    assert problem.is_error and problem.message.startswith("invalid YAML")
    assert problem.file_line is not None


def test_nesting_libyaml_refuses_is_an_error_of_the_file(tmp_path: pathlib.Path) -> None:
    # PyYAML 6.0.3's libyaml composed this recursively in C and crashed the process.
    depth = 100_000
    path = write(tmp_path, "a: " + "[" * depth + "]" * depth + "\n")
    (problem,) = loader.load([str(path)]).all_problems()
    assert problem.is_error and problem.message.startswith("invalid YAML")
    assert (problem.file, problem.file_line) == (str(path), 1)


def test_a_duplicate_key_makes_the_rule_invalid_with_both_positions(
    tmp_path: pathlib.Path,
) -> None:
    path = write(
        tmp_path, RULE.format(name="twice", query="event.action:get") + "  severity: low\n"
    )
    loaded = loader.load([str(path)])
    assert loaded.rules == []
    (problem,) = [problem for problem in loaded.all_problems() if problem.is_error]
    assert (problem.rule, problem.path, problem.file_line, problem.file_column) == (
        "twice",
        "spec.severity",
        9,
        3,
    )
    assert problem.render().startswith(
        f"{path}:9:3: rule twice: error: spec.severity: duplicate key 'severity' "
        "(first at line 7, column 3)"
    )


def test_duplicate_keys_of_other_kinds_are_not_ours_to_refuse(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b, a: c}\n"
    )
    (problem,) = loader.load([str(path)]).all_problems()
    assert problem.level == "warning" and "ConfigMap" in problem.message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "riskScore: true",
            "8:14: rule r: error: spec.riskScore: Input should be a valid integer, not a boolean",
        ),
        (
            "enabled: 'no'",
            "9:12: rule r: error: spec.enabled: Input should be a valid boolean, not a string",
        ),
        (
            "enabled: nO",
            "9:12: rule r: error: spec.enabled: Input should be a valid boolean, not a string",
        ),
        (
            "tags: [y, n]",
            "9:10: rule r: error: spec.tags[0]: Input should be a valid string, not a boolean",
        ),
        (
            "riskScore: 1" + "1" * 4300,
            "8:14: rule r: error: spec.riskScore: Input should be a valid integer, not a string",
        ),
        ("riskScore: !!int 0x", "8:14: rule r: error: spec.riskScore: cannot read '0x' as !!int"),
        ("interval: 99999999999d", "9:13: rule r: error: spec.interval: must be at most 365d"),
    ],
)
def test_values_the_api_server_refuses_are_errors_at_their_position(
    tmp_path: pathlib.Path, line: str, expected: str
) -> None:
    spec = "  query: user.name:x\n  severity: low\n"
    spec += f"  {line}\n" if line.startswith("riskScore") else f"  riskScore: 10\n  {line}\n"
    path = write(
        tmp_path,
        "apiVersion: audithound.io/v1alpha1\nkind: DetectionRule\n"
        "metadata:\n  name: r\nspec:\n" + spec,
    )
    loaded = loader.load([str(path)])
    first, *_ = [problem for problem in loaded.all_problems() if problem.is_error]
    assert first.render().startswith(f"{path}:{expected}")
    assert loaded.rules == []


@pytest.mark.parametrize(
    ("line", "enabled", "description"),
    [
        ("enabled: no", False, ""),
        ("enabled: y", True, ""),
        ("description: 2024-02-30", True, "2024-02-30"),
        ("description: 10:30", True, "10:30"),
        ("description: null", True, ""),
    ],
)
def test_values_kubectl_sends_as_the_api_server_takes_them(
    tmp_path: pathlib.Path, line: str, enabled: bool, description: str
) -> None:
    path = write(tmp_path, RULE.format(name="r", query="user.name:x") + f"  {line}\n")
    loaded = loader.load([str(path)])
    assert loaded.all_problems() == []
    (rule,) = loaded.rules
    assert (rule.spec.enabled, rule.spec.description) == (enabled, description)
