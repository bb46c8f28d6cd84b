"""SecurityAlert retention against the API server: paged listings, deletions, when to pass.

Fed by: the settings (``--alert-ttl``, ``--max-alerts``, ``--retention-interval``,
``--retention-page-size``) and the number of alerts this instance created. Feeds: deletions
of SecurityAlerts, and the counts behind ``audithound_retention_*`` metrics. Its ``step`` is
the ``retention`` background loop (``controller.loops``); which alerts go is decided by
``controller.retention``.

A pass lists every alert once (``limit``/``continue``, one page in memory at a time) to
count them and find the expired ones; over the cap it lists them a second time to pick the
oldest of the groups that give up alerts; then it deletes, at most
:data:`DELETION_BUDGET` alerts. A pass runs every ``--retention-interval``, sooner once this
instance has created :data:`EARLY_SHARE` of the cap since the last pass, and again right
away while the last one left work (the budget was reached).

The audit loop must never wait on retention. What made alert creation stall before was the
interpreter lock, not the API server: one list of 20,000 alerts is 53 MiB, and parsing it
in one call held the lock for 2.6 s (``json``), during which the audit loop's thread could
not run; the API server serves that list in 3 s and meanwhile creates alerts as fast as
ever. A page of 500 is parsed with orjson in tens of milliseconds, and the lock changes
hands between pages (``bench/retention.py`` measures both).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime
import logging
import time
import typing
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import urllib3
from kubernetes import client
from kubernetes.client import exceptions

from audithound.api import crdgen
from audithound.controller import retention
from audithound.controller import settings as settings_
from audithound.rules import compiler

LOG = logging.getLogger("audithound.controller.retainer")

#: Most deletions in one pass, expired and over-cap together (unit: alerts): what is left
#: waits for the next pass, which follows at once, so that a pass ends, and counts, soon.
DELETION_BUDGET = 5_000
#: Deletions in flight at once: one at a time waits on the API server's round trip; a few
#: keep it busy without crowding out the audit loop's alert creation.
DELETERS = 4
#: Share of ``--max-alerts`` that this instance may create before a pass runs early: bounds
#: how far one instance can take the count past the cap between passes (10%).
EARLY_SHARE = 0.1
#: Seconds between looks at whether a pass is due; a look costs nothing.
DUE_CHECK = 1.0
#: Longest wait for one list page or one deletion (unit: seconds).
REQUEST_TIMEOUT = 60.0

RESOURCE = (crdgen.GROUP, crdgen.VERSION, "securityalerts")


@dataclasses.dataclass
class Counts:
    """What retention did since start; plain numbers, read by the metrics thread."""

    passes: int = 0
    #: Seconds the last complete pass took.
    last_pass_seconds: float | None = None
    #: SecurityAlerts the last pass counted.
    alerts: int | None = None
    deleted_expired: int = 0
    deleted_over_cap: int = 0


class Retainer:
    """Decides when a pass is due, and runs it."""

    def __init__(
        self,
        api: client.ApiClient,
        settings: settings_.OperatorSettings,
        created: Callable[[], int],
    ) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._ttl = None if settings.alert_ttl == "0" else compiler.duration(settings.alert_ttl)
        self._cap = settings.max_alerts or None
        self._interval = settings.retention_interval
        self._page_size = settings.retention_page_size
        self._created = created
        self._last_pass: float | None = None
        self._created_at_last = 0
        self._left_work = False
        self.counts = Counts()

    @property
    def poll_interval(self) -> float:
        """How often the loop should call :meth:`step` (seconds)."""
        return min(DUE_CHECK, self._interval)

    def due(self) -> bool:
        """Whether a pass should run now."""
        if self._last_pass is None or self._left_work:
            return True
        if time.monotonic() - self._last_pass >= self._interval:
            return True
        if self._cap is None:
            return False
        early = max(1, int(self._cap * EARLY_SHARE))
        return self._created() - self._created_at_last >= early

    async def step(self) -> None:
        """One look: a pass, in a worker thread, when one is due."""
        if self.due():
            await asyncio.to_thread(self.run_pass)

    def run_pass(self) -> None:
        """List, decide, delete. Raises what the API server raises (the loop retries)."""
        started = time.monotonic()
        created = self._created()
        now = datetime.datetime.now(datetime.UTC)
        found = retention.census(self._alerts(), now=now, ttl=self._ttl, budget=DELETION_BUDGET)
        shares = retention.quotas(
            found.kept, cap=self._cap, budget=DELETION_BUDGET - len(found.expired)
        )
        doomed = retention.select(self._alerts(), shares, now=now, ttl=self._ttl) if shares else []
        expired = self._delete(found.expired, None)
        over_cap = self._delete([name for name, _ in doomed], dict(doomed))
        kept = sum(found.kept.values()) - sum(shares.values())
        self._left_work = found.expired_total > len(found.expired) or (
            self._cap is not None and kept > self._cap
        )
        seconds = time.monotonic() - started
        self._last_pass, self._created_at_last = started, created
        self.counts.passes += 1
        self.counts.last_pass_seconds = seconds
        self.counts.alerts = found.total
        (LOG.info if expired or over_cap or self._left_work else LOG.debug)(
            "Applied SecurityAlert retention",
            extra={
                "alerts": found.total,
                "deletedExpired": expired,
                "deletedOverCap": over_cap,
                "leftForNextPass": self._left_work,
                "seconds": round(seconds, 2),
            },
        )

    def _alerts(self) -> Iterator[retention.Stored]:
        """Every SecurityAlert, one page in memory at a time."""
        token: str | None = None
        while True:
            response = typing.cast(
                urllib3.BaseHTTPResponse,
                self._custom.list_cluster_custom_object(
                    *RESOURCE,
                    limit=self._page_size,
                    _continue=token,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                ),
            )
            try:
                page: dict[str, Any] = orjson.loads(response.data)
            finally:
                response.release_conn()
            token = (page.get("metadata") or {}).get("continue") or None
            yield from map(retention.stored, page.get("items") or [])
            del page
            if token is None:
                return

    def _delete(self, names: list[str], versions: dict[str, str] | None) -> int:
        """Delete ``names``, :data:`DELETERS` at a time; with ``versions``, each only if
        unchanged since it was listed (a person may have reopened it). Returns how many went."""

        def delete(name: str) -> bool:
            options = None
            if versions is not None:
                precondition = client.V1Preconditions(resource_version=versions[name])
                options = client.V1DeleteOptions(preconditions=precondition)
            try:
                self._custom.delete_cluster_custom_object(
                    *RESOURCE, name, body=options, _request_timeout=REQUEST_TIMEOUT
                )
            except exceptions.ApiException as error:
                # 404: another instance deleted it first; 409: it changed since it was
                # listed, and the next pass decides again.
                if error.status in (404, 409):
                    return False
                raise
            return True

        deleted = 0
        with concurrent.futures.ThreadPoolExecutor(DELETERS, "retention") as pool:
            # Counted here, in one thread, as each deletion is answered.
            for gone in pool.map(delete, names):
                if not gone:
                    continue
                deleted += 1
                if versions is None:
                    self.counts.deleted_expired += 1
                else:
                    self.counts.deleted_over_cap += 1
        return deleted
