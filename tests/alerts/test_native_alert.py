"""The native reason and flat record (``native/screen/src/alert.rs``) are Python's, exactly.

``evidence.reason`` and ``sinks.base.flat`` take the native answer where there is one (an
excerpt or an alert of the shape Python builds) and Python's otherwise. Compared here on the
alerts of every sample event, for a query rule with threats and for findings of several
events, and on generated excerpts and alerts of odd shapes, where both must answer alike or
raise alike.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.alerts import test_evidence, test_native_excerpt

from audithound.alerts import evidence
from audithound.detectors import findings
from audithound.rules import compiler, prescreen
from audithound.sinks import base

DETECTED = datetime.datetime(2026, 11, 20, 10, 0, 1, 250, tzinfo=datetime.UTC)


def same_reason(event: Any) -> None:
    """The native reason equals Python's, or is None (the native alert is then Python's)."""
    native = prescreen.extension()
    assert native is not None, "make install builds native/screen"
    made = native.reason(event)
    try:
        expected = evidence.reason(event)
    except Exception:
        assert made is None
        return
    assert made in (None, expected)
    if type(event) is dict and evidence.python_excerpt(event) == event:
        assert made == expected  # an excerpt's own shape: always made natively


def same_flat(alert: Any) -> None:
    assert base._NATIVE_FLAT is not None, "make install builds native/screen"
    try:
        expected = base.python_flat(alert)
    except Exception as error:
        with pytest.raises(type(error)):
            base.flat(alert)
        return
    ordered = test_native_excerpt.ordered
    assert ordered(base.flat(alert)) == ordered(expected)


def _alerts(event: dict[str, Any]) -> list[dict[str, Any]]:
    rule = test_evidence.rule()
    key = findings.event_key(event)
    several = findings.Finding(
        event,
        key,
        group=(("kubernetes.audit.user.username", "bob"),),
        count=3,
        members=(findings.Member("a", "ResponseComplete", 1.0),),
        first_seen=1.0,
        last_seen=2.5,
    )
    return [
        evidence.build(rule, findings.Finding(event, key), DETECTED),
        evidence.build(rule, several, DETECTED),
    ]


@pytest.mark.parametrize("path", test_native_excerpt._logs(), ids=lambda path: path.name)
def test_every_sample_events_alert_gets_pythons_reason_and_record(path: Any) -> None:
    for event in test_native_excerpt._events(path):
        shown = evidence.python_excerpt(event)
        assert prescreen.extension().reason(shown) == evidence.reason(shown)
        for alert in _alerts(event):
            same_flat(alert)


WORDS = ["", "allow", "forbid", "get", "\ud800", "x"]
TEXT = st.one_of(st.sampled_from(WORDS), st.text(max_size=5))
ODD = st.sampled_from([None, 0, 1, True, [], ["10.0.0.1"], {}, ("t",), 2.5])
VALUE = st.one_of(TEXT, ODD, st.lists(st.one_of(TEXT, ODD), max_size=3))
USER = st.one_of(st.dictionaries(st.sampled_from(["username", "groups"]), VALUE, max_size=2), ODD)
EXCERPT = st.dictionaries(
    st.sampled_from(
        [
            *("auditID", "stage", "user", "impersonatedUser", "sourceIPs", "verb"),
            *("requestURI", "decision", "objectRef", "responseCode", "userAgent"),
        ]
    ),
    st.one_of(USER, VALUE),
    max_size=11,
)
THREATS = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {
                "tactic": st.one_of(st.fixed_dictionaries({"id": TEXT}), ODD),
                "technique": st.one_of(
                    st.lists(
                        st.fixed_dictionaries(
                            {
                                "id": TEXT,
                                "subtechnique": st.one_of(
                                    st.lists(st.fixed_dictionaries({"id": TEXT}), max_size=2), ODD
                                ),
                            }
                        ),
                        max_size=2,
                    ),
                    ODD,
                ),
            }
        ),
        max_size=2,
    ),
    ODD,
)
RULE = st.fixed_dictionaries(
    {"name": TEXT, "ruleId": TEXT, "severity": TEXT, "riskScore": VALUE, "threat": THREATS}
)
SPEC = st.fixed_dictionaries(
    {"rule": RULE, "event": EXCERPT, "reason": TEXT},
    optional={
        "eventTime": VALUE,
        "auditIDs": VALUE,
        "group": st.one_of(st.dictionaries(TEXT, TEXT, max_size=2), ODD),
        "count": VALUE,
    },
)
ALERT = st.fixed_dictionaries({"name": TEXT}, optional={"spec": SPEC})


@settings(max_examples=800, deadline=None)
@given(EXCERPT)
def test_generated_excerpts_get_pythons_reason(event: dict[str, Any]) -> None:
    same_reason(event)


@settings(max_examples=800, deadline=None)
@given(ALERT)
def test_generated_alerts_get_pythons_record(alert: dict[str, Any]) -> None:
    same_flat(alert)


def test_a_dict_of_another_type_is_left_to_python() -> None:
    class Excerpt(dict[str, Any]):
        pass

    event = {"user": {"username": "bob"}, "sourceIPs": ["10.0.0.1", "10.0.0.2"], "verb": "get"}
    native = prescreen.extension()
    assert native.reason(Excerpt(event)) is None  # only a dict's own type is read natively
    assert native.reason(event) == evidence.reason(event)
    assert evidence.reason(event) == "bob made a get request to (no URI) from 10.0.0.1 (+1 more)"


def same_alert(rule: Any, finding: findings.Finding) -> None:
    """``evidence.build`` natively equals it in Python (the Python excerpt, reason, name)."""
    native = evidence._NATIVE
    assert native is not None, "make install builds native/screen"
    try:
        evidence._NATIVE = None
        try:
            expected: Any = evidence.build(rule, finding, DETECTED)
        finally:
            evidence._NATIVE = native
    except Exception as error:
        with pytest.raises(type(error)):
            evidence.build(rule, finding, DETECTED)
        return
    ordered = test_native_excerpt.ordered
    assert ordered(evidence.build(rule, finding, DETECTED)) == ordered(expected)


def _rule(name: str) -> Any:
    spec = {"query": "kubernetes.audit.verb:get", "severity": "low", "riskScore": 21}
    outcome = compiler.compile_rule(name, spec)
    assert outcome.rule is not None
    return outcome.rule


@pytest.mark.parametrize("path", test_native_excerpt._logs(), ids=lambda path: path.name)
def test_every_sample_events_alert_is_built_natively_as_in_python(path: Any) -> None:
    rule = test_evidence.rule()
    for event in test_native_excerpt._events(path):
        same_alert(rule, findings.Finding(event, findings.event_key(event)))


@pytest.mark.parametrize(
    "name", ["a", "x" * 253, "a-" * 120 + "b.c", "rule.with-dots-", "r-" + "y" * 240 + "..z"]
)
def test_names_of_every_length_and_ending(name: str) -> None:
    event = test_evidence.raw_event()
    same_alert(_rule(name), findings.Finding(event, findings.event_key(event)))


@pytest.mark.parametrize(
    "key", [("a", "b", "c"), (), ("\u00e9", "\U0001f600"), ("\ud800",), ("a\0b",)], ids=repr
)
def test_keys_of_any_text(key: tuple[str, ...]) -> None:
    same_alert(test_evidence.rule(), findings.Finding(test_evidence.raw_event(), key))


@settings(max_examples=400, deadline=None)
@given(test_native_excerpt.EVENT)
def test_generated_events_alerts_are_built_as_in_python(event: dict[str, Any]) -> None:
    same_alert(test_evidence.rule(), findings.Finding(event, findings.event_key(event)))
