"""Alert suppression: one alert per group of a rule's findings, as Kibana's alert_suppression.

Fed by: the pipeline, with each finding of a rule whose spec has ``alertSuppression``, the
time that counts for it (the operator's read time, the event's time in ``scan``) and the
alert built for a group's first finding. Feeds: the pipeline's outbox (a group's alert, and
later the updates of a group whose alert is written at once) and the checkpoint (open
groups, saved with the read position).

A group is a rule and the values of its ``groupBy`` fields in the finding's event: for a
query or threshold rule each value of an array field is a group of its own (several fields:
each combination, at most :data:`MAX_TERMS`), for a new_terms rule the whole array is one
value. A missing field is the value null (``suppress``) or leaves the finding unsuppressed
(``doNotSuppress``). A threshold rule without ``groupBy`` groups by its threshold's fields.

A group opens with an alert (its first finding, named by that finding and the group, so a
replay names it alike) and stays open for ``duration`` from then, or without one until the
rule's interval (aligned as ``maxSignals`` intervals are) ends. While open, each finding of
the group is merged into it: the count, last seen and newest events grow, and no alert is
created (nor counted against ``maxSignals``: Kibana counts suppressed alerts apart).

How the merged counts reach the user depends on the sink (:attr:`Suppressor.in_place`): the
cluster holds the alert, so the alert is created at once and updated in place at most once
per :data:`UPDATE_SECONDS` per group (a busy group costs a bounded number of writes); a stream
(``scan``) cannot change a printed line, so a group's alert is printed once, when its window
ends or the input does, with its final count. Updates set absolute values (count, last
seen), so a replay from the checkpoint writes the same values again rather than adding.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import orjson

from audithound.alerts import evidence, identity
from audithound.api import rule as rule_api
from audithound.detectors import findings
from audithound.normalize import view
from audithound.rules import compiler
from audithound.source import decode

_ACCESS = view.AuditEventAccess()

#: Seconds between two writes of one group's alert (default 5): a group merging a thousand
#: findings a second costs one API write per 5 seconds.
UPDATE_SECONDS: Final = 5.0
#: Groups one finding may fall into (several array fields: their product), as Kibana caps
#: the buckets of one document.
MAX_TERMS: Final = 100
#: Open groups per rule (default 10,000): past it the oldest group closes (its alert is
#: final) so that memory stays bounded under a flood of distinct values.
MAX_GROUPS: Final = 10_000

Terms = tuple[tuple[str, str | None], ...]


@dataclasses.dataclass
class Group:
    """One open group and its alert."""

    rule: str
    #: The group's values as evidence (redacted: a body's value is only a marker), and the
    #: digest of the values themselves, which finds the group (never saved in the clear).
    terms: Terms
    digest: str
    #: The alert as built for the group's first finding (redacted wire dict), kept current.
    alert: dict[str, Any]
    #: When the group closes (seconds since the epoch, on the pipeline's clock of ``when``).
    ends: float
    count: int
    #: Findings merged after the first (Kibana's ``suppression.docs_count``).
    merged: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    members: collections.deque[str] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=findings.MAX_MEMBERS)
    )
    excerpts: collections.deque[dict[str, Any]] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=findings.MAX_EXCERPTS)
    )
    #: Whether the alert was created (``in_place``) and what of it was written since.
    created: bool = False
    written: int = 0
    written_at: float = 0.0
    #: The first finding merged since the last write, as an alert, with the group's count
    #: and merges before it: if the alert turns out closed, the merges since the last write
    #: open the next group, led by this alert (``in_place`` only).
    successor: tuple[dict[str, Any], tuple[str, ...], float | None, int, int] | None = None

    @property
    def dirty(self) -> bool:
        return self.merged != self.written

    def current(self) -> dict[str, Any]:
        """The alert with the group's counts: what the sink writes or prints."""
        spec = dict(self.alert["spec"])
        spec["count"] = self.count
        spec["firstSeen"] = evidence.moment(self.first_seen)
        spec["lastSeen"] = evidence.moment(self.last_seen)
        if self.merged:
            spec["auditIDs"] = list(self.members)
            spec["auditIDsOmitted"] = max(self.count - len(self.members), 0)
            spec["sampleEvents"] = list(self.excerpts)
        spec["suppression"] = {
            "terms": [{"field": field, "value": value} for field, value in self.terms],
            "start": spec["firstSeen"],
            "end": spec["lastSeen"],
            "docsCount": self.merged,
        }
        return {**self.alert, "spec": spec}


def terms(
    rule: compiler.CompiledRule, config: rule_api.AlertSuppression, finding: findings.Finding
) -> list[Terms] | None:
    """The groups a finding falls into; None when it is not suppressed (a missing field under
    ``doNotSuppress``)."""
    if not config.group_by:  # a threshold rule: the threshold's own group
        return [tuple(finding.group)]
    whole = rule.spec.type == "new_terms"
    per_field: list[list[tuple[str, str | None]]] = []
    for field in config.group_by:
        values = [value for value in _ACCESS.values(field)(finding.event) if value is not None]
        if not values:
            if config.missing_fields_strategy == "doNotSuppress":
                return None
            per_field.append([(field, None)])
        elif whole:
            per_field.append([(field, _text(values[0]) if len(values) == 1 else _text(values))])
        else:
            distinct = dict.fromkeys(_text(value) for value in values)
            per_field.append([(field, value) for value in distinct])
    return list(itertools.islice(itertools.product(*per_field), MAX_TERMS))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class Suppressor:
    """The open groups of every suppressing rule (see the module docstring)."""

    def __init__(self, *, in_place: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.in_place = in_place
        self._clock = clock
        self._groups: dict[str, collections.OrderedDict[str, Group]] = {}
        #: Findings merged into an open group, by rule.
        self.suppressed: collections.Counter[str] = collections.Counter()
        #: Groups closed early because a rule held :data:`MAX_GROUPS`, by rule.
        self.evicted: collections.Counter[str] = collections.Counter()

    def open_group(self, rule: str, key: Terms, when: float) -> Group | None:
        """The group of ``rule`` with ``key`` if it is open at ``when``."""
        groups = self._groups.get(rule)
        group = groups.get(_digest(key)) if groups is not None else None
        return group if group is not None and when < group.ends else None

    def merge(
        self,
        group: Group,
        finding: findings.Finding,
        alert: Callable[[], dict[str, Any]],
    ) -> None:
        """A finding of an open group: counted into it, no alert created. ``alert`` builds
        the finding's own alert: asked once per write of the group's alert, for the group
        that follows if the alert turns out closed."""
        if self.in_place and group.created and not group.dirty:
            group.successor = (alert(), finding.key, _first(finding), group.count, group.merged)
        group.count += finding.count
        group.merged += 1
        self.suppressed[group.rule] += 1
        first, last = _first(finding), _last(finding)
        if first is not None and (group.first_seen is None or first < group.first_seen):
            group.first_seen = first
        if last is not None and (group.last_seen is None or last > group.last_seen):
            group.last_seen = last
        shown = evidence.excerpt(finding.event)
        if finding.members:
            group.members.extend(member.audit_id for member in finding.members)
        else:
            group.members.append(shown["auditID"])
        group.excerpts.append(shown)

    def open(
        self,
        rule: compiler.CompiledRule,
        key: Terms,
        finding: findings.Finding,
        alert: dict[str, Any],
        when: float,
    ) -> tuple[Group, Group | None]:
        """A new group led by ``finding`` and its ``alert`` (renamed for the group); and the
        group it ends, if any (its alert is final): the same group's last window, which ended
        before the next :meth:`closing`, or the oldest group, to make room."""
        shown = tuple((field, _shown(field, value)) for field, value in key)
        group = self._new(rule, shown, _digest(key), finding.key, alert, when)
        group.count = finding.count
        group.first_seen = _first(finding)
        group.last_seen = _last(finding)
        if finding.members:
            group.members.extend(member.audit_id for member in finding.members)
        else:
            group.members.append(alert["spec"]["event"]["auditID"])
        group.excerpts.extend(finding.excerpts or (alert["spec"]["event"],))
        return group, self._add(group)

    def _new(
        self,
        rule: compiler.CompiledRule,
        shown: Terms,
        digest: str,
        first: tuple[str, ...],
        alert: dict[str, Any],
        when: float,  # seconds since the epoch, as the limits count
    ) -> Group:
        config = rule.spec.alert_suppression
        assert config is not None
        if config.duration is not None:
            ends = when + config.duration.seconds
        else:  # one rule interval, aligned as the maxSignals interval is
            seconds = rule.interval.total_seconds()
            ends = (when // seconds + 1) * seconds
        named = {**alert, "name": identity.alert_name(rule.name, (*first, digest))}
        named.pop("renewal", None)  # a group's alert is new by its group, never renewed
        spec = named["spec"] = dict(named["spec"])
        spec["group"] = {**(spec.get("group") or {}), **dict(shown)}
        return Group(rule=rule.name, terms=shown, digest=digest, alert=named, ends=ends, count=1)

    def _add(self, group: Group) -> Group | None:
        groups = self._groups.setdefault(group.rule, collections.OrderedDict())
        ended = groups.pop(group.digest, None)
        if ended is None and len(groups) >= MAX_GROUPS:
            _, ended = groups.popitem(last=False)
            self.evicted[group.rule] += 1
        groups[group.digest] = group
        return ended

    def closing(self, when: float | None) -> list[Group]:
        """Groups whose window ended by ``when`` (None: every group, the input ended), taken
        out: their alerts are final."""
        closed = []
        for groups in self._groups.values():
            for key, group in list(groups.items()):
                if when is None or when >= group.ends:
                    closed.append(groups.pop(key))
        return closed

    def due(self) -> list[Group]:
        """Groups whose alert exists and has merges not yet written, and whose last write is
        at least :data:`UPDATE_SECONDS` old."""
        now = self._clock()
        return [
            group
            for groups in self._groups.values()
            for group in groups.values()
            if group.created and group.dirty and now - group.written_at >= UPDATE_SECONDS
        ]

    def written(self, group: Group, merged: int) -> None:
        """The alert now holds the group's state as of ``merged`` merges."""
        group.created = True
        group.written = merged
        group.written_at = self._clock()

    def drop(self, group: Group, rule: compiler.CompiledRule, when: float) -> Group | None:
        """The group's alert was closed or deleted: the group ends. Its merges since the last
        write open the next group (returned: its alert is to be created), as the first match
        after closing would."""
        groups = self._groups.get(group.rule)
        if groups is not None and groups.get(group.digest) is group:
            del groups[group.digest]
        if group.successor is None or not group.dirty:
            return None
        alert, first, first_seen, count, merged = group.successor
        unwritten = group.merged - merged  # the successor's finding and the merges after it
        successor = self._new(rule, group.terms, group.digest, first, alert, when)
        successor.count = group.count - count
        successor.merged = unwritten - 1
        successor.first_seen = first_seen
        successor.last_seen = group.last_seen
        successor.members.extend(list(group.members)[-unwritten:])
        successor.excerpts.extend(list(group.excerpts)[-min(unwritten, findings.MAX_EXCERPTS) :])
        self._groups.setdefault(group.rule, collections.OrderedDict())[group.digest] = successor
        return successor

    def keep(self, names: Iterable[str]) -> None:
        """Only rules in ``names`` (the active ones) keep groups."""
        wanted = set(names)
        for name in list(self._groups):
            if name not in wanted:
                del self._groups[name]

    def held(self, rule: str) -> int:
        return len(self._groups.get(rule) or ())

    # Checkpoint.

    def snapshot(self, rule: str) -> list[dict[str, Any]]:
        """The open groups of ``rule`` as JSON values (redacted alerts, no raw events)."""
        return [
            {
                "digest": group.digest,
                "terms": [list(pair) for pair in group.terms],
                "alert": group.alert,
                "ends": group.ends,
                "count": group.count,
                "merged": group.merged,
                "firstSeen": group.first_seen,
                "lastSeen": group.last_seen,
                "members": list(group.members),
                "excerpts": list(group.excerpts),
                "created": group.created,
                "written": group.written,
            }
            for group in (self._groups.get(rule) or {}).values()
        ]

    def restore(self, rule: str, saved: Iterable[Mapping[str, Any]]) -> None:
        groups = self._groups.setdefault(rule, collections.OrderedDict())
        for entry in saved:
            shown: Terms = tuple((str(field), value) for field, value in entry["terms"])
            group = Group(
                rule=rule,
                terms=shown,
                digest=str(entry["digest"]),
                alert=dict(entry["alert"]),
                ends=float(entry["ends"]),
                count=int(entry["count"]),
                merged=int(entry["merged"]),
                first_seen=entry.get("firstSeen"),
                last_seen=entry.get("lastSeen"),
                created=bool(entry.get("created")),
                written=int(entry.get("written", 0)),
            )
            group.members.extend(entry.get("members") or [])
            group.excerpts.extend(entry.get("excerpts") or [])
            groups[group.digest] = group


def _digest(key: Terms) -> str:
    """What finds a group and names its alert: a digest of its values (a null is no empty
    string), so that the values themselves are kept nowhere but in the alert's evidence."""
    return hashlib.sha256(orjson.dumps(key)).hexdigest()


def _shown(field: str, value: str | None) -> str | None:
    return None if value is None else evidence.group_value(field, value)


def _first(finding: findings.Finding) -> float | None:
    return finding.first_seen if finding.first_seen is not None else _event_seconds(finding)


def _last(finding: findings.Finding) -> float | None:
    return finding.last_seen if finding.last_seen is not None else _event_seconds(finding)


def _event_seconds(finding: findings.Finding) -> float | None:
    moment = decode.event_time(finding.event)
    return moment.timestamp() if moment is not None else None
