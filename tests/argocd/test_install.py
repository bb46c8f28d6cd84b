"""What a user installs from argocd/ and examples/argocd/ says what the README promises.

The argocd-cm patch carries each health.lua verbatim (the scripts cannot drift from the ones
tested), the operator's kustomization puts the CRDs first and protects them, and the example
Applications sync the operator before the rules.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "argocd"
EXAMPLES = ROOT / "examples" / "argocd"
HEALTH_SCRIPTS = sorted(ARGOCD.glob("resource_customizations/*/*/health.lua"))

WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


def _config_key(script: pathlib.Path) -> str:
    kind_dir = script.parent
    return f"resource.customizations.health.{kind_dir.parent.name}_{kind_dir.name}"


def _application(name: str) -> Any:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def test_argocd_cm_carries_each_health_script_verbatim() -> None:
    config_map = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())

    assert (config_map["metadata"]["name"], config_map["metadata"]["namespace"]) == (
        "argocd-cm",
        "argocd",
    )
    assert config_map["data"] == {
        _config_key(script): script.read_text() for script in HEALTH_SCRIPTS
    }


def test_rules_application_syncs_after_the_operator() -> None:
    operator = _application("audithound-operator")
    rules = _application("audithound-rules")

    assert int(operator["metadata"]["annotations"][WAVE]) < int(
        rules["metadata"]["annotations"][WAVE]
    )
    assert "SkipDryRunOnMissingResource=true" in rules["spec"]["syncPolicy"]["syncOptions"]


@pytest.mark.parametrize("name", ["audithound-operator", "audithound-rules"])
def test_applications_sync_automatically_with_server_side_apply(name: str) -> None:
    policy = _application(name)["spec"]["syncPolicy"]

    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert "ServerSideApply=true" in policy["syncOptions"]


def test_operator_application_points_at_the_argocd_kustomization() -> None:
    source = _application("audithound-operator")["spec"]["source"]

    assert (ROOT / source["path"] / "kustomization.yaml").is_file()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
def test_operator_kustomization_orders_and_protects_the_crds() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(ARGOCD / "operator")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    objects = [obj for obj in yaml.safe_load_all(built.stdout) if obj]
    annotations = {
        (obj["kind"], obj["metadata"]["name"]): obj["metadata"].get("annotations", {})
        for obj in objects
    }
    crds = {
        key: value for key, value in annotations.items() if key[0] == "CustomResourceDefinition"
    }
    others = {key: value for key, value in annotations.items() if key not in crds}

    assert {name for _, name in crds} == {
        "detectionexceptions.audithound.io",
        "detectionrules.audithound.io",
        "securityalerts.audithound.io",
    }
    for crd in crds.values():
        assert crd[WAVE] == "-10"
        assert crd[SYNC_OPTIONS] == "ServerSideApply=true,Prune=false,Delete=false"
    assert any(kind == "DaemonSet" for kind, _ in others)
    assert {key: value[WAVE] for key, value in others.items()} == {key: "-5" for key in others}
