"""Build kube-apiserver and etcd from Go modules into a cache outside the repository.

Fed by the pinned versions below and the Go toolchain on PATH; feeds `controlplane`, which
starts the binaries, and the `build` command of the CLI. Each binary is built in its own
throwaway wrapper module (kept under the cache so a rebuild reuses its go.mod and go.sum)
and written atomically: an interrupted build leaves a `.tmp` file, never a file at the final
path that looks done. A lock file serialises concurrent builds of the same cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

KUBERNETES_VERSION = "v1.36.3"
"""The k8s.io/kubernetes release whose kube-apiserver is built."""

GO_VERSION = "1.26.0"
"""The `go` line of k8s.io/kubernetes v1.36.3's go.mod; the wrapper module declares it too."""

ETCD_VERSION = "v3.6.16"
"""Newest 3.6 patch of go.etcd.io/etcd/server/v3 on the module proxy (1.36 ships etcd 3.6)."""

CACHE_ENV = "AUDITHOUND_CACHE"
"""Environment variable naming the cache root; default ~/.cache/audithound."""

_APISERVER_PACKAGE = "k8s.io/kubernetes/cmd/kube-apiserver"
_ETCD_PACKAGE = "go.etcd.io/etcd/server/v3"
_VERSION_PACKAGE = "k8s.io/component-base/version"
# k8s.io/kubernetes points every staging module at ./staging/src/k8s.io/<name>; those
# replace lines name exactly the modules the wrapper must pin to the matching v0.x tag.
_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[a-z0-9-]+)\s+=>\s+\./staging/", re.MULTILINE)


class BuildError(RuntimeError):
    """A binary could not be built; the message names the step and carries Go's output."""


@dataclasses.dataclass(frozen=True)
class Binaries:
    """Paths of the two binaries a control plane runs."""

    kube_apiserver: Path
    etcd: Path


def cache_dir() -> Path:
    """The version-keyed directory holding the binaries and their wrapper modules."""
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "audithound")
    return Path(root).expanduser() / f"k8s-{KUBERNETES_VERSION}"


def expected_paths() -> Binaries:
    """Where the binaries live once built (they may not exist yet)."""
    directory = cache_dir()
    return Binaries(kube_apiserver=directory / "kube-apiserver", etcd=directory / "etcd")


def ensure(log: TextIO = sys.stderr) -> Binaries:
    """Return the cached binaries, building whichever is missing or of another version.

    Go's progress goes to `log`; a failure raises BuildError with the failing command's
    output so the caller can show it as is.
    """
    go = shutil.which("go")
    paths = expected_paths()
    paths.kube_apiserver.parent.mkdir(parents=True, exist_ok=True)
    with _locked(paths.kube_apiserver.parent / ".build.lock"):
        if not _reports_version(paths.kube_apiserver, KUBERNETES_VERSION):
            _build_kube_apiserver(_require_go(go), paths.kube_apiserver, log)
        if not _reports_version(paths.etcd, ETCD_VERSION):
            _build_etcd(_require_go(go), paths.etcd, log)
    return paths


def _require_go(go: str | None) -> str:
    if go is None:
        raise BuildError(
            f"Found no `go` on PATH; building kube-apiserver {KUBERNETES_VERSION} needs "
            f"Go {GO_VERSION} or newer"
        )
    return go


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _reports_version(binary: Path, version: str) -> bool:
    if not os.access(binary, os.X_OK):
        return False
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    # kube-apiserver prints "Kubernetes v1.36.3"; etcd prints "etcd Version: 3.6.16" and more.
    words = {word.removeprefix("v") for word in result.stdout.split()}
    return result.returncode == 0 and version.removeprefix("v") in words


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # A static binary that runs anywhere, built with the installed toolchain only: a
    # GOTOOLCHAIN download would need more than the module proxy.
    env["CGO_ENABLED"] = "0"
    env["GOTOOLCHAIN"] = "local"
    return env


def _run(command: list[str], cwd: Path, log: TextIO) -> str:
    log.write(f"+ {' '.join(command)}\n")
    log.flush()
    result = subprocess.run(
        command, cwd=cwd, env=_go_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BuildError(
            f"`{' '.join(command)}` failed in {cwd} (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def _fresh_module(directory: Path, name: str, go: str, log: TextIO) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    _run([go, "mod", "init", name], directory, log)


def _build_kube_apiserver(go: str, target: Path, log: TextIO) -> None:
    module = target.parent / "src" / "kube-apiserver"
    _fresh_module(module, "audithound.local/kube-apiserver-build", go, log)
    _run([go, "mod", "edit", f"-go={GO_VERSION}"], module, log)
    info = json.loads(
        _run(
            [go, "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"], module, log
        )
    )
    staging_version = "v0." + KUBERNETES_VERSION.removeprefix("v1.")
    staging = _STAGING_REPLACE.findall(Path(info["GoMod"]).read_text())
    if not staging:
        raise BuildError(f"Found no staging replace directives in {info['GoMod']}")
    _run(
        [go, "mod", "edit", *(f"-replace={name}={name}@{staging_version}" for name in staging)],
        module,
        log,
    )
    _run([go, "get", "-tool", f"{_APISERVER_PACKAGE}@{KUBERNETES_VERSION}"], module, log)
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    # The release time from the proxy stands in for the build date so that a rebuild of
    # the same version is byte-identical; the proxy does not carry the git commit.
    release_time = json.loads(Path(info["Info"]).read_text())["Time"]
    ldflags = " ".join(
        [
            "-s",
            "-w",
            f"-X {_VERSION_PACKAGE}.gitVersion={KUBERNETES_VERSION}",
            f"-X {_VERSION_PACKAGE}.gitMajor={major}",
            f"-X {_VERSION_PACKAGE}.gitMinor={minor}",
            f"-X {_VERSION_PACKAGE}.gitCommit=",
            f"-X {_VERSION_PACKAGE}.gitTreeState=clean",
            f"-X {_VERSION_PACKAGE}.buildDate={release_time}",
        ]
    )
    _go_build(go, module, _APISERVER_PACKAGE, ldflags, target, KUBERNETES_VERSION, log)


def _build_etcd(go: str, target: Path, log: TextIO) -> None:
    module = target.parent / "src" / "etcd"
    _fresh_module(module, "audithound.local/etcd-build", go, log)
    _run([go, "get", "-tool", f"{_ETCD_PACKAGE}@{ETCD_VERSION}"], module, log)
    _go_build(go, module, _ETCD_PACKAGE, "-s -w", target, ETCD_VERSION, log)


def _go_build(
    go: str, module: Path, package: str, ldflags: str, target: Path, version: str, log: TextIO
) -> None:
    partial = target.with_name(f".{target.name}.tmp")
    partial.unlink(missing_ok=True)
    _run(
        [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), package],
        module,
        log,
    )
    if not _reports_version(partial, version):
        raise BuildError(f"Built {partial} but it does not report version {version}")
    os.replace(partial, target)
    log.write(f"Built {target}\n")
