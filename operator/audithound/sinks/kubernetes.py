"""Alerts into the cluster: one SecurityAlert per finding, and Warning Events about it.

Fed by: the operator's pipeline, from worker threads (the kubernetes client is blocking; up
to ``concurrency`` alerts are written at once). Feeds: the API server. ``emit`` returns only
after the SecurityAlert exists, so the caller may advance its read position afterwards; a 409
means the alert was written before (a replay after a crash, or another reader): not new, and
no second Event. For an alert that may be renewed (a term new again, see ``sinks.base``) the
existing alert is read to tell a duplicate from a term that came back.

Events are a convenience for ``kubectl get events`` / ``describe``; they are rate-limited by
a token bucket, and a refused or failed Event never fails the alert. They are read by more
people than alerts, and the Events of a namespace by its tenants, so what they say is
chosen (see ``_events``): an unauthenticated client picks its URI, object names, verb and
user agent, and must not get text of its choosing into anyone's Events.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import threading
import time
import typing
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client import exceptions

from audithound.api import common, crdgen
from audithound.sinks import base

LOG = logging.getLogger("audithound.sinks.kubernetes")

#: Kubernetes cuts Event messages at 1024 characters; we cut first, on our terms.
EVENT_MESSAGE_LIMIT = 1024
REPORTING_COMPONENT = "audithound.io/operator"
#: The API server accepts Events about cluster-scoped objects (SecurityAlerts) only in
#: ``default`` (or no namespace); ``kubectl describe securityalert`` finds them there.
ALERT_EVENTS_NAMESPACE = "default"
#: API server answers that refuse an alert for good (a malformed or oversized object). Others
#: (401, 403, 404 without the CRD, 429, 5xx, no connection) can pass: the alert waits and is
#: tried again, holding the read position, so fixing RBAC or the CRD loses nothing.
REJECTED = frozenset({400, 413, 422})
ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
#: Verbs the API server derives for resource requests, and the HTTP methods it lower-cases
#: for the others; a non-resource request may carry any method the client made up.
KNOWN_VERBS = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    | {"post", "put", "head", "options"}
)


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take`` says whether one was there."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()
        # Alerts are written from several threads (``concurrency``).
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclasses.dataclass
class SinkCounts:
    """What the sink did since start (exported in logs and status); :meth:`add` is safe to
    call from the threads that write alerts."""

    created: int = 0
    duplicates: int = 0
    #: Suppression groups' alerts whose counts were written in place.
    updated: int = 0
    events: int = 0
    events_limited: int = 0
    events_failed: int = 0
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    def add(self, name: str) -> None:
        """Count one more of ``name`` (a field of this class)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


#: What suppression changes in an alert it created (``alerts.suppression``).
_SUPPRESSION_FIELDS = (
    "count",
    "firstSeen",
    "lastSeen",
    "auditIDs",
    "auditIDsOmitted",
    "sampleEvents",
    "suppression",
)
#: Reads and writes of one update before giving up until its next turn (people rarely edit
#: an alert twice in the same second).
UPDATE_ATTEMPTS = 3


class KubernetesSink:
    """Creates SecurityAlerts and their Events with the operator's own credentials."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        instance: str,
        events_per_second: float,
        events_burst: int,
        concurrency: int = 1,
    ) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._instance = instance
        self._bucket = TokenBucket(events_per_second, events_burst)
        self.counts = SinkCounts()
        #: Alerts written at once; the client's connection pool must be at least this large.
        self.concurrency = concurrency
        #: A suppression group's alert is created at once and updated as the group grows.
        self.updates_in_place = True

    def emit(self, alert: dict[str, Any]) -> bool:
        created = self._create(alert["name"], alert)
        if created is None and "renewal" in alert:
            renamed = base.renewal_name(alert, self._existing_time(alert["name"]))
            if renamed is not None:
                alert = {**alert, "name": renamed}
                created = self._create(renamed, alert)
        if created is None:
            self.counts.add("duplicates")
            return False
        self.counts.add("created")
        spec = alert["spec"]
        LOG.info(
            "Created SecurityAlert",
            extra={
                "securityalert": alert["name"],
                "rule": spec["rule"]["name"],
                "auditID": spec["event"]["auditID"],
                "severity": spec["rule"]["severity"],
            },
        )
        self._events(created, alert)
        return True

    def update(self, alert: dict[str, Any]) -> bool:
        """Write a suppression group's counts into its existing alert; False when the alert
        was closed (``workflowStatus: closed``) or deleted, which ends the group.

        Only the fields suppression changes are written, under the resourceVersion just
        read: a person closing the alert meanwhile makes the write fail (409), and the
        alert is read again, so a closed alert is never written to.
        """
        name = alert["name"]
        changed = {key: alert["spec"][key] for key in _SUPPRESSION_FIELDS if key in alert["spec"]}
        for _ in range(UPDATE_ATTEMPTS):
            existing = self._read(name)
            if existing is None or (existing.get("spec") or {}).get("workflowStatus") == "closed":
                return False
            patch = {
                "metadata": {"resourceVersion": existing["metadata"]["resourceVersion"]},
                "spec": changed,
            }
            try:
                self._custom.patch_cluster_custom_object(
                    crdgen.GROUP, crdgen.VERSION, "securityalerts", name, patch
                )
            except exceptions.ApiException as error:
                if error.status == 409:
                    continue  # changed meanwhile (closed?): read it again
                if error.status == 404:
                    return False
                if error.status in REJECTED:
                    raise base.Rejected(
                        f"SecurityAlert {name}: {error.status} {error.reason}"
                    ) from error
                raise
            self.counts.add("updated")
            return True
        raise RuntimeError(f"SecurityAlert {name} kept changing while its count was written")

    def close(self) -> None:
        """Nothing is buffered: every call wrote through."""

    def _create(self, name: str, alert: dict[str, Any]) -> dict[str, Any] | None:
        """Create the SecurityAlert ``name``; None when it exists (409)."""
        body = {
            "apiVersion": f"{crdgen.GROUP}/{crdgen.VERSION}",
            "kind": "SecurityAlert",
            "metadata": {"name": name, "labels": alert["labels"]},
            "spec": alert["spec"],
        }
        try:
            return typing.cast(
                dict[str, Any],
                self._custom.create_cluster_custom_object(
                    crdgen.GROUP, crdgen.VERSION, "securityalerts", body
                ),
            )
        except exceptions.ApiException as error:
            if error.status == 409:
                return None
            if error.status in REJECTED:
                raise base.Rejected(
                    f"SecurityAlert {name}: {error.status} {error.reason}"
                ) from error
            raise

    def _existing_time(self, name: str) -> float | None:
        """When the finding of the existing alert ``name`` last saw an event (read only for
        alerts that may be renewed: a term new again)."""
        existing = self._read(name)
        if existing is None:  # deleted meanwhile (retention): nothing to compare
            return None
        return base.alert_time(existing.get("spec") or {})

    def _read(self, name: str) -> dict[str, Any] | None:
        """The SecurityAlert ``name`` as the API server holds it; None when it is gone."""
        try:
            return typing.cast(
                dict[str, Any],
                self._custom.get_cluster_custom_object(
                    crdgen.GROUP, crdgen.VERSION, "securityalerts", name
                ),
            )
        except exceptions.ApiException as error:
            if error.status == 404:
                return None
            raise

    def _events(self, created: dict[str, Any], alert: dict[str, Any]) -> None:
        """One Event about the alert in ``default``; one about the touched object in its
        namespace only for an authenticated user's allowed request. An unauthenticated or
        denied request leaves the tenant nothing to act on, and its namespace and names are
        the client's choice; the alert holds its evidence."""
        spec = alert["spec"]
        event = spec["event"]
        message = _message(alert)
        metadata = created.get("metadata", {})
        targets = [
            (
                ALERT_EVENTS_NAMESPACE,
                {
                    "apiVersion": f"{crdgen.GROUP}/{crdgen.VERSION}",
                    "kind": "SecurityAlert",
                    "name": metadata.get("name", alert["name"]),
                    "uid": metadata.get("uid"),
                },
            )
        ]
        touched = event.get("objectRef") or {}
        if (
            touched.get("namespace")
            and touched.get("name")
            and _authenticated(event)
            and event.get("decision") == "allow"
        ):
            group = touched.get("apiGroup")
            version = touched.get("apiVersion", "")
            targets.append(
                (
                    touched["namespace"],
                    {
                        "apiVersion": f"{group}/{version}" if group else version,
                        # The audit event names the resource, not the kind; kubectl lists
                        # these with `get events --field-selector involvedObject.name=...`.
                        "kind": touched["resource"],
                        "name": touched["name"],
                        "namespace": touched["namespace"],
                    },
                )
            )
        for namespace, involved in targets:
            if not self._bucket.take():
                self.counts.add("events_limited")
                continue
            self._event(namespace, involved, message, alert["name"])

    def _event(
        self, namespace: str, involved: dict[str, Any], message: str, alert_name: str
    ) -> None:
        now = common.timestamp()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{alert_name[:200]}.", "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": "DetectionRuleMatched",
            "message": message,
            "type": "Warning",
            "source": {"component": "audithound", "host": self._instance},
            "reportingComponent": REPORTING_COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            event = client.CoreV1Event.from_dict(body)
            assert event is not None
            self._core.create_namespaced_event(namespace, event)
            self.counts.add("events")
        except exceptions.ApiException as error:
            self.counts.add("events_failed")
            LOG.warning(
                "Failed to create Event",
                extra={"namespace": namespace, "status": error.status, "securityalert": alert_name},
            )


def _authenticated(event: dict[str, Any]) -> bool:
    """Whether an authenticator vouched for the excerpt's user: a user name other than
    system:anonymous, outside system:unauthenticated (a request that failed authentication,
    a 401, has no user at all)."""
    user = event.get("user", {})
    name = user.get("username")
    return bool(name) and name != ANONYMOUS and UNAUTHENTICATED not in user.get("groups", [])


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _message(alert: dict[str, Any]) -> str:
    """The Event text: the alert's reason for an authenticated user (who answers for what
    it says, redacted as the alert is); for an unauthenticated request only what the API
    server vouches for (a known verb, the source address, the decision, the status code),
    never its URI, names, user agent or auditID, which the client chose."""
    spec = alert["spec"]
    event = spec["event"]
    if _authenticated(event):
        said = spec["reason"]
    else:
        verb = event.get("verb")
        said = "unauthenticated " + (f"{verb} request" if verb in KNOWN_VERBS else "request")
        source = next((ip for ip in event.get("sourceIPs", []) if _ip(ip)), None)
        if source:
            said += f" from {source}"
        said += {"allow": " was allowed", "forbid": " was denied"}.get(event.get("decision"), "")
        if isinstance(event.get("responseCode"), int):
            said += f" (HTTP {event['responseCode']})"
        said += f"; its URI and names are in SecurityAlert {alert['name']}"
    message = f"[{spec['rule']['severity']}] {spec['rule']['name']}: {said}"
    return message[:EVENT_MESSAGE_LIMIT]
