"""JSON spanning lines (pretty-printed lists and values one after another): every event read
item by item, each at its own line, in bounded memory; what is not an event counted."""

from __future__ import annotations

import collections
import io
import json
import pathlib
from typing import Any

import hypothesis
import orjson
import pytest
from hypothesis import strategies as st

from audithound.source import decode, documents, files

R = decode.Reason


def _read(path: pathlib.Path, **options: Any) -> tuple[list[tuple[int, str]], files.ReadStats]:
    stats = files.ReadStats()
    found = [(n, e["auditID"]) for _, n, e in files.read([str(path)], stats, **options)]
    return found, stats


def _starts(text: bytes, opening: bytes) -> list[int]:
    """The numbers of the lines that are exactly ``opening``."""
    return [n for n, line in enumerate(text.split(b"\n"), 1) if line == opening]


def test_concatenated_pretty_printed_objects_are_every_one_read(
    tmp_path: pathlib.Path, event: Any
) -> None:
    """``jq . audit.log > out.json``: one indented object after another."""
    text = b"".join(json.dumps(event(n), indent=2).encode() + b"\n" for n in range(17))
    path = tmp_path / "out.json"
    path.write_bytes(text)
    found, stats = _read(path)
    assert found == list(zip(_starts(text, b"{"), [f"id-{n}" for n in range(17)], strict=True))
    assert (stats.events, stats.lines, stats.blank_lines) == (17, text.count(b"\n"), 0)
    assert not stats.skipped


def test_what_is_no_event_between_objects_is_counted_with_its_line(
    tmp_path: pathlib.Path, event: Any
) -> None:
    parts = [
        json.dumps(event(1), indent=2),
        "not json at all",
        "42",
        json.dumps({"kind": 0}, indent=2),
        '"a string"',
        json.dumps(event(2), indent=4),
        json.dumps({"kind": "EventList", "items": [event(3), "junk"]}, indent=1),
        "}",
    ]
    text = "\n".join(parts).encode() + b"\n"
    path = tmp_path / "mixed.json"
    path.write_bytes(text)
    found, stats = _read(path)
    line_of = {part: text[: text.index(part.encode())].count(b"\n") + 1 for part in parts}
    items = text.split(b"\n").index(b"  {", line_of[parts[6]]) + 1
    assert found == [(1, "id-1"), (line_of[parts[5]], "id-2"), (items, "id-3")]
    assert stats.skipped == {R.INVALID_JSON: 2, R.NOT_AN_EVENT: 4}
    assert [(e.line, e.reason) for e in stats.examples] == [
        (line_of[parts[1]], R.INVALID_JSON),
        (line_of[parts[2]], R.NOT_AN_EVENT),
        (line_of[parts[3]], R.NOT_AN_EVENT),
        (line_of[parts[4]], R.NOT_AN_EVENT),
        (text.count(b"\n"), R.INVALID_JSON),  # the stray "}" on the last line
    ]


def test_an_item_longer_than_the_line_limit_is_skipped_with_its_line(
    tmp_path: pathlib.Path, event: Any
) -> None:
    items = [event(1), event(2, requestObject={"data": "x" * 5000}), event(3)]
    text = json.dumps({"kind": "EventList", "items": items}, indent=2).encode()
    path = tmp_path / "list.json"
    path.write_bytes(text)
    found, stats = _read(path, max_line_bytes=2048)
    starts = _starts(text, b"    {")
    assert found == [(starts[0], "id-1"), (starts[2], "id-3")]
    assert stats.skipped == {R.OVERSIZED: 1}
    assert stats.examples == [files.SkipExample(str(path), starts[1], R.OVERSIZED)]


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_a_long_item_or_value_of_any_text_is_oversized_not_broken(
    tmp_path: pathlib.Path, event: Any, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(documents, "CHUNK_BYTES", chunk)
    long = event(2, requestObject={"data": "é€😀" * 1000})
    listed = json.dumps([event(1), long, event(3)], indent=2, ensure_ascii=False).encode()
    after = json.dumps(long, indent=2, ensure_ascii=False) + "\n" + json.dumps(event(4))
    path = tmp_path / "long.json"
    path.write_bytes(listed + b"\n" + after.encode())
    found, stats = _read(path, max_line_bytes=2048)
    assert [i for _, i in found] == ["id-1", "id-3", "id-4"]
    assert stats.skipped == {R.OVERSIZED: 2}


def test_a_document_many_times_the_line_limit_is_streamed(
    tmp_path: pathlib.Path, event: Any
) -> None:
    """No document limit: a list is read item by item however long it is."""
    items = [event(n) for n in range(400)]
    text = json.dumps({"kind": "EventList", "items": items}, indent=2).encode()
    path = tmp_path / "list.json"
    path.write_bytes(text)
    assert len(text) > 100 * 2048
    found, stats = _read(path, max_line_bytes=2048)
    assert found == list(zip(_starts(text, b"    {"), [f"id-{n}" for n in range(400)], strict=True))
    assert not stats.skipped


def test_one_compact_document_on_one_long_line_is_streamed(
    tmp_path: pathlib.Path, event: Any
) -> None:
    items = [event(n) for n in range(300)]
    path = tmp_path / "list.json"
    path.write_bytes(orjson.dumps({"kind": "EventList", "items": items}))
    found, stats = _read(path, max_line_bytes=4096)
    assert found == [(1, f"id-{n}") for n in range(300)]
    assert (stats.lines, stats.skipped) == (1, {})


def test_an_aks_records_export_is_streamed(tmp_path: pathlib.Path, event: Any) -> None:
    records = [
        {"category": "kube-audit", "properties": {"log": json.dumps(event(1))}},
        {"category": "kube-audit-admin", "properties": {"log": event(2)}},
        {"category": "guard", "properties": {"log": "{}"}},
        event(3),
    ]
    text = json.dumps({"records": records}, indent=2).encode()
    path = tmp_path / "aks.json"
    path.write_bytes(text)
    found, stats = _read(path, max_line_bytes=1024)
    starts = _starts(text, b"    {")
    assert found == [(starts[0], "id-1"), (starts[1], "id-2"), (starts[3], "id-3")]
    assert stats.skipped == {R.NOT_AN_EVENT: 1}
    assert stats.examples[0].line == starts[2]


def test_the_elements_of_a_top_level_array_are_decoded_as_on_one_line(
    tmp_path: pathlib.Path, event: Any
) -> None:
    elements = [
        event(1),
        {"kind": 0},
        1,
        "text",
        None,
        [event(90)],
        {"kind": "EventList", "items": [event(2), 7]},
        {"category": "kube-audit", "properties": {"log": json.dumps(event(3))}},
        event(4),
    ]
    on_one_line = decode.decode_line(orjson.dumps(elements))
    for indent in (None, 2):
        path = tmp_path / f"array-{indent}.json"
        path.write_bytes(json.dumps(elements, indent=indent).encode())
        assert len(orjson.dumps(elements)) > 1024
        found, stats = _read(path, max_line_bytes=1024)  # items fit, the whole line does not
        assert [i for _, i in found] == [e["auditID"] for e in on_one_line.events]
        assert stats.skipped == collections.Counter(on_one_line.rejected)


def test_a_cut_document_keeps_every_item_before_the_cut(tmp_path: pathlib.Path, event: Any) -> None:
    text = json.dumps({"kind": "EventList", "items": [event(n) for n in range(5)]}, indent=2)
    cut = text.encode()[: text.index('"id-4"') + 3]
    path = tmp_path / "cut.json"
    path.write_bytes(cut)
    found, stats = _read(path)
    assert [i for _, i in found] == ["id-0", "id-1", "id-2", "id-3"]
    assert stats.skipped == {R.TRUNCATED: 1}
    assert stats.examples[0].line == _starts(cut, b"    {")[4]


def test_a_broken_item_is_skipped_and_the_items_after_it_read(
    tmp_path: pathlib.Path, event: Any
) -> None:
    text = json.dumps({"kind": "EventList", "items": [event(n) for n in range(4)]}, indent=2)
    broken = text.replace('"id-1",', '"id-1" oops,').encode()
    path = tmp_path / "broken.json"
    path.write_bytes(broken)
    found, stats = _read(path)
    assert [i for _, i in found] == ["id-0", "id-2", "id-3"]
    assert stats.skipped == {R.INVALID_JSON: 1}
    assert stats.examples[0].line == _starts(broken, b"    {")[1]


def test_a_json_lines_log_with_a_broken_start_longer_than_the_limit_is_read(
    tmp_path: pathlib.Path, event: Any, line: Any
) -> None:
    """Two broken first lines make the input look like a document; it still reads as lines
    when the lines parse, even far past the line limit."""
    data = b"{ oops\n{ again\n" + b"".join(line(event(n)) for n in range(100))
    path = tmp_path / "audit.log"
    path.write_bytes(data)
    found, stats = _read(path, max_line_bytes=1024)
    assert found == [(n + 3, f"id-{n}") for n in range(100)]
    assert stats.skipped == {R.INVALID_JSON: 2}
    assert stats.lines == 102


def test_a_long_string_or_word_in_a_list_is_skipped_without_being_held(
    tmp_path: pathlib.Path, event: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "CHUNK_BYTES", 100)
    elements = [
        orjson.dumps(event(1)),
        b'"' + b"s" * 5000 + b'"',
        orjson.dumps(event(2)),
        b"7" * 5000,
        orjson.dumps(event(3)),
    ]
    path = tmp_path / "array.json"
    path.write_bytes(b"[\n" + b",\n".join(elements) + b"\n]\n")
    found, stats = _read(path, max_line_bytes=1024)
    assert found == [(2, "id-1"), (4, "id-2"), (6, "id-3")]
    assert stats.skipped == {R.OVERSIZED: 2}
    assert [e.line for e in stats.examples] == [3, 5]


# Documents of every shape, framed with the buffer cut at every size: the items come out
# as a whole-document parse finds them.
_ITEMS = st.lists(
    st.one_of(
        st.integers(0, 10**6).map(lambda n: {"n": n}),
        st.builds(
            lambda n, text: {"kind": "Event", "auditID": f"id-{n}", "stage": "x", "t": text},
            st.integers(0, 99),
            st.text(alphabet='ab{}[]"\\\n é', max_size=12),
        ),
        st.sampled_from([1, "s", None, [], {}, [1, {"a": "]"}], '\\"{']),
    ),
    max_size=8,
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    items=_ITEMS,
    shape=st.sampled_from(["array", "eventlist", "records", "concatenated"]),
    indent=st.sampled_from([None, 0, 1, 2, 4, "\t"]),
    chunk=st.integers(1, 64),
    crlf=st.booleans(),
)
def test_framing_finds_what_a_whole_parse_finds(
    items: list[Any], shape: str, indent: int | str | None, chunk: int, crlf: bool
) -> None:
    match shape:
        case "array":
            values: list[Any] = [items]
        case "eventlist":
            values = [{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}]
        case "records":
            values = [{"records": items}]
        case _:
            values = items or [{}]
    text = "\n".join(json.dumps(value, indent=indent, ensure_ascii=False) for value in values)
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode()
    expected_events: list[str] = []
    expected_rejected: list[decode.Reason] = []
    for value in values:
        decoded = decode.decode_value(value)
        expected_events += [e["auditID"] for e in decoded.events]
        expected_rejected += decoded.rejected
    original = documents.CHUNK_BYTES
    documents.CHUNK_BYTES = chunk
    try:
        document = documents.Stream(b"", io.BytesIO(data), 1 << 20)
        parts = list(document.parts())
    finally:
        documents.CHUNK_BYTES = original
    assert [e["auditID"] for _, d in parts for e in d.events] == expected_events
    assert sorted(r for _, d in parts for r in d.rejected) == sorted(expected_rejected)
    assert document.lines == data.count(b"\n") + (not data.endswith(b"\n"))
