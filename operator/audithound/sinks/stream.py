"""Alerts to a text stream: JSON lines for machines, a table for a terminal.

Fed by: the pipeline during ``audithound scan``. Both remember the names they wrote, so the
same (rule, event, stage) printed twice in one scan (a duplicated input line, an overlapping
file) comes out once.
"""

from __future__ import annotations

from typing import IO, Any

import orjson

from audithound.sinks import base


class JsonLines:
    """One JSON object per alert per line (see ``base.flat`` for the fields)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._seen: set[str] = set()

    def emit(self, alert: dict[str, Any]) -> bool:
        if alert["name"] in self._seen:
            return False
        self._seen.add(alert["name"])
        self._out.write(orjson.dumps(base.flat(alert)) + b"\n")
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


def _cell(value: Any, width: int) -> str:
    text = "-" if value in (None, "") else str(value)
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width) if width else text


class Table:
    """A fixed-width table, streamed row by row so that a long scan shows hits as they come."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._seen: set[str] = set()
        self._header_written = False

    def emit(self, alert: dict[str, Any]) -> bool:
        if alert["name"] in self._seen:
            return False
        self._seen.add(alert["name"])
        if not self._header_written:
            self._out.write("  ".join(_cell(title, width) for title, _, width in _COLUMNS) + "\n")
            self._header_written = True
        record = base.flat(alert)
        record["source"] = record["sourceIPs"][0] if record["sourceIPs"] else None
        row = "  ".join(_cell(record[key], width) for _, key, width in _COLUMNS)
        self._out.write(row.rstrip() + "\n")
        return True

    def close(self) -> None:
        self._out.flush()
