"""Exception items answer as Kibana's exception filter does: every row of exceptions.toml,
run as a user runs it (a rule whose query matches every event, through the pipeline to a
sink): an excepted event raises no alert and is counted as excepted; an invalid item makes
the rule Invalid with the exact path of what is wrong."""

from __future__ import annotations

import copy
import pathlib
import tomllib
from typing import Any

import pytest
from tests import recording

from audithound import pipeline
from audithound.api import exceptions as exception_api
from audithound.rules import compiler, exceptions, ruleset

CASES: list[dict[str, Any]] = tomllib.loads(
    (pathlib.Path(__file__).parent / "exceptions.toml").read_text(encoding="utf-8")
)["case"]

BASE: dict[str, Any] = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "level": "Metadata",
    "auditID": "a1",
    "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/default/pods",
    "verb": "list",
    "user": {"username": "alice", "groups": ["system:authenticated"]},
    "sourceIPs": ["192.0.2.10"],
    "userAgent": "kubectl/v1.36.0",
    "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
    "responseStatus": {"code": 200},
    "requestReceivedTimestamp": "2026-11-27T10:00:01.123456Z",
    "stageTimestamp": "2026-11-27T10:00:01.234567Z",
}


def library(lists: list[dict[str, Any]]) -> exceptions.Library:
    spec = exception_api.DetectionExceptionSpec.model_validate({"valueLists": lists})
    return exceptions.Library({"shared": spec})


def outcome(case: dict[str, Any]) -> compiler.Outcome:
    spec = {
        "query": "kubernetes.audit.auditID:*",
        "severity": "low",
        "riskScore": 21,
        "exceptions": case["exceptions"],
    }
    return compiler.compile_rule("everything", spec, library=library(case.get("lists", [])))


@pytest.mark.parametrize(
    "case", [case for case in CASES if "excepted" in case], ids=lambda case: case["about"]
)
def test_an_event_is_excepted_as_kibana_excepts_it(case: dict[str, Any]) -> None:
    compiled = outcome(case)
    assert compiled.rule is not None, [problem.short() for problem in compiled.problems]
    event = copy.deepcopy(BASE) | case.get("event", {})
    sink = recording.Recorder()
    scan = pipeline.Pipeline(ruleset.RuleSet([compiled.rule]), sink)
    scan.run([("case", 1, event)])
    scan.close()
    assert (len(sink.alerts) == 0) is case["excepted"]
    assert scan.limiter.excepted_total["everything"] == (1 if case["excepted"] else 0)
    assert scan.totals().excepted["everything"] == (1 if case["excepted"] else 0)


@pytest.mark.parametrize(
    "case", [case for case in CASES if "error" in case], ids=lambda case: case["about"]
)
def test_an_invalid_item_is_the_rules_error_at_its_path(case: dict[str, Any]) -> None:
    compiled = outcome(case)
    assert compiled.rule is None
    (error,) = compiled.errors
    assert case["error"] in error.message
    assert error.path == case["path"]
