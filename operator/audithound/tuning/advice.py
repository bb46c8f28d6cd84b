"""A rule's tuples become advice: an exception item per tuple where one makes sense, what it
would also hide, and why, or why none.

Fed by: one rule and the alerts ``collect`` kept for it. Feeds: ``report``.

What an item is built on, from a tuple's shared values (``clusters``):

- never a value every alert of the rule holds, nor one the query names (``query``): either
  would switch the rule off, not tune it;
- never the source address or user agent (volatile, client-chosen: ``dimensions``);
- never anonymity: ``system:anonymous`` and ``system:unauthenticated`` are anyone, so an
  anonymous tuple is excepted by what it requested, never by who it was;
- the user name, or for a tuple of many nodes or service accounts the class as a user-name
  wildcard (``system:node:*``); what was requested: for a resource request the verb,
  namespace, resource, subresource and object name the tuple's alerts share, for any other
  request its path (``items``; the path names the rest).

An item needs more than a verb (``get`` alone is no exception), and one that would match
every alert of the rule is refused. A tuple's item is *proposed* when the tuple raised at
least ``min_alerts`` alerts, or when it is allowed to everyone by default (``known``: the
seed rule's ``/version``); a single alert with no known cause is a finding to triage, and is
listed without an item. What an item also hides is counted on the same alerts: those it
matches beyond its tuple, with a few examples (their redacted alert reasons).

Tuples are ranked by the alerts they raised; tuples with the same alerts are shown once
(the one with a proposal, else who before what), and so are tuples with the same item.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final

from audithound.alerts import redact
from audithound.rules import compiler
from audithound.tuning import clusters, collect, dimensions, items, known, query

_SEED_ORDER: Final = {"who": 0, "what": 1, "class": 2}

#: The field an item's entry on a dimension reads.
_FIELDS: Final = {
    "user": dimensions.USER,
    "verb": dimensions.VERB,
    "namespace": dimensions.NAMESPACE,
    "resource": dimensions.RESOURCE,
    "subresource": dimensions.SUBRESOURCE,
    "name": dimensions.NAME,
}

_CLASS_NAMES: Final = {
    dimensions.NODE: "Node",
    dimensions.SERVICE_ACCOUNT: "Service account",
    dimensions.ANONYMOUS: "Anonymous",
    dimensions.HUMAN: "",
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """What ``tune`` reports: ``top`` tuples per rule of at least ``min_share`` (a fraction)
    of its alerts; items proposed from ``min_alerts`` alerts; ``examples`` of what an item
    also hides."""

    top: int = 5
    min_share: float = 0.0
    min_alerts: int = 2
    examples: int = 3


@dataclasses.dataclass(frozen=True)
class Example:
    time: str | None
    reason: str


@dataclasses.dataclass(frozen=True)
class Tuple:
    """One tuple of a rule's alerts and the advice about it."""

    seed: clusters.Seed
    count: int
    share: float
    #: What its alerts share (dimension -> value; None: all missing), as in the logs.
    shared: dict[str, str | None]
    #: Dimensions that differ among its alerts, with how many values.
    varying: dict[str, int]
    item: items.Item | None
    proposed: bool
    #: Why it is proposed, or why not.
    why: str
    #: Alerts of the tuple the item matches (all of them, unless a URI escaped it).
    silences: int
    #: Alerts outside the tuple the item matches, and a few of them.
    also_hides: int
    examples: tuple[Example, ...]
    caution: str | None
    #: Indices of its alerts among the rule's.
    members: tuple[int, ...] = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class RuleAdvice:
    rule: str
    display_name: str
    alerts: int
    #: What every alert of the rule shares.
    common: dict[str, str | None]
    #: Values the query names, by field (``(missing)`` when it accepts the field missing).
    defining: dict[str, tuple[str, ...]]
    tuples: tuple[Tuple, ...]


def advise(
    rule: compiler.CompiledRule, alerts: Sequence[collect.Alert], settings: Settings
) -> RuleAdvice:
    """The advice for ``rule`` from its ``alerts`` (see the module docstring)."""
    points = [clusters.point(alert.values) for alert in alerts]
    common = clusters.common(points) if points else {}
    named = query.defining(rule)
    candidates = [
        _advise(rule, cluster, alerts, common, named, settings)
        for cluster in clusters.clusters(points)
        if len(cluster.members) < len(alerts)
    ]
    chosen = sorted(_distinct(candidates), key=_rank)
    shown = tuple(candidate for candidate in chosen if candidate.share >= settings.min_share)[
        : settings.top
    ]
    return RuleAdvice(
        rule=rule.name,
        display_name=rule.display_name,
        alerts=len(alerts),
        common=common,
        defining={
            field: (
                *sorted(named.texts.get(field, ())),
                *(("(missing)",) * (field in named.missing)),
            )
            for field in dimensions.FIELDS
            if field in named.texts or field in named.missing
        },
        tuples=shown,
    )


def _rank(candidate: Tuple) -> tuple[int, bool, int, int, str]:
    """Most alerts an item would remove first (its tuple's and what it also hides)."""
    name = candidate.item.name if candidate.item is not None else ""
    return (
        -(candidate.count + candidate.also_hides),
        not candidate.proposed,
        _SEED_ORDER[candidate.seed],
        -candidate.count,
        name,
    )


def _distinct(candidates: list[Tuple]) -> list[Tuple]:
    """One tuple per set of alerts, and one per item: the most specific tuple that gives it
    (who before what before class, then the largest), so that what the item also hides is
    said against the tuple the issue names, one client of one identity."""
    by_members: dict[tuple[int, ...], Tuple] = {}
    for candidate in candidates:
        best = by_members.get(candidate.members)
        if best is None or _preference(candidate) < _preference(best):
            by_members[candidate.members] = candidate
    by_item: dict[tuple[items.Entry, ...], Tuple] = {}
    out: list[Tuple] = []
    for candidate in by_members.values():
        if candidate.item is None:
            out.append(candidate)
            continue
        best = by_item.get(candidate.item.entries)
        if best is None or _specific(candidate) < _specific(best):
            by_item[candidate.item.entries] = candidate
    out.extend(by_item.values())
    return out


def _preference(candidate: Tuple) -> tuple[bool, bool, int]:
    return (not candidate.proposed, candidate.item is None, _SEED_ORDER[candidate.seed])


def _specific(candidate: Tuple) -> tuple[bool, int, int]:
    return (not candidate.proposed, _SEED_ORDER[candidate.seed], -candidate.count)


def _advise(
    rule: compiler.CompiledRule,
    cluster: clusters.Cluster,
    alerts: Sequence[collect.Alert],
    common: dict[str, str | None],
    named: query.Defining,
    settings: Settings,
) -> Tuple:
    count = len(cluster.members)
    shared = dict(cluster.shared)
    entries, left_out = _entries(cluster, alerts, common, named)
    bare = Tuple(
        seed=cluster.seed,
        count=count,
        share=count / len(alerts),
        shared=shared,
        varying=dict(cluster.varying),
        item=None,
        proposed=False,
        why="",
        silences=0,
        also_hides=0,
        examples=(),
        caution=None,
        members=cluster.members,
    )
    if not any(entry.field != dimensions.VERB for entry in entries):
        reasons = left_out or ["these alerts share nothing to name"]
        return dataclasses.replace(bare, why="no exception: " + "; ".join(reasons))
    matched = [index for index, alert in enumerate(alerts) if _matches(entries, alert)]
    if len(matched) == len(alerts):
        why = "no exception: an item on what these alerts share would match every alert"
        return dataclasses.replace(bare, why=why)
    members = set(cluster.members)
    beyond = [index for index in matched if index not in members]
    expected = known.explain(shared.get("class"), shared.get("verb"), shared.get("path"))
    if expected is not None:
        proposed, why, caution = True, expected.why, expected.caution
    elif count >= settings.min_alerts:
        proposed, why, caution = True, f"{count} alerts share these values", _caution(shared)
    else:
        proposed, caution = False, _caution(shared)
        why = (
            f"not proposed: {count} alert(s), fewer than --min-alerts {settings.min_alerts}, "
            "and no known benign cause: a finding to triage, not noise"
        )
    silences = len(matched) - len(beyond)
    name = _name(shared, entries)
    also = (
        f"it also hides {len(beyond)} other alert(s) of the rule there"
        if beyond
        else "it hides no other alert of the rule there"
    )
    description = (
        f"{why[0].upper()}{why[1:]}. This tuple raised {silences} of the {len(alerts)} alerts "
        f"of {rule.name} in the logs tuned ({silences / len(alerts):.0%}); {also}. "
        f"Caution: {caution}."
    )
    return dataclasses.replace(
        bare,
        item=items.Item(name, description, entries),
        proposed=proposed,
        why=why,
        silences=silences,
        also_hides=len(beyond),
        examples=tuple(
            Example(alerts[index].time, alerts[index].reason)
            for index in beyond[: settings.examples]
        ),
        caution=caution,
    )


def _matches(entries: tuple[items.Entry, ...], alert: collect.Alert) -> bool:
    return all(entry.matches(alert.values) for entry in entries)


def _entries(
    cluster: clusters.Cluster,
    alerts: Sequence[collect.Alert],
    common: dict[str, str | None],
    named: query.Defining,
) -> tuple[tuple[items.Entry, ...], list[str]]:
    """The entries of a tuple's item, and why the shared values left out are left out."""
    shared = cluster.shared
    entries: list[items.Entry] = []
    left_out: list[str] = []

    def usable(dimension: str, field: str, value: str) -> bool:
        if common.get(dimension, _UNSET) == value:
            left_out.append(f"{dimension} {_show(value)} is shared by every alert")
            return False
        if named.names(field, value):
            left_out.append(f"{dimension} {_show(value)} is named by the rule's query")
            return False
        return True

    identity = shared.get("class")
    if identity == dimensions.ANONYMOUS:
        left_out.append("an anonymous client is anyone: excepted by what it asked, never by who")
    elif (user := shared.get("user")) is not None:
        if usable("user", dimensions.USER, user):
            entries.append(items.value(dimensions.USER, user))
    elif identity is not None and (entry := items.CLASS_ENTRIES.get(identity)) is not None:
        assert isinstance(entry.value, str)
        if usable("class", entry.field, entry.value) and common.get("class") != identity:
            entries.append(entry)
    resource = shared.get("resource", _UNSET)
    if resource is None:
        if (path := shared.get("path")) is not None and usable("path", dimensions.URI, path):
            uris = [
                uri for index in cluster.members for uri in alerts[index].values[dimensions.URI]
            ]
            entries.append(items.request_path(path, uris))
    else:
        for dimension in ("verb", "namespace", "resource", "subresource", "name"):
            value = shared.get(dimension)
            if value is not None and usable(dimension, _FIELDS[dimension], value):
                entries.append(items.value(_FIELDS[dimension], value))
    volatile = [name for name in sorted(clusters.VOLATILE) if shared.get(name) is not None]
    if volatile and not entries:
        left_out.append(f"{' and '.join(volatile)} change and are chosen by the client")
    if cluster.varying:
        left_out.append("they differ in " + ", ".join(sorted(cluster.varying)))
    return tuple(entries), left_out


_UNSET = object()


def _show(value: str) -> str:
    return redact.text(value)


def _name(shared: dict[str, str | None], entries: tuple[items.Entry, ...]) -> str:
    """What the item hides, in a few words, from its entries (redacted as they are)."""
    named = {entry.field: entry.value for entry in entries if isinstance(entry.value, str)}
    user = named.get(dimensions.USER)
    identity = shared.get("class")
    if identity == dimensions.ANONYMOUS:
        who = "Anonymous requests"
    elif user == items.CLASS_ENTRIES[dimensions.NODE].value:
        who = "Node requests"
    elif user is not None:
        who = f"Requests of {user}"
    else:
        who = "Requests"
    if (path := shared.get("path")) is not None and any(
        entry.field == dimensions.URI for entry in entries
    ):
        return f"{who} to {redact.uri(path)}"
    what = [
        value
        for field in (dimensions.VERB, dimensions.RESOURCE, dimensions.SUBRESOURCE, dimensions.NAME)
        if (value := named.get(field)) is not None
    ]
    namespace = named.get(dimensions.NAMESPACE)
    where = f" in {namespace}" if namespace is not None else ""
    return f"{who}: {' '.join(what)}{where}" if what else who + where


def _caution(shared: dict[str, str | None]) -> str:
    user = shared.get("user")
    identity = shared.get("class")
    if identity != dimensions.ANONYMOUS and user is not None:
        return (
            f"whoever holds {redact.text(user)}'s credentials (a stolen token) and makes the "
            "same requests is hidden too"
        )
    if identity in (dimensions.NODE, dimensions.SERVICE_ACCOUNT):
        return f"a compromised {identity} making the same requests is hidden too"
    return "any client making the same request, an attacker included, is hidden too"
