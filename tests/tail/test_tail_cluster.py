"""The tailer behind the real kube-apiserver's own rotation (lumberjack, 1 MiB, 3 backups): a
reader several rotations behind loses nothing, though the API server deletes backups it has
not read yet."""

from __future__ import annotations

import uuid

import orjson
import pytest

from audithound.devcluster import controlplane, pytest_plugin
from audithound.devcluster import operator as operator_
from audithound.source import tail

pytestmark = pytest.mark.cluster

#: Bytes of padding in each request's URI (logged whole, unlike the user agent): about 16
#: KiB per audit event, so the test control plane's 1 MiB log rotates every ~60 requests.
PAD = 16_000

#: Rotations to go through while the reader lags: twice the API server's 3 backups, so that
#: it deletes files the reader has not reached.
ROTATIONS = 8

#: The reader's pace: this many lines every few requests, a fifth of what is written.
READ_LINES, EVERY = 1, 5


def test_a_reader_behind_the_api_servers_rotation_loses_nothing(
    control_plane: controlplane.ControlPlane, audit_log: pytest_plugin.AuditLog
) -> None:
    tag = uuid.uuid4().hex[:8]
    path = f"/api/v1/namespaces/default/configmaps?limit=1&pad={'x' * PAD}"
    directory = control_plane.audit_log.parent
    tailer = tail.Tailer(control_plane.audit_log, tail.StartPolicy.END)
    try:
        records = tailer.poll(1)
        # Backups of earlier tests in the session do not count.
        before = {backup.name for backup in directory.glob("audit-*.log*")}
        seen: set[str] = set()
        sent = 0
        while len(seen) < ROTATIONS:
            status = operator_.request(
                control_plane.server,
                control_plane.ca_cert,
                path,
                f"audithound-tail/{tag}/{sent}",
                client_cert=(control_plane.admin_cert, control_plane.admin_key),
            )
            assert status == 200
            sent += 1
            if sent % EVERY == 0:
                records += tailer.poll(READ_LINES)
            seen |= {backup.name for backup in directory.glob("audit-*.log*")} - before
            assert sent < 100 * ROTATIONS, "the audit log does not rotate"
        # The last request's event is written when its response is complete: wait for it.
        audit_log.wait_for(lambda e: e.get("userAgent") == f"audithound-tail/{tag}/{sent - 1}")
        on_disk = {event.get("userAgent") for event in audit_log.events()}
        behind = len(records)
        records += _drain(tailer)
        notices = tailer.take_notices()
    finally:
        tailer.close()

    agent = f"audithound-tail/{tag}/".encode()
    ours = _ours(records, agent)
    assert [int(event["userAgent"].rsplit("/", 1)[1]) for event in ours] == list(range(sent))
    assert not [notice for notice in notices if isinstance(notice, tail.Gap)]
    assert tailer.losses == tail.Losses()
    # The test tested what it says: when the reader caught up, the API server had deleted
    # files holding events it had not read yet (a plain old tailer loses exactly those).
    late = [event["userAgent"] for event in _ours(records[behind:], agent)]
    assert [user_agent for user_agent in late if user_agent not in on_disk]


def _ours(records: list[tail.Record], agent: bytes) -> list[dict[str, str]]:
    """The events of ``records`` whose user agent starts with ``agent``."""
    return [orjson.loads(r.line) for r in records if r.line is not None and agent in r.line]


def _drain(tailer: tail.Tailer) -> list[tail.Record]:
    records: list[tail.Record] = []
    while batch := tailer.poll(1000):
        records += batch
    return records
