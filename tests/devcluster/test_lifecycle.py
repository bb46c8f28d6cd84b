"""Starting and stopping: no process survives `stop()` or `down`, and `up` refuses twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audithound.devcluster import build, controlplane, crds, process


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audithound.devcluster", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.cluster
def test_stop_leaves_no_process(tmp_path: Path) -> None:
    plane = controlplane.ControlPlane(tmp_path, binaries=build.ensure())

    with plane:
        state = controlplane.read_state(tmp_path)
        assert state is not None
        assert process.is_running(state.etcd) and process.is_running(state.kube_apiserver)

    assert not process.is_running(state.etcd)
    assert not process.is_running(state.kube_apiserver)
    assert controlplane.read_state(tmp_path) is None


@pytest.mark.cluster
def test_cli_up_runs_in_the_background_until_down(tmp_path: Path, crd_dir: Path) -> None:
    run_dir = tmp_path / "cluster"
    build.ensure()

    up = _cli("up", "--dir", str(run_dir), "--audit-maxsize", "1", "--crds", str(crd_dir))

    assert up.returncode == 0, up.stderr
    assert "CRDs:       widgets.example.audithound.io" in up.stdout
    state = controlplane.read_state(run_dir)
    assert state is not None
    try:
        assert (run_dir / "kubeconfig").exists() and (run_dir / "audit" / "audit.log").exists()
        assert "--audit-log-maxsize=1" in Path(
            f"/proc/{state.kube_apiserver.pid}/cmdline"
        ).read_text().split("\0")
        assert _cli("status", "--dir", str(run_dir)).returncode == 0
        again = _cli("up", "--dir", str(run_dir))
        assert again.returncode == 1
        assert "already running" in again.stderr
    finally:
        down = _cli("down", "--dir", str(run_dir))

    assert down.returncode == 0, down.stderr
    assert not process.is_running(state.etcd)
    assert not process.is_running(state.kube_apiserver)
    status = _cli("status", "--dir", str(run_dir))
    assert status.returncode == 1
    assert "Not running" in status.stdout


def test_down_without_a_recorded_control_plane_says_so(tmp_path: Path) -> None:
    down = _cli("down", "--dir", str(tmp_path))

    assert down.returncode == 0
    assert down.stdout == f"Found no control plane recorded in {tmp_path}\n"


def test_a_record_of_a_process_that_exited_is_not_running() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    entry = process.record(child.pid)
    assert process.is_running(entry)

    assert process.terminate(entry, timeout=5) is False

    child.wait()
    assert not process.is_running(entry)


def test_a_recycled_pid_is_not_mistaken_for_the_recorded_process() -> None:
    entry = process.record(os.getpid())

    assert not process.is_running(process.Record(entry.pid, entry.start_ticks + 1))


def test_a_manifest_that_is_not_a_crd_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")

    with pytest.raises(crds.CrdError, match=r"cm\.yaml: expected kind CustomResourceDefinition"):
        crds.load_manifests(tmp_path)


def test_build_without_go_exits_non_zero_and_says_why(tmp_path: Path) -> None:
    python_only = {"PATH": str(Path(sys.executable).parent), "AUDITHOUND_CACHE": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "-m", "audithound.devcluster", "build"],
        capture_output=True,
        text=True,
        env=python_only,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr == (
        "Build failed: Found no `go` on PATH; building kube-apiserver v1.36.3 needs Go 1.26.0 "
        "or newer\n"
    )
    assert not (tmp_path / "k8s-v1.36.3" / "kube-apiserver").exists()
