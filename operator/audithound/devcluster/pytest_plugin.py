"""pytest fixtures that give tests a real control plane; registered with `pytest_plugins`.

Fed by `build` (binaries, built on first use) and `controlplane`; feeds every test marked
`@pytest.mark.cluster` with `control_plane` (session), `audithound_crds` (session: the
repository's crds/ installed) and `audit_log` (a reader that waits for matching events).
One control plane serves the whole session: starting one costs seconds, and tests keep out
of each other's way with their own namespaces. Its audit log rotates at 1 MiB, so a test of
rotation need not write 100 MiB.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from audithound.devcluster import build, controlplane

AuditEvent = dict[str, Any]


class AuditLog:
    """Reads a control plane's audit log, rotated backups included."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[AuditEvent]:
        """Every complete event line, oldest file first.

        Plain backups (audit-<time>.log) are read; gzipped ones (--audit-log-compress) are not.
        """
        events = []
        for path in [*sorted(self.path.parent.glob("audit-*.log")), self.path]:
            if path.exists():
                # A line without its newline is still being written: it is read next time.
                lines = path.read_bytes().split(b"\n")[:-1]
                events += [json.loads(line) for line in lines]
        return events

    def wait_for(self, matches: Callable[[AuditEvent], bool], timeout: float = 5.0) -> AuditEvent:
        """The first event that `matches`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [event for event in self.events() if matches(event)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"No audit event matched within {timeout:g}s in {self.path}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    """A started etcd + kube-apiserver for the session, stopped when the session ends."""
    plane = controlplane.ControlPlane(
        tmp_path_factory.mktemp("control-plane"),
        audit=controlplane.AuditSettings(maxsize_mb=1, maxbackup=3),
        binaries=build.ensure(),
    )
    with plane:
        yield plane


@pytest.fixture(scope="session")
def audithound_crds(
    control_plane: controlplane.ControlPlane, pytestconfig: pytest.Config
) -> list[str]:
    """The repository's crds/ installed and Established; returns the CRD names."""
    return control_plane.install_crds(pytestconfig.rootpath / "crds")


@pytest.fixture
def audit_log(control_plane: controlplane.ControlPlane) -> AuditLog:
    """The session control plane's audit log."""
    return AuditLog(control_plane.audit_log)
