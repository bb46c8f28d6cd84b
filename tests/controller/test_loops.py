"""A background loop survives whatever its step raises: it logs, counts, backs off (bounded,
with jitter) and goes on; only stop ends it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from kubernetes.client import exceptions

from audithound.controller import loops


def test_a_loop_outlives_failures_of_any_kind_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raised = [
        ConnectionRefusedError("[Errno 111] Connection refused"),
        exceptions.ApiException(status=503, reason="Service Unavailable"),
        KeyError("status"),
    ]
    calls = 0

    async def scenario() -> loops.LoopState:
        nonlocal calls
        stop = asyncio.Event()
        background = loops.Loops(stop, first_backoff=0.01, max_backoff=0.02)

        async def step() -> None:
            nonlocal calls
            calls += 1
            if raised:
                raise raised.pop(0)
            if calls == 6:
                stop.set()

        task = background.start("status", step, 0.001)
        await asyncio.wait_for(task, timeout=10)
        (state,) = background.states
        return state

    with caplog.at_level(logging.INFO, logger="audithound.controller.loops"):
        state = asyncio.run(scenario())
    assert calls == 6
    assert (state.name, state.failures, state.consecutive) == ("status", 3, 0)
    failures = [r for r in caplog.records if r.getMessage().startswith("Failed background")]
    assert [r.error for r in failures] == [
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "ApiException: 503 Service Unavailable",
        "KeyError: 'status'",
    ]
    assert all(r.loop == "status" for r in failures)
    # The traceback once per run of failures, not once per retry.
    assert [r.exc_info is not None for r in failures] == [True, False, False]
    (recovered,) = [r for r in caplog.records if r.getMessage() == "Recovered background loop"]
    assert recovered.failures == 3


def test_backoff_doubles_up_to_its_bound_with_jitter() -> None:
    def wait(n: int, draw: float) -> float:
        return loops.backoff(n, first=1.0, most=60.0, draw=lambda: draw)

    assert [wait(n, 0.0) for n in (1, 2, 3, 4, 7, 8, 1000)] == [1, 2, 4, 8, 60, 60, 60]
    assert wait(4, 1.0) == 4.0  # jitter takes off at most half
    assert wait(1000, 1.0) == 30.0


def test_a_last_step_runs_after_stop_when_asked() -> None:
    async def scenario() -> list[str]:
        stop = asyncio.Event()
        background = loops.Loops(stop)
        seen: list[str] = []

        async def write() -> None:
            seen.append("stopping" if stop.is_set() else "running")
            stop.set()

        async def other() -> None:
            seen.append("other")

        await asyncio.gather(
            background.start("retention", other, 3600),
            background.start("status", write, 3600, last_on_stop=True),
        )
        return seen

    # Retention, told nothing, ends at stop; status writes once more.
    assert asyncio.run(scenario()) == ["other", "running", "stopping"]


def test_cancellation_is_not_a_failure() -> None:
    async def scenario() -> loops.LoopState:
        background = loops.Loops(asyncio.Event())

        async def step() -> None:
            await asyncio.sleep(3600)

        task = background.start("retention", step, 1)
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return background.states[0]

    assert asyncio.run(scenario()).failures == 0
