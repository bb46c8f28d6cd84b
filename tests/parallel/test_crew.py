"""The crew of worker processes behind `scan --jobs`: results in order, a worker's failure or
death told as Lost at once, and no process left behind however the parent leaves."""

from __future__ import annotations

import os
import signal
import time

import pytest

from audithound.parallel import crew


def _square(number: int) -> int:
    if number == 13:
        raise ValueError("thirteen, or a secret from an event")
    if number == 17:
        raise FileNotFoundError(2, "No such file or directory", "/var/log/audit.log")
    if number < 0:
        time.sleep(60)  # busy for longer than any test waits
    return number * number


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0] != "Z"


def _pids(workers: crew.Crew[int, int]) -> list[int]:
    return [worker.process.pid for worker in workers._workers if worker.process.pid]


def test_results_come_in_the_order_the_jobs_were_sent() -> None:
    with crew.Crew(3, _square) as workers:
        for number in range(10):
            workers.send(number, number)
        assert [workers.receive(number) for number in range(10)] == [n * n for n in range(10)]
        pids = _pids(workers)
    assert len(pids) == 3
    assert not any(map(_alive, pids))


def test_a_failing_job_is_told_by_its_error_type_never_its_message() -> None:
    """An error's message may quote an event; only an OS error's reason is told."""
    with crew.Crew(2, _square) as workers:
        workers.send(0, 13)
        workers.send(1, 17)
        with pytest.raises(crew.Lost, match=r"^failed \(ValueError\)$"):
            workers.receive(0)
        with pytest.raises(
            crew.Lost, match=r"^failed \(FileNotFoundError: No such file or directory\)$"
        ):
            workers.receive(1)


def test_a_killed_worker_is_told_at_once_whether_sending_or_receiving() -> None:
    with crew.Crew(2, _square) as workers:
        workers.send(0, -1)  # busy
        victim = _pids(workers)[0]
        os.kill(victim, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(crew.Lost, match=r"^ended abruptly by signal 9 \(killed"):
            workers.receive(0)
        with pytest.raises(crew.Lost, match=r"^ended abruptly"):
            workers.send(2, 1)  # the same worker: its pipe is broken
        assert time.monotonic() - started < 10
        workers.send(1, 4)  # the other worker goes on
        assert workers.receive(1) == 16


def test_leaving_with_busy_workers_ends_them() -> None:
    started = time.monotonic()
    with crew.Crew(2, _square) as workers:
        workers.send(0, -1)
        workers.send(1, -1)
        pids = _pids(workers)
    assert time.monotonic() - started < 10
    assert not any(map(_alive, pids))
