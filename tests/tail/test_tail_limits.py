"""One line limit for scan and the operator, and the tailer's logs as structured fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
import tailkit
from tailkit import drain, event

from audithound.controller import logs, settings
from audithound.source import decode, tail

OpenTailer = Callable[..., tail.Tailer]


def test_the_operator_reads_lines_up_to_the_limit_scan_uses(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer
) -> None:
    limit = settings.OperatorSettings().max_line_bytes
    assert limit == decode.MAX_LINE_BYTES
    longest = b"{" + b" " * (limit - 2) + b"}"
    log_dir.write(longest + b"\n" + longest + b" \n" + event(1))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    records = drain(tailer)
    assert [record.skipped for record in records] == [None, decode.Reason.OVERSIZED, None]
    assert records[0].line == longest


def test_a_skipped_line_is_logged_with_structured_fields(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, caplog: pytest.LogCaptureFixture
) -> None:
    log_dir.write(b"x" * 100 + b"\n")
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING, max_line_bytes=64)
    with caplog.at_level(logging.WARNING, logger="audithound.source.tail"):
        drain(tailer)
    [record] = caplog.records
    fields = json.loads(logs.JsonFormatter().format(record))
    assert fields["msg"] == "Skipped audit line"
    assert {key: fields[key] for key in ("reason", "file", "offset", "bytes", "limit")} == {
        "reason": "oversized",
        "file": str(log_dir.path),
        "offset": 0,
        "bytes": 101,
        "limit": 64,
    }


def test_a_gap_is_logged_with_how_much_was_lost(
    log_dir: tailkit.AuditLogDir, open_tailer: OpenTailer, caplog: pytest.LogCaptureFixture
) -> None:
    log_dir.write(b"".join(event(n) for n in range(10)))
    tailer = open_tailer(log_dir.path, tail.StartPolicy.BEGINNING)
    tailer.poll(2)
    log_dir.path.write_bytes(event(10))  # truncated and rewritten, no copy kept
    with caplog.at_level(logging.INFO, logger="audithound.source.tail"):
        drain(tailer)
    by_message = {record.getMessage(): record for record in caplog.records}
    truncated = json.loads(
        logs.JsonFormatter().format(by_message["Restarted audit log at offset 0 after truncation"])
    )
    assert truncated["file"] == str(log_dir.path)
    assert truncated["copy"] is None
    lost = json.loads(logs.JsonFormatter().format(by_message["Lost audit log data"]))
    assert lost["file"] == str(log_dir.path)
    assert lost["lost_bytes"] is None
    assert "at least" in lost["detail"]
    for record in caplog.records:
        assert "=" not in record.getMessage()
