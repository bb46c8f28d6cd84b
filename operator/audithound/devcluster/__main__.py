"""Command line of the local control plane: `build`, `up`, `down`, `status`.

Fed by `make cluster-binaries`, `make cluster`, `make cluster-down` and developers; drives
`build` and `controlplane`. `up` leaves etcd and kube-apiserver running in the background,
with their pids recorded in the run directory, and returns once the API server is ready.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
from pathlib import Path

from audithound.devcluster import build, certs, client, controlplane, crds, process


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    args = _parser().parse_args(argv)
    command: str = args.command
    match command:
        case "build":
            return _build()
        case "up":
            return _up(args.dir, args.audit_maxsize, args.audit_maxbackup, args.crds)
        case "down":
            return _down(args.dir, args.timeout)
        case "status":
            return _status(args.dir)
        case _:
            raise TypeError(f"Unknown command {command!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m audithound.devcluster",
        description="Local etcd + kube-apiserver with audit logging, for tests and demos.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "build", help=f"build kube-apiserver {build.KUBERNETES_VERSION} and etcd if not cached"
    )
    up = commands.add_parser("up", help="start in the background; return when ready")
    up.add_argument("--dir", type=Path, required=True, help="run directory, e.g. .cluster")
    up.add_argument(
        "--audit-maxsize",
        type=int,
        default=controlplane.AuditSettings.maxsize_mb,
        help="MiB before the audit log rotates (default %(default)s)",
    )
    up.add_argument(
        "--audit-maxbackup",
        type=int,
        default=controlplane.AuditSettings.maxbackup,
        help="rotated audit files kept (default %(default)s)",
    )
    up.add_argument("--crds", type=Path, help="directory of CRDs to install once ready")
    down = commands.add_parser("down", help="stop what `up` started in --dir, by recorded pid")
    down.add_argument("--dir", type=Path, required=True)
    down.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds between SIGTERM and SIGKILL (default %(default)s)",
    )
    status = commands.add_parser("status", help="exit 0 when the control plane in --dir is ready")
    status.add_argument("--dir", type=Path, required=True)
    return parser


def _build() -> int:
    try:
        binaries = build.ensure(sys.stderr)
    except build.BuildError as error:
        print(f"Build failed: {error}", file=sys.stderr)
        return 1
    print(f"kube-apiserver {build.KUBERNETES_VERSION}: {binaries.kube_apiserver}")
    print(f"etcd {build.ETCD_VERSION}: {binaries.etcd}")
    return 0


def _up(directory: Path, maxsize: int, maxbackup: int, crd_directory: Path | None) -> int:
    state = controlplane.read_state(directory)
    if state is not None and (
        process.is_running(state.kube_apiserver) or process.is_running(state.etcd)
    ):
        print(
            f"A control plane is already running from {directory} at {state.server}; "
            "stop it first with `down`",
            file=sys.stderr,
        )
        return 1
    try:
        binaries = build.ensure(sys.stderr)
    except build.BuildError as error:
        print(f"Build failed: {error}", file=sys.stderr)
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    plane = controlplane.ControlPlane(
        directory,
        audit=controlplane.AuditSettings(maxsize_mb=maxsize, maxbackup=maxbackup),
        binaries=binaries,
        detach=True,
    )
    try:
        plane.start()
        installed = [] if crd_directory is None else plane.install_crds(crd_directory)
    except (controlplane.StartError, crds.CrdError, OSError) as error:
        plane.stop()
        print(f"Start failed: {error}", file=sys.stderr)
        return 1
    print(f"Started kube-apiserver {build.KUBERNETES_VERSION} at {plane.server}")
    print(f"kubeconfig: {plane.kubeconfig}")
    print(f"audit log:  {plane.audit_log}")
    if installed:
        print(f"CRDs:       {', '.join(installed)}")
    return 0


def _down(directory: Path, timeout: float) -> int:
    if controlplane.read_state(directory) is None:
        print(f"Found no control plane recorded in {directory}")
        return 0
    killed = controlplane.stop_recorded(directory, timeout)
    for name in killed:
        print(f"Killed {name}: it outlived SIGTERM by {timeout:g}s", file=sys.stderr)
    print(f"Stopped the control plane in {directory}")
    return 0


def _status(directory: Path) -> int:
    state = controlplane.read_state(directory)
    if state is None:
        print(f"Not running: nothing recorded in {directory}")
        return 1
    for name, entry in (("etcd", state.etcd), ("kube-apiserver", state.kube_apiserver)):
        running = "running" if process.is_running(entry) else "not running"
        print(f"{name}: pid {entry.pid} {running}")
    pki = certs.pki_paths(directory / "pki")
    api = client.ApiClient(state.server, pki.ca_cert, pki.admin_cert, pki.admin_key)
    try:
        ready = api.get("/readyz").status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        ready = False
    print(f"{state.server}: {'ready' if ready else 'not ready'}")
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
