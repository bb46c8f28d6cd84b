"""What a detector reports: a finding of one event or several, and what makes it unique.

Fed by: the detectors of this package. Feeds: the pipeline, which applies the rule's limits,
names the finding (``alerts.identity``) and turns it into an alert (``alerts.evidence``).

A finding names the event that completed it (the event with the new term, the event that
made a group reach its threshold): the alert's ``auditID``, the event it shows first. A
finding of several events also keeps every member's reference (bounded by
:data:`MAX_MEMBERS`) and the evidence excerpts of its last few members (bounded by
:data:`MAX_EXCERPTS`), so an alert stays one small object however large the burst.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any, Final

#: Member events whose references (auditID, stage, time) a finding keeps, the newest ones;
#: the count says how many there were. 100 references are about 10 KB in an alert, far
#: below etcd's object limit (1.5 MiB), and more than anyone reads in triage.
MAX_MEMBERS: Final = 100

#: Member events whose evidence excerpt a finding keeps (the newest ones): enough to see the
#: shape of a burst or each step of a short sequence, at about 1 KB each.
MAX_EXCERPTS: Final = 5

#: The allowlisted, redacted excerpt of one event (``alerts.evidence.excerpt``'s shape).
Excerpt = dict[str, Any]


def event_key(event: Mapping[str, Any]) -> tuple[str, str, str]:
    """What tells one audit event from every other: its auditID, stage, and the time the API
    server received the request. The time is there because a client may choose its own
    auditID (the API server keeps an ``Audit-ID`` request header as sent): a flood under one
    auditID must not fold into one alert, while the same event read twice has the same time.
    """
    return (
        str(event.get("auditID", "")),
        str(event.get("stage", "")),
        str(event.get("requestReceivedTimestamp") or event.get("timestamp") or ""),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """One event of a finding of several events, as the finding references it."""

    audit_id: str
    stage: str
    #: Event time, seconds since the epoch.
    time: float


@dataclasses.dataclass(frozen=True, slots=True)
class Renewal:
    """A finding that may be found again later under the same key (a term new once more).

    Its alert is named by ``key`` alone, so that two readers meeting the same new term create
    one alert; when an alert of that name exists already but its last event is older than
    ``after`` before this one, the finding is new again and is named by ``unique`` instead.
    """

    unique: tuple[str, ...]
    after: datetime.timedelta


# Not frozen, though nothing changes a finding once made: a frozen dataclass sets each of its
# ten fields through object.__setattr__, 0.8 µs more per finding, and a query rule makes one
# per matching event (a hunting query, one per event).
@dataclasses.dataclass(slots=True)
class Finding:
    """One thing a rule found (never changed once made)."""

    #: The event that completed the finding.
    event: Mapping[str, Any]
    #: What makes the finding unique among the rule's findings (hashed into its name).
    key: tuple[str, ...]
    #: The values that define the finding, field by field (the new term, the group).
    group: tuple[tuple[str, str], ...] = ()
    #: Events in the finding.
    count: int = 1
    #: The newest members, oldest first, at most :data:`MAX_MEMBERS` (empty for one event).
    members: tuple[Member, ...] = ()
    #: Excerpts of the newest members, oldest first, at most :data:`MAX_EXCERPTS`.
    excerpts: tuple[Excerpt, ...] = ()
    #: Event time of the first and of the last member (seconds since the epoch).
    first_seen: float | None = None
    last_seen: float | None = None
    renewal: Renewal | None = None

    @property
    def multiple(self) -> bool:
        """Whether the finding is more than its one event (a group, a term)."""
        return bool(self.group) or self.count > 1
