"""Operator latency and sustained throughput on a real local control plane.

Usage: ``python bench/latency.py [--alerts 200] [--rates 2000,5000,10000,20000]``

1. Latency: requests to a real kube-apiserver (which writes its audit line before it answers)
   with a user agent that a rule matches; for each, the time from the event's
   ``stageTimestamp`` (the API server's clock, the same machine's) to the moment a watch on
   SecurityAlerts delivers the new alert. Reports p50, p90, p99 and max.
2. Sustained throughput: a second operator tails a synthetic audit log (bench/generate.py
   events, ~1 KB each) appended at fixed rates for a few seconds each; the seed rule runs.
   For each rate: lines the operator read per second and the backlog left at the end
   (lines written minus lines read, from its Prometheus metrics). A rate is sustained when
   the operator read at least 95% of what was appended during the step.
3. Alert writes: N events that a rule matches are appended at once to a log the operator
   tails; the time from the append to the last SecurityAlert written (from its metrics) gives
   the alerts written per second, with ``--alert-writers`` 1 and with the default 8.

The control plane, the operators and their files live in a temporary directory, removed at
the end. Results are printed as Markdown and written to bench/out/latency.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Any

import orjson
import yaml
from kubernetes import client, config, watch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402  (bench/generate.py, beside this file)
from audithound.devcluster import build, controlplane  # noqa: E402
from audithound.devcluster import operator as operator_  # noqa: E402


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _rule(name: str, query: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "audithound.io/v1alpha1",
            "kind": "DetectionRule",
            "metadata": {"name": name},
            "spec": {
                "query": query,
                "severity": "low",
                "riskScore": 10,
                "maxSignals": 10000,
                "interval": "1h",
            },
        }
    )


def measure_latency(
    plane: controlplane.ControlPlane, identity: pathlib.Path, count: int, work: pathlib.Path
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    operator_.kubectl(
        plane.kubeconfig,
        "apply",
        "-f",
        "-",
        stdin=_rule(f"latency-{tag}", f"user_agent.original:latency-{tag}/*"),
    )
    running = operator_.OperatorProcess(
        identity, plane.audit_log, work / "latency-state", node_name="bench"
    )
    running.start()
    try:
        return _latencies(plane, running, tag, count)
    finally:
        running.stop()


def _latencies(
    plane: controlplane.ControlPlane, running: operator_.OperatorProcess, tag: str, count: int
) -> dict[str, Any]:
    config.load_kube_config(str(plane.kubeconfig))
    api = client.CustomObjectsApi()
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch_alerts() -> None:
        stream = watch.Watch()
        for change in stream.stream(
            api.list_cluster_custom_object,
            "audithound.io",
            "v1alpha1",
            "securityalerts",
            timeout_seconds=600,
        ):
            arrived = time.time()
            obj = change["object"]
            agent = obj["spec"]["event"].get("userAgent", "")
            if change["type"] == "ADDED" and agent.startswith(f"latency-{tag}/"):
                stamp = datetime.datetime.fromisoformat(obj["spec"]["eventTime"]).timestamp()
                seen[agent] = arrived - stamp
                if len(seen) >= count:
                    done.set()
                    stream.stop()

    watcher = threading.Thread(target=watch_alerts, daemon=True)
    watcher.start()
    time.sleep(1.0)
    for i in range(count):
        operator_.request(
            plane.server,
            plane.ca_cert,
            "/api/v1/namespaces/default/configmaps",
            f"latency-{tag}/{i}",
            client_cert=(plane.admin_cert, plane.admin_key),
        )
        time.sleep(0.02)
    done.wait(60)
    latencies = list(seen.values())
    return {
        "alerts": len(latencies),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p90_ms": round(1000 * _percentile(latencies, 0.90), 1),
        "p99_ms": round(1000 * _percentile(latencies, 0.99), 1),
        "max_ms": round(1000 * max(latencies), 1),
    }


def _lines_read(running: operator_.OperatorProcess) -> int:
    return int(running.metric("audithound_audit_lines_total"))


def measure_throughput(
    plane: controlplane.ControlPlane,
    identity: pathlib.Path,
    rates: list[int],
    seconds: float,
    work: pathlib.Path,
) -> list[dict[str, Any]]:
    operator_.kubectl(
        plane.kubeconfig,
        "apply",
        "-f",
        str(ROOT / "examples/rules/kubernetes-anonymous-request-authorized.yaml"),
    )
    log = work / "synthetic" / "audit.log"
    log.parent.mkdir(parents=True)
    log.touch()
    pool = [orjson.dumps(event) + b"\n" for _, event in generate.labelled(20_000, seed=7)]
    running = operator_.OperatorProcess(
        identity, log, work / "throughput-state", node_name="bench-throughput"
    )
    running.start()
    try:
        return _throughput(running, log, pool, rates, seconds)
    finally:
        running.stop()


def _throughput(
    running: operator_.OperatorProcess,
    log: pathlib.Path,
    pool: list[bytes],
    rates: list[int],
    seconds: float,
) -> list[dict[str, Any]]:
    results = []
    written = 0
    with log.open("ab", buffering=0) as out:
        for rate in rates:
            started = time.monotonic()
            written_before, read_before = written, _lines_read(running)
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * rate) - (written - written_before)
                if due > 0:
                    out.write(b"".join(pool[(written + k) % len(pool)] for k in range(due)))
                    written += due
                time.sleep(0.01)
            read_after = _lines_read(running)
            results.append(
                {
                    "rate": rate,
                    "read_per_second": round((read_after - read_before) / seconds),
                    "backlog_lines": written - read_after,
                    "sustained": read_after - read_before >= 0.95 * rate * seconds,
                }
            )
            drain_until = time.monotonic() + 60
            while _lines_read(running) < written and time.monotonic() < drain_until:
                time.sleep(0.2)
    return results


def _alerted(running: operator_.OperatorProcess, rule: str) -> int:
    with urllib.request.urlopen(running.metrics_url) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(f'audithound_alerts_total{{rule="{rule}"}} '):
                return int(float(line.split()[1]))
    return 0


def measure_writes(
    plane: controlplane.ControlPlane, identity: pathlib.Path, count: int, work: pathlib.Path
) -> list[dict[str, Any]]:
    return [_write_rate(plane, identity, count, work, writers) for writers in (1, 8)]


def _write_rate(
    plane: controlplane.ControlPlane,
    identity: pathlib.Path,
    count: int,
    work: pathlib.Path,
    writers: int,
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    rule = f"writes-{tag}"
    operator_.kubectl(
        plane.kubeconfig, "apply", "-f", "-", stdin=_rule(rule, f"user_agent.original:{tag}/*")
    )
    log = work / f"writes-{writers}" / "audit.log"
    log.parent.mkdir(parents=True)
    log.touch()
    running = operator_.OperatorProcess(
        identity,
        log,
        work / f"writes-{writers}-state",
        node_name=f"bench-writes-{writers}",
        # The write rate itself: no cap on creations per minute (600 by default).
        extra_args=["--alert-writers", str(writers), "--max-alert-creations-per-minute=0"],
    )
    running.start()
    try:
        operator_.eventually(lambda: _rule_ready(plane, rule), what="the rule")
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines = [
            orjson.dumps(
                {
                    "kind": "Event",
                    "apiVersion": "audit.k8s.io/v1",
                    "auditID": str(uuid.uuid4()),
                    "stage": "ResponseComplete",
                    "requestURI": "/api",
                    "verb": "get",
                    "user": {"username": "alice"},
                    "sourceIPs": ["10.0.0.1"],
                    "userAgent": f"{tag}/{i}",
                    "requestReceivedTimestamp": stamp,
                    "stageTimestamp": stamp,
                }
            )
            + b"\n"
            for i in range(count)
        ]
        started = time.monotonic()
        with log.open("ab") as out:
            out.write(b"".join(lines))
        operator_.eventually(
            lambda: _alerted(running, rule) >= count, timeout=300, what="every alert"
        )
        seconds = time.monotonic() - started
    finally:
        running.stop()
        operator_.kubectl(plane.kubeconfig, "delete", "detectionrule", rule)
    return {"writers": writers, "alerts": count, "per_second": round(count / seconds)}


def _rule_ready(plane: controlplane.ControlPlane, name: str) -> bool:
    body = json.loads(
        operator_.kubectl(plane.kubeconfig, "get", "detectionrule", name, "-o", "json")
    )
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rates", default="2000,5000,10000,15000,20000")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--writes", type=int, default=2000, help="alerts of the write test")
    args = parser.parse_args()
    binaries = build.ensure()
    with tempfile.TemporaryDirectory(prefix="audithound-latency-") as temp:
        work = pathlib.Path(temp)
        plane = controlplane.ControlPlane(work / "cluster", binaries=binaries)
        with plane:
            plane.install_crds(ROOT / "crds")
            identity = operator_.install_identity(
                plane.kubeconfig,
                ROOT / "manifests",
                plane.server,
                plane.ca_cert,
                work / "operator.kubeconfig",
            )
            latency = measure_latency(plane, identity, args.alerts, work)
            rates = [int(rate) for rate in args.rates.split(",")]
            throughput = measure_throughput(plane, identity, rates, args.seconds, work)
            writes = measure_writes(plane, identity, args.writes, work)
    print("| latency, audit line to SecurityAlert | p50 | p90 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| {latency['alerts']} alerts | {latency['p50_ms']} ms | {latency['p90_ms']} ms | "
        f"{latency['p99_ms']} ms | {latency['max_ms']} ms |"
    )
    print()
    print("| appended lines/s | read lines/s | backlog after the step | sustained |")
    print("| ---: | ---: | ---: | --- |")
    for step in throughput:
        print(
            f"| {step['rate']:,} | {step['read_per_second']:,} | {step['backlog_lines']:,} | "
            f"{'yes' if step['sustained'] else 'no'} |"
        )
    print()
    print("| alerts appended at once | `--alert-writers` | alerts written/s |")
    print("| ---: | ---: | ---: |")
    for step in writes:
        print(f"| {step['alerts']:,} | {step['writers']} | {step['per_second']:,} |")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "latency.json").write_text(
        json.dumps({"latency": latency, "throughput": throughput, "writes": writes}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
