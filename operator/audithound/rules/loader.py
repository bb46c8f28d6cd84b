"""DetectionRule resources from YAML files and directories, with file positions for problems.

Fed by: paths given to ``audithound scan --rules`` and ``rules check``. Feeds: the rule
compiler; every problem it reports is mapped back to a line and column in the file here.
DetectionException resources found in the same paths are the shared lists the rules compile
against (``rules.library``), so a rule repository tests its tuning offline.

A rules directory in a GitOps repository holds other things too (a kustomization, other
kinds): those are skipped with a warning, not treated as errors.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from audithound.rules import compiler, exceptions, library, manifests
from audithound.rules import problems as rule_problems

RULE_API_VERSION = "audithound.io/v1alpha1"
RULE_KIND = "DetectionRule"
EXCEPTION_KIND = "DetectionException"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Every rule outcome found under some paths, and problems that belong to no rule."""

    outcomes: tuple[compiler.Outcome, ...]
    problems: tuple[rule_problems.Problem, ...]

    @property
    def rules(self) -> list[compiler.CompiledRule]:
        return [outcome.rule for outcome in self.outcomes if outcome.rule is not None]

    def all_problems(self) -> list[rule_problems.Problem]:
        found = list(self.problems)
        for outcome in self.outcomes:
            found.extend(outcome.problems)
        return found

    @property
    def has_errors(self) -> bool:
        return any(problem.is_error for problem in self.all_problems())


def rule_files(paths: Iterable[str]) -> Iterator[pathlib.Path]:
    """YAML files named directly, and those under directories (recursively, sorted)."""
    for raw in paths:
        path = pathlib.Path(raw)
        if path.is_dir():
            yield from sorted(child for child in path.rglob("*") if child.suffix in YAML_SUFFIXES)
        else:
            yield path


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        # The last of duplicate keys is the one whose value counts (and was validated).
        for key_node, value_node in reversed(node.value):
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                found: yaml.Node = value_node
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        child: yaml.Node = node.value[key]
        return child
    return None


def _locate(root: yaml.Node, path: str) -> yaml.Node | None:
    """The YAML node at a resource path (``spec.threat[0].tactic``), or its nearest parent."""
    node: yaml.Node | None = root
    for part in re.findall(r"[^.\[\]]+", path):
        key: str | int = int(part) if part.isdigit() else part
        found = _child(node, key)
        if found is None:
            break
        node = found
    return node


def _query_position(node: yaml.Node, lines: list[str], line: int, column: int) -> tuple[int, int]:
    """Map a position inside the query text to the file (exact for `|` and one-line values)."""
    mark = node.start_mark
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        # Block scalars start on the line after the indicator, indented by the first content
        # line's indentation, which the node does not keep: read it from the file.
        first = mark.line + 1
        indent = 0
        if first < len(lines):
            indent = len(lines[first]) - len(lines[first].lstrip(" "))
        return first + line, indent + column
    quote = 1 if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else 0
    if line == 1:
        return mark.line + 1, mark.column + 1 + quote + column - 1
    return mark.line + line, column


def _place(
    problem: rule_problems.Problem, root: yaml.Node | None, lines: list[str], file: str
) -> rule_problems.Problem:
    if root is None or not problem.path:
        return dataclasses.replace(problem, file=file)
    node = _locate(root, problem.path)
    if node is None:
        return dataclasses.replace(problem, file=file)
    if problem.path == "spec.query" and problem.line is not None and problem.column is not None:
        file_line, file_column = _query_position(node, lines, problem.line, problem.column)
    else:
        file_line, file_column = node.start_mark.line + 1, node.start_mark.column + 1
    return dataclasses.replace(problem, file=file, file_line=file_line, file_column=file_column)


def _read_documents(
    path: pathlib.Path,
) -> tuple[list[manifests.Document], list[str], list[rule_problems.Problem]]:
    """Each readable document of the file, the file's lines, and the problems of the rest."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], [], [rule_problems.Problem("error", f"cannot read: {error}", file=label)]
    documents, problems = manifests.read(text)
    placed = [dataclasses.replace(problem, file=label) for problem in problems]
    return documents, text.splitlines(), placed


def _outcome(
    node: yaml.Node, document: Any, lines: list[str], label: str, shared: exceptions.Library
) -> compiler.Outcome | rule_problems.Problem:
    here = node.start_mark.line + 1
    if not isinstance(document, dict):
        return rule_problems.Problem(
            "warning", "not a Kubernetes object, ignored", file=label, file_line=here
        )
    if document.get("kind") != RULE_KIND:
        return rule_problems.Problem(
            "warning",
            f"kind {document.get('kind')!r} is not a {RULE_KIND}, ignored",
            file=label,
            file_line=here,
        )
    if document.get("apiVersion") != RULE_API_VERSION:
        return rule_problems.Problem(
            "error",
            f"apiVersion {document.get('apiVersion')!r} is not {RULE_API_VERSION}",
            path="apiVersion",
            file=label,
            file_line=here,
        )
    metadata = document.get("metadata") or {}
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        return rule_problems.Problem(
            "error", "metadata.name is missing", path="metadata.name", file=label, file_line=here
        )
    spec = document.get("spec")
    if not isinstance(spec, dict):
        return rule_problems.Problem(
            "error",
            "spec is missing or not a mapping",
            path="spec",
            rule=name,
            file=label,
            file_line=here,
        )
    outcome = compiler.compile_rule(name, spec, library=shared)
    placed = tuple(
        dataclasses.replace(_place(problem, node, lines, label), rule=name)
        for problem in outcome.problems
    )
    return dataclasses.replace(outcome, problems=placed)


@dataclasses.dataclass(frozen=True)
class _Read:
    """One document of a file, with what placing its problems needs."""

    document: manifests.Document
    lines: list[str]
    label: str

    @property
    def kind(self) -> Any:
        value = self.document.value
        return value.get("kind") if isinstance(value, dict) else None


def load(paths: Iterable[str]) -> Loaded:
    """Load and compile every DetectionRule under ``paths``, against the DetectionExceptions
    found there; never stops at the first problem."""
    loose: list[rule_problems.Problem] = []
    read: list[_Read] = []
    for path in rule_files(paths):
        documents, lines, read_problems = _read_documents(path)
        loose.extend(read_problems)
        read.extend(_Read(document, lines, str(path)) for document in documents)
    shared, found = _library([item for item in read if item.kind == EXCEPTION_KIND])
    loose.extend(found)
    outcomes = _rules([item for item in read if item.kind != EXCEPTION_KIND], shared, loose)
    return Loaded(tuple(outcomes), tuple(loose))


def _library(read: list[_Read]) -> tuple[exceptions.Library, list[rule_problems.Problem]]:
    """The shared lists of the DetectionException documents, and their problems placed."""
    found: list[rule_problems.Problem] = []
    specs: dict[str, Any] = {}
    where: dict[str, _Read] = {}
    for item in read:
        value, node = item.document.value, item.document.node
        here = node.start_mark.line + 1
        name = (value.get("metadata") or {}).get("name") if isinstance(value, dict) else None
        problem: str | None = None
        if value.get("apiVersion") != RULE_API_VERSION:
            problem = f"apiVersion {value.get('apiVersion')!r} is not {RULE_API_VERSION}"
        elif not isinstance(name, str) or not name:
            problem = "metadata.name is missing"
        elif name in specs:
            problem = f"duplicate DetectionException name (also in {where[name].label})"
        if problem is not None:
            found.append(
                rule_problems.Problem(
                    "error", f"{EXCEPTION_KIND}: {problem}", file=item.label, file_line=here
                )
            )
            continue
        assert isinstance(name, str)
        specs[name] = value.get("spec")
        where[name] = item
        found.extend(
            dataclasses.replace(problem, file=item.label)
            for problem in item.document.problems
            if problem.is_error
        )
    shared, checked = library.build(specs)
    for name, result in checked.items():
        item = where[name]
        for found_problem in result.problems:
            placed = _place(found_problem, item.document.node, item.lines, item.label)
            message = f"{EXCEPTION_KIND} {name}: {found_problem.message}"
            found.append(dataclasses.replace(placed, message=message))
    return shared, found


def _rules(
    read: list[_Read], shared: exceptions.Library, loose: list[rule_problems.Problem]
) -> list[compiler.Outcome]:
    outcomes: list[compiler.Outcome] = []
    seen: dict[str, str] = {}
    for item in read:
        label, lines, document = item.label, item.lines, item.document
        node = document.node
        result = _outcome(node, document.value, lines, label, shared)
        # What the YAML itself got wrong counts for rules only: other kinds are skipped.
        found = [
            dataclasses.replace(problem, file=label)
            for problem in document.problems
            if item.kind == RULE_KIND
        ]
        if isinstance(result, rule_problems.Problem):
            loose.extend([*found, result])
            continue
        if found:
            found = [dataclasses.replace(problem, rule=result.name) for problem in found]
            # A value the YAML could not give is reported once, by the YAML's problem.
            unread = {problem.path for problem in found if problem.path}
            rest = [problem for problem in result.problems if problem.path not in unread]
            rule = None if any(problem.is_error for problem in found) else result.rule
            result = dataclasses.replace(result, rule=rule, problems=(*found, *rest))
        if result.name in seen:
            loose.append(
                rule_problems.Problem(
                    "error",
                    f"duplicate rule name (also in {seen[result.name]}); names are cluster-wide",
                    rule=result.name,
                    file=label,
                    file_line=node.start_mark.line + 1,
                )
            )
            continue
        seen[result.name] = label
        outcomes.append(result)
    return outcomes
