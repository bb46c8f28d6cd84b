"""``tune`` prints nothing secret and stops on rule errors as ``scan`` does."""

from __future__ import annotations

import pathlib

import orjson
from tests import auditkit
from tests.tuning.conftest import proposed_items, rule_file, scan_alerts, tune

URI_TOKEN = "s3cr3t-uri-token-1234"
AGENT_TOKEN = "s3cr3t-agent-token-5678"


def _scrapes(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A monitor scraping /metrics with a token in the URI and one in its user agent, three
    times, and another user's request, under a rule that alerts on every allowed get."""
    allow = {"authorization.k8s.io/decision": "allow"}
    lines = [
        auditkit.audit_line(
            f"scraper/2.0 token={AGENT_TOKEN}",
            user={"username": "monitor"},
            verb="get",
            requestURI=f"/metrics?access_token={URI_TOKEN}",
            annotations=allow,
        )
        for _ in range(3)
    ]
    lines.append(auditkit.audit_line("kubectl/v1.36.3", verb="get", annotations=allow))
    log = tmp_path / "scrapes.log"
    log.write_bytes(b"".join(lines))
    rule = rule_file(
        tmp_path, "allowed-gets", "kubernetes.audit.verb:get and event.outcome:success"
    )
    return rule, log


def test_tokens_in_uri_and_user_agent_are_never_printed(tmp_path: pathlib.Path) -> None:
    rule, log = _scrapes(tmp_path)
    text = tune("--rules", rule, log)
    json = tune("--rules", rule, "--output", "json", log)
    for done in (text, json):
        assert done.returncode == 0, done.stderr
        assert URI_TOKEN not in done.stdout + done.stderr
        assert AGENT_TOKEN not in done.stdout + done.stderr
    assert "agent=scraper/2.0 token=[REDACTED]" in text.stdout
    # The item still silences the scrapes: the URI's query becomes a wildcard.
    [[item]] = proposed_items(text.stdout)
    assert item["entries"] == [
        {"field": "user.name", "type": "match", "operator": "included", "value": "monitor"},
        {
            "field": "kubernetes.audit.requestURI",
            "type": "wildcard",
            "operator": "included",
            "value": "/metrics\\?*",
        },
    ]
    # Pasted into the rule, it silences the three scrapes and nothing else.
    remaining = scan_alerts(rule, log, [item])
    assert len(remaining) == 1
    [record] = [orjson.loads(line) for line in json.stdout.splitlines()]
    top = record["tuples"][0]
    assert top["shared"]["agent"] == "scraper/2.0 token=[REDACTED]"
    assert top["exception"] == item
    assert top["silences"] == 3


def test_a_query_string_without_secrets_is_listed_exactly(tmp_path: pathlib.Path) -> None:
    allow = {"authorization.k8s.io/decision": "allow"}
    uris = ("/version?timeout=32s", "/version?timeout=32s", "/version")
    bob = {"username": "bob"}
    lines = [
        auditkit.audit_line(
            "kubectl/v1.36.3", user=bob, verb="get", requestURI=uri, annotations=allow
        )
        for uri in uris
    ]
    lines.append(auditkit.audit_line("kubectl/v1.36.3", verb="get", annotations=allow))
    log = tmp_path / "versions.log"
    log.write_bytes(b"".join(lines))
    rule = rule_file(tmp_path, "allowed-gets", "kubernetes.audit.verb:get")
    done = tune("--rules", rule, log)
    [[item]] = proposed_items(done.stdout)
    assert item["entries"][-1] == {
        "field": "kubernetes.audit.requestURI",
        "type": "match_any",
        "operator": "included",
        "value": ["/version", "/version?timeout=32s"],
    }


def test_rule_errors_stop_tune_with_exit_2(tmp_path: pathlib.Path) -> None:
    broken = rule_file(tmp_path, "broken", "kubernetes.audit.verb:")
    log = tmp_path / "empty.log"
    log.write_text("")
    done = tune("--rules", broken, log)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{broken}:" in done.stderr and "rule broken: error: spec.query" in done.stderr
    assert "rule errors: nothing was scanned" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_input_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    done = tune(tmp_path / "absent.log")
    assert done.returncode == 2
    assert "absent.log: no such file" in done.stderr


def test_a_rule_without_alerts_says_so(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "quiet.log"
    log.write_bytes(auditkit.audit_line("kubectl/v1.36.3"))
    done = tune(log)
    assert done.returncode == 0
    assert "0 alert(s)" in done.stdout and "Nothing to tune" in done.stdout
