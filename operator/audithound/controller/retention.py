"""Retention of SecurityAlerts: which alerts go, under a time-to-live and a cap on their number.

Fed by: SecurityAlerts as the API returns them, one page at a time, twice per pass at most
(``controller.retainer`` lists them). Feeds: the names that pass deletes. Everything here is
a pure function of the alerts seen, so every instance of the operator picks the same ones
from the same list, and a deletion made twice is answered 404 and ignored.

Memory is flat in the number of alerts: the first listing (:func:`census`) keeps a count per
workflow state and rule, plus the names of expired alerts up to the pass's deletion budget;
the second (:func:`select`), needed only over the cap, keeps the oldest few per state and
rule, as many as that pair gives up (at most twice that while reading).

Order of giving up past the cap, tier by tier: closed alerts first, then acknowledged, then
open (people lose what they dealt with before what they have not seen). Within a tier the
rule holding the most alerts of that tier gives up first, its oldest first, until it holds
no more than the next one (:func:`fair_share`): a rule that floods cannot evict another
rule's alerts while it holds more than that rule, and a quiet rule keeps its alerts unless
every rule is down to as few.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

#: Workflow states in the order their alerts are given up over the cap; any other state
#: counts as open.
TIERS = ("closed", "acknowledged", "open")
_TIER = {state: rank for rank, state in enumerate(TIERS)}

#: (tier, rule): the groups that the cap is shared out between.
Group = tuple[int, str]


@dataclasses.dataclass(frozen=True)
class Stored:
    """What retention needs to know of one SecurityAlert."""

    name: str
    #: When the operator detected it (``spec.detectedTime``, microseconds), else its
    #: ``creationTimestamp`` (whole seconds: too coarse to order a burst of alerts).
    created: datetime.datetime
    workflow: str
    #: The rule that raised it (``spec.rule.name``, else its ``audithound.io/rule`` label).
    rule: str
    #: ``metadata.resourceVersion``: an over-cap deletion applies only to what was listed.
    version: str = ""

    @property
    def group(self) -> Group:
        return _TIER.get(self.workflow, _TIER["open"]), self.rule


def stored(item: Mapping[str, Any]) -> Stored:
    """A :class:`Stored` from a SecurityAlert as the API returns it."""
    metadata = item["metadata"]
    spec = item.get("spec") or {}
    stamp = spec.get("detectedTime") or metadata["creationTimestamp"]
    rule = (spec.get("rule") or {}).get("name") or (metadata.get("labels") or {}).get(
        "audithound.io/rule", ""
    )
    return Stored(
        str(metadata["name"]),
        datetime.datetime.fromisoformat(str(stamp)),
        str(spec.get("workflowStatus", "open")),
        str(rule),
        str(metadata.get("resourceVersion", "")),
    )


@dataclasses.dataclass
class Census:
    """The first listing of a pass: what expired, and how many of the rest each group holds."""

    #: Names of expired alerts, at most the pass's deletion budget.
    expired: list[str] = dataclasses.field(default_factory=list)
    #: Expired alerts seen, those beyond the budget included (they go in a later pass).
    expired_total: int = 0
    #: Alerts not expired, per (tier, rule).
    kept: collections.Counter[Group] = dataclasses.field(default_factory=collections.Counter)

    @property
    def total(self) -> int:
        """Every alert seen."""
        return self.expired_total + sum(self.kept.values())


def is_expired(alert: Stored, now: datetime.datetime, ttl: datetime.timedelta | None) -> bool:
    return ttl is not None and now - alert.created > ttl


def census(
    alerts: Iterable[Stored],
    *,
    now: datetime.datetime,
    ttl: datetime.timedelta | None,
    budget: int,
) -> Census:
    """Count the alerts per group and collect the expired ones, up to ``budget`` names."""
    found = Census()
    for alert in alerts:
        if is_expired(alert, now, ttl):
            found.expired_total += 1
            if len(found.expired) < budget:
                found.expired.append(alert.name)
        else:
            found.kept[alert.group] += 1
    return found


def fair_share(counts: Mapping[str, int], remove: int) -> dict[str, int]:
    """How many alerts each rule gives up so that ``remove`` go, those holding most first.

    Every rule is left with ``min(count, level)`` for the highest level that removes enough;
    the rules at that level give up one more each to make up the rest, those that held the
    most first, then by name, so that the answer is the same on every instance.
    """
    remove = min(remove, sum(counts.values()))
    if remove <= 0:
        return {}

    def removed(level: int) -> int:
        return sum(max(0, count - level) for count in counts.values())

    low, high = 0, max(counts.values())
    while low < high:  # the lowest level that removes no more than asked
        middle = (low + high) // 2
        if removed(middle) <= remove:
            high = middle
        else:
            low = middle + 1
    share = {rule: count - low for rule, count in counts.items() if count > low}
    extra = remove - removed(low)
    # Fewer than the rules at the level (count >= low): one more from each of the first.
    at_level = sorted((r for r, c in counts.items() if c >= low), key=lambda r: (-counts[r], r))
    for rule in at_level[:extra]:
        share[rule] = share.get(rule, 0) + 1
    return share


def quotas(kept: Mapping[Group, int], *, cap: int | None, budget: int) -> dict[Group, int]:
    """How many alerts each group gives up to bring the kept ones down to ``cap``, at most
    ``budget`` in all: tier by tier, fair between the rules within a tier."""
    if cap is None:
        return {}
    surplus = min(sum(kept.values()) - cap, budget)
    out: dict[Group, int] = {}
    for tier in range(len(TIERS)):
        if surplus <= 0:
            break
        counts = {rule: n for (t, rule), n in kept.items() if t == tier}
        share = fair_share(counts, surplus)
        for rule, n in share.items():
            out[tier, rule] = n
        surplus -= sum(share.values())
    return out


class _Oldest:
    """The ``limit`` oldest alerts offered, holding at most twice that many at a time."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held: list[tuple[datetime.datetime, str, str]] = []

    def offer(self, alert: Stored) -> None:
        self._held.append((alert.created, alert.name, alert.version))
        if len(self._held) >= 2 * self._limit:
            self._held.sort()
            del self._held[self._limit :]

    def chosen(self) -> list[tuple[str, str]]:
        self._held.sort()
        return [(name, version) for _, name, version in self._held[: self._limit]]


def select(
    alerts: Iterable[Stored],
    shares: Mapping[Group, int],
    *,
    now: datetime.datetime,
    ttl: datetime.timedelta | None,
) -> list[tuple[str, str]]:
    """The oldest alerts of each group, as many as its share, as (name, resourceVersion);
    expired ones are not counted (the census doomed them already)."""
    oldest = {group: _Oldest(n) for group, n in shares.items() if n > 0}
    for alert in alerts:
        keeper = oldest.get(alert.group)
        if keeper is not None and not is_expired(alert, now, ttl):
            keeper.offer(alert)
    return [chosen for group in sorted(oldest) for chosen in oldest[group].chosen()]
