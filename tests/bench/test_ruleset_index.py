"""The rule set of ``rules.ruleset``: its generated function finds exactly the rules whose
queries, compiled alone, match, in rule order, and guards each rule by its most selective
required field."""

from __future__ import annotations

from typing import Any

import orjson

from audithound.kql import compiler as kql_compiler
from audithound.normalize import view
from audithound.rules import compiler, ruleset

_ACCESS = view.AuditEventAccess()


def _alone(rule: compiler.CompiledRule, event: dict[str, Any]) -> bool:
    """The rule's query compiled on its own by the language's compiler: the reference."""
    return kql_compiler.compile_query(rule.query, _ACCESS)(event)


def test_the_rule_set_finds_exactly_the_rules_that_match(
    compiled_rules: list[compiler.CompiledRule],
    labelled_events: list[tuple[str, dict[str, Any]]],
) -> None:
    rules = ruleset.RuleSet(compiled_rules)
    hits = 0
    for _, raw in labelled_events:
        event = orjson.loads(orjson.dumps(raw))
        failed: list[compiler.CompiledRule] = []
        every = [rule for rule in rules.rules if _alone(rule, event)]
        assert rules.match(event, failed) == every
        assert failed == []
        hits += len(every)
    assert hits >= len(compiled_rules), "each rule has events it matches"


def test_each_rule_is_filed_under_its_most_selective_field(
    compiled_rules: list[compiler.CompiledRule],
) -> None:
    fields = ruleset.RuleSet(compiled_rules).index_fields
    subresource = "kubernetes.audit.objectRef.subresource"
    assert fields["kubernetes-exec-into-pod"] == subresource
    assert fields["kubernetes-node-proxy-access"] == subresource
    assert fields["kubernetes-privileged-pod-created"] == "kubernetes.audit.objectRef.resource"
    assert fields["kubernetes-rbac-changed-by-user"] == "kubernetes.audit.objectRef.apiGroup"
    assert fields["kubernetes-service-account-forbidden"] == "event.outcome"
    # Only `event.outcome:success` (nearly every event) to file it under: it runs always.
    assert "kubernetes-anonymous-resource-request-allowed" not in fields
    assert "kubernetes-suspicious-client" not in fields


def _rule(query: str) -> compiler.CompiledRule:
    outcome = compiler.compile_rule("r", {"query": query, "severity": "low", "riskScore": 21})
    assert outcome.rule is not None
    return outcome.rule


ODD_EVENTS = [
    {"auditID": "a", "stage": "s", "objectRef": [{"resource": "pods", "subresource": "exec"}]},
    {
        "auditID": "b",
        "stage": "s",
        "objectRef.resource": "pods",
        "objectRef": {"subresource": "exec"},
    },
    {"auditID": "c", "stage": "s", "objectRef": {"resource": ["x", "pods"], "subresource": "exec"}},
    {"auditID": "d", "stage": "s", "objectRef": {"resource": "pods"}, "verb": "create"},
    {"auditID": "e", "stage": "s", "annotations": {"authorization_k8s.io/decision": "forbid"}},
]


def test_guards_read_fields_as_the_queries_do_on_odd_shapes() -> None:
    rules = ruleset.RuleSet(
        [
            _rule("kubernetes.audit.objectRef.resource:pods"),
            _rule("kubernetes.audit.objectRef.subresource:exec and event.action:*"),
            _rule("kubernetes.audit.objectRef.resource:pods and kubernetes.audit.verb:create"),
            _rule("event.outcome:failure"),
        ]
    )
    for event in ODD_EVENTS:
        every = [rule for rule in rules.rules if _alone(rule, event)]
        assert rules.match(event, []) == every
