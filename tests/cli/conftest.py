"""Fixtures of the command-line tests: running a command to its end and measuring it."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import NamedTuple

import pytest

# Runs argv[3:] with standard output to argv[1] and standard error to argv[2], then prints
# its exit code and peak RSS. The command starts from this small process, not from pytest,
# because a process that exec starts counts the memory of the process that started it in
# its own peak RSS, and pytest may be large by then.
_MEASURE = """
import os, subprocess, sys
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    process = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err)
    _, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


class Measured(NamedTuple):
    code: int
    stdout: bytes
    stderr: bytes
    #: The peak RSS of the largest process (the command or one of its children), in KiB.
    max_rss: int


Measure = Callable[..., Measured]


@pytest.fixture
def measure(tmp_path: pathlib.Path) -> Measure:
    """``measure(*command)``: run the command to its end (60 s at most) and measure it."""

    def run(*command: str | pathlib.Path) -> Measured:
        out, err = tmp_path / "measured.out", tmp_path / "measured.err"
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, out, err, *command],
            capture_output=True,
            check=True,
            timeout=60,
        )
        code, max_rss = map(int, done.stdout.split())
        return Measured(code, out.read_bytes(), err.read_bytes(), max_rss)

    return run
