"""Gzip inputs: everything ``gzip -dc`` yields is read, and what stops the read (trailing
garbage, a cut, corrupt data, a gzip bomb) is counted with its position, never lost silently."""

from __future__ import annotations

import gzip
import pathlib
import subprocess
import uuid
import zlib
from typing import Any

import orjson
import pytest

from audithound.source import decode, files, gunzip

R = decode.Reason


def _log(event: Any, count: int) -> bytes:
    return b"".join(orjson.dumps(event(n)) + b"\n" for n in range(count))


def _read(path: pathlib.Path) -> tuple[list[str], files.ReadStats]:
    stats = files.ReadStats()
    return [e["auditID"] for _, _, e in files.read([str(path)], stats)], stats


def test_trailing_garbage_loses_no_event_and_is_reported(
    tmp_path: pathlib.Path, event: Any
) -> None:
    packed = gzip.compress(_log(event, 100))
    path = tmp_path / "audit.log.gz"
    path.write_bytes(packed + b"this is no gzip member")
    unpacked = subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=False)
    assert b"trailing garbage" in unpacked.stderr
    found, stats = _read(path)
    assert found == [f"id-{n}" for n in range(100)]
    assert len(unpacked.stdout.splitlines()) == 100
    assert stats.skipped == {R.UNREADABLE: 1}
    assert stats.examples == [
        files.SkipExample(
            str(path),
            101,
            R.UNREADABLE,
            f"gzip trailing garbage at compressed byte {len(packed):,}",
        )
    ]


def test_members_one_after_another_are_all_read(tmp_path: pathlib.Path, event: Any) -> None:
    data = _log(event, 30)
    path = tmp_path / "audit.log.gz"
    path.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]) + gzip.compress(b""))
    found, stats = _read(path)
    assert found == [f"id-{n}" for n in range(30)]
    assert not stats.skipped


def test_a_cut_gzip_keeps_every_line_decompressed_before_the_cut(
    tmp_path: pathlib.Path, event: Any
) -> None:
    packed = gzip.compress(_log(event, 2000))
    cut = packed[: len(packed) * 2 // 3]
    path = tmp_path / "cut.log.gz"
    path.write_bytes(cut)
    before_cut = zlib.decompressobj(31).decompress(cut)
    complete = before_cut.count(b"\n")
    found, stats = _read(path)
    assert found == [f"id-{n}" for n in range(complete)]
    assert stats.lines == complete + 1
    assert stats.skipped == {R.TRUNCATED: 1, R.UNREADABLE: 1}
    assert [(e.line, e.reason, e.detail) for e in stats.examples] == [
        (complete + 1, R.TRUNCATED, ""),
        (complete + 2, R.UNREADABLE, f"gzip cut short at compressed byte {len(cut):,}"),
    ]


def test_corrupt_data_keeps_what_came_before(tmp_path: pathlib.Path, event: Any) -> None:
    first = gzip.compress(_log(event, 50))
    second = bytearray(gzip.compress(_log(event, 50)))
    second[len(second) // 2 :] = b"\x00" * (len(second) - len(second) // 2)
    path = tmp_path / "corrupt.log.gz"
    path.write_bytes(first + bytes(second))
    found, stats = _read(path)
    assert found[:50] == [f"id-{n}" for n in range(50)]
    assert stats.skipped[R.UNREADABLE] == 1
    assert "gzip data corrupt at compressed byte" in stats.examples[-1].detail


def test_a_gzipped_document_is_streamed(tmp_path: pathlib.Path, event: Any) -> None:
    listing = {"kind": "EventList", "items": [event(n) for n in range(50)]}
    path = tmp_path / "list.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps(listing, option=orjson.OPT_INDENT_2)))
    found, stats = _read(path)
    assert found == [f"id-{n}" for n in range(50)]
    assert not stats.skipped


def _bomb(line: bytes, lines: int) -> bytes:
    """``lines`` copies of ``line``, gzipped (one member, written block by block)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = line * (1 << 16)
    packed = [packer.compress(block) for _ in range(lines >> 16)]
    return b"".join(packed) + packer.flush()


@pytest.mark.parametrize("line", [b"\n", b"{}\n"], ids=["empty lines", "{} lines"])
def test_a_gzip_bomb_is_refused_past_the_expansion_bound(
    tmp_path: pathlib.Path, event: Any, line: bytes
) -> None:
    packed = gzip.compress(_log(event, 3)) + _bomb(line, 1 << 24)
    path = tmp_path / "bomb.log.gz"
    path.write_bytes(packed)
    found, stats = _read(path)
    assert found == ["id-0", "id-1", "id-2"]
    refused = stats.examples[-1]
    assert refused.reason == R.UNREADABLE
    assert refused.detail.startswith(f"gzip expanding past {gunzip.MAX_EXPANSION}x at")
    weighted = gunzip.EXPANSION_FREE_BYTES // (len(line) - 1 + gunzip.LINE_END_WEIGHT)
    # Read up to the bound, plus at most one decompressed block past it.
    assert weighted <= stats.lines - 3 <= weighted + files._BUFFER_BYTES
    assert refused.line == stats.lines + 1


def test_a_real_looking_log_that_compresses_well_is_read_whole(
    tmp_path: pathlib.Path, event: Any
) -> None:
    """A flood of one request (only IDs and times differ) compresses about 50 times; twice
    past the free allowance it is still read to its end."""
    lines = []
    for n in range(40_000):
        repeated = event(n, auditID=str(uuid.UUID(int=n * 7919)), stageTimestamp=f"T{n:09d}")
        lines.append(orjson.dumps(repeated) + b"\n")
    data = b"".join(lines) * 2
    assert len(data) > 2 * gunzip.EXPANSION_FREE_BYTES
    packed = gzip.compress(data, 9)
    assert len(data) / len(packed) > 30
    path = tmp_path / "flood.log.gz"
    path.write_bytes(packed)
    found, stats = _read(path)
    assert len(found) == 80_000
    assert not stats.skipped
