"""What `audithound scan` prints from a crafted log: no credential in its JSON or table, and
no raw control character in its table (a terminal would obey them)."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

from tests.cli.test_scan import ROOT, audithound

TOKEN = "c2VjcmV0LXRva2VuLXZhbHVl"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06YWRtaW4ifQ.c2lnbmF0dXJl"


def _event(number: int, **fields: object) -> str:
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"00000000-0000-4000-8000-00000000000{number}",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/shop/pods",
        "verb": "list",
        "user": {"username": "mallory", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.9"],
        "userAgent": "curl/8.5.0",
        "objectRef": {"resource": "pods", "namespace": "shop", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "stageTimestamp": f"2026-11-20T10:00:0{number}.000000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    } | fields
    return json.dumps(event) + "\n"


def _log(tmp_path: pathlib.Path) -> pathlib.Path:
    exec_uri = (
        "/api/v1/namespaces/shop/pods/web/exec?command=curl&command=-H"
        f"&command=Authorization%3A+Bearer+{TOKEN}&command=https%3A%2F%2Fapi.example%2F"
        f"&container=app&stdout=true"
    )
    log = tmp_path / "crafted.log"
    log.write_text(
        _event(1, requestURI=exec_uri, verb="create")
        + _event(2, requestURI=f"/api/v1/namespaces/shop/pods?access_token={TOKEN}&limit=5")
        + _event(3, userAgent=f"tool/1.0 {JWT}")
        # A user name and URI that try to rewrite the terminal: clear the screen, move the
        # cursor, an 8-bit CSI, a bell, and a right-to-left override that reverses text.
        + _event(4, user={"username": "\x1b[2J\x1b[1;1Halice\x07"}, requestURI="/api/\x9b31m\u202e")
    )
    return log


def test_scan_json_and_table_hold_no_credentials(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    # The rule matches on the token itself: rules see the raw event.
    query = f"kubernetes.audit.requestURI:*{TOKEN}* or user_agent.original:*{JWT}*"
    as_json = audithound("scan", "--query", query, "--output", "json", str(log))
    assert as_json.returncode == 0, as_json.stderr
    found = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [alert["auditID"][-1] for alert in found] == ["1", "2", "3"]
    assert TOKEN not in as_json.stdout and JWT not in as_json.stdout
    assert found[0]["requestURI"] == (
        "/api/v1/namespaces/shop/pods/web/exec?command=curl&command=-H"
        "&command=Authorization%3A+Bearer+[REDACTED]&command=https%3A%2F%2Fapi.example%2F"
        "&container=app&stdout=true"
    )
    assert found[1]["requestURI"] == "/api/v1/namespaces/shop/pods?access_token=[REDACTED]&limit=5"
    assert found[1]["reason"] == (
        "mallory was allowed to list /api/v1/namespaces/shop/pods?access_token=[REDACTED]&limit=5"
        " from 203.0.113.9"
    )
    assert found[2]["userAgent"] == "tool/1.0 [REDACTED]"

    table = audithound("scan", "--query", query, str(log))
    assert table.returncode == 0, table.stderr
    assert TOKEN not in table.stdout and JWT not in table.stdout
    assert "access_token=[REDACTED]&limit=5" in table.stdout


def test_scan_table_shows_control_characters_escaped(tmp_path: pathlib.Path) -> None:
    log = _log(tmp_path)
    result = audithound("scan", "--query", "user.name:*alice*", str(log))
    assert result.returncode == 0, result.stderr
    # Nothing a terminal interprets: C0 (but the line ends), DEL, C1, bidi controls.
    controls = re.compile(
        "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
    )
    assert controls.search(result.stdout) is None
    (row,) = result.stdout.splitlines()[1:]
    assert "\\x1b[2J\\x1b[1;1Halice\\x07" in row
    assert row.endswith("/api/\\x9b31m\\u202e")


def test_a_scan_piped_into_head_ends_quietly(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.log"
    line = (ROOT / "examples/audit/sample-audit.log").read_text().splitlines()[0]
    event = json.loads(line)
    log.write_text(
        "".join(json.dumps(dict(event, auditID=f"id-{i}")) + "\n" for i in range(20_000))
    )
    scan = subprocess.Popen(
        [sys.executable, "-m", "audithound", "scan", "--output", "json", "--query",
         "kubernetes.audit.verb:*", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert scan.stdout is not None and scan.stderr is not None
    scan.stdout.readline()
    scan.stdout.close()  # as `| head -1` does
    errors = scan.stderr.read().decode()
    scan.stderr.close()
    assert scan.wait(60) == 0
    assert "Traceback" not in errors
