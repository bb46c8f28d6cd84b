"""Rules come, break, heal and go while the operator runs; limits are reported in status."""

from __future__ import annotations

import uuid

import pytest

from tests.operator.conftest import Kube, Operator, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster


def _agent_rule(name: str, prefix: str, **spec: object) -> dict[str, object]:
    return rule_manifest(name, f"user_agent.original:{prefix}*", **spec)


def test_invalid_rule_is_reported_and_isolated_then_fixed_then_deleted(
    kube: Kube, operator: Operator
) -> None:
    tag = uuid.uuid4().hex[:8]
    good, bad = f"good-{tag}", f"bad-{tag}"
    good_prefix, bad_prefix = f"lifecycle-good-{tag}", f"lifecycle-bad-{tag}"
    kube.apply(_agent_rule(good, good_prefix))
    kube.apply(rule_manifest(bad, "user_agent.original:(x or"))
    condition = eventually(lambda: ready(kube, bad), what="the bad rule's status")
    assert (condition["status"], condition["reason"]) == ("False", "QueryInvalid")
    assert condition["message"].startswith("spec.query: line 1, column ")
    assert eventually(lambda: ready(kube, good), what="the good rule")["status"] == "True"
    assert kube.rule(good)["status"]["fields"] == ["user_agent.original"]

    first = f"{good_prefix}/1"
    kube.admin_get("/api/v1/namespaces/default/configmaps", first)
    eventually(lambda: kube.alerts_with_agent(first), what="the good rule's alert")

    kube.apply(_agent_rule(bad, bad_prefix))
    condition = eventually(lambda: ready(kube, bad), what="the fixed rule")
    assert (condition["status"], condition["reason"]) == ("True", "Compiled")
    fixed = f"{bad_prefix}/1"
    kube.admin_get("/api/v1/namespaces/default/configmaps", fixed)
    eventually(lambda: kube.alerts_with_agent(fixed), what="the fixed rule's alert")

    kube.kubectl("delete", "detectionrule", bad)
    after = f"{bad_prefix}/2"
    kube.admin_get("/api/v1/namespaces/default/configmaps", after)
    sentinel = f"{good_prefix}/2"
    kube.admin_get("/api/v1/namespaces/default/configmaps", sentinel)
    eventually(lambda: kube.alerts_with_agent(sentinel), what="the sentinel alert")
    assert kube.alerts_with_agent(after) == []
    kube.kubectl("delete", "detectionrule", good)


def test_max_signals_drops_and_says_so(kube: Kube, operator: Operator) -> None:
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"capped-{tag}", f"capped-{tag}"
    # Counts are per epoch-aligned interval: a day, so that no window ends between the requests.
    kube.apply(_agent_rule(name, prefix, maxSignals=2, interval="1d"))
    eventually(lambda: ready(kube, name), what="the capped rule")
    agents = [f"{prefix}/{i}" for i in range(5)]
    for each in agents:
        kube.admin_get("/api/v1/namespaces/default/configmaps", each)

    def summary() -> dict[str, object] | None:
        execution = (kube.rule(name).get("status") or {}).get("execution", {})
        found: dict[str, object] | None = execution.get("test-node")
        return found if found and found.get("matches") == 5 else None

    reported = eventually(summary, what="the execution summary", timeout=20)
    assert reported["alertsCreated"] == 2
    assert reported["dropped"] == 3
    assert reported["maxSignalsReached"] is True
    created = [a for a in kube.alerts() if a["spec"]["rule"]["name"] == name]
    assert len(created) == 2
    kube.kubectl("delete", "detectionrule", name)
