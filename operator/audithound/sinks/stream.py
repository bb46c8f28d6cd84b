"""Alerts to a text stream: JSON lines for machines, a table for a terminal.

Fed by: the pipeline during ``audithound scan``. Both remember the names they wrote, so the
same (rule, event, stage) printed twice in one scan (a duplicated input line, an overlapping
file) comes out once.
"""

from __future__ import annotations

from typing import IO, Any

import orjson

from audithound.sinks import base


class Seen:
    """The names written so far, with when each one's finding last saw an event."""

    def __init__(self) -> None:
        self._times: dict[str, float | None] = {}

    def admit(self, alert: dict[str, Any]) -> dict[str, Any] | None:
        """``alert`` as it is to be written (renamed when a term came back), or None when an
        alert of that name was written before."""
        name = alert["name"]
        if name in self._times:
            renamed = base.renewal_name(alert, self._times[name])
            if renamed is None or renamed in self._times:
                return None
            alert = {**alert, "name": renamed}
            self._times[name] = base.alert_time(alert["spec"])
        self._times[alert["name"]] = base.alert_time(alert["spec"])
        return alert


class JsonLines:
    """One JSON object per alert per line (see ``base.flat`` for the fields)."""

    concurrency = 1

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._seen = Seen()

    def emit(self, alert: dict[str, Any]) -> bool:
        admitted = self._seen.admit(alert)
        if admitted is None:
            return False
        self._out.write(orjson.dumps(base.flat(admitted)) + b"\n")
        return True

    def close(self) -> None:
        self._out.flush()


_COLUMNS = (
    ("TIME", "timestamp", 27),
    ("RULE", "rule", 40),
    ("SEVERITY", "severity", 8),
    ("USER", "user", 28),
    ("SOURCE", "source", 15),
    ("VERB", "verb", 7),
    ("URI", "requestURI", 0),
)

#: Shown before the URI when some rule finds groups of events (new_terms, threshold).
_FINDING_COLUMNS = (
    ("COUNT", "count", 5),
    ("GROUP", "groupText", 40),
)


def _cell(value: Any, width: int) -> str:
    text = "-" if value in (None, "") else str(value)
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width) if width else text


class Table:
    """A fixed-width table, streamed row by row so that a long scan shows hits as they come."""

    concurrency = 1

    def __init__(self, out: IO[str], *, findings: bool = False) -> None:
        """``findings``: add the COUNT and GROUP columns (when a rule set has rules of a type
        whose alerts are findings of several events)."""
        self._out = out
        self._seen = Seen()
        self._header_written = False
        self._columns = (*_COLUMNS[:-1], *_FINDING_COLUMNS, _COLUMNS[-1]) if findings else _COLUMNS

    def emit(self, alert: dict[str, Any]) -> bool:
        admitted = self._seen.admit(alert)
        if admitted is None:
            return False
        alert = admitted
        columns = self._columns
        if not self._header_written:
            self._out.write("  ".join(_cell(title, width) for title, _, width in columns) + "\n")
            self._header_written = True
        record = base.flat(alert)
        record["source"] = record["sourceIPs"][0] if record["sourceIPs"] else None
        record["groupText"] = ", ".join(record["group"].values())
        row = "  ".join(_cell(record[key], width) for _, key, width in columns)
        self._out.write(row.rstrip() + "\n")
        return True

    def close(self) -> None:
        self._out.flush()
