"""The import contracts of pyproject.toml fail when a layer is crossed: each is crossed once on
purpose, in a copy of the package, and ``lint-imports`` must say which contract broke."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINT_IMPORTS = pathlib.Path(sys.executable).with_name("lint-imports")

CROSSINGS = [
    # (module that gets the import, the import, the contract that must break)
    (
        "pipeline.py",
        "from audithound.sinks import kubernetes",
        "nothing else imports the Kubernetes sink",
    ),
    ("rules/compiler.py", "from audithound import pipeline", "Layers follow the data flow"),
    ("detectors/query.py", "from audithound.alerts import evidence", "Layers follow the data flow"),
    ("alerts/evidence.py", "from audithound.sinks import stream", "Layers follow the data flow"),
    ("kql/parser.py", "from audithound.normalize import view", "The query language knows nothing"),
    ("eql/parser.py", "from audithound.normalize import view", "EQL, like KQL, knows nothing"),
    ("eql/evaluate.py", "import kubernetes", "EQL, like KQL, knows nothing"),
    ("kql/parser.py", "from audithound.eql import nodes", "Layers follow the data flow"),
    ("scanner.py", "from audithound.tuning import advice", "Layers follow the data flow"),
    (
        "tuning/collect.py",
        "from audithound.controller import logs",
        "it never imports the operator",
    ),
    ("source/files.py", "import kopf", "Only the controller and the Kubernetes sink"),
    (
        "controller/tailing.py",
        "from audithound.devcluster import build",
        "never imports the local control plane",
    ),
]


def _lint(root: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root / "operator"), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(ROOT / "operator" / "audithound", root / "operator" / "audithound")
    return root


def test_the_package_keeps_every_contract(copy: pathlib.Path) -> None:
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "statement", "contract"), CROSSINGS)
def test_crossing_a_layer_breaks_its_contract(
    copy: pathlib.Path, module: str, statement: str, contract: str
) -> None:
    path = copy / "operator" / "audithound" / module
    original = path.read_text()
    head, rest = original.split("from __future__ import annotations\n", 1)
    path.write_text(f"{head}from __future__ import annotations\n{statement}  # noqa\n{rest}")
    try:
        result = _lint(copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in " ".join(broken.split()), result.stdout
