"""The native excerpt (``native/screen/src/excerpt.rs``) is the Python excerpt, exactly.

``alerts.evidence.excerpt`` takes the native one for a decoded event; it hands a string back
to Python only where redaction could change it. Both are compared here, dict for dict and key
order for key order (the alert's JSON keeps it), on every event of the public samples and the
examples (the benchmark's log: ``tests/bench/test_excerpt.py``), on the redaction tables, and
on generated events whose fields have every type and strings that are long, not ASCII, or
fold to a trigger.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.alerts import test_redact

from audithound.alerts import evidence, redact

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "data" / "audit-samples"

NATIVE = evidence._NATIVE


def same(event: dict[str, Any]) -> None:
    """The native excerpt equals the Python one, in its keys' order too, or raises alike."""
    assert NATIVE is not None, "make install builds native/screen"
    try:
        expected: Any = evidence.python_excerpt(event)
    except Exception as error:  # the native excerpt must raise alike
        with pytest.raises(type(error)):
            NATIVE(event)
        return
    got = NATIVE(event)
    assert ordered(got) == ordered(expected)


def ordered(value: Any) -> Any:
    """``value`` with each dict as its list of items: equal only in the same key order."""
    if isinstance(value, dict):
        return [(key, type(item), ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [(type(item), ordered(item)) for item in value]
    return value


def _events(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    for line in path.read_bytes().splitlines():
        try:
            decoded = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        items = decoded.get("items") if isinstance(decoded, dict) else None
        for event in items if isinstance(items, list) else [decoded]:
            if isinstance(event, dict):
                yield event


def _logs() -> list[pathlib.Path]:
    logs = sorted(SAMPLES.glob("*.jsonl")) + sorted(SAMPLES.glob("*.log"))
    logs += sorted((ROOT / "examples" / "audit").glob("*"))
    return [path for path in logs if path.is_file()]


@pytest.mark.parametrize("path", _logs(), ids=lambda path: path.name)
def test_every_sample_event_gets_the_python_excerpt(path: pathlib.Path) -> None:
    events = list(_events(path))
    assert events
    for event in events:
        same(event)


@pytest.mark.parametrize("raw", [raw for raw, _ in test_redact.URIS])
def test_every_uri_of_the_redaction_table(raw: str) -> None:
    same({"auditID": "a", "requestURI": raw, "userAgent": raw, "user": {"username": raw}})


@pytest.mark.parametrize("raw", [raw for raw, _ in test_redact.TEXTS])
def test_every_text_of_the_redaction_table(raw: str) -> None:
    event = {
        "auditID": raw,
        "stage": raw,
        "stageTimestamp": raw,
        "user": {"username": raw, "uid": raw, "groups": [raw, 5, raw]},
        "impersonatedUser": {"groups": [raw]},
        "sourceIPs": [raw, None],
        "verb": raw,
        "userAgent": raw,
        "objectRef": {"name": raw, "subresource": raw},
        "annotations": {evidence.DECISION: raw, evidence.AUTHORIZATION_REASON: raw},
    }
    same(event)


#: Strings the native code must not judge alone: folding that is not ASCII (the Kelvin sign
#: folds to ``k``: ``Key``), a trigger at the end or next to a letter, ``auth`` as a word and
#: inside one, escapes, an exec's argv, lone surrogates, inert strings, and longer than the cut.
TRICKY = [
    "",
    "\u212aey=1",
    "KEY",
    "monkey",
    "auth",
    "authenticated",
    "system:authenticated Auth",
    "x-auth_1",
    "AUTH",
    "Auth-z",
    "/api?x=%3D",
    "/api?x=%74oken%3Dabc",
    "/api/%41uth?x=1",
    "/api?a=%C3%A9auth%2",
    "/api?a=%zz%4",
    "/api?a=%",
    "/api?command%3Dls",
    "/api?fieldSelector=metadata.name%3Dweb&limit=500",
    "/api/v1/namespaces/a/pods/b/exec?command=ls&command=--token&command=x",
    "/api/v1/namespaces/a/pods/b/exec?command=ls",
    "Command=x",
    "\ud800",
    "é",
    "2026-11-20T09:00:03.830001Z",
    "63854c8d-54ac-498f-a9cb-bbc9b86e4f84",
    "0123456789abcdefABCDEF-:.+_TZ",
    "0123456789abcdefABCDEF-:.+_TZ ",
    "a" * evidence.TEXT_LIMIT,
    "a" * (evidence.TEXT_LIMIT + 1),
    "/" + "b" * (evidence.TEXT_LIMIT + 7) + "?token=x",
    "Bearer abc",
    "https://u:p@h",
    "secrets",
]
ODD = st.sampled_from([None, 5, 0, -1, 403.5, True, False, [], ["x"], {}, {"a": "b"}, ("t",)])
TEXT = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), ODD)
STRINGS = st.one_of(st.lists(TEXT, max_size=4), TEXT)
USER = st.one_of(
    st.dictionaries(st.sampled_from(["username", "uid", "groups", "extra"]), STRINGS, max_size=4),
    ODD,
)
EVENT = st.dictionaries(
    st.sampled_from(
        [
            "auditID",
            "stage",
            "user",
            "impersonatedUser",
            "sourceIPs",
            "verb",
            "requestURI",
            "userAgent",
            "stageTimestamp",
            "objectRef",
            "annotations",
            "responseStatus",
        ]
    ),
    st.one_of(
        USER,
        STRINGS,
        st.dictionaries(
            st.sampled_from(
                ["resource", "subresource", "namespace", "name", "apiGroup", "apiVersion", "code"]
            ),
            st.one_of(TEXT, st.integers()),
            max_size=4,
        ),
        st.dictionaries(
            st.sampled_from([evidence.DECISION, evidence.AUTHORIZATION_REASON, "other"]),
            TEXT,
            max_size=3,
        ),
    ),
    max_size=12,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENT)
def test_generated_events_get_the_python_excerpt(event: dict[str, Any]) -> None:
    same(event)


@pytest.mark.parametrize("raw", TRICKY)
def test_tricky_strings_in_every_field(raw: str) -> None:
    same(
        {
            "auditID": raw,
            "stage": raw,
            "requestURI": raw,
            "userAgent": raw,
            "stageTimestamp": raw,
            "user": {"username": raw, "groups": [raw]},
            "objectRef": {"resource": raw},
            "annotations": {evidence.AUTHORIZATION_REASON: raw},
        }
    )


def test_a_failing_redaction_raises_as_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A string handed to Python that fails there fails the excerpt (the rule's failure is
    counted by the pipeline), as it does in Python; it never passes unredacted."""

    def broken(value: str) -> str:
        raise RuntimeError("redaction failed")

    assert NATIVE is not None
    failing = type(NATIVE)(
        list(redact.TRIGGERS),
        list(redact.WORD_TRIGGERS),
        redact.INERT,
        evidence.TEXT_LIMIT,
        broken,
        broken,
        broken,
        (evidence.DECISION, evidence.AUTHORIZATION_REASON),
    )
    assert failing({"auditID": "a", "userAgent": "curl"})["userAgent"] == "curl"
    with pytest.raises(RuntimeError, match="redaction failed"):
        failing({"auditID": "a", "userAgent": "curl -H 'Authorization: Bearer x'"})


def test_excerpt_takes_the_native_path_for_a_dict_and_python_for_other_mappings() -> None:
    class Event(dict[str, Any]):
        pass

    event = {"auditID": "a", "userAgent": "Bearer abc"}
    assert evidence.excerpt(event) == evidence.excerpt(Event(event)) == NATIVE(event)  # type: ignore[misc]
    assert evidence.excerpt(event)["userAgent"] == f"Bearer {redact.MARKER}"


#: URIs of escapes (whole, cut short, of letters that spell a trigger), triggers and argv.
URI = st.lists(
    st.sampled_from(
        [
            *("%", "%3D", "%74", "%4", "%zz", "%C3%A9", "%41", "uth", "oken", "command", "=", "&"),
            *("/api", "?", "auth", "token", "x", "A", "1", "f", "%20", "+", "Bearer", "%0A"),
        ]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(URI)
def test_generated_uris_are_left_or_redacted_as_in_python(uri: str) -> None:
    same({"auditID": "a", "requestURI": uri})
