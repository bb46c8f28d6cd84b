"""SecurityAlert retention at scale: the operator's memory, its pass time and the audit loop.

Usage: ``python bench/retention.py [--alerts 20000] [--max-alerts 10000] [--page-size 500]``

1. Starts a local control plane (kube-apiserver + etcd, ``audithound.devcluster``) and
   creates ``--alerts`` SecurityAlerts as the admin, concurrently: real alerts built by
   ``alerts.evidence`` from the technique events of ``bench/generate.py`` and the rules of
   ``bench/rules`` (about 2.5 KB each in etcd), each with its own auditID and a detection
   time one millisecond after the one before.
2. Starts the operator under its ServiceAccount with ``--max-alerts`` (its first retention
   pass runs at start-up) and, while that pass runs, makes one request every 100 ms that a
   rule matches: how long each waited between its audit line and its detection shows
   whether retention stalls the audit loop.
3. Reports the operator's peak RSS (``VmHWM``), how long the first pass took (its
   ``audithound_retention_pass_seconds`` metric) and until the count was down to the cap,
   what it deleted, and the probes' delay (median and max).

Everything lives in a temporary directory, removed at the end. Results are printed as
Markdown and written to ``bench/out/retention.json``. Creating 20,000 alerts takes about a
minute on two cores, 55,000 about three.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import http.client
import json
import pathlib
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402  (bench/generate.py, beside this file)
from audithound.alerts import evidence  # noqa: E402
from audithound.devcluster import build, controlplane  # noqa: E402
from audithound.devcluster import operator as operator_  # noqa: E402
from audithound.rules import loader  # noqa: E402

ALERTS = "/apis/audithound.io/v1alpha1/securityalerts"
#: Connections creating alerts at once: enough to keep the API server busy on two cores.
CREATORS = 4
#: Seconds between the probe requests that measure the audit loop's delay during a pass.
PROBE_EVERY = 0.1
#: Longest wait for the alert count to come down to the cap (seconds).
TIMEOUT = 900.0


class Admin:
    """Keep-alive HTTPS requests as the control plane's admin (one per thread)."""

    def __init__(self, plane: controlplane.ControlPlane) -> None:
        url = urllib.parse.urlsplit(plane.server)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 443
        self._context = ssl.create_default_context(cafile=str(plane.ca_cert))
        self._context.load_cert_chain(str(plane.admin_cert), str(plane.admin_key))
        self._local = threading.local()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPSConnection(
                self._host, self._port, context=self._context, timeout=60
            )
            self._local.connection = connection
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        connection.request(method, path, body=data, headers=headers)
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read() or b"null")

    def count(self) -> int:
        """How many SecurityAlerts exist (one item and the API server's remaining count)."""
        status, body = self.request("GET", ALERTS + "?limit=1")
        assert status == 200, body
        return len(body["items"]) + int(body["metadata"].get("remainingItemCount", 0))


def alert_bodies(count: int) -> list[dict[str, Any]]:
    """``count`` distinct SecurityAlerts as the operator writes them, oldest first."""
    rules = {rule.name: rule for rule in loader.load([str(ROOT / "bench" / "rules")]).rules}
    templates = [
        (rules[label], event)
        for label, event in generate.labelled(5_000)
        if label in rules and event.get("stage") != "RequestReceived"
    ]
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(milliseconds=count + 60_000)
    bodies = []
    for i in range(count):
        rule, event = templates[i % len(templates)]
        detected = start + datetime.timedelta(milliseconds=i)
        alert = evidence.build(rule, {**event, "auditID": str(uuid.uuid4())}, detected)
        bodies.append(
            {
                "apiVersion": "audithound.io/v1alpha1",
                "kind": "SecurityAlert",
                "metadata": {"name": alert["name"], "labels": alert["labels"]},
                "spec": alert["spec"],
            }
        )
    return bodies


def create_alerts(admin: Admin, bodies: list[dict[str, Any]]) -> float:
    """Create every alert; returns the seconds it took."""
    started = time.monotonic()

    def create(body: dict[str, Any]) -> None:
        status, reply = admin.request("POST", ALERTS, body)
        if status not in (201, 409):
            raise RuntimeError(f"Creating a SecurityAlert failed with {status}: {reply}")

    with concurrent.futures.ThreadPoolExecutor(CREATORS) as pool:
        for done in pool.map(create, bodies):
            del done
    return time.monotonic() - started


def metric(running: operator_.OperatorProcess, name: str) -> float | None:
    """One sample from the operator's metrics endpoint; None when it is absent."""
    try:
        _, text = running.scrape()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def peak_rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("No VmHWM in /proc status")


def measure(args: argparse.Namespace, work: pathlib.Path) -> dict[str, Any]:
    plane = controlplane.ControlPlane(work / "cluster", binaries=build.ensure())
    with plane:
        plane.install_crds(ROOT / "crds")
        identity = operator_.install_identity(
            plane.kubeconfig, ROOT / "manifests", plane.server, plane.ca_cert, work / "kubeconfig"
        )
        admin = Admin(plane)
        tag = uuid.uuid4().hex[:8]
        probe_rule = {
            "apiVersion": "audithound.io/v1alpha1",
            "kind": "DetectionRule",
            "metadata": {"name": f"probe-{tag}"},
            "spec": {
                "query": f"user_agent.original:probe-{tag}/*",
                "severity": "low",
                "riskScore": 10,
                "maxSignals": 10_000,
                "interval": "1h",
            },
        }
        operator_.kubectl(plane.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(probe_rule))
        created_in = create_alerts(admin, alert_bodies(args.alerts))
        before = admin.count()
        print(f"Created {before:,} alerts in {created_in:.0f} s", file=sys.stderr)
        running = operator_.OperatorProcess(
            identity,
            plane.audit_log,
            work / "state",
            node_name="bench",
            extra_args=(
                "--start=end",
                f"--max-alerts={args.max_alerts}",
                "--retention-interval=3600",
                f"--retention-page-size={args.page_size}",
            ),
        )
        started = time.monotonic()
        running.start(timeout=120)
        probes = 0
        stop = threading.Event()

        def probe() -> None:
            nonlocal probes
            while not stop.wait(PROBE_EVERY):
                operator_.request(
                    plane.server,
                    plane.ca_cert,
                    "/api/v1/namespaces/default/configmaps?limit=1",
                    f"probe-{tag}/{probes}",
                    client_cert=(plane.admin_cert, plane.admin_key),
                )
                probes += 1

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        try:
            capped_after = None
            while time.monotonic() - started < TIMEOUT:
                # The probes' own alerts are not what the cap is measured against.
                if capped_after is None and admin.count() - probes <= args.max_alerts:
                    capped_after = time.monotonic() - started
                passes = metric(running, "audithound_retention_passes_total")
                if capped_after is not None and (passes is None or passes >= 1):
                    break
                time.sleep(0.5)
            stop.set()
            prober.join()
            pass_seconds = metric(running, "audithound_retention_pass_seconds")
            peak = peak_rss_mib(running.process.pid)
            delays = probe_delays(admin, tag, probes)
        finally:
            stop.set()
            running.stop()
        return {
            "alerts": args.alerts,
            "max_alerts": args.max_alerts,
            "page_size": args.page_size,
            "create_seconds": round(created_in, 1),
            "count_before": before,
            "count_after": admin.count(),
            "peak_rss_mib": round(peak, 1),
            "first_pass_seconds": round(pass_seconds, 1) if pass_seconds is not None else None,
            "seconds_to_cap": round(capped_after, 1) if capped_after is not None else None,
            "probes": len(delays),
            "probe_delay_p50_ms": round(1000 * statistics.median(delays), 1) if delays else None,
            "probe_delay_max_ms": round(1000 * max(delays), 1) if delays else None,
        }


def probe_delays(admin: Admin, tag: str, expected: int) -> list[float]:
    """For each probe alert, its detection time minus its event time (seconds)."""
    selector = urllib.parse.quote(f"audithound.io/rule=probe-{tag}")
    deadline = time.monotonic() + 60
    while True:
        status, body = admin.request("GET", f"{ALERTS}?labelSelector={selector}")
        assert status == 200, body
        if len(body["items"]) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return [
        (
            datetime.datetime.fromisoformat(item["spec"]["detectedTime"])
            - datetime.datetime.fromisoformat(item["spec"]["eventTime"])
        ).total_seconds()
        for item in body["items"]
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--max-alerts", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audithound-retention-") as temp:
        result = measure(args, pathlib.Path(temp))
    print(
        "| alerts | cap | page | peak RSS | first pass | down to the cap | probe delay p50 / max |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {result['alerts']:,} | {result['max_alerts']:,} | {result['page_size']} "
        f"| {result['peak_rss_mib']} MiB | {result['first_pass_seconds']} s "
        f"| {result['seconds_to_cap']} s "
        f"| {result['probe_delay_p50_ms']} / {result['probe_delay_max_ms']} ms |"
    )
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "retention.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
