"""Gzip input decompressed as ``gzip -dc`` decompresses it, in bounded time, problems kept.

Fed by: ``source.files``, with the binary stream of an input that starts with the gzip magic
bytes. Feeds: ``source.files``, with a raw stream of the decompressed bytes (read line by
line or as a JSON document) and, once it ended, :attr:`Gunzip.problem`: why it ended before
the input did, if it did.

Unlike ``gzip.GzipFile``, a problem never costs what was decompressed before it, and is never
raised but kept, with its compressed byte offset, for the summary:
- members one after another (``cat a.gz b.gz``, ``pigz``) are all read, as ``gzip -dc`` does;
- bytes after the last member that start no member are *trailing garbage* (``gzip -dc``
  warns about them too);
- a member that the end of the input cuts is *cut short*, and everything decompressed up to
  the cut is still delivered;
- data that does not inflate, or fails its CRC or length check, is *corrupt*;
- output past :data:`MAX_EXPANSION` is *refused*: a few compressed bytes can expand to
  many lines (1 MB of gzip to a billion empty lines), and each line costs the reader time.
"""

from __future__ import annotations

import io
import zlib
from typing import IO, Any, Final, NamedTuple

#: The first two bytes of every gzip member.
MAGIC: Final = b"\x1f\x8b"

#: Most decompressed bytes per compressed byte read, counting each line end as
#: :data:`LINE_END_WEIGHT` bytes; default 200. Real audit logs expand 7-26 times (the
#: generated benchmark log 10, a kube-apiserver capture 26, at ``gzip -9``) and a flood of one
#: repeated request about 50 times, some 60 with the line weight; gzip bombs of empty lines or
#: of ``{}`` lines expand about 1,000 times, 250,000 with the weight. Past this bound, after
#: :data:`EXPANSION_FREE_BYTES`, the rest of the input is refused, reported as ``unreadable``
#: with its position. So ``C`` compressed bytes yield at most ``16 MiB + 200 * C`` weighted
#: bytes: at most one line per 1.3 compressed bytes, where real logs hold one per 100 or so
#: (a 1 MB bomb of empty or ``{}`` lines is refused within a second, where it ran for more
#: than 300 s without the bound).
MAX_EXPANSION: Final = 200

#: What one decompressed line end weighs against :data:`MAX_EXPANSION`, in bytes; default 256.
#: Reading costs per line more than per byte (an empty line costs as much as a 300-byte
#: event), so short lines must not expand further than long ones for free.
LINE_END_WEIGHT: Final = 256

#: Weighted decompressed bytes always allowed before :data:`MAX_EXPANSION` applies; default
#: 16 MiB, so that a small file of repeated events (which compresses far better than a long
#: log) is read whole. Reading that much costs well under a second.
EXPANSION_FREE_BYTES: Final = 16 * 1024 * 1024

#: Compressed bytes read at a time.
CHUNK_BYTES: Final = 64 * 1024


class Problem(NamedTuple):
    """Why decompression stopped before the end of the input, and where."""

    #: What went wrong, for the summary ("trailing garbage", "cut short" ...).
    what: str
    #: Offset in the compressed input where it went wrong, in bytes.
    offset: int

    def __str__(self) -> str:
        return f"gzip {self.what} at compressed byte {self.offset:,}"


class Gunzip(io.RawIOBase):
    """The decompressed bytes of a gzip stream (every member), up to its first problem."""

    def __init__(self, compressed: IO[bytes]) -> None:
        self._compressed = compressed
        #: Set once decompression stopped early; None while it goes on, or when the input
        #: ended cleanly.
        self.problem: Problem | None = None
        self._inflate: Any = None  # the member being read; None between members
        self._pending = b""  # compressed bytes read but not yet inflated
        self._read = 0  # compressed bytes read from the input
        self._weight = 0  # decompressed bytes so far, line ends weighted
        self._out = b""  # decompressed bytes not yet handed out
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out and not self._done:
            self._out = self._inflate_some(len(buffer))
        size = min(len(buffer), len(self._out))
        buffer[:size] = self._out[:size]
        self._out = self._out[size:]
        return size

    def _consumed(self) -> int:
        """Compressed bytes inflated so far: where the next byte to inflate sits."""
        return self._read - len(self._pending)

    def _more(self) -> bool:
        data = self._compressed.read(CHUNK_BYTES)
        self._read += len(data)
        self._pending += data
        return bool(data)

    def _stop(self, what: str, offset: int) -> bytes:
        self.problem = Problem(what, offset)
        self._done = True
        return b""

    def _inflate_some(self, size: int) -> bytes:
        """At most ``size`` decompressed bytes; possibly none, when a step only read input."""
        if self._inflate is None:
            while len(self._pending) < len(MAGIC) and self._more():
                pass
            if not self._pending:
                self._done = True  # the input ended after a whole member: all is read
                return b""
            if not self._pending.startswith(MAGIC):
                return self._stop("trailing garbage", self._consumed())
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if not self._pending and not self._more():
            # The input ended inside a member: deliver what zlib still holds, then stop.
            out: bytes = self._inflate.flush()
            self._stop("cut short", self._read)
            return out
        try:
            out = self._inflate.decompress(self._pending, size)
        except zlib.error:
            return self._stop("data corrupt", self._consumed())
        if self._inflate.eof:
            self._pending = self._inflate.unused_data
            self._inflate = None
        else:
            self._pending = self._inflate.unconsumed_tail
        self._weight += len(out) + (LINE_END_WEIGHT - 1) * out.count(b"\n")
        bound = max(EXPANSION_FREE_BYTES, MAX_EXPANSION * self._consumed())
        if self._weight > bound:
            self._stop(f"expanding past {MAX_EXPANSION}x", self._consumed())
        return out
