"""Fixtures of the tailer tests: a fresh audit log directory and state directory per test,
and the real logrotate."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tailkit

from audithound.source import tail


@pytest.fixture
def log_dir(tmp_path: pathlib.Path) -> tailkit.AuditLogDir:
    return tailkit.AuditLogDir(tmp_path / "log")


@pytest.fixture
def state_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state"


@pytest.fixture(scope="session")
def logrotate() -> str:
    """The real logrotate's path; the rotation tests fail (not skip) without it."""
    binary = tailkit.logrotate_binary()
    if binary is None:
        pytest.fail(
            "logrotate is not installed: the rotation tests run the real one as users do "
            "(Debian/Ubuntu: apt-get install -y logrotate; .ci/run installs it)"
        )
    return binary


@pytest.fixture
def open_tailer() -> Iterator[Callable[..., tail.Tailer]]:
    """``tail.Tailer`` that closes every tailer it made when the test ends."""
    opened: list[tail.Tailer] = []

    def make(*args: Any, **kwargs: Any) -> tail.Tailer:
        tailer = tail.Tailer(*args, **kwargs)
        opened.append(tailer)
        return tailer

    yield make
    for tailer in opened:
        tailer.close()
