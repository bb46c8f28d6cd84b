"""The heartbeat's verdicts: healthy when its markers come back through the log in time, else
the likely cause, reported once per change, and recovery reported too. Real files, a fake
clock, markers handed back by hand."""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Callable

import prometheus_client
import pytest
from prometheus_client import parser

from audithound.controller import heartbeat

T0 = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
TIMEOUT = 8.0
State = heartbeat.State


class Rig:
    """A heartbeat on ``path`` with a clock the test moves, and what it sent and reported."""

    def __init__(self, path: pathlib.Path) -> None:
        self.now = 0.0
        self.sent: list[str] = []
        self.reports: list[tuple[State, str]] = []
        self.read_up_to: datetime.datetime | None = None
        self.fail: Exception | None = None
        self.beat = heartbeat.Heartbeat(
            path,
            TIMEOUT,
            send=self._send,
            read_up_to=lambda: self.read_up_to,
            report=lambda state, detail: self.reports.append((state, detail)),
            clock=lambda: self.now,
            wall=lambda: T0 + datetime.timedelta(seconds=self.now),
        )

    def _send(self, marker: str) -> None:
        self.sent.append(marker)
        if self.fail is not None:
            raise self.fail

    def tick(self, then: Callable[[], None] | None = None) -> State:
        """Advance one interval, beat; ``then`` runs after the beat (the log being read)."""
        self.now += self.beat.interval
        self.beat.tick()
        if then is not None:
            then()
        return self.beat.state

    def echo(self) -> None:
        """Half a second later, the tail loop reads the newest marker back as it was logged."""
        self.now += 0.5
        uri = (
            "/apis/audithound.io/v1alpha1/detectionrules?labelSelector="
            f"audithound.io%2Fheartbeat%3D{self.sent[-1]}&limit=1"
        )
        self.beat.see({"verb": "list", "requestURI": uri})
        self.read_up_to = T0 + datetime.timedelta(seconds=self.now)


@pytest.fixture
def log(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "audit.log"
    path.write_text("{}\n")
    return path


def grow(path: pathlib.Path) -> None:
    with path.open("a") as file:
        file.write("{}\n")


def test_pending_until_the_first_marker_comes_back_then_healthy_without_an_event(
    log: pathlib.Path,
) -> None:
    rig = Rig(log)

    assert rig.tick() is State.PENDING
    rig.echo()
    assert rig.tick() is State.HEALTHY
    assert rig.beat.counts.seen == 1
    assert rig.beat.delay == 0.5
    assert rig.reports == []


def test_markers_that_keep_coming_back_keep_it_healthy(log: pathlib.Path) -> None:
    rig = Rig(log)

    states = [rig.tick(rig.echo) for _ in range(20)]

    assert states[1:] == [State.HEALTHY] * 19
    assert rig.reports == []


def test_a_missing_file_is_reported_once_with_its_cause(tmp_path: pathlib.Path) -> None:
    rig = Rig(tmp_path / "typo" / "audit.log")

    states = [rig.tick() for _ in range(8)]

    assert states[:4] == [State.PENDING] * 4
    assert states[4:] == [State.FILE_MISSING] * 4
    ((state, detail),) = rig.reports
    assert state is State.FILE_MISSING
    assert str(tmp_path / "typo" / "audit.log") in detail
    assert "no heartbeat seen for 10s (timeout 8s)" in detail
    assert "wrong --audit-log path" in heartbeat.CAUSES[state][1]


def test_a_path_that_cannot_be_opened_is_unreadable(tmp_path: pathlib.Path) -> None:
    rig = Rig(tmp_path)  # a directory

    for _ in range(5):
        rig.tick()

    assert rig.reports == [(State.FILE_UNREADABLE, rig.beat.detail)]
    assert "Is a directory" in rig.beat.detail


def test_a_file_that_does_not_change_is_not_growing(log: pathlib.Path) -> None:
    rig = Rig(log)

    for _ in range(6):
        rig.tick()

    assert rig.beat.state is State.FILE_NOT_GROWING
    assert [state for state, _ in rig.reports] == [State.FILE_NOT_GROWING]


def test_a_file_that_grows_without_the_markers_means_they_are_not_logged(
    log: pathlib.Path,
) -> None:
    rig = Rig(log)

    def others_write() -> None:
        grow(log)
        rig.read_up_to = T0 + datetime.timedelta(seconds=rig.now)

    for _ in range(6):
        rig.tick(others_write)

    assert rig.beat.state is State.REQUESTS_NOT_LOGGED
    assert "the audit policy drops them" in heartbeat.CAUSES[State.REQUESTS_NOT_LOGGED][1]
    assert "grows, events read up to 2026-12-01T10:00:" in rig.beat.detail


def test_a_reader_short_of_the_markers_time_is_behind(log: pathlib.Path) -> None:
    rig = Rig(log)
    rig.read_up_to = T0 - datetime.timedelta(minutes=5)

    for _ in range(6):
        rig.tick(lambda: grow(log))

    assert rig.beat.state is State.READER_BEHIND
    assert "events read up to 2026-12-01T09:55:00Z" in rig.beat.detail


def test_failing_heartbeat_requests_are_their_own_cause(log: pathlib.Path) -> None:
    rig = Rig(log)
    rig.fail = ConnectionRefusedError(111, "Connection refused")

    for _ in range(6):
        rig.tick(lambda: grow(log))

    assert rig.beat.state is State.HEARTBEAT_FAILING
    assert "ConnectionRefusedError" in rig.beat.detail
    assert rig.beat.counts.failed == 6
    assert rig.beat.counts.sent == 0


def test_recovery_is_reported_once_the_markers_come_back(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "audit.log"
    rig = Rig(path)
    for _ in range(6):
        rig.tick()
    path.write_text("{}\n")

    assert rig.tick(rig.echo) is State.FILE_MISSING  # the echo is taken in at the next beat
    assert rig.tick(rig.echo) is State.HEALTHY

    assert [state for state, _ in rig.reports] == [State.FILE_MISSING, State.HEALTHY]
    assert rig.reports[-1][1].startswith("heartbeat seen")


def test_a_change_of_cause_is_reported(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "audit.log"
    rig = Rig(path)
    for _ in range(6):
        rig.tick()
    path.write_text("{}\n")
    for _ in range(6):
        rig.tick()

    assert [state for state, _ in rig.reports] == [State.FILE_MISSING, State.FILE_NOT_GROWING]


def test_other_markers_and_other_requests_are_ignored(log: pathlib.Path) -> None:
    rig = Rig(log)
    rig.tick()
    marker = rig.sent[-1]
    for event in (
        {"verb": "list", "requestURI": "/apis/x?labelSelector=audithound.io/heartbeat=" + "a" * 32},
        {"verb": "get", "requestURI": f"/apis/x?labelSelector=audithound.io/heartbeat={marker}"},
        {"verb": "list", "requestURI": ["not", "a", "string"]},
        {"verb": "list"},
    ):
        rig.beat.see(event)
    rig.tick()
    assert rig.beat.counts.seen == 0

    uri = f"/x?labelSelector=audithound.io/heartbeat={marker}"
    rig.beat.see({"verb": "list", "requestURI": uri})
    rig.tick()
    assert rig.beat.counts.seen == 1


def test_unseen_markers_are_bounded(tmp_path: pathlib.Path) -> None:
    rig = Rig(tmp_path / "missing.log")

    for _ in range(10 * heartbeat.MAX_UNSEEN):
        rig.tick()

    assert len(rig.beat._unseen) == heartbeat.MAX_UNSEEN


def test_metrics_give_the_state_one_hot_and_the_counts(log: pathlib.Path) -> None:
    rig = Rig(log)
    rig.tick(rig.echo)
    rig.tick()
    collectors = prometheus_client.CollectorRegistry()
    collectors.register(heartbeat.Collector(lambda: rig.beat))

    text = prometheus_client.generate_latest(collectors).decode()

    assert 'audithound_audit_pipeline_state{state="healthy"} 1.0' in text
    assert 'audithound_audit_pipeline_state{state="file_missing"} 0.0' in text
    assert sum(f'state="{state}"' in text for state in State) == len(State)
    assert "audithound_heartbeats_sent_total 2.0" in text
    assert "audithound_heartbeats_seen_total 1.0" in text
    samples = {
        sample.name: sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples["audithound_heartbeat_delay_seconds"] == 0.5
    assert samples["audithound_heartbeat_last_seen_timestamp_seconds"] == T0.timestamp() + 4.5
