"""The native screen (``rules.prescreen`` lowering a rule set, ``audithound_screen`` running
it): it may only turn away a line that is one audit event which no rule matches, and on which
no rule fails. Checked against the Python rule set on generated events of every odd shape the
view reads differently, on the benchmark's log, and on a table of invalid JSON."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audithound import evaluate
from audithound.rules import compiler, loader, prescreen, ruleset
from audithound.source import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULE_SETS = {
    "bench": ["bench/rules"],
    "with new_terms and threshold rules": ["bench/rules", "bench/stateful"],
    "examples": ["examples/rules"],
}
EMPTY = json.dumps({"fields": [], "tests": [], "rules": []})


def _rules(paths: list[str]) -> ruleset.RuleSet:
    loaded = loader.load([str(ROOT / path) for path in paths])
    return ruleset.RuleSet(o.rule for o in loaded.outcomes if o.rule is not None)


def _screen(rules: ruleset.RuleSet, keep_user: str | None = None) -> decode.Screen:
    screen = evaluate.Evaluator(rules).screen(keep_user=keep_user)
    assert screen is not None and screen.prefilter is not None
    return screen


SCREENS = {name: (rules := _rules(paths), _screen(rules)) for name, paths in RULE_SETS.items()}


def _turned_away_rightly(rules: ruleset.RuleSet, screen: decode.Screen, line: bytes) -> bool:
    """Whether the line the prefilter said "no" to is an event no rule matches or fails on,
    read whole and through the Python screen's projection alike."""
    event = orjson.loads(line)
    assert type(event) is dict and decode.is_event(event), line
    failed: list[compiler.CompiledRule] = []
    assert rules.match(event, failed) == [], line
    assert failed == [], line
    partial = screen.projection.decode(line)
    assert partial is not None and not screen.wanted(partial), line
    return True


def test_the_extension_is_built_and_serves_the_rule_sets() -> None:
    assert prescreen.extension() is not None, "make install builds native/screen"
    for rules, screen in SCREENS.values():
        assert screen.prefilter is not None
        assert len(rules) > 0


# ----- generated events -----

WORDS = {
    "verb": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
    "resource": [
        "pods", "secrets", "clusterroles", "roles", "clusterrolebindings", "rolebindings",
        "services", "events", "nodes", "serviceaccounts", "cronjobs", "daemonsets",
        "certificatesigningrequests", "mutatingwebhookconfigurations", "configmaps",
    ],
    "subresource": ["exec", "attach", "portforward", "proxy", "token", "approval",
                    "ephemeralcontainers", "status"],
    "apiGroup": ["", "rbac.authorization.k8s.io", "apps", "audithound.io"],
    "username": [
        "system:anonymous", "system:unauthenticated", "alice",
        "system:serviceaccount:kube-system:namespace-controller",
        "system:serviceaccount:audithound-system:audithound", "system:masters", "",
    ],
    "userAgent": ["curl/8.0", "kubectl/v1.30", "python-requests/2.31", "kube-hunter", "Go-http",
                  "audithound/0.1", "kubelet/v1.30 (linux/amd64) kubernetes/$Format", ""],
    "requestURI": ["/api/v1/pods", "/healthz", "/livez?verbose", "/version", "/apis/x"],
    "stage": ["ResponseComplete", "RequestReceived", "ResponseStarted", "Panic"],
    "decision": ["allow", "forbid", "deny", ""],
    "namespace": ["default", "kube-system", "kube-public"],
    "name": ["cluster-info", "x", "cluster-admin"],
}  # fmt: skip

# Values of the wrong type or shape for a field that holds strings.
ODD = st.sampled_from([None, 5, 403.0, True, [], ["get"], ["pods", None], {}, {"a": "b"}, ""])


def _word(kind: str) -> st.SearchStrategy[Any]:
    return (
        st.one_of(st.sampled_from(WORDS[kind]), ODD)
        if kind != "stage"
        else st.sampled_from(WORDS[kind])
    )


OBJECT_REF = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "resource": _word("resource"),
            "subresource": _word("subresource"),
            "apiGroup": _word("apiGroup"),
            "namespace": _word("namespace"),
            "name": _word("name"),
        },
    ),
    ODD,
)
USER = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "username": _word("username"),
            "groups": st.lists(st.one_of(st.sampled_from(WORDS["username"]), ODD), max_size=3),
        },
    ),
    ODD,
)
ANNOTATION_KEYS = [
    "authorization.k8s.io/decision", "authorization_k8s.io/decision",
    "pod-security.kubernetes.io/audit-violations", "pod-security_kubernetes.io/audit-violations",
    "pod-security.kubernetes.io/enforce-policy",
]  # fmt: skip
ANNOTATIONS = st.one_of(
    st.dictionaries(
        st.sampled_from(ANNOTATION_KEYS),
        st.one_of(st.sampled_from(WORDS["decision"]), ODD),
        max_size=3,
    ),
    ODD,
)
# Addresses as clients send them, and what Python's and Rust's parsers may read differently.
ADDRESSES = [
    "10.0.0.1", "203.0.113.9", "192.168.1.1", "172.16.0.1", "127.0.0.1", "::1", "2001:db8::1",
    "::ffff:10.0.0.1", "::ffff:203.0.113.9", "fe80::1%eth0", "010.0.0.1", "10.0.0", "256.1.1.1",
    "1.2.3.4/8", "::ffff:010.0.0.1", "1::2::3", "FC00::1", " 10.0.0.1", "0x0a.0.0.1", "",
    "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:8:9", "x",
]  # fmt: skip
REQUEST_OBJECT = st.sampled_from(
    [
        {"roleRef": {"name": "cluster-admin"}},
        {"rules": [{"verbs": ["*"], "resources": ["pods"]}]},
        {"spec": {"containers": [{"securityContext": {"privileged": True}}], "hostPID": True}},
        {"spec": {"type": "LoadBalancer"}},
        {"metadata": {"name": "x"}},
    ]
)
EVENT = st.fixed_dictionaries(
    {
        "auditID": st.one_of(st.just("id-1"), st.sampled_from(["", 7, None])),
        "stage": _word("stage"),
    },
    optional={
        "kind": st.sampled_from(["Event", "Pod", None]),
        "apiVersion": st.sampled_from(["audit.k8s.io/v1", "audit.k8s.io/v1beta1", "v1", None]),
        "verb": _word("verb"),
        "requestURI": _word("requestURI"),
        "userAgent": _word("userAgent"),
        "user": USER,
        "impersonatedUser": USER,
        "objectRef": OBJECT_REF,
        "annotations": ANNOTATIONS,
        "responseStatus": st.fixed_dictionaries(
            {}, optional={"code": st.sampled_from([200, 403, 500, "403", 403.0, None, 2**63])}
        ),
        "sourceIPs": st.one_of(
            st.lists(st.one_of(st.sampled_from(ADDRESSES), ODD), max_size=3),
            st.sampled_from(ADDRESSES),
            ODD,
        ),
        "requestObject": REQUEST_OBJECT,
        "objectRef.resource": _word("resource"),
        "user.username": _word("username"),
    },
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """An event as a line, now and then spelled oddly: an escape, a duplicate key."""
    line = orjson.dumps(draw(EVENT))
    twist = draw(st.sampled_from(["none", "none", "escape", "duplicate", "duplicate-inner"]))
    if twist == "escape":
        word = draw(st.sampled_from(["secrets", "pods", "alice", "create", "allow", "curl"]))
        line = line.replace(
            b'"' + word.encode(), b'"\\u00' + f"{ord(word[0]):x}".encode() + word[1:].encode()
        )
    elif twist == "duplicate":
        key = draw(st.sampled_from(["verb", "objectRef", "user", "annotations", "auditID"]))
        value = draw(st.sampled_from([b'"delete"', b'{"resource":"secrets"}', b"{}", b'"x"']))
        line = line[:-1] + b',"' + key.encode() + b'":' + value + b"}"
    elif twist == "duplicate-inner" and b'"objectRef":{' in line:
        line = line.replace(b'"objectRef":{', b'"objectRef":{"resource":"secrets",', 1)
    return line + b"\n"


@pytest.mark.parametrize("name", list(SCREENS))
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=lines())
def test_a_line_turned_away_is_an_event_no_rule_matches(name: str, line: bytes) -> None:
    rules, screen = SCREENS[name]
    assert screen.prefilter is not None
    if not screen.prefilter(line):
        assert _turned_away_rightly(rules, screen, line)


# ----- the benchmark's log -----


@pytest.fixture(scope="module")
def bench_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    path = tmp_path_factory.mktemp("bench") / "audit.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "bench/generate.py"), "--events", "4000", "--out", path],
        check=True,
        capture_output=True,
    )
    return path.read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("name", list(SCREENS))
def test_on_the_benchmarks_log_most_lines_are_turned_away_and_rightly(
    name: str, bench_lines: list[bytes]
) -> None:
    rules, screen = SCREENS[name]
    assert screen.prefilter is not None
    away = [line for line in bench_lines if not screen.prefilter(line)]
    assert len(away) > 0.5 * len(bench_lines)  # new_terms rules match most events
    for line in away:
        assert _turned_away_rightly(rules, screen, line)


# ----- lines it leaves to Python -----

HEAD = b'{"auditID":"a","stage":"x",'
INVALID = [
    b'"f":[1,2,]}', b'"f":tru}', b'"f":"\x01"}', b'"f":"\\q"}', b'"f":01}', b'"f":1.}',
    b'"f":-}', b'"f":1e}', b'"f":.5}', b'"f":1} x', b'"f":NaN}', b'"f":"a\tb"}', b"}",
    b'"f":[1 2]}', b'"f":{"a" 1}}', b'"f":"\\u12"}', b'"f":{"a":1,}}', b'"f":[}', b'"f":"abc}',
    b'"f":+1}', b'"f":[1,2]]}', b'"f":{}}}', b'"f":1}}', b'"f":"x"]', b'"f":true,}',
]  # fmt: skip


@pytest.mark.parametrize("tail", INVALID)
def test_invalid_json_is_left_to_python(tail: bytes) -> None:
    line = HEAD + tail
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
    module = prescreen.extension()
    assert module is not None
    assert module.Screen(EMPTY)(line)  # "maybe", even with no rule at all


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (HEAD + b'"f":"ok"}', "an event no rule can match: the only 'no'"),
        (HEAD + b'"f":' + b"[" * 300 + b"]" * 300 + b"}", "nested deeper than it vouches for"),
        (HEAD + b'"f":"\\ud800"}', "a lone surrogate escape"),
        (HEAD + '"f":"é"}'.encode(), "not ASCII"),
        (b'{"auditID":"","stage":"x"}', "no auditID"),
        (b'{"auditID":"a"}', "no stage"),
        (b'{"auditID":"a","stage":"x","kind":"Pod"}', "another kind"),
        (b'{"auditID":"a","stage":"x","kind":null}', "a null kind"),
        (b'{"auditID":"a","stage":"x","apiVersion":"v1"}', "another apiVersion"),
        (b'{"auditID":"a","stage":"x","auditID":"b"}', "a shape key twice"),
        (b'{"auditID":"a","stage":"x","a.b":1}', "a dotted key"),
        (b'[{"auditID":"a","stage":"x"}]', "an array of events"),
        (b'{"kind":"EventList","items":[]}', "an event list"),
    ],
)
def test_what_only_python_answers(line: bytes, why: str) -> None:
    module = prescreen.extension()
    assert module is not None
    expected_no = why.startswith("an event no rule")
    assert module.Screen(EMPTY)(line) is not expected_no, why


# ----- lowering -----


def _one(query: str, **spec: Any) -> ruleset.RuleSet:
    outcome = compiler.compile_rule(
        "r", {"query": query, "severity": "low", "riskScore": 1, **spec}
    )
    assert outcome.rule is not None, outcome.errors
    return ruleset.RuleSet([outcome.rule])


def test_a_rule_it_cannot_read_and_python_does_not_guard_leaves_no_native_screen() -> None:
    assert prescreen.program(_one("kubernetes.audit.requestObject.spec.hostPID:true")) is None
    assert prescreen.program(_one("kubernetes.audit.responseStatus.code >= 500")) is None


def test_an_unread_part_is_unknown_and_a_false_part_beside_it_decides() -> None:
    rules = _one(
        "kubernetes.audit.verb:create and kubernetes.audit.requestObject.spec.hostPID:true"
    )
    lowered = prescreen.program(rules)
    assert lowered is not None
    assert lowered["rules"] == [{"all": [{"test": 0}, prescreen.UNKNOWN]}]
    screen = _screen(rules)
    assert screen.prefilter is not None
    event = {"auditID": "a", "stage": "x", "requestObject": {"spec": {"hostPID": True}}}
    assert not screen.prefilter(orjson.dumps({**event, "verb": "get"}))
    assert screen.prefilter(orjson.dumps({**event, "verb": "create"}))


def test_an_eql_rule_is_screened_by_its_guard() -> None:
    rules = _one(
        'any where kubernetes.audit.objectRef.resource == "secrets" and user.name : "BOB*"',
        type="eql",
        language="eql",
    )
    lowered = prescreen.program(rules)
    assert lowered is not None and prescreen.UNKNOWN in json.dumps(lowered)
    screen = _screen(rules)
    assert screen.prefilter is not None
    line = b'{"auditID":"a","stage":"x","objectRef":{"resource":"%s"},"user":{"username":"BOB"}}'
    assert not screen.prefilter(line % b"pods")
    assert screen.prefilter(line % b"secrets")


def test_the_operators_own_events_always_go_through() -> None:
    rules = _one("kubernetes.audit.verb:delete")
    screen = _screen(rules, keep_user="system:serviceaccount:audithound-system:audithound")
    assert screen.prefilter is not None
    line = b'{"auditID":"a","stage":"x","verb":"get","user":{"username":"%s"}}'
    assert screen.prefilter(line % b"system:serviceaccount:audithound-system:audithound")
    assert not screen.prefilter(line % b"alice")


@pytest.mark.parametrize("address", ADDRESSES)
@pytest.mark.parametrize(
    "query",
    [
        "source.ip:*",
        "not source.ip:(10.0.0.0/8 or 172.16.0.0/12 or 192.168.0.0/16 or 127.0.0.0/8)",
        'source.ip:("::1" or "fc00::/7" or 203.0.113.9)',
        "client.ip:10.0.0.1",
    ],
)
def test_addresses_as_python_reads_them(query: str, address: str) -> None:
    rules = _one(query)
    screen = _screen(rules)
    assert screen.prefilter is not None
    for ips in ([address], [address, "10.0.0.2"], address):
        line = orjson.dumps({"auditID": "a", "stage": "x", "sourceIPs": ips})
        if not screen.prefilter(line):
            assert _turned_away_rightly(rules, screen, line)


@pytest.mark.parametrize(
    ("query", "value", "matches"),
    [
        ("user_agent.original:curl/*", "curl/8", True),
        ("user_agent.original:curl/*", "Curl/8", False),  # wildcards are case-sensitive here
        ("user_agent.original:*kubernetes/$Format", "kubelet kubernetes/$Format", True),
        ("user_agent.original:*a*b*", "xaxbx", True),
        ("user_agent.original:*a*b*", "xbxax", False),
        ("user_agent.original:a*a", "a", False),  # the prefix and the suffix do not overlap
        ("user_agent.original:a*a", "aa", True),
        ("user_agent.original:*", "", False),  # an empty string is no value
        ("not user_agent.original:*", "", True),
        ("user_agent.original:(x or not *)", "", True),
    ],
)
def test_values_as_the_python_view_reads_them(query: str, value: str, matches: bool) -> None:
    rules = _one(query)
    screen = _screen(rules)
    assert screen.prefilter is not None
    line = orjson.dumps({"auditID": "a", "stage": "x", "userAgent": value})
    assert bool(rules.match(orjson.loads(line), [])) is matches
    assert screen.prefilter(line) is matches


def test_an_address_inside_the_network_is_turned_away_and_one_outside_is_not() -> None:
    rules = _one("not source.ip:10.0.0.0/8")
    screen = _screen(rules)
    assert screen.prefilter is not None
    line = b'{"auditID":"a","stage":"x","sourceIPs":%s}'
    assert not screen.prefilter(line % b'["10.0.0.1"]')
    assert not screen.prefilter(line % b'["::ffff:10.1.2.3"]')  # IPv4 mapped, as Elastic
    assert screen.prefilter(line % b'["203.0.113.9"]')
    inside_too = line % b'["10.0.0.1","203.0.113.9"]'  # one inside is enough for source.ip:
    assert not screen.prefilter(inside_too) and _turned_away_rightly(rules, screen, inside_too)
    assert screen.prefilter(line % b'["fe80::1%eth0"]')  # a zone: Python's to read
    assert screen.prefilter(line % b'["10.0.0.1",null]')  # no address at all: matches
