"""`audithound scan` with new_terms and threshold rules: the examples alert as documented,
several inputs give one answer merged by event time, and workers change nothing."""

from __future__ import annotations

import datetime
import json
import pathlib
import random

import pytest
from tests.cli.test_scan import alerts, audithound

from audithound import cli, parallel

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = {
    "kubernetes-anonymous-request-authorized-new-terms": "anonymous-user-agents",
    "kubernetes-secrets-read-burst": "secret-reads",
}


def rules(name: str) -> str:
    return str(ROOT / "examples/rules" / f"{name}.yaml")


def log(name: str) -> pathlib.Path:
    return ROOT / "examples/audit" / f"{EXAMPLES[name]}.log"


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_print_the_expected_alerts(name: str) -> None:
    result = audithound("scan", "--output", "json", "--rules", rules(name), str(log(name)))
    assert result.returncode == 0, result.stderr
    expected = (ROOT / "examples/expected" / f"{name}.jsonl").read_text()
    assert alerts(result.stdout) == alerts(expected)


def test_the_new_terms_example_alerts_once_per_new_user_agent() -> None:
    name = "kubernetes-anonymous-request-authorized-new-terms"
    found = alerts(
        audithound("scan", "--output", "json", "--rules", rules(name), str(log(name))).stdout
    )
    assert [alert["group"] for alert in found] == [
        {"user_agent.original": "curl/8.5.0"},
        {"user_agent.original": "python-requests/2.32.3"},
        {"user_agent.original": "zgrab/0.x"},
    ]
    assert [alert["events"] for alert in found] == [[alert["auditID"]] for alert in found]
    assert {alert["count"] for alert in found} == {1}


def test_the_threshold_example_alerts_on_the_burst_only() -> None:
    name = "kubernetes-secrets-read-burst"
    (found,) = alerts(
        audithound("scan", "--output", "json", "--rules", rules(name), str(log(name))).stdout
    )
    assert found["group"] == {
        "user.name": "system:serviceaccount:payments:report-job",
        "source.ip": "10.0.3.7",
    }
    assert found["count"] == 3
    assert len(found["events"]) == 3 and found["events"][-1] == found["auditID"]


def test_the_table_shows_count_and_group() -> None:
    name = "kubernetes-secrets-read-burst"
    table = audithound("scan", "--rules", rules(name), str(log(name))).stdout.splitlines()
    assert table[0].split()[6:9] == ["COUNT", "GROUP", "URI"]
    assert "system:serviceaccount:payments:report-job, 10.0.3.7"[:39] in table[1]


def test_events_before_alerts_from_only_make_history() -> None:
    name = "kubernetes-anonymous-request-authorized-new-terms"
    result = audithound(
        "scan",
        "--output",
        "json",
        "--rules",
        rules(name),
        "--alerts-from",
        "2026-11-22T00:00:00Z",
        str(log(name)),
    )
    assert [alert["group"] for alert in alerts(result.stdout)] == [
        {"user_agent.original": "zgrab/0.x"}
    ]
    bad = audithound("scan", "--rules", rules(name), "--alerts-from", "yesterday", str(log(name)))
    assert bad.returncode == 2 and "not an RFC 3339 time" in bad.stderr


def test_several_api_servers_give_one_answer(tmp_path: pathlib.Path) -> None:
    """The burst is split over two API servers' logs: merged by event time, it is one burst."""
    name = "kubernetes-secrets-read-burst"
    lines = log(name).read_text().splitlines(keepends=True)
    first, second = tmp_path / "apiserver-1.log", tmp_path / "apiserver-2.log"
    first.write_text("".join(lines[0::2]))
    second.write_text("".join(lines[1::2]))
    whole = alerts(
        audithound("scan", "--output", "json", "--rules", rules(name), str(log(name))).stdout
    )
    for order in ((first, second), (second, first)):
        merged = audithound(
            "scan", "--output", "json", "--rules", rules(name), *(str(path) for path in order)
        )
        assert alerts(merged.stdout) == whole


def _many_days(path: pathlib.Path, days: int, seed: int) -> None:
    """Anonymous requests over ``days`` days from a pool of user agents, in time order."""
    pick = random.Random(seed)
    start = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    with path.open("w") as out:
        for index in range(days * 400):
            moment = start + datetime.timedelta(seconds=index * 86400 / 400)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            event = {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "auditID": f"{seed}-{index}",
                "stage": "ResponseComplete",
                "requestURI": "/api",
                "verb": "get",
                "user": {"username": "system:anonymous"},
                "sourceIPs": [f"203.0.113.{pick.randrange(4)}"],
                "userAgent": f"agent/{pick.randrange(60) if pick.random() < 0.9 else index}",
                "stageTimestamp": stamp,
                "annotations": {"authorization.k8s.io/decision": "allow"},
            }
            out.write(json.dumps(event) + "\n")


def test_workers_and_merging_change_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    _many_days(one, 20, 1)
    _many_days(two, 20, 2)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 50_000)
    monkeypatch.setattr(parallel, "MIN_FILE_BYTES", 0)
    args = [
        "scan",
        "--output",
        "json",
        "--rules",
        rules("kubernetes-anonymous-request-authorized-new-terms"),
        str(one),
        str(two),
    ]

    def run(*extra: str) -> str:
        assert cli.main([*args, *extra]) == cli.EXIT_OK
        return capfd.readouterr().out

    alone = run("--jobs", "1")
    assert len(alone.splitlines()) > 100
    assert run("--jobs", "3") == alone
