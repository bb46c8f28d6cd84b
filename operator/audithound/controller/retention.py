"""Retention of SecurityAlerts: a time-to-live and a cap on their number, so etcd stays healthy.

Fed by: the list of SecurityAlerts (name, creation time, workflow status) and the settings.
Feeds: the deletions the operator makes every ``--retention-interval``. Which alerts go is a
pure function of that list (:func:`expired`), so every instance of the operator picks the
same ones and a deletion made twice is answered 404 and ignored.

Order of deletion past the cap: closed alerts first, then acknowledged, then open, oldest
first within each: people lose what they already dealt with before what they have not seen.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable

#: Workflow states in the order their alerts are given up when over the cap.
_GIVE_UP_ORDER = {"closed": 0, "acknowledged": 1, "open": 2}


@dataclasses.dataclass(frozen=True)
class Stored:
    """What retention needs to know of one SecurityAlert."""

    name: str
    #: When the operator detected it (``spec.detectedTime``, microseconds), else its
    #: ``creationTimestamp`` (whole seconds: too coarse to order a burst of alerts).
    created: datetime.datetime
    workflow: str


def expired(
    alerts: Iterable[Stored],
    *,
    now: datetime.datetime,
    ttl: datetime.timedelta | None,
    cap: int | None,
) -> list[str]:
    """Names of the alerts to delete: older than ``ttl``, then the surplus over ``cap``."""
    kept: list[Stored] = []
    doomed: list[str] = []
    for alert in alerts:
        if ttl is not None and now - alert.created > ttl:
            doomed.append(alert.name)
        else:
            kept.append(alert)
    if cap is not None and len(kept) > cap:
        kept.sort(key=lambda a: (_GIVE_UP_ORDER.get(a.workflow, 2), a.created, a.name))
        doomed.extend(alert.name for alert in kept[: len(kept) - cap])
    return doomed


def stored(item: dict[str, object]) -> Stored:
    """A :class:`Stored` from a SecurityAlert as the API returns it."""
    metadata = item.get("metadata")
    spec = item.get("spec")
    assert isinstance(metadata, dict) and isinstance(spec, dict)
    stamp = spec.get("detectedTime") or metadata["creationTimestamp"]
    created = datetime.datetime.fromisoformat(str(stamp))
    return Stored(str(metadata["name"]), created, str(spec.get("workflowStatus", "open")))
