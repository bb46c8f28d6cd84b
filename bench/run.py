"""AuditHound's throughput benchmark: events per second and peak memory of ``audithound scan``.

Fed by: the command line (``python bench/run.py [--events N] [--seed S] [--keep]``), the
generator ``bench/generate.py`` and the rules in ``examples/rules`` and ``bench/rules``.
Feeds: a Markdown table on standard output, ready for the README, and
``bench/out/results.json``.

What is measured, on one generated log of N events:
(a) the floor every reader pays: a bare ``orjson.loads`` loop over the file's lines, in
    process, best of 3;
(b) ``audithound scan --rules <the seed rule> --output json FILE``, and
(c) the same with the 30 rules of ``bench/rules``, (d) with those and the two new_terms
    and two threshold rules of ``bench/stateful``, and (e) with those and the five EQL rules
    of ``bench/eql`` (three single-event, two sequences): each a subprocess with standard output
    to /dev/null, best of 3 wall times (interpreter start and rule compilation included),
    peak RSS from ``wait4``'s rusage; (b) to (e) with the default ``--jobs`` (a
    worker process per CPU), (b1) to (e1) with ``--jobs 1`` (one process, one core);
(a), (b) and (c) take turns, one of each per round, so that a drifting machine speed biases
none of the ratios; the package is byte-compiled first, as an installed one is;
and the peak RSS of (b) on logs of N/2 and 2N events, which shows whether memory grows
with the input. Also: the start-up of an empty scan (the seed rule over an empty file, best
of 3), which the one-process rates are given without too ("start-up amortised": events over
wall time less that start-up, what a long scan or the operator sees); and a hunting query
that matches every event (``--query``, one process, on the N/2 log). Targets: (b) at least
0.5 and (c) at least 0.3 of (a)'s rate; in one process, start-up amortised, (b1) at least
1.0 and (c1) at least 0.5; the hunting query at least 50,000 events/s; (d) and (e) are
reported beside them. ``bench/state.py`` measures the detectors' state (memory per term,
checkpoint writes).

Logs are cached in ``bench/out`` under a name holding N, the seed and a digest of the
generator, so a changed generator never reuses a stale log. Without ``--keep`` the logs
this run generated are removed at the end.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any, Final

import orjson

HERE: Final = pathlib.Path(__file__).resolve().parent
ROOT: Final = HERE.parent
OUT: Final = HERE / "out"
GENERATOR: Final = HERE / "generate.py"
PACKAGE: Final = ROOT / "operator" / "audithound"
REPEATS: Final = 3
TARGETS: Final[dict[str, float | None]] = {
    "seed": 0.5,
    "bench": 0.3,
    "mixed": None,
    "eql": None,
}
#: Targets of the one-process scans, start-up amortised (by variant).
AMORTISED_TARGETS: Final[dict[str, float]] = {"seed-1": 1.0, "bench-1": 0.5}
#: A query that matches every event (``scan --query``), and its target in events/s.
HUNT_QUERY: Final = "kubernetes.audit.auditID:*"
HUNT_TARGET: Final = 50_000
RULE_SETS: Final = {
    "seed": (ROOT / "examples" / "rules" / "kubernetes-anonymous-request-authorized.yaml",),
    "bench": (HERE / "rules",),
    "mixed": (HERE / "rules", HERE / "stateful"),
    "eql": (HERE / "rules", HERE / "stateful", HERE / "eql"),
}
#: The scans measured: rule set, and ``--jobs`` (None: the default, one process per CPU).
VARIANTS: Final[dict[str, tuple[str, int | None]]] = {
    "seed": ("seed", None),
    "bench": ("bench", None),
    "seed-1": ("seed", 1),
    "bench-1": ("bench", 1),
    "mixed": ("mixed", None),
    "mixed-1": ("mixed", 1),
    "eql": ("eql", None),
    "eql-1": ("eql", 1),
}
LABELS: Final = {
    "seed": "(b) `scan` with the seed rule (1 rule)",
    "bench": "(c) `scan --rules bench/rules` (30 rules)",
    "seed-1": "(b1) the same as (b) with `--jobs 1`",
    "bench-1": "(c1) the same as (c) with `--jobs 1`",
    "mixed": "(d) (c) plus 2 new_terms and 2 threshold rules (`bench/stateful`)",
    "mixed-1": "(d1) the same as (d) with `--jobs 1`",
    "eql": "(e) (d) plus 3 single-event and 2 sequence EQL rules (`bench/eql`)",
    "eql-1": "(e1) the same as (e) with `--jobs 1`",
}

sys.path.insert(0, str(HERE))
import generate  # noqa: E402 - a sibling script, not an installed module

_SCANNED = re.compile(r"Scanned ([\d,]+) events .* \(([\d,]+) events/s\)")
_ALERTS = re.compile(r"^Alerts: ([\d,]+)$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Log:
    """A generated audit log on disk."""

    path: pathlib.Path
    events: int
    size: int
    generated: bool


@dataclasses.dataclass(frozen=True)
class Scan:
    """One ``audithound scan`` subprocess: wall time, peak RSS and what it reported."""

    seconds: float
    max_rss_bytes: int
    events: int
    engine_rate: float
    alerts: int


def generator_digest() -> str:
    return hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:10]


def remove_stale_logs() -> None:
    """Logs of an older generator are never reused: free their space."""
    digest = generator_digest()
    for path in OUT.glob("audit-*.jsonl"):
        if not path.name.endswith(f"-{digest}.jsonl"):
            path.unlink()


def log_for(events: int, seed: int) -> Log:
    """The log of ``events`` events for ``seed``: reused when cached, generated otherwise."""
    path = OUT / f"audit-{events}-seed{seed}-{generator_digest()}.jsonl"
    if path.is_file():
        return Log(path, events, path.stat().st_size, generated=False)
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    size = generate.write(partial, events, seed)
    partial.rename(path)
    print(
        f"Generated {events:,} events ({size / 1e6:,.1f} MB) in "
        f"{time.perf_counter() - started:.1f}s: {path.relative_to(ROOT)}",
        file=sys.stderr,
    )
    return Log(path, events, size, generated=True)


def parse_seconds(log: Log) -> float:
    """Seconds of one bare orjson loop over the file."""
    loads = orjson.loads
    started = time.perf_counter()
    with log.path.open("rb") as lines:
        for line in lines:
            loads(line)
    return time.perf_counter() - started


def byte_compile() -> None:
    """Byte-compile the audithound package, as installing it does.

    The package is installed editable; where ``PYTHONDONTWRITEBYTECODE`` is set (as in some
    sandboxes) every scan would otherwise compile each of its modules from source at start,
    a cost that no installed scanner pays after its first run.
    """
    compileall.compile_dir(str(PACKAGE), quiet=1)


def scan(
    rules: Sequence[pathlib.Path], log: Log, jobs: int | None = None, query: str | None = None
) -> Scan:
    """Run ``audithound scan`` once, stdout to /dev/null; time it and read its rusage (peak
    RSS: of the largest process, the scan or one of its workers)."""
    command = [sys.executable, "-m", "audithound", "scan", "--output", "json", str(log.path)]
    for path in rules:
        command += ["--rules", str(path)]
    if query is not None:
        command += ["--query", query]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    with tempfile.TemporaryFile() as errors, open(os.devnull, "wb") as devnull:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=devnull, stderr=errors, cwd=ROOT)
        # wait4 rather than Popen.wait: it returns the child's own rusage (peak RSS).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        report = errors.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{report}")
    scanned = _SCANNED.search(report)
    alerts = _ALERTS.search(report)
    if scanned is None or alerts is None:
        raise RuntimeError(f"unexpected scan summary:\n{report}")
    return Scan(
        seconds=seconds,
        # Linux reports ru_maxrss in KiB (macOS in bytes).
        max_rss_bytes=usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024),
        events=int(scanned.group(1).replace(",", "")),
        engine_rate=float(scanned.group(2).replace(",", "")),
        alerts=int(alerts.group(1).replace(",", "")),
    )


def startup_seconds(tmp: pathlib.Path) -> float:
    """Best of :data:`REPEATS` wall times of a scan of an empty file with the seed rule."""
    empty = tmp / "empty.jsonl"
    empty.write_bytes(b"")
    log = Log(empty, 0, 0, generated=False)
    return min(scan(RULE_SETS["seed"], log, 1).seconds for _ in range(REPEATS))


def hunt(log: Log) -> Scan:
    """The fastest of :data:`REPEATS` one-process scans with a query matching every event."""
    runs = [scan((), log, 1, query=HUNT_QUERY) for _ in range(REPEATS)]
    return min(runs, key=lambda run: run.seconds)


def measure(log: Log) -> tuple[float, dict[str, Scan]]:
    """(a)'s rate and the fastest (b) and (c) scans (peak RSS: the largest seen).

    The three are measured in :data:`REPEATS` rounds, each round one of each, rather than
    three of (a), then three of (b)...: on a machine whose speed drifts (shared cores), all
    three then see the same conditions, and the ratios stay comparable.
    """
    parse = float("inf")
    runs: dict[str, list[Scan]] = {key: [] for key in VARIANTS}
    for round_ in range(1, REPEATS + 1):
        print(f"Round {round_} of {REPEATS}: parse loop, scans...", file=sys.stderr)
        parse = min(parse, parse_seconds(log))
        for key, (rules, jobs) in VARIANTS.items():
            runs[key].append(scan(RULE_SETS[rules], log, jobs))
    fastest = {}
    for key, found in runs.items():
        best = min(found, key=lambda run: run.seconds)
        fastest[key] = dataclasses.replace(
            best, max_rss_bytes=max(run.max_rss_bytes for run in found)
        )
    return log.events / parse, fastest


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "orjson": orjson.__version__,
    }


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def _goal(target: float | None, ratio: float) -> str:
    if target is None:
        return "reported"
    return f"{target:.1f} ({'met' if ratio >= target else 'missed'})"


def markdown(results: dict[str, Any]) -> str:
    """The tables for the README."""
    log = results["log"]
    parse = results["parse_events_per_second"]
    rows = [
        "| measurement | events/s | vs. (a) | target | start-up amortised | target | peak RSS "
        "| alerts |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| (a) bare `orjson.loads` loop | {parse:,.0f} | 1.00 | | | | | |",
    ]
    for key, label in LABELS.items():
        run = results["scans"][key]
        amortised = run.get("amortised_ratio")
        rows.append(
            f"| {label} | {run['events_per_second']:,.0f} | {run['ratio']:.2f} | "
            f"{_goal(run['target'], run['ratio'])} | "
            f"{'' if amortised is None else f'{amortised:.2f}'} | "
            f"{'' if amortised is None else _goal(run['amortised_target'], amortised)} | "
            f"{_mb(run['max_rss_bytes'])} | {run['alerts']:,} |"
        )
    hunting = results["hunting"]
    rows += [
        "",
        f"Start-up of an empty scan: {results['startup_seconds']:.2f} s. Hunting query "
        f"`{hunting['query']}` (every event an alert, `--jobs 1`, {hunting['events']:,} events, "
        f"start-up amortised): {hunting['events_per_second']:,} events/s "
        f"(target {hunting['target']:,}: "
        f"{'met' if hunting['events_per_second'] >= hunting['target'] else 'missed'}).",
    ]
    memory = [
        "",
        "| log for (b) | size | peak RSS |",
        "| --- | ---: | ---: |",
    ]
    for item in results["memory"]:
        memory.append(
            f"| {item['events']:,} events | {_mb(item['size_bytes'])} | "
            f"{_mb(item['max_rss_bytes'])} |"
        )
    host = results["machine"]
    notes = [
        "",
        f"{log['events']:,} generated events, {_mb(log['size_bytes'])} "
        f"({log['size_bytes'] / log['events']:,.0f} bytes per event), seed {log['seed']}. "
        f"Scan rates are wall-clock, best of {REPEATS}, interpreter start and rule "
        "compilation included; the scans' own rates (reading to summary) were "
        + ", ".join(f"{results['scans'][key]['engine_events_per_second']:,.0f}" for key in LABELS)
        + " events/s. (b) and (c) use one worker process per CPU (`--jobs`, default); peak "
        "RSS is that of the largest process.",
        f"Python {host['python']} ({host['implementation']}), {host['cpus']} CPUs, "
        f"{host['platform']}, orjson {host['orjson']}.",
    ]
    return "\n".join(rows + memory + notes) + "\n"


def run(events: int, seed: int, keep: bool) -> dict[str, Any]:
    OUT.mkdir(exist_ok=True)
    remove_stale_logs()
    logs = {size: log_for(size, seed) for size in (events, events // 2, events * 2)}
    main = logs[events]
    try:
        byte_compile()
        with tempfile.TemporaryDirectory() as tmp:
            startup = startup_seconds(pathlib.Path(tmp))
        parse, fastest = measure(main)
        scans: dict[str, Any] = {}
        for key, (rules_key, jobs) in VARIANTS.items():
            rules = RULE_SETS[rules_key]
            result = fastest[key]
            if result.events != events:
                raise RuntimeError(f"scan read {result.events} events, expected {events}")
            rate = events / result.seconds
            scans[key] = {
                "rules": [str(path.relative_to(ROOT)) for path in rules],
                "seconds": round(result.seconds, 3),
                "events_per_second": round(rate),
                "engine_events_per_second": round(result.engine_rate),
                "ratio": round(rate / parse, 3),
                "target": TARGETS[rules_key],
                "max_rss_bytes": result.max_rss_bytes,
                "alerts": result.alerts,
            }
            if jobs == 1:
                amortised = events / max(result.seconds - startup, 1e-9)
                scans[key]["amortised_ratio"] = round(amortised / parse, 3)
                scans[key]["amortised_target"] = AMORTISED_TARGETS.get(key)
        print("Hunting query...", file=sys.stderr)
        hunted = hunt(logs[events // 2])
        hunting = {
            "query": HUNT_QUERY,
            "events": hunted.events,
            "alerts": hunted.alerts,
            "seconds": round(hunted.seconds, 3),
            "events_per_second": round(hunted.events / max(hunted.seconds - startup, 1e-9)),
            "target": HUNT_TARGET,
        }
        memory = []
        for size in sorted(logs):
            print(f"Peak RSS of (b) on {size:,} events...", file=sys.stderr)
            rss = (
                scans["seed"]["max_rss_bytes"]
                if size == events
                else scan(RULE_SETS["seed"], logs[size]).max_rss_bytes
            )
            memory.append({"events": size, "size_bytes": logs[size].size, "max_rss_bytes": rss})
    finally:
        if not keep:
            for log in logs.values():
                if log.generated:
                    log.path.unlink(missing_ok=True)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "log": {"events": events, "seed": seed, "size_bytes": main.size},
        "parse_events_per_second": round(parse),
        "startup_seconds": round(startup, 3),
        "scans": scans,
        "hunting": hunting,
        "memory": memory,
        "machine": machine(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="AuditHound's scan throughput benchmark.")
    parser.add_argument("--events", type=int, default=generate.DEFAULT_EVENTS)
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument(
        "--keep", action="store_true", help="keep the generated logs in bench/out for next time"
    )
    args = parser.parse_args(argv)
    if args.events < 2:
        parser.error("--events must be at least 2")
    results = run(args.events, args.seed, args.keep)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
