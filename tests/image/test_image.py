"""The operator image, as far as a machine without a container engine can check it: the
Dockerfile's own install steps in a clean virtual environment, with the pinned versions,
and its entrypoint command."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _run(*command: str | pathlib.Path, cwd: pathlib.Path = ROOT) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_dockerfile_shape() -> None:
    assert "./native/screen" in DOCKERFILE and "audithound-screen" in DOCKERFILE
    assert DOCKERFILE.count("\nFROM ") + DOCKERFILE.startswith("FROM ") >= 2, "multi-stage"
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.M)
    assert "--constraint requirements.lock" in DOCKERFILE
    assert re.search(r"^USER 10001$", DOCKERFILE, re.M)
    (entrypoint,) = re.findall(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.M)
    assert json.loads(entrypoint) == ["audithound", "run"]
    for label in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE


def test_image_install_steps_in_a_clean_environment(tmp_path: pathlib.Path) -> None:
    wheels = tmp_path / "wheels"
    # Stage 1: `pip wheel --constraint requirements.lock . ./native/screen`
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-cache-dir",
        "--wheel-dir",
        wheels,
        "--constraint",
        "requirements.lock",
        ".",
        "./native/screen",
    )
    # Stage 2: an empty environment, offline install from those wheels only.
    env = tmp_path / "image"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-cache-dir",
        "--no-index",
        "--find-links",
        wheels,
        "audithound",
        "audithound-screen",
    )
    installed = {
        re.sub(r"[-_.]+", "-", item["name"]).lower(): item["version"]
        for item in json.loads(_run(python, "-m", "pip", "list", "--format=json"))
    }
    for name, version in _pins().items():
        assert installed.get(name) == version, name
    # The native screen is in the image (without it, scans are slower, not different).
    _run(python, "-c", "import audithound_screen")
    # The entrypoint, as the image runs it.
    usage = _run(env / "bin" / "audithound", "run", "--help", cwd=tmp_path)
    assert "--audit-log PATH" in usage and "AUDITHOUND_STATE_DIR" in usage
    scan = subprocess.run(
        [env / "bin" / "audithound", "scan", ROOT / "examples/audit/sample-audit.log"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert scan.returncode == 0 and "Alerts: 5" in scan.stderr
