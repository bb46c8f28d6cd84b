"""Settings of ``audithound run``: flags, each with an environment variable, validated once.

Fed by: the command line and the environment (the DaemonSet sets the environment). Feeds:
the operator runtime. Importing this module does not import kopf or the kubernetes client,
so ``audithound --help`` stays fast.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import pathlib
import socket
from typing import Literal, Self

import pydantic

from audithound.api import rule as rule_api
from audithound.source import decode

#: Longest ``--alert-ttl``: ten years (unit: seconds).
MAX_ALERT_TTL_SECONDS = 3650 * 86400

StartPolicy = Literal["lookback", "beginning", "end"]
MetricsAuth = Literal["kubernetes", "none"]


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9090`` for IPv6) as host and port; raises ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT with a port from 1 to 65535, got {address!r}")
    return host.removeprefix("[").removesuffix("]") or "0.0.0.0", int(port)


def is_loopback(host: str) -> bool:
    """Whether only this machine can connect to ``host`` (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OperatorSettings(pydantic.BaseModel):
    """Every tunable of the operator; each docstring line says unit, default and why."""

    model_config = pydantic.ConfigDict(frozen=True)

    #: The API server's audit log (``--audit-log-path``); kubeadm's usual place by default.
    audit_log: pathlib.Path = pathlib.Path("/var/log/kubernetes/audit/audit.log")
    #: Where the read position is kept across restarts (a hostPath on the node).
    state_dir: pathlib.Path = pathlib.Path("/var/lib/audithound")
    #: Name of this instance in rule status (the node name: one instance per control plane).
    node_name: str = pydantic.Field(default_factory=socket.gethostname, min_length=1)
    #: Where to start without a saved position: the rules' longest look-back (Elastic's
    #: ``from``), the beginning of the retained logs, or the end.
    start: StartPolicy = "lookback"
    #: Seconds between looks at the audit log when idle; 0.1 s keeps alert latency low
    #: at the cost of a stat() call ten times a second.
    poll_interval: float = pydantic.Field(default=0.1, gt=0, le=10)
    #: Lines handled per batch; the checkpoint advances once per batch.
    batch_lines: int = pydantic.Field(default=2000, ge=1, le=100_000)
    #: Longest audit line read, in bytes; longer ones are counted and skipped (4 MiB, as scan).
    max_line_bytes: int = pydantic.Field(default=decode.MAX_LINE_BYTES, ge=1024)
    #: Kubernetes Events per second at most (token bucket); alerts are never rate-limited.
    events_per_second: float = pydantic.Field(default=5.0, gt=0)
    #: Burst of Events above the rate.
    events_burst: int = pydantic.Field(default=20, ge=1)
    #: Seconds between rule status updates (execution summaries).
    status_interval: float = pydantic.Field(default=10.0, gt=0)
    #: SecurityAlerts older than this are deleted (``30d``; ``0``: kept forever).
    alert_ttl: str = pydantic.Field(
        default="30d", pattern=r"^(0|[1-9][0-9]{0,8}[smhd])$", max_length=10
    )
    #: Most SecurityAlerts kept; past it the oldest closed, then acknowledged, then open ones
    #: go (0: no cap). 10,000 small objects are about 30 MB in etcd.
    max_alerts: int = pydantic.Field(default=10_000, ge=0)
    #: SecurityAlerts created per minute at most, over all rules (0: no cap). Beside each
    #: rule's ``maxSignals``, it bounds what an alert storm costs etcd and the API server: 600
    #: a minute is 10 writes a second, well under what one API server takes. Past half of it,
    #: a rule that created a tenth of it this minute waits for the next minute, so one
    #: flooding rule never silences the others. Refused alerts are counted per rule.
    max_alert_creations_per_minute: int = pydantic.Field(default=600, ge=0, le=1_000_000)
    #: Seconds between retention passes (a paged list of SecurityAlerts, then deletions);
    #: a pass comes sooner once this instance created a tenth of ``max_alerts``.
    retention_interval: float = pydantic.Field(default=300.0, gt=0)
    #: Seconds within which the operator's own heartbeat requests (one every quarter of it)
    #: must appear in the audit log it reads; otherwise it reports the likely cause (metric,
    #: Warning Event, log). 120 s by default: the API server writes an event before it answers
    #: (blocking mode) or within seconds (batch mode), and a burst the operator is reading
    #: through drains within a minute, so only a broken pipeline is late by two minutes.
    #: 0: no check.
    heartbeat_timeout: float = pydantic.Field(default=120.0, ge=0, le=86_400)
    #: The API server whose audit log this instance reads, where the heartbeat requests go
    #: (``https://<node address>:6443``). Empty (default): the operator's own API server, right
    #: when there is one; with several, requests through the ``kubernetes`` Service land on any.
    heartbeat_server: str = ""
    #: SecurityAlerts per list request of a retention pass (``limit``; 500, kubectl's chunk
    #: size): memory, and how long one page's parsing holds the interpreter, grow with it.
    retention_page_size: int = pydantic.Field(default=500, ge=1, le=10_000)
    #: Liveness/readiness endpoint served by kopf (``http://0.0.0.0:8080/healthz``); empty: off.
    liveness: str = "http://0.0.0.0:8080/healthz"
    #: Prometheus metrics as ``host:port`` (``0.0.0.0:9090``); empty: off.
    metrics: str = "0.0.0.0:9090"
    #: SecurityAlerts written at once (unit: concurrent requests; default 8). One at a time
    #: the API server takes about 250 per second, slower than a busy log can produce them.
    alert_writers: int = pydantic.Field(default=8, ge=1, le=64)
    #: Seconds between saves of the detectors' state while it keeps changing (default 5): the
    #: state of new_terms and threshold rules can be megabytes. The read position is saved
    #: with it; after a crash at most this much of the log is read again (its alerts exist,
    #: so nothing is created twice).
    state_interval: float = pydantic.Field(default=5.0, gt=0, le=300)
    #: Who may read the metrics (which rules match whose requests: worth hiding from an
    #: attacker). ``kubernetes`` (default): HTTPS, the scraper's bearer token checked with a
    #: TokenReview and its right to ``get`` the non-resource URL ``/metrics`` with a
    #: SubjectAccessReview, as kubebuilder's operators serve them; the shipped Service and a
    #: Prometheus in the cluster work with it. ``none``: plain HTTP for anyone who can
    #: connect, accepted on a loopback address only.
    metrics_auth: MetricsAuth = "kubernetes"
    #: Directory with ``tls.crt`` and ``tls.key`` for the metrics endpoint (a mounted Secret,
    #: cert-manager's layout), re-read when they change; unset: a self-signed certificate
    #: made at start (scrapers then skip verification, as with kubebuilder's default).
    metrics_cert_dir: pathlib.Path | None = None

    @pydantic.field_validator("alert_ttl")
    @classmethod
    def _alert_ttl_bounded(cls, value: str) -> str:
        # Ten years: an alert's age is a subtraction of datetimes, which a larger one overflows.
        if value != "0" and rule_api.seconds(value) > MAX_ALERT_TTL_SECONDS:
            raise ValueError(f"alert_ttl {value} is over 3650d")
        return value

    @pydantic.field_validator("metrics")
    @classmethod
    def _metrics_address(cls, value: str) -> str:
        if value:
            split_address(value)
        return value

    @pydantic.model_validator(mode="after")
    def _metrics_open_only_locally(self) -> Self:
        if self.metrics and self.metrics_auth == "none":
            host, _ = split_address(self.metrics)
            if not is_loopback(host):
                raise ValueError(
                    f"metrics_auth 'none' lets anyone who can connect read the metrics: "
                    f"serve them on a loopback address (127.0.0.1:9090), not {self.metrics!r}, "
                    f"or use metrics_auth 'kubernetes'"
                )
        return self


_ENV = {
    "audit_log": "AUDITHOUND_AUDIT_LOG",
    "state_dir": "AUDITHOUND_STATE_DIR",
    "node_name": "AUDITHOUND_NODE_NAME",
    "start": "AUDITHOUND_START",
    "poll_interval": "AUDITHOUND_POLL_INTERVAL",
    "events_per_second": "AUDITHOUND_EVENTS_PER_SECOND",
    "status_interval": "AUDITHOUND_STATUS_INTERVAL",
    "alert_ttl": "AUDITHOUND_ALERT_TTL",
    "max_alerts": "AUDITHOUND_MAX_ALERTS",
    "max_alert_creations_per_minute": "AUDITHOUND_MAX_ALERT_CREATIONS_PER_MINUTE",
    "retention_interval": "AUDITHOUND_RETENTION_INTERVAL",
    "heartbeat_timeout": "AUDITHOUND_HEARTBEAT_TIMEOUT",
    "heartbeat_server": "AUDITHOUND_HEARTBEAT_SERVER",
    "retention_page_size": "AUDITHOUND_RETENTION_PAGE_SIZE",
    "liveness": "AUDITHOUND_LIVENESS",
    "metrics": "AUDITHOUND_METRICS",
    "alert_writers": "AUDITHOUND_ALERT_WRITERS",
    "state_interval": "AUDITHOUND_STATE_INTERVAL",
    "metrics_auth": "AUDITHOUND_METRICS_AUTH",
    "metrics_cert_dir": "AUDITHOUND_METRICS_CERT_DIR",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` flags; each defaults to its environment variable, then to the model."""
    defaults = OperatorSettings.model_fields

    def flag(name: str, help_text: str, **extra: object) -> None:
        env = _ENV[name]
        field = defaults[name]
        default = "the host name" if field.default_factory is not None else field.default
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=os.environ.get(env),
            help=f"{help_text} (env {env}; default {default})",
            **extra,  # type: ignore[arg-type]
        )

    flag("audit_log", "the API server's audit log file", metavar="PATH")
    flag("state_dir", "directory for the saved read position", metavar="DIR")
    flag("node_name", "this instance's name in rule status")
    flag("start", "start without a saved position at", choices=("lookback", "beginning", "end"))
    flag("poll_interval", "seconds between looks at an idle log", metavar="SECONDS")
    flag("events_per_second", "Kubernetes Events per second at most", metavar="N")
    flag("status_interval", "seconds between rule status updates", metavar="SECONDS")
    flag("alert_ttl", "delete SecurityAlerts older than this (0: never)", metavar="DURATION")
    flag("max_alerts", "most SecurityAlerts kept (0: no cap)", metavar="N")
    flag(
        "max_alert_creations_per_minute",
        "SecurityAlerts created per minute at most, over all rules (0: no cap)",
        metavar="N",
    )
    flag("retention_interval", "seconds between retention passes", metavar="SECONDS")
    flag(
        "heartbeat_timeout", "seconds for own requests to reach the log (0: off)", metavar="SECONDS"
    )
    flag("heartbeat_server", "API server writing the log ('': the operator's own)", metavar="URL")
    flag("retention_page_size", "SecurityAlerts per list request of retention", metavar="N")
    flag("liveness", "liveness endpoint URL ('' to disable)", metavar="URL")
    flag("metrics", "Prometheus metrics address ('' to disable)", metavar="HOST:PORT")
    flag("alert_writers", "SecurityAlerts written at once", metavar="N")
    flag("state_interval", "seconds between saves of changing detector state", metavar="SECONDS")
    flag(
        "metrics_auth",
        "who may read the metrics: kubernetes (HTTPS, TokenReview and SubjectAccessReview) "
        "or none (plain HTTP, loopback addresses only)",
        choices=("kubernetes", "none"),
    )
    flag("metrics_cert_dir", "directory with tls.crt and tls.key for metrics", metavar="DIR")


def from_arguments(args: argparse.Namespace) -> OperatorSettings:
    """Validated settings from parsed flags; unset flags keep the model's defaults."""
    given = {name: getattr(args, name) for name in _ENV if getattr(args, name, None) is not None}
    if "node_name" not in given and os.environ.get("NODE_NAME"):
        given["node_name"] = os.environ["NODE_NAME"]
    return OperatorSettings.model_validate(given)
