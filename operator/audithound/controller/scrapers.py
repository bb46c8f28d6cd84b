"""Who may read ``/metrics``: the scraper's bearer token and its RBAC, asked of the API server.

Fed by: the metrics server, with each request's ``Authorization`` header, path and method.
Feeds: the answer as an HTTP status. The token is checked with a TokenReview (who is it?),
then a SubjectAccessReview asks whether that user may ``get`` the non-resource URL of the
request (``/metrics``): the checks of controller-runtime's
``filters.WithAuthenticationAndAuthorization``, which kubebuilder's operators use, so the
ClusterRole a Prometheus holds for them works here too.

Answers are cached as controller-runtime caches them (who a token is: 1 minute; allowed:
5 minutes; denied: 30 seconds), keyed by a hash of the token, never the token itself, so a
scrape every few seconds costs the API server nothing and a short outage of it does not blind
the scraper. When the API server cannot be asked, the answer is 503 and nothing is served.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time

from kubernetes import client

from audithound.controller import loops

LOG = logging.getLogger("audithound.controller.scrapers")

#: How long who a token belongs to is remembered (unit: seconds; controller-runtime: 1m).
AUTHENTICATED_TTL = 60.0
#: How long an allowed request is remembered (unit: seconds; controller-runtime: 5m).
ALLOWED_TTL = 300.0
#: How long a denied request or an unknown token is remembered (seconds; controller-runtime: 30s).
DENIED_TTL = 30.0
#: Most answers remembered of each kind: a flood of made-up tokens cannot grow memory.
MAX_CACHED = 1024
#: Longest wait for a review (unit: seconds): a scrape fails rather than hangs.
REQUEST_TIMEOUT = 10.0

OK, UNAUTHORIZED, FORBIDDEN, UNAVAILABLE = 200, 401, 403, 503


@dataclasses.dataclass(frozen=True)
class User:
    """Who a token belongs to, as the TokenReview said."""

    name: str
    uid: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...]


class _Cache:
    """Answers with an expiry each, at most :data:`MAX_CACHED`; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[object, tuple[float, object]] = {}

    def get(self, key: object) -> tuple[bool, object]:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] <= time.monotonic():
                return False, None
            return True, found[1]

    def put(self, key: object, value: object, ttl: float) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= MAX_CACHED:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= MAX_CACHED:
                    self._entries.clear()
            self._entries[key] = (now + ttl, value)


class Gate:
    """Decides whether a request for metrics is served."""

    def __init__(self, api: client.ApiClient) -> None:
        self._authentication = client.AuthenticationV1Api(api)
        self._authorization = client.AuthorizationV1Api(api)
        self._users = _Cache()
        self._decisions = _Cache()

    def check(self, authorization: str | None, path: str, method: str) -> int:
        """200 to serve, 401 without a valid bearer token, 403 without the right to ``get``
        ``path``, 503 when the API server could not be asked."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return UNAUTHORIZED
        verb = {"GET": "get", "HEAD": "head"}.get(method, method.lower())
        try:
            user = self._user(token)
            if user is None:
                return UNAUTHORIZED
            return OK if self._allowed(user, path, verb) else FORBIDDEN
        except Exception as error:
            LOG.warning(
                "Failed to review a metrics scraper", extra={"error": loops.describe(error)}
            )
            return UNAVAILABLE

    def _user(self, token: str) -> User | None:
        key = hashlib.sha256(token.encode()).digest()
        known, cached = self._users.get(key)
        if known:
            return cached if isinstance(cached, User) else None
        review = self._authentication.create_token_review(
            client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token)),
            _request_timeout=REQUEST_TIMEOUT,
        )
        status = review.status
        user = None
        if status is not None and status.authenticated and status.user is not None:
            info = status.user
            user = User(
                info.username or "",
                info.uid or "",
                tuple(info.groups or ()),
                tuple(sorted((k, tuple(v)) for k, v in (info.extra or {}).items())),
            )
        self._users.put(key, user, AUTHENTICATED_TTL if user is not None else DENIED_TTL)
        return user

    def _allowed(self, user: User, path: str, verb: str) -> bool:
        key = (user, path, verb)
        known, cached = self._decisions.get(key)
        if known:
            return cached is True
        spec = client.V1SubjectAccessReviewSpec(
            user=user.name,
            uid=user.uid,
            groups=list(user.groups),
            extra={k: list(v) for k, v in user.extra},
            non_resource_attributes=client.V1NonResourceAttributes(path=path, verb=verb),
        )
        review = self._authorization.create_subject_access_review(
            client.V1SubjectAccessReview(spec=spec), _request_timeout=REQUEST_TIMEOUT
        )
        allowed = bool(review.status is not None and review.status.allowed)
        self._decisions.put(key, allowed, ALLOWED_TTL if allowed else DENIED_TTL)
        return allowed
