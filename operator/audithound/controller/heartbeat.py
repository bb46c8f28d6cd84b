"""The audit pipeline's heartbeat: the operator's own requests must come back through its log.

Fed by: a timer; the API server, which gets one marked request per beat (a list of
DetectionRules whose label selector holds a random marker, answered from the API server's
cache and matching nothing); the tail loop, through ``selfwrites.OwnWrites``, which hands over
every event of the operator's identity (:meth:`Heartbeat.see` looks for the marker in it); the
audit log file itself (opened and stat'ed once per beat); and the time of the newest event the
tail loop read. Feeds: a :class:`State` with its likely cause, in ``/metrics``, in a Warning
Event (a Normal one on recovery) and in the operator's log.

A marker seen in the log within ``--heartbeat-timeout`` of being sent means every link works:
the API server writes the file, the policy keeps the operator's reads, the file is the one that
server writes, and the operator reads it. Otherwise the first of these that holds names the
likely cause: the file is missing; it cannot be read; it did not change during the whole
timeout; the heartbeat requests themselves fail; the operator has not yet read as far as the
time the marker was sent; else the file grows, is read, and the markers are not in it.

Each instance reads the log of the API server on its own node, so its markers must go to that
server (``--heartbeat-server``, the node's address), not through the ``kubernetes`` Service,
which spreads requests over every API server.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from kubernetes import client
from prometheus_client import core, registry

from audithound.api import common, crdgen
from audithound.controller import selfwrites
from audithound.controller import settings as settings_

LOG = logging.getLogger("audithound.controller.heartbeat")

#: Beats per timeout (the beat interval is ``--heartbeat-timeout`` divided by this): a lost
#: beat or two never makes the check fail, and a broken pipeline is noticed within
#: a quarter of the timeout after the timeout.
BEATS_PER_TIMEOUT: Final = 4

#: Beats kept while unseen (unit: beats): a broken pipeline must not grow memory. Four
#: timeouts' worth; the oldest go first.
MAX_UNSEEN: Final = 4 * BEATS_PER_TIMEOUT

#: The label the marker's selector names; no object carries it, so the list is empty.
MARKER_LABEL: Final = "audithound.io/heartbeat"
_MARKER = re.compile(r"audithound\.io(?:/|%2F)heartbeat(?:=|%3D)([0-9a-f]{32})", re.IGNORECASE)

REPORTING_COMPONENT: Final = "audithound.io/operator"


class State(enum.StrEnum):
    """What the heartbeat knows of the audit pipeline (the ``state`` label of the metric)."""

    #: Started less than a timeout ago, no marker seen yet.
    PENDING = "pending"
    #: A marker came back within the timeout.
    HEALTHY = "healthy"
    #: No marker within the timeout, and the log file does not exist.
    FILE_MISSING = "file_missing"
    #: No marker, and the file exists but the operator cannot open it.
    FILE_UNREADABLE = "file_unreadable"
    #: No marker, and the file did not change during the whole timeout.
    FILE_NOT_GROWING = "file_not_growing"
    #: No marker, the file grows, and the heartbeat requests fail.
    HEARTBEAT_FAILING = "heartbeat_failing"
    #: No marker, the file grows, and the operator has not read an event as late as the
    #: marker (or none at all).
    READER_BEHIND = "reader_behind"
    #: No marker, though the file grows and the operator read past the time it was sent.
    REQUESTS_NOT_LOGGED = "requests_not_logged"


#: Per broken state: the Event reason and the likely causes, as the Event and the log say them.
CAUSES: Final[dict[State, tuple[str, str]]] = {
    State.FILE_MISSING: (
        "AuditLogMissing",
        "the audit log file does not exist: a wrong --audit-log path, the log directory not "
        "mounted into the pod, or audit logging off (no --audit-log-path on the API server)",
    ),
    State.FILE_UNREADABLE: (
        "AuditLogUnreadable",
        "the audit log file cannot be opened: its permissions or the mount deny the operator, "
        "or the path is not a regular file",
    ),
    State.FILE_NOT_GROWING: (
        "AuditLogNotGrowing",
        "the audit log file did not change at all: audit logging is off, the API server stopped "
        "writing (or is down), or the file is on another node than the API server that writes",
    ),
    State.HEARTBEAT_FAILING: (
        "AuditHeartbeatFailing",
        "the operator's heartbeat requests fail, so none can be logged: the API server it "
        "checks (--heartbeat-server) is unreachable or refuses the operator",
    ),
    State.READER_BEHIND: (
        "AuditReaderBehind",
        "the operator has not read the log as far as its heartbeat: it reads slower than the "
        "log grows, its batches fail (audithound_batch_failures_total), or the file holds no "
        "audit events (audithound_audit_skipped_lines_total)",
    ),
    State.REQUESTS_NOT_LOGGED: (
        "AuditRequestsNotLogged",
        "the log grows and is read, but the operator's own requests never appear in it: the "
        "audit policy drops them (and perhaps what the rules need too), or the file is another "
        "API server's than the one the heartbeat goes to (--heartbeat-server)",
    ),
}
RECOVERED = "AuditPipelineRecovered"


@dataclasses.dataclass(frozen=True)
class FileState:
    """The log file as the operator sees it: its identity and size, or why it cannot open it."""

    error: State | None = None
    detail: str = ""
    identity: tuple[int, int, int] | None = None


def inspect(path: str | os.PathLike[str]) -> FileState:
    """Open and stat the file as the tail loop would (open, not only stat: a mount or mode that
    lets stat pass can still deny reading)."""
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
    except FileNotFoundError as error:
        return FileState(State.FILE_MISSING, error.strerror or "not found")
    except OSError as error:
        return FileState(State.FILE_UNREADABLE, error.strerror or type(error).__name__)
    return FileState(identity=(stat.st_dev, stat.st_ino, stat.st_size))


@dataclasses.dataclass(frozen=True)
class Beat:
    """One marked request: when it was sent, by the monotonic clock and by the wall clock."""

    marker: str
    sent: float
    sent_at: datetime.datetime


@dataclasses.dataclass
class Counts:
    """What the heartbeat did since start."""

    sent: int = 0
    seen: int = 0
    failed: int = 0
    events_failed: int = 0


class Heartbeat:
    """Sends marked requests, watches for them in the log, and reports the pipeline's state.

    ``send`` makes the marked request; ``read_up_to`` gives the time of the newest event the
    tail loop read (None before the first); ``report`` publishes a transition (an Event). The
    clocks are parameters so that the logic is tested without waiting.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        timeout: float,
        *,
        send: Callable[[str], None],
        read_up_to: Callable[[], datetime.datetime | None],
        report: Callable[[State, str], None],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self.interval = timeout / BEATS_PER_TIMEOUT
        self._send = send
        self._read_up_to = read_up_to
        self._report = report
        self._clock = clock
        self._wall = wall
        self.state = State.PENDING
        self.detail = ""
        self.counts = Counts()
        #: Seconds from sending the newest seen marker to the tail loop reading it.
        self.delay: float | None = None
        #: When the newest marker was seen (wall clock).
        self.last_seen: datetime.datetime | None = None
        #: Markers seen by the tail loop's worker thread, handed over to :meth:`tick`.
        self._seen: collections.deque[tuple[str, float]] = collections.deque(maxlen=MAX_UNSEEN)
        self._unseen: dict[str, Beat] = {}
        self._good_since = clock()
        self._file: FileState | None = None
        self._file_changed = clock()
        #: Since when the file could be opened (None while it cannot).
        self._file_ok_since: float | None = None
        self._error: str | None = None

    def see(self, event: Mapping[str, Any]) -> None:
        """Called by the tail loop's worker thread with each event of the operator's identity."""
        if event.get("verb") != "list":
            return
        uri = event.get("requestURI")
        if type(uri) is not str:
            return
        found = _MARKER.search(uri)
        if found is not None:
            self._seen.append((found.group(1).lower(), self._clock()))

    def tick(self) -> None:
        """One beat: send a marker, take in the markers seen, judge, report a change."""
        self._beat()
        self._take_seen()
        now = self._clock()
        file = inspect(self.path)
        if self._file is None or file != self._file:
            self._file_changed = now
        self._file = file
        if file.error is not None:
            self._file_ok_since = None
        elif self._file_ok_since is None:
            self._file_ok_since = now
        state, detail = self._judge(now, file)
        previous, self.state, self.detail = self.state, state, detail
        if state == previous:
            return
        if state in CAUSES:
            LOG.warning(
                "Detected broken audit pipeline",
                extra={
                    "state": str(state),
                    "path": self.path,
                    "detail": detail,
                    "likelyCause": CAUSES[state][1],
                },
            )
            self._report(state, detail)
        elif state is State.HEALTHY and previous is State.PENDING:
            LOG.info(
                "Confirmed audit pipeline",
                extra={"path": self.path, "delaySeconds": _round(self.delay)},
            )
        elif state is State.HEALTHY:
            LOG.info(
                "Recovered audit pipeline",
                extra={"path": self.path, "was": str(previous), "detail": detail},
            )
            self._report(state, detail)

    def _beat(self) -> None:
        beat = Beat(secrets.token_hex(16), self._clock(), self._wall())
        self._unseen[beat.marker] = beat
        while len(self._unseen) > MAX_UNSEEN:
            del self._unseen[next(iter(self._unseen))]
        try:
            self._send(beat.marker)
        except Exception as error:  # any failure is a finding here, never the loop's end
            self.counts.failed += 1
            first, self._error = self._error is None, _describe(error)
            # Once per run of failures: the state names the cause if they last.
            (LOG.warning if first else LOG.debug)(
                "Failed to send heartbeat", extra={"error": self._error}
            )
            return
        self.counts.sent += 1
        self._error = None

    def _take_seen(self) -> None:
        while self._seen:
            marker, at = self._seen.popleft()
            beat = self._unseen.get(marker)
            if beat is None:
                continue  # another instance's marker, or one already given up
            # Markers come back in order: the ones sent before this one were lost.
            for older in list(self._unseen):
                del self._unseen[older]
                if older == marker:
                    break
            self.counts.seen += 1
            self._good_since = max(self._good_since, beat.sent)
            self.delay = max(0.0, at - beat.sent)
            self.last_seen = self._wall()

    def _judge(self, now: float, file: FileState) -> tuple[State, str]:
        waited = now - self._good_since
        if waited <= self.timeout:
            if self.counts.seen:
                return State.HEALTHY, f"heartbeat seen {_round(self.delay)}s after it was sent"
            return State.PENDING, ""
        unseen = f"no heartbeat seen for {waited:.0f}s (timeout {self.timeout:g}s)"
        if file.error is not None:
            return file.error, f"{unseen}; {self.path}: {file.detail}"
        # The causes below blame the markers sent while the file could be read: a file that
        # just came back keeps the verdict until its markers have had their time.
        ok_since = max(self._good_since, self._file_ok_since or now)
        if now - ok_since <= self.timeout:
            return self.state, self.detail
        if now - self._file_changed >= self.timeout:
            return State.FILE_NOT_GROWING, f"{unseen}; {self.path} unchanged for that long"
        if self._error is not None:
            return State.HEARTBEAT_FAILING, f"{unseen}; the last request failed: {self._error}"
        oldest = next((b for b in self._unseen.values() if b.sent >= ok_since), None)
        if oldest is None:
            return State.REQUESTS_NOT_LOGGED, f"{unseen}; {self.path} grows"
        read = self._read_up_to()
        if read is None or read < oldest.sent_at:
            where = f"events read up to {common.timestamp(read)}" if read else "no event read yet"
            sent = common.timestamp(oldest.sent_at)
            return State.READER_BEHIND, f"{unseen}; {where}, heartbeat sent at {sent}"
        where = f"events read up to {common.timestamp(read)}"
        return State.REQUESTS_NOT_LOGGED, f"{unseen}; {self.path} grows, {where}"


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _describe(error: Exception) -> str:
    if isinstance(error, client.exceptions.ApiException):
        return f"HTTP {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"[:200]


def marked_request(api: client.ApiClient) -> Callable[[str], None]:
    """The beat: a list of DetectionRules selecting a label no object has, with the marker."""
    custom = client.CustomObjectsApi(api)

    def send(marker: str) -> None:
        custom.list_cluster_custom_object(
            crdgen.GROUP,
            crdgen.VERSION,
            "detectionrules",
            label_selector=f"{MARKER_LABEL}={marker}",
            limit=1,
            _request_timeout=10,
        )

    return send


def heartbeat_client(api: client.ApiClient, server: str) -> client.ApiClient:
    """The client the markers go through: ``api`` itself, or a copy aimed at ``server``."""
    if not server:
        return api
    configuration = client.Configuration.get_default_copy()
    configuration.host = server.rstrip("/")
    aimed = client.ApiClient(configuration)
    aimed.user_agent = api.user_agent
    return aimed


def event_reporter(
    api: client.ApiClient, identity: selfwrites.Identity, instance: str, path: str
) -> Callable[[State, str], None]:
    """Publishes a transition as an Event about the operator: its Pod when its token names one,
    else its ServiceAccount, in the operator's namespace; else the node, in ``default``."""
    core_api = client.CoreV1Api(api)
    involved: dict[str, str]
    if identity.namespace and identity.pod_name:
        namespace = identity.namespace
        involved = {"kind": "Pod", "name": identity.pod_name, "namespace": namespace}
        if identity.pod_uid:
            involved["uid"] = identity.pod_uid
    elif identity.namespace and identity.service_account:
        namespace = identity.namespace
        involved = {"kind": "ServiceAccount", "name": identity.service_account}
        involved["namespace"] = namespace
    else:
        # Events about cluster-scoped objects are accepted in ``default`` only.
        namespace = "default"
        involved = {"kind": "Node", "name": instance}
    involved["apiVersion"] = "v1"

    def report(state: State, detail: str) -> None:
        if state is State.HEALTHY:
            kind, reason = "Normal", RECOVERED
            message = f"Audit log {path} on {instance} is moving again: {detail}"
        else:
            kind, (reason, cause) = "Warning", CAUSES[state]
            message = f"Audit log {path} on {instance}: {detail}. Likely cause: {cause}"
        now = common.timestamp()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": "audithound-audit-pipeline.", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": kind,
            "source": {"component": "audithound", "host": instance},
            "reportingComponent": REPORTING_COMPONENT,
            "reportingInstance": instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        event = client.CoreV1Event.from_dict(body)
        assert event is not None
        core_api.create_namespaced_event(namespace, event, _request_timeout=10)

    return report


def start(
    api: client.ApiClient,
    settings: settings_.OperatorSettings,
    identity: selfwrites.Identity,
    read_up_to: Callable[[], datetime.datetime | None],
) -> Heartbeat:
    """The operator's heartbeat, wired to the API server and the audit log of ``settings``."""
    path = str(settings.audit_log)
    report = event_reporter(api, identity, settings.node_name, path)
    beat: Heartbeat | None = None

    def publish(state: State, detail: str) -> None:
        try:
            report(state, detail)
        except Exception as error:  # the metric and the log still say it
            assert beat is not None
            beat.counts.events_failed += 1
            LOG.warning(
                "Failed to create Event", extra={"reason": str(state), "error": _describe(error)}
            )

    beat = Heartbeat(
        path,
        settings.heartbeat_timeout,
        send=marked_request(heartbeat_client(api, settings.heartbeat_server)),
        read_up_to=read_up_to,
        report=publish,
    )
    return beat


def log_start(beat: Heartbeat) -> None:
    """Say that the heartbeat runs (``controller.loops`` runs :meth:`Heartbeat.tick`)."""
    LOG.info(
        "Started audit pipeline heartbeat",
        extra={"path": beat.path, "timeoutSeconds": beat.timeout, "everySeconds": beat.interval},
    )


class Collector(registry.Collector):
    """The heartbeat's metrics: the pipeline's state (one-hot), beats, delay, last seen."""

    def __init__(self, beat: Callable[[], Heartbeat | None]) -> None:
        self._beat = beat

    def collect(self) -> Iterator[core.Metric]:
        beat = self._beat()
        if beat is None or beat.timeout <= 0:
            return
        state = core.GaugeMetricFamily(
            "audithound_audit_pipeline_state",
            "1 for the audit pipeline's current state (healthy, or the likely cause), else 0.",
            labels=["state"],
        )
        current = beat.state
        for each in State:
            state.add_metric([str(each)], 1.0 if each is current else 0.0)
        yield state
        counts = beat.counts
        for name, help_text, value in (
            ("audithound_heartbeats_sent", "Heartbeat requests sent.", counts.sent),
            ("audithound_heartbeats_seen", "Heartbeats read back from the audit log.", counts.seen),
            ("audithound_heartbeat_failures", "Heartbeat requests that failed.", counts.failed),
            (
                "audithound_heartbeat_event_failures",
                "Events about the pipeline's state that could not be created.",
                counts.events_failed,
            ),
        ):
            yield core.CounterMetricFamily(name, help_text, value=value)
        if beat.delay is not None:
            yield core.GaugeMetricFamily(
                "audithound_heartbeat_delay_seconds",
                "From sending the newest seen heartbeat to reading it in the audit log.",
                value=beat.delay,
            )
        if beat.last_seen is not None:
            yield core.GaugeMetricFamily(
                "audithound_heartbeat_last_seen_timestamp_seconds",
                "When a heartbeat was last read back from the audit log (Unix time).",
                value=beat.last_seen.timestamp(),
            )
