"""Identify and stop a recorded process by its id, never by its name.

Fed by the pid records that `controlplane` writes when it starts etcd and kube-apiserver;
feeds `controlplane.stop_recorded` (the CLI's `down`) and `status`. A record holds the pid
and the process start time from /proc, so a pid that the kernel has since given to another
program is recognised as gone instead of being signalled.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Record:
    """A started process: its id and its start time in clock ticks since boot."""

    pid: int
    start_ticks: int


def record(pid: int) -> Record:
    """Record a process that is running now."""
    ticks = _start_ticks(pid)
    if ticks is None:
        raise ProcessLookupError(f"Process {pid} exited before it could be recorded")
    return Record(pid, ticks)


def is_running(entry: Record) -> bool:
    """True while the recorded process exists, is not a zombie, and is the same process."""
    return _start_ticks(entry.pid) == entry.start_ticks


def terminate(entry: Record, timeout: float) -> bool:
    """SIGTERM the recorded process, wait up to `timeout`, then SIGKILL it.

    Returns True when the process had to be killed. Works on processes that are not our
    children: it polls /proc instead of waiting on the pid.
    """
    if not is_running(entry):
        return False
    _signal(entry.pid, signal.SIGTERM)
    if _wait_gone(entry, timeout):
        return False
    _signal(entry.pid, signal.SIGKILL)
    _wait_gone(entry, timeout)
    return True


def _wait_gone(entry: Record, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_running(entry):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    # It may exit between the check and the signal; that is the outcome we want anyway.
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name in parentheses may contain spaces; the fields after it do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is the state (field 3 of proc(5)); starttime is field 22.
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])
