"""The operator's audit loop: live log -> pipeline -> Kubernetes sink -> checkpoint.

Fed by: the live audit log (``source.live``) and the live rule set (``rules.registry``).
Feeds: the pipeline (which writes alerts through the Kubernetes sink), the saved read
position with the detectors' state, and the counts that the liveness probe, the metrics and
the rules' execution summaries report.

One batch at a time runs in a worker thread (file reads and the blocking kubernetes client
stay off kopf's event loop). A batch is read and processed once; its alerts wait in the
pipeline's outbox until they are written, and the batch's end is saved only after that, with
the detectors' state as it stood after the batch. When a write fails the next step retries
the alerts still waiting, never the batch, so no finding is lost or counted twice. After a
crash the log is read again from the saved position with the saved state: the same findings
come out under the same names, and the API server answers that they exist.

Saving state costs more than saving a position, so while the state keeps changing it is saved
at most every ``--state-interval`` seconds, and the position on disk stays where the state on
disk belongs (a crash then rereads at most that much of the log). Stateful rules that know
nothing yet (a first start, a new rule, a change of what their state depends on) first learn
from the logs still on disk, back as far as they look, without alerting (:meth:`warm_start`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from audithound import pipeline
from audithound.controller import settings as settings_
from audithound.rules import registry as registry_
from audithound.rules import ruleset
from audithound.sinks import base
from audithound.source import checkpoint, decode, live, tail

LOG = logging.getLogger("audithound.controller.tailing")

#: Longest wait between retries of a failed batch (unit: seconds).
MAX_BACKOFF = 30.0

#: Skipped lines of each reason that are logged with their file and offset; the rest are
#: only counted (a flood of bad lines must not flood the log).
LOGGED_SKIPS_PER_REASON = 10


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


@dataclasses.dataclass(frozen=True)
class _Stop:
    """Where learning from history must stop: the first line the loop itself will read."""

    position: checkpoint.Position | None
    #: Whether the line ending at ``position`` is the loop's own (else it starts after it).
    inclusive: bool
    #: Event time of that line, when known: no event after it is history.
    time: datetime.datetime | None

    def reached(self, position: checkpoint.Position, event: decode.RawEvent) -> bool:
        moment = decode.event_time(event)
        if self.time is not None and moment is not None and moment > self.time:
            return True
        mine, target = position.identity, self.position
        if target is None or (mine.dev, mine.ino) != (target.identity.dev, target.identity.ino):
            return False
        if self.inclusive:
            return position.offset >= target.offset
        return position.offset > target.offset


class TailLoop:
    """One reader of one audit log, with its checkpoint; ``step`` handles one batch."""

    def __init__(
        self,
        settings: settings_.OperatorSettings,
        registry: registry_.Registry,
        sink: base.Sink,
        observe: Callable[[Mapping[str, Any]], bool] | None = None,
        observed_user: str | None = None,
    ) -> None:
        self._settings = settings
        #: Sees every decoded event before the rules; False keeps it from them (the operator's
        #: own writes, ``controller.selfwrites``). Runs per event: it must cost next to nothing.
        #: It sees every event of ``observed_user`` (the operator's own identity) and those
        #: some rule matches: the rest are turned away by the screen, decoded only in part.
        self._observe = observe
        self._observed_user = observed_user
        #: The screen of the batches (see ``source.live``), for the rule set it was made for.
        self._screen: tuple[ruleset.RuleSet, decode.Screen | None] | None = None
        #: The read time of the batch being handled: what the rules' ``now`` stands for.
        self._read_at = datetime.datetime.now(datetime.UTC)
        self._registry = registry
        self._checkpoint = checkpoint.Checkpoint(settings.state_dir)
        saved = self._load()
        self.pipeline = pipeline.Pipeline(
            registry.ruleset,
            sink,
            max_creations_per_minute=settings.max_alert_creations_per_minute,
        )
        if saved is not None and saved.state:
            self.pipeline.restore(saved.state)
        position = saved.position if saved is not None else None
        start = _start(settings, position, registry.longest_lookback())
        LOG.info(
            "Started reading audit log",
            extra={
                "path": str(settings.audit_log),
                "from": "checkpoint" if position is not None else settings.start,
                "offset": position.offset if position is not None else None,
                "lookback": str(registry.longest_lookback()) if position is None else None,
                "restoredRules": sorted(saved.state) if saved is not None and saved.state else [],
            },
        )
        self._log = live.LiveLog(settings.audit_log, start, max_line_bytes=settings.max_line_bytes)
        self.progress = Progress()
        # Apply the start now, not at the first step: lines written after the operator
        # reported itself started must never fall before its start position.
        first = self._log.poll(settings.batch_lines)
        self._pending: live.Batch | None = first if first.lines else None
        #: The end of the last batch handled whose position is not saved yet.
        self._unsaved: checkpoint.Position | None = None
        self._saved_version = self.pipeline.state_version
        self._state_saved_at = time.monotonic()
        self.warm_start()

    def _load(self) -> checkpoint.Saved | None:
        try:
            saved = self._checkpoint.load_saved()
        except checkpoint.CheckpointError as error:
            LOG.error("Ignored unreadable checkpoint", extra={"error": str(error)})
            return None
        if saved is not None and saved.state_problem is not None:
            LOG.error(
                "Ignored unreadable detector state; stateful rules learn from the logs on disk",
                extra={"error": saved.state_problem},
            )
        return saved

    def warm_start(self) -> None:
        """Let stateful rules that know nothing learn from the logs on disk, up to the first
        line this loop reads itself, without alerting."""
        names = self.pipeline.needs_history()
        if not names:
            return
        rules = self.pipeline.rules.by_name
        reach = max(rules[name].reach for name in names)
        stop = self._stop()
        learning = frozenset(names)
        started = time.monotonic()
        events = 0
        learner = live.LiveLog(
            self._settings.audit_log, reach, max_line_bytes=self._settings.max_line_bytes
        )
        try:
            done = False
            while not done:
                batch = learner.poll(self._settings.batch_lines)
                with self.pipeline.lock:
                    for event, position in zip(batch.events, batch.positions, strict=True):
                        if stop.reached(position, event):
                            done = True
                            break
                        self.pipeline.learn(event, learning)
                        events += 1
                done = done or batch.lines < self._settings.batch_lines
        finally:
            learner.close()
        self.pipeline.learned(names)
        LOG.info(
            "Learned history of stateful rules",
            extra={
                "rules": sorted(names),
                "events": events,
                "reach": str(reach),
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _stop(self) -> _Stop:
        pending = self._pending
        if pending is not None and pending.events:
            first = pending.events[0]
            return _Stop(pending.positions[0], True, decode.event_time(first))
        return _Stop(self._log.position(), False, None)

    def step(self) -> int:
        """Read and handle one batch; returns how many lines it held (0: caught up).

        Raises when alerts could not be written; the next call retries them.
        """
        now = datetime.datetime.now(datetime.UTC)
        self.progress.last_poll = now
        # Also while the log is idle: what failed before is retried, and a suppression group's
        # last merges reach its alert once due (a storm's final count, with no event after it).
        self.pipeline.deliver()
        self._save()
        if self.pipeline.rules is not self._registry.ruleset:
            self.pipeline.use(self._registry.ruleset)
            self.warm_start()
        batch, self._pending = self._pending, None
        if batch is None:
            self._read_at = now
            batch = self._log.poll(self._settings.batch_lines, self._screen_of(self.pipeline.rules))
        self._report_notices()
        if not batch.lines:
            return 0
        with self.pipeline.lock:
            process = self.pipeline.process
            observe = self._observe
            for event in batch.events:
                if observe is None or observe(event):
                    process(event, now)
        self._count(batch, now)
        self._unsaved = batch.end
        self.pipeline.deliver()
        self._save()
        return batch.lines

    def _screen_of(self, rules: ruleset.RuleSet) -> decode.Screen | None:
        """The screen for ``rules`` (made once per rule set). The first batch, read before
        the loop knows its rules for sure, is read whole."""
        if self._screen is None or self._screen[0] is not rules:
            screen = self.pipeline.evaluator.screen(
                read_at=lambda: self._read_at, keep_user=self._observed_user
            )
            self._screen = (rules, screen)
        return self._screen[1]

    def _count(self, batch: live.Batch, now: datetime.datetime) -> None:
        progress = self.progress
        progress.lines += batch.lines
        progress.events += len(batch.events) + batch.screened
        for skip in batch.skipped:
            progress.skipped[skip.reason] += 1
            if progress.skipped[skip.reason] <= LOGGED_SKIPS_PER_REASON:
                LOG.warning(
                    "Skipped audit line",
                    extra={"reason": skip.reason, "file": skip.path, "offset": skip.offset},
                )
        if batch.events or batch.screened:
            progress.last_event_time = batch.last_event_time or now

    def _save(self, *, final: bool = False) -> None:
        """Save the end of the last handled batch: with the state when it changed and is due,
        alone when the state did not change since it was saved."""
        position = self._unsaved
        if position is None:
            return
        version = self.pipeline.state_version
        if version == self._saved_version:
            self._checkpoint.save(position)
        elif final or time.monotonic() - self._state_saved_at >= self._settings.state_interval:
            self._checkpoint.save(position, self.pipeline.snapshot())
            self._saved_version = version
            self._state_saved_at = time.monotonic()
        else:
            return  # the saved position stays with the saved state
        self._unsaved = None

    @property
    def losses(self) -> tail.Losses:
        """What the reader could not read since start: for metrics and rule status."""
        return self._log.losses

    def _report_notices(self) -> None:
        for notice in self._log.take_notices():
            self.progress.notices += 1
            LOG.info("Noticed audit log change", extra={"notice": type(notice).__name__})

    def close(self) -> None:
        """Write what waits, save where the loop stands, with the state."""
        try:
            if self.pipeline.pending():
                self.pipeline.deliver()
            self._save(final=True)
        except Exception:
            LOG.warning(
                "Stopped with unwritten alerts; they are found again from the saved position",
                extra={"alerts": self.pipeline.pending()},
            )
        finally:
            self._log.close()


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
    await asyncio.to_thread(loop.close)


async def wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
