r"""Alerts to a text stream: JSON lines for machines, a table for a terminal.

Fed by: the pipeline during ``audithound scan``. Both remember the names they wrote, so the
same (rule, event, stage) printed twice in one scan (a duplicated input line, an overlapping
file) comes out once.

The table goes to a terminal, and a crafted log chooses much of what it shows (user names,
URIs): every character a terminal would act on is printed as an escape (``\x1b``,
``\u202e``), so the reader sees that it was there and the terminal does nothing. JSON lines
are JSON: orjson escapes the C0 controls, and what reads them decodes the rest.
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
        # Only an alert that may renew reads the time again (a new term's return).
        self._times[alert["name"]] = base.alert_time(alert["spec"]) if "renewal" in alert else None
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
        self._out.write(orjson.dumps(base.flat(admitted), option=orjson.OPT_APPEND_NEWLINE))
        return True

    def close(self) -> None:
        self._out.flush()


def _escapes() -> dict[int, str]:
    r"""C0 and C1 controls and DEL as ``\xNN``; the Unicode bidirectional controls (which
    reorder what follows: Trojan Source) and line and paragraph separators as ``\uNNNN``;
    the backslash doubled, so that an escape in the data cannot pass for ours."""
    table = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
    for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)):
        table[code] = f"\\u{code:04x}"
    for code in (0x2028, 0x2029):
        table[code] = f"\\u{code:04x}"
    table[ord("\\")] = "\\\\"
    return table


_ESCAPES = _escapes()


def printable(text: str) -> str:
    """``text`` as a terminal may show it: what a terminal would act on, as escapes."""
    return text.translate(_ESCAPES)


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
    text = "-" if value in (None, "") else printable(str(value))
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
        record["groupText"] = ", ".join(
            "(missing)" if value is None else value for value in record["group"].values()
        )
        row = "  ".join(_cell(record[key], width) for _, key, width in columns)
        self._out.write(row.rstrip() + "\n")
        return True

    def close(self) -> None:
        self._out.flush()
