"""`audithound scan --jobs N` on a large file: worker processes, and exactly the output, the
limits and the summary of a scan in one process."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from audithound import cli, parallel
from audithound.source import files

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples/audit/sample-audit.log"


def _big_log(path: pathlib.Path, copies: int) -> None:
    """The sample log many times over (new audit IDs, 30 copies a minute), with bad lines
    and replays."""
    events = []
    for line in SAMPLE.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the sample's own bad lines
    events = [event for event in events if isinstance(event, dict) and "auditID" in event]
    with path.open("w") as out:
        for copy in range(copies):
            for event in events:
                out.write(json.dumps(_copy(event, copy)) + "\n")
            if copy % 9 == 4:
                out.write('{"auditID": "broken", \n\n')
            if copy % 50 == 7:
                for event in events:  # a replay of the first copy: duplicate alerts
                    out.write(json.dumps(_copy(event, 0)) + "\n")
        out.write('{"auditID": "cut-short", "stage": "Resp')


def _copy(event: dict[str, object], copy: int) -> dict[str, object]:
    minute = f"{copy // 1800:02d}:{copy // 30 % 60:02d}"
    stamp = f"2026-11-28T{minute}:00.000000Z"
    return dict(event, auditID=f"{event['auditID']}-{copy}", stageTimestamp=stamp)


def _scan(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[str, list[str]]:
    assert cli.main(["scan", *args]) == cli.EXIT_OK
    captured = capfd.readouterr()
    # The timing line differs between runs; everything else must not.
    summary = [line for line in captured.err.splitlines() if not line.startswith("Scanned")]
    return captured.out, summary


# A third of the sample's events match the seed rule: past MAX_MATCHED_SHARE, so the parent
# takes over after the first pieces. One event in 17 is a GET of /version: workers all along.
RULE_SETS = {
    "many matches": [
        "--rules",
        str(ROOT / "examples/rules/kubernetes-anonymous-request-authorized.yaml"),
        "--query",
        "kubernetes.audit.verb:get and not kubernetes.audit.user.username:*",
    ],
    "few matches": ["--query", 'kubernetes.audit.requestURI:"/version"'],
}


@pytest.mark.parametrize("output", ["json", "table"])
@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_many_processes_print_what_one_prints(
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    output: str,
    rule_set: str,
) -> None:
    log = tmp_path / "audit.log"
    _big_log(log, 400)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 20_000)
    monkeypatch.setattr(parallel, "MIN_FILE_BYTES", 0)
    assert parallel.worth_it(str(log), 3)
    read_in_parent: list[tuple[int, int]] = []
    read_range = files.read_range

    def spied(label: str, path: str, start: int, end: int, *rest: Any) -> Any:
        read_in_parent.append((start, end))
        return read_range(label, path, start, end, *rest)

    rules = [*RULE_SETS[rule_set], "--output", output]
    alone, alone_summary = _scan(capfd, *rules, "--jobs", "1", str(log))
    monkeypatch.setattr(files, "read_range", spied)
    together, summary = _scan(capfd, *rules, "--jobs", "3", str(log), str(SAMPLE))
    again, again_summary = _scan(capfd, *rules, "--jobs", "1", str(log), str(SAMPLE))
    assert together == again
    assert summary == again_summary
    assert together.startswith(alone)
    assert any(line.startswith("Skipped") for line in alone_summary)
    assert "duplicates" in "\n".join(summary)
    if rule_set == "many matches":
        assert "dropped at maxSignals 100" in "\n".join(summary)
        assert read_in_parent, "the parent read the rest itself"
    else:
        assert read_in_parent == [], "workers read every piece"


def test_small_files_stdin_and_gzip_stay_in_one_process(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.log"
    _big_log(log, 3)
    assert not parallel.worth_it(str(log), 4), "smaller than MIN_FILE_BYTES"
    assert not parallel.worth_it("-", 4)
    assert not parallel.worth_it(str(log), 1)
