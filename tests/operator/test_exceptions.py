"""Exceptions on the real control plane: an item silences exactly the events it names, a
shared list's change re-applies the rules that use it, a missing list holds its rule back
(or not, when optional), and the counts are in status and metrics."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.operator.conftest import Kube, Operator, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster

PATH = "/api/v1/namespaces/default/configmaps"


def _shared(name: str, values: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "audithound.io/v1alpha1",
        "kind": "DetectionException",
        "metadata": {"name": name},
        "spec": {
            "items": [
                {
                    "name": "Agents of the listed kinds",
                    "entries": [
                        {
                            "field": "user_agent.original",
                            "type": "list",
                            "list": {"id": f"{name}-agents", "type": "keyword"},
                        }
                    ],
                }
            ],
            "valueLists": [{"id": f"{name}-agents", "type": "keyword", "values": values}],
            **spec,
        },
    }


def _exception_status(kube: Kube, name: str) -> dict[str, Any] | None:
    body: dict[str, Any] = kube.get_json("detectionexception", name)
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"]["generation"]:
        return None
    return status


def _summary(kube: Kube, name: str, excepted: int) -> dict[str, Any] | None:
    execution = (kube.rule(name).get("status") or {}).get("execution", {})
    found: dict[str, Any] | None = execution.get("test-node")
    return found if found and found.get("excepted") == excepted else None


def test_an_exception_silences_exactly_the_events_it_names(kube: Kube, operator: Operator) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"excepting-{tag}"
    kube.apply(
        rule_manifest(
            name,
            f"user_agent.original:exc-{tag}/*",
            interval="1d",
            exceptions=[
                {
                    "name": "Health probes from the local host",
                    "entries": [
                        {
                            "field": "user_agent.original",
                            "type": "wildcard",
                            "value": f"exc-{tag}/probe-?",
                        },
                        {"field": "source.ip", "type": "match", "value": "127.0.0.0/8"},
                    ],
                },
                {
                    "name": "Anything but configmaps",
                    "entries": [
                        {
                            "field": "kubernetes.audit.objectRef.resource",
                            "type": "match",
                            "operator": "excluded",
                            "value": "configmaps",
                        }
                    ],
                },
            ],
        )
    )
    assert eventually(lambda: ready(kube, name), what="the rule")["status"] == "True"
    sent = {
        f"exc-{tag}/probe-1": PATH,  # both entries of the first item: excepted
        f"exc-{tag}/probe-12": PATH,  # ? is one character: alerts
        f"exc-{tag}/other": PATH,  # alerts
        f"exc-{tag}/probe-2": "/api/v1/namespaces/default/secrets",  # second item: excepted
        f"exc-{tag}/version": "/version",  # no resource: excluded entry holds, excepted
    }
    for agent, path in sent.items():
        kube.admin_get(path, agent)
    done = f"exc-{tag}/last"
    kube.admin_get(PATH, done)
    eventually(lambda: kube.alerts_with_agent(done), what="the last alert")
    alerted = {
        a["spec"]["event"]["userAgent"] for a in kube.alerts() if a["spec"]["rule"]["name"] == name
    }
    assert alerted == {f"exc-{tag}/probe-12", f"exc-{tag}/other", done}
    summary = eventually(lambda: _summary(kube, name, 3), what="the excepted count", timeout=20)
    assert summary["alertsCreated"] == 3
    assert operator.metric(f'audithound_matches_excepted_total{{rule="{name}"}}') == 3
    kube.remove_rule(name)


def test_a_shared_list_change_re_applies_its_rules(kube: Kube, operator: Operator) -> None:
    tag = uuid.uuid4().hex[:8]
    rule, shared = f"listed-{tag}", f"trusted-{tag}"
    kube.apply(
        rule_manifest(rule, f"user_agent.original:lst-{tag}/*", exceptionsList=[{"name": shared}])
    )
    waiting = eventually(lambda: ready(kube, rule), what="the rule waiting for its list")
    assert (waiting["status"], waiting["reason"]) == ("False", "ExceptionListMissing")
    assert f"DetectionException {shared} does not exist" in waiting["message"]

    kube.apply(_shared(shared, [f"lst-{tag}/a"]))
    healed = eventually(
        lambda: (found := ready(kube, rule)) and found["status"] == "True" and found,
        what="the rule once its list exists",
    )
    assert healed["reason"] == "Compiled"
    status = eventually(lambda: _exception_status(kube, shared), what="the list's status")
    assert (status["items"], status["values"]) == (1, 1)
    eventually(lambda: (_exception_status(kube, shared) or {}).get("rules") == [rule], what="users")

    kube.admin_get(PATH, f"lst-{tag}/a")  # listed: excepted
    kube.admin_get(PATH, f"lst-{tag}/b")  # not yet listed: alerts
    eventually(lambda: kube.alerts_with_agent(f"lst-{tag}/b"), what="the unlisted agent's alert")

    kube.apply(_shared(shared, [f"lst-{tag}/a", f"lst-{tag}/b"]))
    eventually(
        lambda: (_exception_status(kube, shared) or {}).get("values") == 2, what="the new list"
    )
    # The rule set swaps within a batch of the audit loop; a sentinel after it tells when.
    eventually(lambda: _listed_now(kube, tag), what="the new value applied", timeout=30)
    assert kube.alerts_with_agent(f"lst-{tag}/a") == []

    kube.kubectl("delete", "detectionexception", shared)
    gone = eventually(
        lambda: (found := ready(kube, rule)) and found["status"] == "False" and found,
        what="the rule without its list",
    )
    assert gone["reason"] == "ExceptionListMissing"
    kube.remove_rule(rule)


def _listed_now(kube: Kube, tag: str) -> bool:
    """Send the newly listed agent and an unlisted sentinel; true once only the sentinel
    alerts (each try uses new agents, so earlier tries count for nothing)."""
    probe = uuid.uuid4().hex[:6]
    kube.admin_get(PATH, f"lst-{tag}/b")
    sentinel = f"lst-{tag}/sentinel-{probe}"
    kube.admin_get(PATH, sentinel)
    eventually(lambda: kube.alerts_with_agent(sentinel), what="the sentinel alert")
    return len(kube.alerts_with_agent(f"lst-{tag}/b")) == 1


def test_an_optional_list_lets_its_rule_run_without_it(kube: Kube, operator: Operator) -> None:
    tag = uuid.uuid4().hex[:8]
    rule = f"optional-{tag}"
    kube.apply(
        rule_manifest(
            rule,
            f"user_agent.original:opt-{tag}/*",
            exceptionsList=[{"name": f"absent-{tag}", "optional": True}],
        )
    )
    condition = eventually(lambda: ready(kube, rule), what="the rule")
    assert (condition["status"], condition["reason"]) == ("True", "Compiled")
    assert "running without it (optional)" in condition["message"]
    kube.admin_get(PATH, f"opt-{tag}/1")
    eventually(lambda: kube.alerts_with_agent(f"opt-{tag}/1"), what="the alert")
    kube.remove_rule(rule)


def test_an_invalid_list_is_degraded_and_holds_its_rules_back(
    kube: Kube, operator: Operator
) -> None:
    tag = uuid.uuid4().hex[:8]
    rule, shared = f"badlist-{tag}", f"broken-{tag}"
    manifest = _shared(shared, ["x"])
    manifest["spec"]["valueLists"][0]["type"] = "ip"
    manifest["spec"]["items"][0]["entries"][0]["list"]["type"] = "ip"
    kube.apply(manifest)
    kube.apply(
        rule_manifest(rule, f"user_agent.original:bad-{tag}/*", exceptionsList=[{"name": shared}])
    )
    status = eventually(lambda: _exception_status(kube, shared), what="the list's status")
    (condition,) = status["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "ListsInvalid")
    assert condition["message"] == (
        "spec.valueLists[0].values[0]: 'x' is not an IP address or CIDR network"
    )
    waiting = eventually(lambda: ready(kube, rule), what="the rule")
    assert waiting["reason"] == "ExceptionListMissing"
    assert f"DetectionException {shared} is invalid" in waiting["message"]
    kube.kubectl("delete", "detectionexception", shared)
    kube.remove_rule(rule)
