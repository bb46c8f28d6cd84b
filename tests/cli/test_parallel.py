"""`audithound scan --jobs N` on a large file: worker processes, and exactly the output, the
limits and the summary of a scan in one process."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import platform
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from tests.cli.conftest import Measure, Measured

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

    def spied(label: str, path: str, start: int, end: int, *rest: Any, **options: Any) -> Any:
        read_in_parent.append((start, end))
        return read_range(label, path, start, end, *rest, **options)

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


def _generated_log(path: pathlib.Path, events: int) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench/generate.py"), "--events", str(events), "--out", path],
        check=True,
        capture_output=True,
    )


def _scan_command(*args: str | pathlib.Path) -> list[str]:
    return [sys.executable, "-m", "audithound", "scan", "--output", "json", *map(str, args)]


def _counts(stderr: bytes) -> list[str]:
    """The summary, without its timing."""
    lines = stderr.decode().splitlines()
    return [line.split(" in ")[0] if line.startswith("Scanned") else line for line in lines]


def _run_killing_a_worker(
    tmp_path: pathlib.Path, command: list[str], ready: Callable[[int], bool]
) -> Measured:
    """Run ``command``, kill the first of its workers that is ``ready`` (given its pid), and
    wait for the end (60 s at most, after which the scan counts as hung)."""
    with (tmp_path / "out").open("w+b") as out, (tmp_path / "err").open("w+b") as err:
        scan = subprocess.Popen(command, stdout=out, stderr=err)
        try:
            _kill_a_worker(scan, ready)
            code = scan.wait(timeout=60)
        finally:
            scan.kill()
            scan.wait()
        out.seek(0)
        err.seek(0)
        return Measured(code, out.read(), err.read(), 0)


def _stat(path: pathlib.Path) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (state, parent, ...)."""
    return path.read_text().rpartition(")")[2].split()


def _children(pid: int) -> list[int]:
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat(stat)
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _kill_a_worker(scan: subprocess.Popen[bytes], ready: Callable[[int], bool]) -> None:
    workers: list[int] = []
    while scan.poll() is None:
        workers = workers or _children(scan.pid)
        for pid in workers:
            with contextlib.suppress(OSError):  # ended meanwhile
                if ready(pid):
                    os.kill(pid, signal.SIGKILL)
                    return
    raise AssertionError("the scan ended before a worker could be killed")


def _busy(pid: int) -> bool:
    """Whether the worker has used CPU time: it is at work on a piece (more are queued)."""
    fields = _stat(pathlib.Path(f"/proc/{pid}/stat"))
    return int(fields[11]) + int(fields[12]) >= 2


#: The number of write(2) in /proc/PID/syscall.
WRITE = {"x86_64": 1, "aarch64": 64}.get(platform.machine())


def _sending(pid: int) -> bool:
    """Whether the worker is in write(2) on a pipe: sending a piece's result to the parent."""
    fields = pathlib.Path(f"/proc/{pid}/syscall").read_text().split()  # number, arguments
    if len(fields) < 2 or fields[0] != str(WRITE):
        return False
    return os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}").startswith("pipe:")


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The benchmark's log, large enough for workers (MIN_FILE_BYTES)."""
    log = tmp_path_factory.mktemp("big") / "audit.log"
    _generated_log(log, 60_000)
    return log


KILLINGS = {
    # As the OOM killer kills: mid-piece, more pieces queued for the worker.
    "a busy worker": (_busy, ("--rules", ROOT / "bench/rules")),
    # Every event an alert: results of megabytes, sent in many writes. The standard
    # library's pool waited for the rest of the message for ever (see parallel/crew.py).
    "a worker sending its result": (_sending, ("--query", "kubernetes.audit.auditID:*")),
}


@pytest.mark.parametrize("killing", KILLINGS)
def test_a_killed_worker_hangs_nothing_and_loses_nothing(
    tmp_path: pathlib.Path, measure: Measure, big_log: pathlib.Path, killing: str
) -> None:
    """A worker killed: the scan ends, says what happened on stderr, and prints what one
    process prints."""
    ready, rules = KILLINGS[killing]
    if ready is _sending and (WRITE is None or not os.access("/proc/self/syscall", os.R_OK)):
        pytest.skip("needs /proc/PID/syscall to see a worker in write(2)")
    alone = measure(*_scan_command(*rules, "--jobs", "1", big_log))
    command = _scan_command(*rules, "--jobs", "2", big_log)
    killed = _run_killing_a_worker(tmp_path, command, ready)
    assert (killed.code, alone.code) == (0, 0)
    note, *summary = _counts(killed.stderr)
    assert note.startswith(
        "audithound: a worker process of scan --jobs 2 ended abruptly by signal 9 (killed"
    )
    assert f"{big_log} is read on from byte" in note
    assert summary == _counts(alone.stderr)
    assert killed.stdout == alone.stdout


def test_a_worker_holds_one_line_of_its_piece_not_the_piece(
    tmp_path: pathlib.Path, measure: Measure
) -> None:
    """A line of 128 MiB makes a piece of 128 MiB; the worker that reads it stays small."""
    log = tmp_path / "audit.log"
    _generated_log(log, 4_000)
    events = log.read_bytes().splitlines(keepends=True)
    with log.open("wb") as out:
        out.writelines(events[:1000])
        out.write(b'{"auditID": "huge", "stage": "ResponseComplete", "x": "')
        for _ in range(128):
            out.write(b"x" * (1 << 20))
        out.write(b'"}\n')
        out.writelines(events[1000:])
    assert parallel.worth_it(str(log), 2)
    alone = measure(*_scan_command("--jobs", "1", log))
    together = measure(*_scan_command("--jobs", "2", log))
    assert together.stdout == alone.stdout
    assert _counts(together.stderr) == _counts(alone.stderr)
    assert f"oversized: 1 (first at {log}:1001)" in together.stderr.decode()
    assert together.max_rss < 100 * 1024
