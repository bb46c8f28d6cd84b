"""Reading finished inputs: every good event comes out, every bad line is counted and named."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson

from audithound.source import decode, files

Line = Callable[[Any], bytes]
R = decode.Reason


def _read(
    *paths: str | pathlib.Path, **options: Any
) -> tuple[list[tuple[str, int, str]], files.ReadStats]:
    stats = files.ReadStats()
    found = [
        (label, number, event["auditID"])
        for label, number, event in files.read([str(p) for p in paths], stats, **options)
    ]
    return found, stats


def _write(tmp_path: pathlib.Path, name: str, data: bytes) -> pathlib.Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_lines_are_skipped_and_the_events_around_them_kept(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    data = b"".join(
        [
            line(event(1)),
            b'{"auditID": "broken", "verb": \n',
            b"\n",
            b"   \r\n",
            line({"kind": 0}),
            orjson.dumps(event(2)) + b"\r\n",
            line({"kind": "EventList", "items": [event(3), "junk"]}),
            line(event(4)),
            b'{"auditID": "id-5", "stage": "Respo',
        ]
    )
    path = _write(tmp_path, "audit.log", data)
    found, stats = _read(path)
    label = str(path)
    assert found == [(label, 1, "id-1"), (label, 6, "id-2"), (label, 7, "id-3"), (label, 8, "id-4")]
    assert (stats.files, stats.lines, stats.events, stats.blank_lines) == (1, 9, 4, 2)
    assert stats.skipped == {R.INVALID_JSON: 1, R.NOT_AN_EVENT: 2, R.TRUNCATED: 1}
    assert stats.examples == [
        files.SkipExample(str(label), 2, R.INVALID_JSON),
        files.SkipExample(str(label), 5, R.NOT_AN_EVENT),
        files.SkipExample(str(label), 7, R.NOT_AN_EVENT),
        files.SkipExample(str(label), 9, R.TRUNCATED),
    ]


def test_a_complete_last_line_without_newline_is_read(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    path = _write(tmp_path, "a.log", line(event(1)) + orjson.dumps(event(2)))
    found, stats = _read(path)
    assert [n for _, n, _ in found] == [1, 2]
    assert not stats.skipped


def test_oversized_lines_are_skipped_without_losing_the_next_line(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    big = line(event(2, requestObject={"data": "x" * 5000}))
    data = line(event(1)) + big + line(event(3)) + big.rstrip(b"\n")
    path = _write(tmp_path, "big.log", data)
    found, stats = _read(path, max_line_bytes=1024)
    assert [(n, i) for _, n, i in found] == [(1, "id-1"), (3, "id-3")]
    assert stats.lines == 4
    assert stats.skipped == {R.OVERSIZED: 2}
    assert [e.where for e in stats.examples] == [f"{path}:2", f"{path}:4"]


def test_a_line_just_under_the_limit_is_read(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    exact = line(event(1))
    path = _write(tmp_path, "exact.log", exact + exact)
    found, stats = _read(path, max_line_bytes=len(exact) - 1)
    assert len(found) == 2
    found, stats = _read(path, max_line_bytes=len(exact) - 2)
    assert found == []
    assert stats.skipped == {R.OVERSIZED: 2}


def test_a_utf8_bom_at_the_start_is_ignored(tmp_path: pathlib.Path, event: Any, line: Line) -> None:
    path = _write(tmp_path, "bom.log", b"\xef\xbb\xbf" + line(event(1)) + line(event(2)))
    found, stats = _read(path)
    assert [i for _, _, i in found] == ["id-1", "id-2"]
    assert not stats.skipped


def test_a_pretty_printed_event_list_file_is_read_item_by_item(
    tmp_path: pathlib.Path, event: Any
) -> None:
    listing = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [event(1), event(2)]}
    text = json.dumps(listing, indent=2).encode()
    path = _write(tmp_path, "list.json", text + b"\n")
    found, stats = _read(path)
    lines = text.split(b"\n")
    starts = [n for n, line in enumerate(lines, 1) if line == b"    {"]
    assert found == [(str(path), starts[0], "id-1"), (str(path), starts[1], "id-2")]
    assert stats.lines == text.count(b"\n") + 1
    assert stats.events == 2
    assert not stats.skipped


def test_a_pretty_printed_array_file_is_one_document(tmp_path: pathlib.Path, event: Any) -> None:
    text = json.dumps([event(1), {"kind": 0}, event(2)], indent=1).encode()
    path = _write(tmp_path, "array.json", text)
    found, stats = _read(path)
    assert [i for _, _, i in found] == ["id-1", "id-2"]
    assert stats.skipped == {R.NOT_AN_EVENT: 1}


def test_one_compact_array_per_line_is_read_line_by_line(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    path = _write(tmp_path, "arrays.log", line([event(1), event(2)]) + line([event(3)]))
    found, _ = _read(path)
    assert [(n, i) for _, n, i in found] == [(1, "id-1"), (1, "id-2"), (2, "id-3")]


def test_a_broken_first_line_does_not_turn_a_log_into_a_document(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    data = b'{"auditID": "cut\n' + line(event(1)) + line(event(2))
    found, stats = _read(_write(tmp_path, "a.log", data))
    assert [(n, i) for _, n, i in found] == [(2, "id-1"), (3, "id-2")]
    assert stats.skipped == {R.INVALID_JSON: 1}


def test_two_broken_lines_are_tried_as_a_document_then_read_as_lines(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    data = b"{ oops\n{ again\n" + line(event(1))
    found, stats = _read(_write(tmp_path, "a.log", data))
    assert [(n, i) for _, n, i in found] == [(3, "id-1")]
    assert stats.skipped == {R.INVALID_JSON: 2}
    assert stats.lines == 3


def test_gzip_is_detected_by_its_bytes_not_its_name(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    data = line(event(1)) + b"junk\n" + line(event(2))
    zipped = _write(tmp_path, "audit.log", gzip.compress(data))
    plain = _write(tmp_path, "audit.log.gz", data)
    found, stats = _read(zipped, plain)
    assert [(label, n, i) for label, n, i in found] == [
        (str(zipped), 1, "id-1"),
        (str(zipped), 3, "id-2"),
        (str(plain), 1, "id-1"),
        (str(plain), 3, "id-2"),
    ]
    assert (stats.files, stats.lines, stats.events) == (2, 6, 4)
    assert stats.skipped == {R.INVALID_JSON: 2}


def test_a_cut_gzip_keeps_what_was_read_and_is_reported(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    data = b"".join(line(event(n)) for n in range(2000))
    zipped = gzip.compress(data)
    path = _write(tmp_path, "cut.log.gz", zipped[: len(zipped) // 2])
    after = _write(tmp_path, "after.log", line(event(9999)))
    found, stats = _read(path, after)
    ids = [i for label, _, i in found if label == str(path)]
    assert 0 < len(ids) < 2000
    assert ids == [f"id-{n}" for n in range(len(ids))]
    assert found[-1] == (str(after), 1, "id-9999")
    assert stats.skipped == {R.UNREADABLE: 1, R.TRUNCATED: 1}
    assert stats.examples[-1].where.startswith(f"{path}:")


def test_a_missing_file_is_reported_and_the_next_is_read(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    good = _write(tmp_path, "good.log", line(event(1)))
    found, stats = _read(tmp_path / "missing.log", good)
    assert found == [(str(good), 1, "id-1")]
    assert stats.skipped == {R.UNREADABLE: 1}
    assert stats.examples == [files.SkipExample(str(tmp_path / "missing.log"), 0, R.UNREADABLE)]


def test_stdin_is_read_from_the_given_stream(event: Any, line: Line) -> None:
    stream = io.BytesIO(gzip.compress(line(event(1)) + line(event(2))))
    found, stats = _read("-", stdin=stream)
    assert found == [("<stdin>", 1, "id-1"), ("<stdin>", 2, "id-2")]
    assert stats.files == 1


def test_stdin_of_the_process_is_read_by_default(event: Any, line: Line) -> None:
    program = (
        "import sys\n"
        "from audithound.source import files\n"
        "stats = files.ReadStats()\n"
        "for label, number, event in files.read(['-'], stats):\n"
        "    print(label, number, event['auditID'])\n"
        "print(dict(stats.skipped))\n"
    )
    data = line(event(1)) + b"{bad\n" + line(event(2))
    done = subprocess.run(
        [sys.executable, "-c", program], input=data, capture_output=True, check=True
    )
    assert done.stdout.decode().splitlines() == [
        "<stdin> 1 id-1",
        "<stdin> 3 id-2",
        "{<Reason.INVALID_JSON: 'invalid-json'>: 1}",
    ]


def test_counts_are_kept_when_the_reader_is_closed_early(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    path = _write(tmp_path, "a.log", b"".join(line(event(n)) for n in range(10)))
    stats = files.ReadStats()
    reader = files.read([str(path)], stats)
    next(reader)
    next(reader)
    reader.close()
    assert (stats.lines, stats.events) == (2, 2)


def test_examples_are_kept_per_reason(tmp_path: pathlib.Path, line: Line) -> None:
    data = b"x\n" * 5 + line({"kind": 0}) * 5
    _, stats = _read(_write(tmp_path, "a.log", data))
    assert stats.skipped == {R.INVALID_JSON: 5, R.NOT_AN_EVENT: 5}
    assert [e.reason for e in stats.examples] == [R.INVALID_JSON] * 3 + [R.NOT_AN_EVENT] * 3


SHAPES = [
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "v1", "stage": "s"},
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1beta1", "auditID": "beta", "stage": "s"},
    {"auditID": "bare", "verb": "get"},
    {"kind": None, "apiVersion": None, "auditID": "nulls", "requestURI": "/"},
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "", "stage": "s"},
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "no-stage", "stage": 1},
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "verb", "stage": 1, "verb": "g"},
    {"kind": "Other", "apiVersion": "audit.k8s.io/v1", "auditID": "kind", "stage": "s"},
    {"kind": "Event", "apiVersion": "v1", "auditID": "version", "stage": "s"},
    {"kind": "Event", "apiVersion": ["audit.k8s.io/v1"], "auditID": "list", "stage": "s"},
]


def test_the_reader_accepts_exactly_the_events_decode_accepts(
    tmp_path: pathlib.Path, line: Line
) -> None:
    """The reader's inline test of the common shape agrees with ``decode`` on every shape."""
    path = _write(tmp_path, "audit.log", b"".join(line(shape) for shape in SHAPES))
    found, stats = _read(path)
    expected = [
        event["auditID"] for shape in SHAPES for event in decode.decode_line(line(shape)).events
    ]
    assert (
        [audit_id for _, _, audit_id in found]
        == expected
        == ["v1", "beta", "bare", "nulls", "verb"]
    )
    assert stats.skipped == {R.NOT_AN_EVENT: len(SHAPES) - len(expected)}


def _mixed_log(event: Any, line: Line, count: int) -> bytes:
    """Good events with every kind of bad line among them, and a truncated last line."""
    pieces = []
    for n in range(count):
        pieces.append(line(event(n)))
        if n % 7 == 3:
            pieces.append(b'{"auditID": "broken", \n')
        if n % 11 == 5:
            pieces.append(b"\n")
        if n % 13 == 0:
            pieces.append(line({"kind": "EventList", "items": [event(1000 + n), "junk"]}))
        if n % 17 == 2:
            pieces.append(b'{"auditID": "' + b"x" * 600 + b'"}\n')  # oversized below
    pieces.append(b'{"auditID": "id-last", "stage": "Respo')
    return b"".join(pieces)


def test_line_ranges_cover_the_file_and_start_at_line_starts(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    data = _mixed_log(event, line, 60)
    path = _write(tmp_path, "audit.log", data)
    for piece in (1, 50, 333, 1000, len(data), len(data) * 2):
        ranges = files.line_ranges(str(path), piece)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        assert all(end == start for (_, end), (start, _) in itertools.pairwise(ranges))
        assert all(data[start - 1 : start] == b"\n" for start, _ in ranges[1:]), piece
        assert all(start < end for start, end in ranges)


def test_ranges_read_apart_give_what_one_read_gives(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    path = _write(tmp_path, "audit.log", _mixed_log(event, line, 60))
    whole, whole_stats = _read(path, max_line_bytes=500)
    assert whole_stats.skipped[R.OVERSIZED] == 4
    for piece in (1, 97, 500, 4000):
        stats = files.ReadStats()
        found = []
        for start, end in files.line_ranges(str(path), piece):
            part = files.ReadStats()
            numbers = [
                (label, number + stats.lines, event["auditID"])
                for label, number, event in files.read_range(
                    str(path), str(path), start, end, part, max_line_bytes=500
                )
            ]
            found += numbers
            stats.add(part)
        stats.files = 1
        assert found == whole, piece
        assert stats == whole_stats, piece


def test_only_plain_json_lines_files_are_read_in_ranges(
    tmp_path: pathlib.Path, event: Any, line: Line
) -> None:
    lines = line(event(1)) + line(event(2))
    pretty = json.dumps({"kind": "EventList", "items": [event(1)]}, indent=2).encode()
    assert files.is_json_lines(str(_write(tmp_path, "a.log", lines)))
    assert files.is_json_lines(str(_write(tmp_path, "b.log", b"not json\n" + lines)))
    assert not files.is_json_lines(str(_write(tmp_path, "c.log.gz", gzip.compress(lines))))
    assert not files.is_json_lines(str(_write(tmp_path, "d.json", pretty)))
    assert not files.is_json_lines(str(_write(tmp_path, "e.log", b"\xef\xbb\xbf" + lines)))
    assert not files.is_json_lines(str(_write(tmp_path, "f.log", b"")))
    assert not files.is_json_lines(str(tmp_path / "missing.log"))


def test_the_line_limit_is_the_one_of_decode(tmp_path: pathlib.Path, event: Any) -> None:
    """One limit in one place (``decode.MAX_LINE_BYTES``): for files, ranges and the tailer."""
    limit = decode.MAX_LINE_BYTES
    longest = orjson.dumps(event(1, requestObject={"data": ""}))
    padded = longest.replace(b'"data":""', b'"data":"' + b"x" * (limit - len(longest)) + b'"')
    assert len(padded) == limit
    too_long = padded.replace(b'"data":"', b'"data":"x')
    data = padded + b"\n" + too_long + b"\n" + orjson.dumps(event(3)) + b"\n"
    path = _write(tmp_path, "audit.log", data)
    found, stats = _read(path)
    assert [(n, i) for _, n, i in found] == [(1, "id-1"), (3, "id-3")]
    assert stats.skipped == {R.OVERSIZED: 1}
    ranged = files.ReadStats()
    assert len(list(files.read_range(str(path), str(path), 0, len(data), ranged))) == 2
    assert ranged.skipped == {R.OVERSIZED: 1}
