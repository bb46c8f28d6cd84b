"""The operator's own identity, and its own writes left out before the rules see them.

Fed by: the API server at start-up (a SelfSubjectReview tells the operator who its credentials
make it: user name, and the pod its token is bound to, if any), then the tail loop, which calls
:class:`OwnWrites` with every decoded event. Feeds: the tail loop (whether the rules see an
event), the heartbeat (every event of the operator's own identity, where it finds its markers)
and ``/metrics`` (what was left out, by verb and resource).

The audit policy logs the operator's writes of SecurityAlerts and Events like everyone's
(Metadata level), so that a stolen operator token leaves evidence. Were those writes evaluated,
a rule matching them would alert on its own alerts, and every alert would feed the next. So an
event is left out of the rules exactly when it is one of :data:`OWN_WRITES`, made by the
operator's user name, with one of the operator's user agents, allowed by the authorizer, and,
when the operator's own token is bound to a pod, with a pod-bound token too. Every other
request of that identity reaches the rules: its reads, a denied request, any other verb or
resource, a request from kubectl or curl, a token minted with ``kubectl create token``.

What this cannot tell apart: a request that copies all of that (the same token, taken from the
pod, sent with ``User-Agent: audithound/...``). It stays in the audit log and in the counts of
``audithound_own_writes_excluded_total``; several instances share the identity (one per
control-plane node, each seeing the others' writes in its own log), so the filter cannot
narrow it to this pod's requests.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubernetes import client
from prometheus_client import core, registry

import audithound

LOG = logging.getLogger("audithound.controller.selfwrites")

#: The user agent of the operator's kubernetes client (set on its ApiClient at start-up); the
#: rule ``audithound-operator-credentials-used-elsewhere`` knows the operator by it.
USER_AGENT = f"audithound/{audithound.__version__}"

#: User agents of the operator's two clients: its kubernetes client and kopf's (``kopf/1.45.2``).
#: Prefixes, not exact strings: during a rolling upgrade instances of two versions write.
AGENT_PREFIXES = (USER_AGENT.split("/")[0] + "/", "kopf/")

#: What the operator writes, as (API group, resource, subresource, verb) of the audit event's
#: ``objectRef`` ("" for the core group and for no subresource).
OWN_WRITES = frozenset(
    {
        # One SecurityAlert per finding (sinks.kubernetes).
        ("audithound.io", "securityalerts", "", "create"),
        # A suppression group's count written into its alert (sinks.kubernetes).
        ("audithound.io", "securityalerts", "", "patch"),
        # Retention: time-to-live and cap (controller.retention).
        ("audithound.io", "securityalerts", "", "delete"),
        # Warning Events about alerts, the heartbeat's Events, kopf's Events about rules.
        ("", "events", "", "create"),
        # Ready condition and execution summaries of rules (kopf and the status writer).
        ("audithound.io", "detectionrules", "status", "patch"),
        # Ready condition and users of shared lists (controller.exception_lists).
        ("audithound.io", "detectionexceptions", "status", "patch"),
    }
)

DECISION = "authorization.k8s.io/decision"
POD_NAME = "authentication.kubernetes.io/pod-name"
POD_UID = "authentication.kubernetes.io/pod-uid"
_SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who the operator's credentials make it, as the API server says."""

    username: str
    #: The ServiceAccount's namespace and name, when the identity is one.
    namespace: str | None = None
    service_account: str | None = None
    #: The pod the token is bound to (a projected token in a pod); None for other tokens.
    pod_name: str | None = None
    pod_uid: str | None = None

    @classmethod
    def from_user_info(cls, info: Mapping[str, Any]) -> Identity:
        """From a SelfSubjectReview's ``status.userInfo`` (the same shape as an audit event's
        ``user``)."""
        username = info.get("username") or ""
        if not username:
            raise ValueError("the SelfSubjectReview named no user")
        namespace = service_account = None
        if username.startswith(_SERVICE_ACCOUNT_PREFIX):
            rest = username.removeprefix(_SERVICE_ACCOUNT_PREFIX)
            namespace, _, service_account = rest.partition(":")
        extra = info.get("extra") or {}
        return cls(
            username=username,
            namespace=namespace or None,
            service_account=service_account or None,
            pod_name=next(iter(extra.get(POD_NAME) or ()), None),
            pod_uid=next(iter(extra.get(POD_UID) or ()), None),
        )


def review(api: client.ApiClient) -> Identity:
    """Ask the API server who the operator is (SelfSubjectReview, authentication.k8s.io/v1,
    Kubernetes 1.28 and later; every authenticated identity may create one)."""
    answer = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
    )
    body: dict[str, Any] = api.sanitize_for_serialization(answer)  # type: ignore[no-untyped-call]
    identity = Identity.from_user_info(body.get("status", {}).get("userInfo", {}))
    LOG.info(
        "Learned own identity",
        extra={"user": identity.username, "pod": identity.pod_name},
    )
    return identity


class OwnWrites:
    """The tail loop's per-event hook, :meth:`observe`: False for the operator's own writes (the
    rules never see them), True for everything else. Every event of the operator's identity
    also goes to ``own_event`` (the heartbeat looks for its markers there).

    Called for every event, in the tail loop's worker thread: the common case (another user)
    costs two subscripts and a comparison, about 80 ns here (a bound method: an instance's
    ``__call__`` costs three times that). It never raises, whatever the event holds.
    """

    def __init__(self, identity: Identity, own_event: Callable[[Mapping[str, Any]], None]) -> None:
        self.identity = identity
        self._username = identity.username
        self._pod_bound = identity.pod_name is not None
        self._own_event = own_event
        #: Events left out, by (verb, resource[/subresource]); written by the worker thread.
        self.excluded: collections.Counter[tuple[str, str]] = collections.Counter()

    def observe(self, event: Mapping[str, Any]) -> bool:
        """False when ``event`` is one of the operator's own writes (counted), else True."""
        try:
            if event["user"]["username"] != self._username:
                return True
        except (KeyError, TypeError):
            return True
        self._own_event(event)
        try:
            left_out = self._own_write(event)
        except (KeyError, TypeError, AttributeError):
            return True
        if left_out is None:
            return True
        self.excluded[left_out] += 1
        return False

    def _own_write(self, event: Mapping[str, Any]) -> tuple[str, str] | None:
        """(verb, resource) when ``event`` is exactly one of the operator's own writes."""
        ref = event.get("objectRef")
        verb = event.get("verb")
        if type(ref) is not dict or type(verb) is not str:
            return None
        resource = ref.get("resource")
        subresource = ref.get("subresource") or ""
        if (ref.get("apiGroup") or "", resource, subresource, verb) not in OWN_WRITES:
            return None
        agent = event.get("userAgent")
        if type(agent) is not str or not agent.startswith(AGENT_PREFIXES):
            return None
        if event["annotations"].get(DECISION) != "allow":
            return None
        if self._pod_bound and not event["user"]["extra"].get(POD_NAME):
            return None
        return verb, f"{resource}/{subresource}" if subresource else str(resource)


class Collector(registry.Collector):
    """``audithound_own_writes_excluded_total{verb,resource}``: the operator's own writes that
    its rules did not see."""

    def __init__(self, own: Callable[[], OwnWrites | None]) -> None:
        self._own = own

    def collect(self) -> Iterator[core.Metric]:
        own = self._own()
        if own is None:
            return
        family = core.CounterMetricFamily(
            "audithound_own_writes_excluded",
            "Audit events of the operator's own writes, left out before the rules.",
            labels=["verb", "resource"],
        )
        # list() of the items is one C call: the worker thread cannot resize the dict under it.
        for (verb, resource), count in list(own.excluded.items()):
            family.add_metric([verb, resource], count)
        yield family
