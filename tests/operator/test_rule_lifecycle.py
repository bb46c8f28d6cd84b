"""Rules come, break, heal and go while the operator runs; limits are reported in status."""

from __future__ import annotations

import functools
import pathlib
import uuid

import pytest

from audithound.devcluster import controlplane
from audithound.devcluster import operator as operator_
from tests.operator.conftest import Kube, Operator, eventually, ready, rule_manifest

pytestmark = pytest.mark.cluster

#: Past Python's int/str conversion limit (4,300 digits).
HUGE = "1" * 4301


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


def test_typed_fields_on_the_real_api_servers_events(kube: Kube, operator: Operator) -> None:
    """A CIDR on source.ip matches the API server's own record of a local request, a date
    bound with date math the operator's read time; a wildcard on the ip field is Invalid,
    with its position, as Elasticsearch refuses it."""
    tag = uuid.uuid4().hex[:8]
    local, refused = f"typed-local-{tag}", f"typed-refused-{tag}"
    kube.apply(
        rule_manifest(
            local,
            f'source.ip:(127.0.0.0/8 or "::1") and not source.ip:10.0.0.0/8'
            f" and kubernetes.audit.stageTimestamp >= now-10m"
            f" and kubernetes.audit.responseStatus.code < 399.5"
            f" and user_agent.original:typed-{tag}/*",
        )
    )
    kube.apply(rule_manifest(refused, f"source.ip:127.* and user_agent.original:typed-{tag}/*"))
    condition = eventually(lambda: ready(kube, refused), what="the refused rule's status")
    assert (condition["status"], condition["reason"]) == ("False", "QueryInvalid")
    assert condition["message"].startswith(
        "spec.query: line 1, column 11: source.ip is an ip field: Elasticsearch refuses "
        "wildcard queries on it"
    )
    assert eventually(lambda: ready(kube, local), what="the local rule")["status"] == "True"
    sent = f"typed-{tag}/1"
    kube.admin_get("/api/v1/namespaces/default/configmaps", sent)
    (alert,) = eventually(lambda: kube.alerts_with_agent(sent), what="the CIDR rule's alert")
    assert alert["spec"]["rule"]["name"] == local
    kube.kubectl("delete", "detectionrule", local, refused)


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


def test_a_rule_that_once_failed_the_compiler_stops_nothing_even_at_start_up(
    kube: Kube,
    operator_kubeconfig: pathlib.Path,
    control_plane: controlplane.ControlPlane,
    tmp_path: pathlib.Path,
) -> None:
    """The issue's rule: a number of 4,301 digits raised in the compiler, failed the handler
    and, after a restart, the start-up every 60 s, so no rule alerted. It compiles now and
    answers as Elastic does (text against the name, a number above every response code)."""
    tag = uuid.uuid4().hex[:8]
    good, number, broken = f"good-{tag}", f"number-{tag}", f"broken-{tag}"
    kube.apply(_agent_rule(good, f"startup-good-{tag}"))
    kube.apply(
        rule_manifest(
            number,
            # On an integer field a term out of range matches nothing (a range bound out of
            # range would be refused, as Elasticsearch refuses it).
            f"kubernetes.audit.objectRef.name:{HUGE} and not kubernetes.audit.responseStatus.code"
            f":{HUGE} and user_agent.original:startup-number-{tag}/*",
        )
    )
    kube.apply(rule_manifest(broken, "user_agent.original:(x or"))

    def alerts_through(node: str, label: str) -> None:
        """Requests for both rules, then their alerts and this instance's matches of them."""
        kube.admin_get("/api/v1/namespaces/default/configmaps", f"startup-good-{tag}/{label}")
        kube.admin_get(
            f"/api/v1/namespaces/default/configmaps/{HUGE}", f"startup-number-{tag}/{label}"
        )
        for name, agent in ((good, "good"), (number, "number")):
            sent = f"startup-{agent}-{tag}/{label}"
            eventually(
                functools.partial(kube.alerts_with_agent, sent), what=f"{name}'s alert via {node}"
            )
            eventually(functools.partial(matches, name, node), what=f"{node}'s matches of {name}")

    def matches(name: str, node: str) -> int:
        execution = (kube.rule(name).get("status") or {}).get("execution") or {}
        found: int = execution.get(node, {}).get("matches", 0)
        return found

    try:
        first = operator_.OperatorProcess(
            operator_kubeconfig, control_plane.audit_log, tmp_path / "first", node_name=f"a-{tag}"
        )
        try:
            first.start()
            condition = eventually(lambda: ready(kube, broken), what="the broken rule's status")
            assert (condition["status"], condition["reason"]) == ("False", "QueryInvalid")
            assert condition["message"].startswith("spec.query: line 1, column 26: ")
            for name in (good, number):
                condition = eventually(functools.partial(ready, kube, name), what=name)
                assert (condition["status"], condition["reason"]) == ("True", "Compiled")
            alerts_through(f"a-{tag}", "1")
        finally:
            first.stop()

        # Afresh, with no saved position, while the broken and the huge-number rules exist.
        fresh = operator_.OperatorProcess(
            operator_kubeconfig, control_plane.audit_log, tmp_path / "fresh", node_name=f"b-{tag}"
        )
        try:
            fresh.start()
            alerts_through(f"b-{tag}", "2")
            assert "Traceback" not in fresh.log.read_text()
        finally:
            fresh.stop()
    finally:
        for name in (good, number, broken):
            kube.remove_rule(name)
