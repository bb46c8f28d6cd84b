"""One line in, its audit events out; anything else named by a reason code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from audithound.source import decode

Line = Callable[[Any], bytes]


def _ids(decoded: decode.Decoded) -> list[str]:
    return [event["auditID"] for event in decoded.events]


def test_a_v1_event_line_is_one_event(event: Any, line: Line) -> None:
    decoded = decode.decode_line(line(event(1)))
    assert _ids(decoded) == ["id-1"]
    assert decoded.rejected == []


def test_v1beta1_and_unversioned_events_are_events(event: Any, line: Line) -> None:
    beta = event(1, apiVersion="audit.k8s.io/v1beta1", timestamp="2017-09-11T19:55:05Z")
    bare = {k: v for k, v in event(2).items() if k not in ("kind", "apiVersion")}
    assert _ids(decode.decode_line(line(beta))) == ["id-1"]
    assert _ids(decode.decode_line(line(bare))) == ["id-2"]


def test_an_event_list_yields_its_items(event: Any, line: Line) -> None:
    listing = {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": [event(1), {"kind": 0}, event(2)],
    }
    decoded = decode.decode_line(line(listing))
    assert _ids(decoded) == ["id-1", "id-2"]
    assert decoded.rejected == [decode.Reason.NOT_AN_EVENT]


def test_an_array_yields_its_events(event: Any, line: Line) -> None:
    decoded = decode.decode_line(line([event(1), event(2), 7, [event(3)]]))
    assert _ids(decoded) == ["id-1", "id-2"]
    assert decoded.rejected == [decode.Reason.NOT_AN_EVENT] * 2


@pytest.mark.parametrize("category", ["kube-audit", "kube-audit-admin"])
def test_aks_envelope_with_the_event_as_text_or_object(
    event: Any, line: Line, category: str
) -> None:
    as_text = orjson.dumps(event(1)).decode()
    for log in (as_text, event(1)):
        envelope = {
            "category": category,
            "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
            "resourceId": "/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/"
            "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C1",
            "time": "2025-10-07T16:19:19.647880072Z",
            "properties": {"log": log, "stream": "stdout", "pod": "kube-apiserver-0"},
        }
        assert _ids(decode.decode_line(line(envelope))) == ["id-1"]


def test_azure_records_wrap_several_envelopes(event: Any, line: Line) -> None:
    records = {
        "records": [
            {"category": "kube-audit", "properties": {"log": orjson.dumps(event(1)).decode()}},
            {"category": "kube-apiserver", "properties": {"log": "I0101 started"}},
            {"category": "kube-audit-admin", "properties": {"log": "{not json"}},
        ]
    }
    decoded = decode.decode_line(line(records))
    assert _ids(decoded) == ["id-1"]
    assert decoded.rejected == [decode.Reason.NOT_AN_EVENT, decode.Reason.INVALID_JSON]


@pytest.mark.parametrize(
    "value",
    [
        {"kind": 0},
        42,
        "text",
        None,
        {"auditID": "x"},
        {"auditID": "", "verb": "get"},
        {"auditID": 5, "verb": "get"},
        {"kind": "Event", "apiVersion": "v1", "auditID": "x", "verb": "get"},
        {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "verb": "get"},
        {"kind": "EventList", "items": "nope"},
        {"apiVersion": ["audit.k8s.io/v1"], "auditID": "x", "verb": "get"},
        {"apiVersion": {"v": 1}, "auditID": "x", "verb": "get"},
    ],
)
def test_json_that_holds_no_event_is_not_an_event(value: Any, line: Line) -> None:
    decoded = decode.decode_line(line(value))
    assert decoded.events == []
    assert decoded.rejected == [decode.Reason.NOT_AN_EVENT]


@pytest.mark.parametrize("raw", [b"{", b"not json\n", b'{"auditID": "x",', b"\xff\xfe\n"])
def test_malformed_lines_are_invalid_json(raw: bytes) -> None:
    assert decode.decode_line(raw) == decode.Decoded([], [decode.Reason.INVALID_JSON])


def test_empty_containers_hold_nothing_and_reject_nothing(line: Line) -> None:
    assert decode.decode_line(line([])) == decode.Decoded([], [])
    assert decode.decode_line(line({"kind": "EventList", "items": []})) == decode.Decoded([], [])
