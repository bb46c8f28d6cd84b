"""`audithound scan` over inputs that are large, odd or hostile: every readable event is
read in bounded memory and time, and what is not read is counted in the summary with its
position; nothing is lost silently."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import zlib

from tests.cli.conftest import Measure

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples/audit/sample-audit.log"


class Scan:
    """A finished ``audithound scan --output json`` subprocess."""

    def __init__(self, *inputs: pathlib.Path) -> None:
        command = [sys.executable, "-m", "audithound", "scan", "--output", "json"]
        process = subprocess.Popen(
            [*command, *map(str, inputs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            self.stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
        self.code = process.returncode
        self.summary = stderr.decode()
        self.alerts = [json.loads(line) for line in self.stdout.splitlines()]


def _sample_events() -> list[dict[str, object]]:
    events = []
    for line in SAMPLE.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the sample's one bad line
    return events


def test_a_large_pretty_printed_event_list_is_read_in_bounded_memory(
    tmp_path: pathlib.Path, measure: Measure
) -> None:
    """48 MiB of EventList, as ``kubectl ... -o json`` writes it: every event, one junk item
    named by its line, and memory that does not grow with the document."""
    sample = _sample_events()
    path = tmp_path / "events.json"
    # Written item by item, as json.dumps(..., indent=4) would write it whole.
    with path.open("w") as out:
        out.write('{\n    "kind": "EventList",\n    "apiVersion": "audit.k8s.io/v1",\n')
        out.write('    "items": [\n        "junk"')
        lines = 4  # line ends so far
        for copy in range(3000):
            for event in sample:
                item = json.dumps(dict(event, auditID=f"{event['auditID']}-{copy}"), indent=4)
                out.write(",\n" + textwrap.indent(item, " " * 8))
                lines += item.count("\n") + 1
        out.write("\n    ]\n}\n")
    assert os.path.getsize(path) > 48 * 1024 * 1024
    scan = Scan(path)
    assert scan.code == 0, scan.summary
    assert f"Scanned {3000 * len(sample):,} events in {lines + 3:,} lines" in scan.summary
    assert f"not-an-event: 1 (first at {path}:5)" in scan.summary
    assert measure(sys.executable, "-m", "audithound", "scan", path).max_rss < 150 * 1024


def test_concatenated_pretty_printed_objects_are_all_read(tmp_path: pathlib.Path) -> None:
    """``jq . audit.log > out.json``."""
    values: list[object] = [*_sample_events(), {"kind": 0}]
    path = tmp_path / "out.json"
    path.write_text("".join(json.dumps(value, indent=2) + "\n" for value in values))
    scan = Scan(path)
    plain = Scan(SAMPLE)
    assert scan.code == 0
    assert "Scanned 17 events" in scan.summary
    assert "not-an-event: 1" in scan.summary
    assert [alert["auditID"] for alert in scan.alerts] == [a["auditID"] for a in plain.alerts]
    assert len(scan.alerts) == 5


def test_a_gzip_with_trailing_garbage_loses_no_event(tmp_path: pathlib.Path) -> None:
    lines = [
        json.dumps(dict(e, auditID=f"{e['auditID']}-{n}"))
        for n in range(6)
        for e in _sample_events()
    ]
    packed = gzip.compress(("\n".join(lines[:100]) + "\n").encode())
    path = tmp_path / "audit.log.gz"
    path.write_bytes(packed + b"\x00garbage after the last member")
    scan = Scan(path)
    assert "Scanned 100 events" in scan.summary
    assert (
        f"unreadable: 1 (first at {path}:101, gzip trailing garbage at compressed byte "
        f"{len(packed):,})" in scan.summary
    )


def test_a_cut_gzip_keeps_what_was_decompressed_before_the_cut(tmp_path: pathlib.Path) -> None:
    lines = [
        json.dumps(dict(e, auditID=f"{e['auditID']}-{n}"))
        for n in range(200)
        for e in _sample_events()
    ]
    packed = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = packed[: len(packed) // 2]
    path = tmp_path / "audit.log.gz"
    path.write_bytes(cut)
    complete = zlib.decompressobj(31).decompress(cut).count(b"\n")
    scan = Scan(path)
    assert f"Scanned {complete:,} events" in scan.summary
    assert f"truncated: 1 (first at {path}:{complete + 1})" in scan.summary
    assert f"gzip cut short at compressed byte {len(cut):,})" in scan.summary


def test_gzip_bombs_end_in_bounded_time_and_are_reported(tmp_path: pathlib.Path) -> None:
    """1 MB of gzip that expands to a billion empty lines, or to 330 million ``{}`` lines,
    ran for more than 300 s; past the expansion bound the rest is refused, loudly."""
    for name, line in (("empty", b"\n"), ("braces", b"{}\n")):
        member = gzip.compress(line * ((10 << 20) // len(line)), 9)
        packed = member * (1_000_000 // len(member))
        path = tmp_path / f"{name}.log.gz"
        path.write_bytes(packed)
        scan = Scan(path)  # within 60 s, or it fails
        assert scan.code == 0
        assert f"unreadable: 1 (first at {path}:" in scan.summary
        assert "gzip expanding past 200x at compressed byte" in scan.summary
