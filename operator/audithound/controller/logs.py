"""Log lines like a Kubernetes component: ``I1128 08:12:41.123456 7 tailing] "Msg" k="v"``.

Fed by: every logger of the process (kopf's too). Feeds: the pod's stdout. Messages are
capitalised and past tense, context goes into key/value pairs (``extra=``), and no event
payload is ever logged (it can carry secrets), only names, ids and counts.
"""

from __future__ import annotations

import datetime
import json
import logging
import os

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_LEVELS = {"DEBUG": "I", "INFO": "I", "WARNING": "W", "ERROR": "E", "CRITICAL": "F"}


#: What kopf attaches to its records: its settings object (noise) and the object reference.
_KOPF_NOISE = frozenset({"settings", "k8s_skip"})


def _context(record: logging.LogRecord) -> dict[str, object]:
    context = {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and key not in _KOPF_NOISE
    }
    ref = context.pop("k8s_ref", None)
    if isinstance(ref, dict):
        context = {"object": ref.get("name"), "kind": ref.get("kind"), **context}
    return context


class KlogFormatter(logging.Formatter):
    """klog's text format, with structured key/value pairs after the quoted message."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        head = (
            f"{_LEVELS.get(record.levelname, 'I')}{when:%m%d %H:%M:%S.%f} {os.getpid()} "
            f"{record.name}]"
        )
        pairs = " ".join(
            f"{key}={json.dumps(value, default=str)}" for key, value in _context(record).items()
        )
        line = f"{head} {json.dumps(record.getMessage())}" + (f" {pairs}" if pairs else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """Kubernetes' JSON log format: ts, v, msg, then the key/value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": record.created,
            "v": 0 if record.levelno >= logging.INFO else 4,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.levelno >= logging.ERROR:
            entry["err"] = self.formatException(record.exc_info) if record.exc_info else True
        entry.update(_context(record))
        return json.dumps(entry, default=str)


def configure(json_format: bool, verbose: bool) -> None:
    """Route every logger to stderr in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_format else KlogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
