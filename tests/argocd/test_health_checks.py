"""Every case in each health_test.yaml gives the health Argo CD would show for that object.

The layout is Argo CD's own for built-in checks (resource_customizations/<group>/<Kind>/
health.lua, health_test.yaml, testdata/), so the scripts can be offered upstream as they are.
"""

from __future__ import annotations

import pathlib

import pytest
import yaml

from audithound.api import crdgen
from tests.argocd import lua

ROOT = pathlib.Path(__file__).resolve().parents[2]
CUSTOMIZATIONS = ROOT / "argocd" / "resource_customizations"
KIND_DIRS = sorted(path.parent for path in CUSTOMIZATIONS.glob("*/*/health.lua"))


def _cases() -> list[pytest.ParameterSet]:
    cases = []
    for kind_dir in KIND_DIRS:
        tests = yaml.safe_load((kind_dir / "health_test.yaml").read_text())["tests"]
        for test in tests:
            expected = lua.Health(**test["healthStatus"])
            name = f"{kind_dir.relative_to(CUSTOMIZATIONS)}/{test['inputPath']}"
            cases.append(pytest.param(kind_dir, test["inputPath"], expected, id=name))
    return cases


@pytest.mark.parametrize(("kind_dir", "input_path", "expected"), _cases())
def test_health_check_reports_expected_status_and_message(
    kind_dir: pathlib.Path, input_path: str, expected: lua.Health
) -> None:
    script = (kind_dir / "health.lua").read_text()
    obj = lua.load_object(kind_dir / input_path)

    assert lua.run_health(script, obj) == expected
    assert expected.status in lua.HEALTH_STATUSES


def test_every_audithound_kind_has_a_health_check() -> None:
    crd_kinds = {definition.kind for definition in crdgen.DEFINITIONS}
    checked = {kind_dir.name for kind_dir in KIND_DIRS if kind_dir.parent.name == "audithound.io"}

    assert checked == crd_kinds


@pytest.mark.parametrize("kind_dir", KIND_DIRS, ids=lambda path: path.name)
def test_every_testdata_file_is_a_case(kind_dir: pathlib.Path) -> None:
    tests = yaml.safe_load((kind_dir / "health_test.yaml").read_text())["tests"]
    used = {(kind_dir / test["inputPath"]).resolve() for test in tests}
    present = {path.resolve() for path in (kind_dir / "testdata").glob("*.yaml")}

    assert present - used == set(), "testdata files that no case reads"
    assert used - present == set(), "cases that read a missing file"


@pytest.mark.parametrize(
    "script",
    [
        'return {status = string.upper("healthy")}',
        'return {status = ("healthy"):upper()}',
        "return {status = math.max(1, 2)}",
    ],
)
def test_sandbox_refuses_libraries_argocd_cm_scripts_do_not_get(script: str) -> None:
    # Without resource.customizations.useOpenLibs Argo CD opens no string or math library;
    # a health check that passes here must not depend on them.
    with pytest.raises(lua.LuaError):
        lua.run_health(script, {})
