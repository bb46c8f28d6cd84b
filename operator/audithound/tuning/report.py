"""Advice printed: a text report for people, or one JSON object per rule per line.

Fed by: ``advice``. Feeds: standard output of ``audithound tune``.

Everything shown that came from an event is redacted as alerts are (``alerts.redact``: the
path of a URI through the URI rules, the rest through the text rules), and the text report
escapes what a terminal would act on (``sinks.stream.printable``). The exception items are
printed as YAML in the shape ``DetectionRule.spec.exceptions`` takes, ready to paste (PyYAML
writes non-ASCII and control characters as escapes); their values were made safe when the
items were built (``items``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from typing import IO, Any

import orjson
import yaml

from audithound.alerts import redact
from audithound.sinks import stream
from audithound.tuning import advice, clusters


def _safe(dimension: str, value: str) -> str:
    return redact.uri(value) if dimension == "path" else redact.text(value)


def _values(shared: Mapping[str, str | None]) -> dict[str, str]:
    """The shared values worth showing (present ones), redacted, in dimension order."""
    return {
        name: _safe(name, value)
        for name in clusters.DIMENSIONS
        if (value := shared.get(name)) is not None
    }


def _pairs(values: Mapping[str, str]) -> str:
    return "  ".join(f"{name}={stream.printable(value)}" for name, value in values.items())


def item_yaml(item: Any) -> str:
    """Exception items as the YAML list that ``spec.exceptions`` holds."""
    return yaml.safe_dump(item, sort_keys=False, allow_unicode=False, width=96)


def text(advices: Iterable[advice.RuleAdvice], out: IO[str]) -> None:
    for number, rule in enumerate(advices):
        if number:
            out.write("\n")
        out.write(_rule_text(rule))
    out.flush()


def _rule_text(rule: advice.RuleAdvice) -> str:
    lines = [f"{rule.rule} ({stream.printable(rule.display_name)}): {rule.alerts} alert(s)"]
    if not rule.alerts:
        lines.append("  Nothing to tune: the rule raised no alert in these logs.")
        return "\n".join(lines) + "\n"
    if common := _values(rule.common):
        lines.append(f"  Every alert shares: {_pairs(common)}")
    if rule.defining:
        named = "; ".join(
            f"{field} {', '.join(stream.printable(redact.text(v)) for v in values)}"
            for field, values in rule.defining.items()
        )
        lines.append(f"  The query names: {named}")
    if common or rule.defining:
        lines.append("  (an exception on those would switch the rule off, not tune it)")
    if not rule.tuples:
        lines.append("  No tuple reaches --min-share.")
    for rank, entry in enumerate(rule.tuples, 1):
        lines.append("")
        lines.extend(_tuple_text(rank, entry))
    return "\n".join(lines) + "\n"


def _tuple_text(rank: int, entry: advice.Tuple) -> list[str]:
    state = "  [proposed]" if entry.proposed else ""
    head = f"  {rank}. {entry.share:.0%} ({entry.count} alert(s))  {entry.seed}:{state}"
    lines = [head, f"     {_pairs(_values(entry.shared))}"]
    if entry.varying:
        differ = ", ".join(f"{name} ({count})" for name, count in entry.varying.items())
        lines.append(f"     differ in: {differ}")
    lines.append(f"     {stream.printable(entry.why[0].upper() + entry.why[1:])}.")
    if entry.item is None or not entry.proposed:
        return lines
    silenced = f"     Silences {entry.silences} of its {entry.count} alert(s)"
    if entry.also_hides:
        lines.append(f"{silenced}; also hides {entry.also_hides} other alert(s), such as:")
        for example in entry.examples:
            when = f"{example.time}  " if example.time else ""
            lines.append(f"       {stream.printable(when + example.reason)}")
    else:
        lines.append(f"{silenced}; hides no other alert in these logs.")
    lines.append(f"     Caution: {stream.printable(entry.caution or '')}.")
    lines.append("     Exception item (DetectionRule spec.exceptions):")
    lines.append(textwrap.indent(item_yaml([entry.item.wire()]), "       ").rstrip("\n"))
    return lines


def json_lines(advices: Iterable[advice.RuleAdvice], out: IO[bytes]) -> None:
    """One object per rule: ``rule``, ``displayName``, ``alerts``, ``common``,
    ``queryNames`` and ``tuples`` (each: ``rank``, ``kind``, ``alerts``, ``share``,
    ``shared``, ``differ``, ``proposed``, ``why``, ``silences``, ``alsoHides`` with
    ``count`` and ``examples``, ``caution`` and ``exception``: the item when proposed,
    else null)."""
    for rule in advices:
        record = {
            "rule": rule.rule,
            "displayName": rule.display_name,
            "alerts": rule.alerts,
            "common": _values(rule.common),
            "queryNames": {
                field: [redact.text(value) for value in values]
                for field, values in rule.defining.items()
            },
            "tuples": [_tuple_record(rank, entry) for rank, entry in enumerate(rule.tuples, 1)],
        }
        out.write(orjson.dumps(record) + b"\n")
    out.flush()


def _tuple_record(rank: int, entry: advice.Tuple) -> dict[str, Any]:
    return {
        "rank": rank,
        "kind": entry.seed,
        "alerts": entry.count,
        "share": round(entry.share, 4),
        "shared": _values(entry.shared),
        "differ": entry.varying,
        "proposed": entry.proposed,
        "why": entry.why,
        "silences": entry.silences,
        "alsoHides": {
            "count": entry.also_hides,
            "examples": [{"time": e.time, "reason": e.reason} for e in entry.examples],
        },
        "caution": entry.caution,
        "exception": entry.item.wire() if entry.item is not None and entry.proposed else None,
    }
