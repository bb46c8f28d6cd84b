"""The operator's audit loop: tail -> decode -> pipeline -> Kubernetes sink -> checkpoint.

Fed by: the live audit log (``source.tail``) and the live rule set (``rules.registry``).
Feeds: the Kubernetes sink, the saved read position, and the counts that the liveness probe
and the rules' execution summaries report.

One batch at a time runs in a worker thread (file reads and the blocking kubernetes client
stay off kopf's event loop). The read position is saved only after every alert of the batch
was written; when a write fails, the same batch is retried from the line that failed, so a
crash or an outage of the API server loses nothing, and replayed alerts are answered 409
and counted as duplicates, never created twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

from audithound import pipeline
from audithound.controller import settings as settings_
from audithound.rules import registry as registry_
from audithound.sinks import base
from audithound.source import checkpoint, decode, tail

LOG = logging.getLogger("audithound.controller.tailing")

#: Longest wait between retries of a failed batch (unit: seconds).
MAX_BACKOFF = 30.0


@dataclasses.dataclass
class Progress:
    """What the loop has done since start; read by the probe and the status writer."""

    lines: int = 0
    events: int = 0
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    notices: int = 0
    failures: int = 0
    last_event_time: datetime.datetime | None = None
    last_poll: datetime.datetime | None = None

    def lag_seconds(self, now: datetime.datetime) -> float | None:
        """How far behind the log the loop is: now minus the newest event time it read."""
        if self.last_event_time is None:
            return None
        return max(0.0, (now - self.last_event_time).total_seconds())


def _start(
    settings: settings_.OperatorSettings,
    saved: checkpoint.Position | None,
    lookback: datetime.timedelta,
) -> tail.Start:
    if saved is not None:
        return saved
    if settings.start == "beginning":
        return tail.StartPolicy.BEGINNING
    if settings.start == "end":
        return tail.StartPolicy.END
    return lookback


class TailLoop:
    """One reader of one audit log, with its checkpoint; ``step`` handles one batch."""

    def __init__(
        self,
        settings: settings_.OperatorSettings,
        registry: registry_.Registry,
        sink: base.Sink,
        observe: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        self._settings = settings
        #: Sees every decoded event before the rules; False keeps it from them (the operator's
        #: own writes, ``controller.selfwrites``). Runs per event: it must cost next to nothing.
        self._observe = observe
        self._registry = registry
        self._checkpoint = checkpoint.Checkpoint(settings.state_dir)
        try:
            saved = self._checkpoint.load()
        except checkpoint.CheckpointError as error:
            LOG.error("Ignored unreadable checkpoint", extra={"error": str(error)})
            saved = None
        start = _start(settings, saved, registry.longest_lookback())
        LOG.info(
            "Started reading audit log",
            extra={
                "path": str(settings.audit_log),
                "from": "checkpoint" if saved is not None else settings.start,
                "offset": saved.offset if saved is not None else None,
                "lookback": str(registry.longest_lookback()) if saved is None else None,
            },
        )
        self._tailer = tail.Tailer(
            settings.audit_log, start, max_line_bytes=settings.max_line_bytes
        )
        self.pipeline = pipeline.Pipeline(registry.ruleset, sink)
        self.progress = Progress()
        # Apply the start now, not at the first step: lines written after the operator
        # reported itself started must never fall before its start position.
        self._pending: list[tail.Record] = self._tailer.poll(settings.batch_lines)
        self._done = 0

    def step(self) -> int:
        """Read and handle one batch; returns how many lines it held (0: caught up).

        Raises when a sink write fails; the next call retries from the failed line.
        """
        now = datetime.datetime.now(datetime.UTC)
        self.progress.last_poll = now
        if not self._pending:
            self._pending = self._tailer.poll(self._settings.batch_lines)
            self._done = 0
            self._report_notices()
        records = self._pending
        if not records:
            return 0
        if self.pipeline.evaluator.rules is not self._registry.ruleset:
            self.pipeline.use(self._registry.ruleset)
        handle = self.pipeline.handle
        observe = self._observe
        last_event: Mapping[str, Any] | None = None
        while self._done < len(records):
            record = records[self._done]
            if record.line is None:
                # The tailer logged it already (file and offset); only count it here.
                self.progress.skipped[str(record.skipped)] += 1
            elif record.line.strip():  # blank lines are no events and no errors, as in scan
                decoded = decode.decode_line(record.line)
                for reason in decoded.rejected:
                    self._skip(record, reason)
                for event in decoded.events:
                    if observe is None or observe(event):
                        handle(event, now)
                    last_event = event
                self.progress.events += len(decoded.events)
            self._done += 1
        self._checkpoint.save(records[-1].position)
        self.progress.lines += len(records)
        if last_event is not None:
            self.progress.last_event_time = decode.event_time(last_event) or now
        self._pending = []
        return len(records)

    def _skip(self, record: tail.Record, reason: str) -> None:
        """Count a line the decoder rejected; log the first few of each reason."""
        self.progress.skipped[reason] += 1
        if self.progress.skipped[reason] <= 10:
            LOG.warning(
                "Skipped audit line",
                extra={
                    "reason": str(reason),
                    "file": record.position.identity.path,
                    "offset": record.position.offset,
                },
            )

    def _report_notices(self) -> None:
        for notice in self._tailer.take_notices():
            self.progress.notices += 1
            LOG.info("Noticed audit log change", extra={"notice": repr(notice)})

    def close(self) -> None:
        self._tailer.close()


async def run(loop: TailLoop, settings: settings_.OperatorSettings, stop: asyncio.Event) -> None:
    """Step the loop until ``stop`` is set: busy while there is backlog, polling when idle."""
    backoff = 1.0
    while not stop.is_set():
        try:
            handled = await asyncio.to_thread(loop.step)
        except Exception:
            loop.progress.failures += 1
            LOG.exception("Failed to handle audit batch; retrying", extra={"in": backoff})
            await wait(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = 1.0
        if handled < settings.batch_lines:
            await wait(stop, settings.poll_interval)
    loop.close()


async def wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
