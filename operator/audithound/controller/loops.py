"""The operator's background loops: each runs one step every interval and survives any failure.

Fed by: ``handlers.start``, with each loop's name, step and interval (rule status summaries,
SecurityAlert retention, ...). Feeds: the loops' failure counts (``/metrics``:
``audithound_loop_failures_total{loop}``) and the log.

A step that raises anything but cancellation (an ``ApiException``, a refused connection
during an API server outage, a bug) is logged, counted, and retried after a backoff that
doubles from :data:`FIRST_BACKOFF` up to :data:`MAX_BACKOFF`, with jitter so that the
instances on several nodes do not retry in step. The first success after failures is
logged too, and the loop returns to its interval. Only ``stop`` ends a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable

from kubernetes.client import exceptions

LOG = logging.getLogger("audithound.controller.loops")

#: Wait after a first failure (unit: seconds); it doubles with each failure in a row.
FIRST_BACKOFF = 1.0
#: Longest wait after failures (unit: seconds): the end of an outage is noticed within a
#: minute, and a broken API server gets at most one request a minute from each loop.
MAX_BACKOFF = 60.0
#: Share of a backoff taken off at random, at most (0.5: a wait of 8 s becomes 4-8 s).
JITTER = 0.5
#: Longest error text logged (characters): enough to name the cause, never a response dump.
ERROR_TEXT_LIMIT = 300

Step = Callable[[], Awaitable[None]]


@dataclasses.dataclass
class LoopState:
    """One loop's health, read by the metrics collector from another thread."""

    name: str
    #: Steps that raised, since start.
    failures: int = 0
    #: Steps that raised since the last one that succeeded.
    consecutive: int = 0


def describe(error: BaseException) -> str:
    """What went wrong, in one short line (an ApiException's status, not its body)."""
    if isinstance(error, exceptions.ApiException):
        return f"ApiException: {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]


def backoff(consecutive: int, *, first: float, most: float, draw: Callable[[], float]) -> float:
    """Seconds to wait after ``consecutive`` failures in a row (1, 2, 3 ...)."""
    full = min(most, first * 2.0 ** min(consecutive - 1, 64))
    return full * (1.0 - JITTER * draw())


async def wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Loops:
    """Starts and supervises the background loops; ``states`` are their health."""

    def __init__(
        self,
        stop: asyncio.Event,
        *,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._stop = stop
        self._first = first_backoff
        self._most = max_backoff
        self._draw = draw
        # Replaced, never changed in place: the metrics thread iterates a stable tuple.
        self.states: tuple[LoopState, ...] = ()

    def start(
        self, name: str, step: Step, interval: float, *, last_on_stop: bool = False
    ) -> asyncio.Task[None]:
        """Run ``step`` every ``interval`` seconds until stop; ``last_on_stop``: once more
        after stop was set (the last status summaries)."""
        if any(state.name == name for state in self.states):
            raise ValueError(f"A loop named {name!r} runs already")
        state = LoopState(name)
        self.states = (*self.states, state)
        return asyncio.create_task(self._run(state, step, interval, last_on_stop), name=name)

    async def _run(self, state: LoopState, step: Step, interval: float, last: bool) -> None:
        while True:
            stopping = self._stop.is_set()
            if stopping and not last:
                return
            try:
                await step()
            except Exception as error:
                delay = self._failed(state, error)
            else:
                delay = interval
                if state.consecutive:
                    LOG.info(
                        "Recovered background loop",
                        extra={"loop": state.name, "failures": state.consecutive},
                    )
                    state.consecutive = 0
            if stopping:
                return
            await wait(self._stop, delay)

    def _failed(self, state: LoopState, error: Exception) -> float:
        state.failures += 1
        state.consecutive += 1
        delay = backoff(state.consecutive, first=self._first, most=self._most, draw=self._draw)
        # ERROR, as the audit loop logs its failed batches: the JSON format carries the error.
        LOG.error(
            "Failed background loop step; retrying",
            extra={
                "loop": state.name,
                "error": describe(error),
                "failures": state.consecutive,
                "retryIn": round(delay, 1),
            },
            # The traceback once per run of failures: enough to find a bug, quiet in an outage.
            exc_info=error if state.consecutive == 1 else None,
        )
        return delay
