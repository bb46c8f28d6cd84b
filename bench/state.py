"""What stateful rules cost: memory per term and per counted event, and checkpoint writes.

Fed by: the command line (``python bench/state.py [--terms N]``). Feeds: a Markdown table on
standard output, for the README.

Measured in process, with tracemalloc (Python's own accounting of the memory it allocates):
- a new_terms detector holding N distinct terms (the cap's order of magnitude), bytes per
  term;
- a threshold detector holding N events in open groups of a few events each (its worst
  case: many groups, none reaching its threshold), bytes per event;
- the pipeline's snapshot of those two detectors and one checkpoint save of it (JSON
  serialisation, write, fsync, rename): milliseconds and bytes on disk, best of 3. The
  operator saves state at most every ``--state-interval`` seconds while it changes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

from audithound import pipeline
from audithound.detectors import newterms, threshold
from audithound.rules import compiler, ruleset
from audithound.sinks import stream
from audithound.source import checkpoint

START = datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC).timestamp()


def _event(index: int) -> dict[str, Any]:
    return {
        "auditID": f"00000000-0000-4000-8000-{index:012d}",
        "stage": "ResponseComplete",
        "verb": "get",
        "user": {"username": f"system:serviceaccount:team-{index % 97}:app-{index}"},
        "userAgent": f"client-go/v0.36.{index} (linux/amd64) kubernetes/{index:07x}",
        "sourceIPs": [f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"],
        "objectRef": {"resource": "secrets", "name": f"s-{index}"},
    }


def _measure(fill: Any) -> int:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = fill()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return after - before


def _rule(name: str, **spec: Any) -> compiler.CompiledRule:
    outcome = compiler.compile_rule(
        name, {"severity": "low", "riskScore": 1, "query": "kubernetes.audit.verb:get", **spec}
    )
    assert outcome.rule is not None, outcome.problems
    return outcome.rule


def _row(what: str, per_item: float, cap: int) -> str:
    return f"| {what} | {per_item:,.0f} bytes | {per_item * cap / 2**20:,.0f} MiB ({cap:,}) |"


def run(terms: int) -> str:
    def new_terms() -> newterms.NewTermsDetector:
        detector = newterms.NewTermsDetector(
            ["user_agent.original"], datetime.timedelta(days=7), cap=terms
        )
        for index in range(terms):
            detector.observe(_event(index), START + index, True)
        return detector

    def counted() -> threshold.ThresholdDetector:
        detector = threshold.ThresholdDetector(
            ["user.name"], 100_000, datetime.timedelta(days=1), lambda event: {}, cap=terms
        )
        for index in range(terms):
            detector.observe(_event(index // 3), START + index, True)
        return detector

    term_bytes = _measure(new_terms) / terms
    entry_bytes = _measure(counted) / terms
    rules = ruleset.RuleSet(
        [
            _rule("terms", type="new_terms", newTermsFields=["user_agent.original"],
                  historyWindowStart="now-7d"),
            _rule("groups", type="threshold",
                  threshold={"field": ["user.name"], "value": 100_000}, **{"from": "now-1d"}),
        ]
    )  # fmt: skip
    with open(os.devnull, "wb") as devnull:
        scan = pipeline.Pipeline(rules, stream.JsonLines(devnull))
        for index in range(terms):
            scan.process(dict(_event(index), stageTimestamp="2026-11-20T10:00:00Z"))
            scan.deliver()
    with tempfile.TemporaryDirectory() as state_dir:
        store = checkpoint.Checkpoint(pathlib.Path(state_dir))
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            store.save(None, scan.snapshot())
            best = min(best, time.perf_counter() - started)
        size = sum(path.stat().st_size for path in pathlib.Path(state_dir).iterdir())
    sizes = scan.rule_states()
    held = ", ".join(
        f"{name}: {state.size.held:,} {state.size.unit}"
        for name, state in sizes.items()
        if state.size
    )
    return (
        "\n".join(
            [
                "| state | per item | at the cap |",
                "| --- | ---: | ---: |",
                _row("new_terms: seen terms", term_bytes, newterms.MAX_TERMS),
                _row("threshold: events in open groups", entry_bytes, threshold.MAX_ENTRIES),
                "",
                f"Checkpoint of two rules holding {held}: {size / 2**20:,.1f} MiB on disk, "
                f"saved in {best * 1000:,.0f} ms (snapshot, JSON, write, fsync, rename; "
                "best of 3).",
            ]
        )
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Memory and checkpoint cost of rule state.")
    parser.add_argument("--terms", type=int, default=100_000, help="items per detector")
    args = parser.parse_args(argv)
    sys.stdout.write(run(args.terms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
