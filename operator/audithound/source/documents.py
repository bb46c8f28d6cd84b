"""JSON documents and runs of JSON values, read one item at a time in bounded memory.

Fed by: ``source.files``, with an input (already decompressed) that does not hold one JSON
value per line: a pretty-printed ``EventList`` or array (``kubectl get --raw``), an AKS
``records`` export, or pretty-printed values one after another (``jq . audit.log``). Feeds:
``source.files``, with what each item held (``decode.Decoded``) and the line it starts on.

The input is framed, never parsed whole. Each element of a top-level array, of the ``items``
of an ``EventList`` and of the ``records`` of an AKS export is an item; any other top-level
value is one item. An item is parsed (``orjson``) as soon as its last byte is read and decoded
as ``source.decode`` decodes the same value on a line of its own, so memory holds one item
and :data:`CHUNK_BYTES` of input, never the document. An item longer than the line limit is
skipped as ``oversized`` without being held, and the items after it are read.

Framing follows brackets outside strings: one regular-expression step per bracket, strings
skipped whole. Pretty-printed items make a faster path: an item whose opening bracket ends
its line usually ends at the next line holding only its closing bracket at the same
indentation; that guess is taken when the bytes up to it parse (:data:`PRETTY_WINDOW_BYTES`),
and given up for the rest of an input where it once misleads.

Bad input is read as far as it goes, and what is not read is counted: a top-level value that
does not parse is read again line by line (so a JSON-lines log whose first two lines are
broken still yields its events, and so does text between values); an item of a list that
does not parse is ``invalid-json``; what the end of the input cuts is ``truncated``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from typing import IO, Any, Final

import orjson

from audithound.source import decode

#: Bytes read from the input at a time; default 1 MiB. Memory holds about this much input
#: besides the item being read.
CHUNK_BYTES: Final = 1024 * 1024

#: How far past a pretty-printed item's opening bracket its closing line is looked for, in
#: bytes; default 64 KiB, some 30 times an audit event's size. Longer items are framed
#: bracket by bracket.
PRETTY_WINDOW_BYTES: Final = 64 * 1024

# Everything up to the next bracket outside a string; strings are skipped whole, and the
# possessive quantifiers never backtrack (no catastrophic cases on hostile input).
_RUN: Final = re.compile(rb'(?:[^"{}\[\]]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
# The rest of a string that the end of the buffer cut, up to (not including) its quote.
_STRING_REST: Final = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_SPACE: Final = re.compile(rb"[ \t\r\n]*+")
_SEPARATORS: Final = re.compile(rb"[ \t\r\n,]*+")
# A list element that is no object or array: a whole string, or a word (number, literal, junk).
_SCALAR: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[^ \t\r\n,\[\]{}"]++', re.DOTALL)
# The member name before an array that may hold the items of a container.
_CONTAINER_KEY: Final = re.compile(rb'"(?:items|records)"[ \t\r\n]*+:[ \t\r\n]*+\Z')

_OPEN_OBJECT, _OPEN_ARRAY, _QUOTE, _NEWLINE = b'{["\n'

# What :meth:`Stream._scan` stopped at.
_CLOSED, _MORE, _ARRAY = range(3)

Part = tuple[int, decode.Decoded]
Decoder = Callable[[Any], decode.Decoded]


def _end(pattern: re.Pattern[bytes], buf: bytes, pos: int) -> int:
    """Where ``pattern``, which matches the empty string too, stops matching at ``pos``."""
    return pattern.match(buf, pos).end()  # type: ignore[union-attr]


def _rejected(reason: decode.Reason) -> decode.Decoded:
    return decode.Decoded([], [reason])


def _as_element(value: Any) -> decode.Decoded:
    """An element of a top-level array, as a JSON-lines array's element is decoded."""
    if type(value) is dict and decode.is_event(value):
        return decode.Decoded([value], [])  # type: ignore[list-item]
    return decode.decode_value([value])


def _as_list_item(value: Any) -> decode.Decoded:
    """An item of an ``EventList``: an event or nothing."""
    if type(value) is dict and decode.is_event(value):
        return decode.Decoded([value], [])  # type: ignore[list-item]
    return _rejected(decode.Reason.NOT_AN_EVENT)


def _as_record(value: Any) -> decode.Decoded:
    """A record of an AKS export."""
    return decode.decode_value({"records": [value]})


def _is_container(value: Any) -> bool:
    """Whether ``decode`` would read ``value``'s events from a list inside it."""
    return (
        type(value) is dict
        and not decode.is_event(value)
        and (
            (value.get("kind") == "EventList" and type(value.get("items")) is list)
            or type(value.get("records")) is list
        )
    )


def _parses_so_far(data: bytes) -> bool:
    """Whether ``data`` is the start of a JSON value: it fails only for want of its end."""
    # A cut can split a UTF-8 character, which orjson rejects as a whole: leave its bytes out.
    end = len(data)
    while end > len(data) - 4 and end > 0 and data[end - 1] >= 0x80:
        end -= 1
    try:
        orjson.loads(data[:end])
    except orjson.JSONDecodeError as error:
        # orjson counts characters, not bytes.
        return error.pos >= len(data[:end].decode(errors="replace"))
    return True


class Stream:
    """The items of one input, starting with ``head`` (bytes already read from it) and
    going on with ``reader``; ``max_item_bytes`` is the line limit."""

    def __init__(self, head: bytes, reader: IO[bytes], max_item_bytes: int) -> None:
        #: Lines of the input; complete once :meth:`parts` is exhausted or closed.
        self.lines = 0
        #: Empty lines among those read again line by line (between values they are layout).
        self.blank_lines = 0
        self._reader = reader
        self._max = max_item_bytes
        self._buf = head
        self._pos = 0
        self._eof = False
        self._newlines = 0  # line ends in the input before ``buf[_counted]``
        self._counted = 0
        self._after_newline = True  # whether ``buf[0]`` starts a line
        self._depth = 0  # of brackets, while :meth:`_scan` follows a value
        self._in_string = False  # whether the buffer ended inside a string
        self._pretty = True  # whether pretty-printed closing lines are guessed

    def parts(self) -> Generator[Part]:
        """``(line, what the item held)`` for every item, in input order."""
        try:
            while True:
                pos = self._pos = _end(_SPACE, self._buf, self._pos)
                if pos == len(self._buf):
                    if self._refill(pos) is None:
                        return
                    continue
                match self._buf[pos]:
                    case 0x5B:  # [
                        self._pos = pos + 1
                        yield from self._list(_as_element)
                    case 0x7B:  # {
                        yield from self._top_object(pos)
                    case _:
                        yield from self._text_line(pos)
        finally:
            end = max(self._pos, self._counted)
            line_ends = self._line(end) - 1
            ended = self._buf[end - 1] == _NEWLINE if end else self._after_newline
            self.lines = line_ends if ended else line_ends + 1  # a last line without newline

    def _line(self, at: int) -> int:
        """The line of ``buf[at]``; ``at`` never goes back."""
        if at > self._counted:
            self._newlines += self._buf.count(b"\n", self._counted, at)
            self._counted = at
        return self._newlines + 1

    def _refill(self, keep: int) -> int | None:
        """Drop ``buf[:keep]`` and read on; how many bytes went (so positions move back by
        that), or None at the end of the input (then nothing went)."""
        if self._eof:
            return None
        data = self._reader.read(CHUNK_BYTES)
        if not data:
            self._eof = True
            return None
        self._line(keep)
        if keep:
            self._after_newline = self._buf[keep - 1] == _NEWLINE
        self._counted -= keep
        self._buf = self._buf[keep:] + data
        self._pos -= keep
        return keep

    def _scan(self, *, watch: bool = False) -> int:
        """Follow brackets from ``pos`` until the value closes (``_CLOSED``, ``pos`` after
        it) or the buffer ends (``_MORE``); with ``watch``, also stop after an array opening
        directly inside the value (``_ARRAY``)."""
        buf = self._buf
        pos = self._pos
        depth = self._depth
        end = len(buf)
        run = _RUN.match
        if self._in_string:
            pos = _end(_STRING_REST, buf, pos)
            if pos >= end or buf[pos] != _QUOTE:
                self._pos = pos
                return _MORE
            pos += 1
            self._in_string = False
        while True:
            pos = run(buf, pos).end()  # type: ignore[union-attr]  # (see _end)
            if pos >= end:
                break
            char = buf[pos]
            pos += 1
            if char == _QUOTE:
                # A string that the buffer cuts: its rest, up to a trailing backslash
                # whose escaped byte is still to come, is all that is left here.
                self._in_string = True
                pos = _end(_STRING_REST, buf, pos)
                break
            if char in b"{[":
                depth += 1
                if watch and depth == 2 and char == _OPEN_ARRAY:
                    self._pos = pos
                    self._depth = depth
                    return _ARRAY
            else:
                depth -= 1
                if depth == 0:
                    self._pos = pos
                    self._depth = 0
                    return _CLOSED
        self._pos = pos
        self._depth = depth
        return _MORE

    def _skip_value(self) -> bool:
        """Follow the value being scanned to its end without holding it; False when the
        input ends first."""
        while self._scan() != _CLOSED:
            if self._refill(self._pos) is None:
                return False
        return True

    def _skip_line(self) -> None:
        """Drop the rest of the current line, newline included, without holding it."""
        while (newline := self._buf.find(b"\n", self._pos)) < 0:
            self._pos = len(self._buf)
            if self._refill(self._pos) is None:
                return
        self._pos = newline + 1

    def _pretty_guess(self, start: int) -> tuple[Any, int] | None:
        """The value opening at ``start`` and its end, when it is pretty-printed and its
        closing line is in the buffer."""
        buf = self._buf
        after = buf[start + 1 : start + 2]
        if not self._pretty or (after != b"\n" and after != b"\r"):
            return None
        line_start = buf.rfind(b"\n", 0, start) + 1
        if line_start == 0 and not self._after_newline:
            return None
        indent = buf[line_start:start]
        if indent and not indent.isspace():
            return None
        closer = b"}" if buf[start] == _OPEN_OBJECT else b"]"
        window = min(PRETTY_WINDOW_BYTES, self._max)
        found = buf.find(b"\n" + indent + closer, start, start + window)
        if found < 0:
            return None
        end = found + len(indent) + 2
        try:
            return orjson.loads(buf[start:end]), end
        except orjson.JSONDecodeError:
            self._pretty = False  # a nested bracket at the same indentation: not worth it here
            return None

    def _top_object(self, start: int) -> Iterator[Part]:
        """A top-level object: one item, or the envelope of a list of items."""
        line = self._line(start)
        guess = self._pretty_guess(start)
        if guess is not None and not _is_container(guess[0]):
            self._pos = guess[1]
            yield line, decode.decode_value(guess[0])
            return
        # Followed by brackets, held: a container found on the way is read item by item.
        self._pos = start + 1
        self._depth = 1
        self._in_string = False
        watch = True
        while True:
            stopped = self._scan(watch=watch)
            if stopped == _CLOSED:
                yield from self._whole_top(line, start, self._pos)
                return
            if stopped == _ARRAY:
                array = self._pos - 1
                if _CONTAINER_KEY.search(self._buf, max(start, array - 64), array) is None:
                    continue
                decoder = self._container(start)
                if decoder is not None:
                    if (yield from self._list(decoder)):
                        self._depth = 1  # the rest of the envelope, after the list
                        if not self._skip_value():
                            yield self._line(self._pos), _rejected(decode.Reason.TRUNCATED)
                    return
                # One look per object: a look parses all that came before the array.
                watch = False
                continue
            if self._pos - start > self._max:
                yield from self._overlong_top(line, start)
                return
            shift = self._refill(start)
            if shift is None:
                yield from self._cut_top(line, start)
                return
            start -= shift

    def _container(self, start: int) -> Decoder | None:
        """How to decode the elements of the array that just opened inside the object at
        ``start``, if they are the object's items (``EventList.items``, AKS ``records``)."""
        array = self._pos - 1
        try:
            envelope = orjson.loads(self._buf[start:array] + b"null}")
        except orjson.JSONDecodeError:
            return None
        if type(envelope) is not dict or not envelope or decode.is_event(envelope):
            return None
        match next(reversed(envelope)):
            case "items" if envelope.get("kind") == "EventList":
                return _as_list_item
            case "records":
                return _as_record
            case _:
                return None

    def _whole_top(self, line: int, start: int, end: int) -> Iterator[Part]:
        """A top-level value held whole: decoded, or read again line by line."""
        try:
            value = orjson.loads(self._buf[start:end])
        except orjson.JSONDecodeError:
            yield from self._as_lines(start, end)
            return
        if end - start > self._max:
            yield line, _rejected(decode.Reason.OVERSIZED)
        else:
            yield line, decode.decode_value(value)

    def _overlong_top(self, line: int, start: int) -> Iterator[Part]:
        """A top-level value past the line limit: oversized, or not JSON after all."""
        if _parses_so_far(self._buf[start : self._pos]):
            yield line, _rejected(decode.Reason.OVERSIZED)
            self._skip_value()
            return
        # Broken: what is held is read again as lines, and framing goes on after them.
        end = self._buf.rfind(b"\n", start, self._pos) + 1
        self._depth = 0
        self._in_string = False
        if end <= start:  # one broken line, longer than the limit
            yield line, _rejected(decode.Reason.OVERSIZED)
            self._skip_line()
            return
        yield from self._as_lines(start, end)

    def _cut_top(self, line: int, start: int) -> Iterator[Part]:
        """A top-level value that the end of the input cut."""
        if _parses_so_far(self._buf[start:]):
            self._pos = len(self._buf)
            yield line, _rejected(decode.Reason.TRUNCATED)
            return
        yield from self._as_lines(start, len(self._buf))

    def _as_lines(self, start: int, end: int) -> Iterator[Part]:
        """``buf[start:end]``, read as one JSON value per line."""
        buf = self._buf
        pos = start
        while pos < end:
            newline = buf.find(b"\n", pos, end)
            stop = end if newline < 0 else newline + 1
            text = buf[pos:stop]
            line = self._line(pos)
            pos = stop
            if not text.strip():
                self.blank_lines += 1
                continue
            if len(text) - text.endswith(b"\n") > self._max:
                yield line, _rejected(decode.Reason.OVERSIZED)
                continue
            decoded = decode.decode_line(text)
            cut = newline < 0 and stop == len(buf) and self._eof
            if cut and decoded.rejected == [decode.Reason.INVALID_JSON]:
                decoded = _rejected(decode.Reason.TRUNCATED)  # the last line, cut short
            yield line, decoded
        self._pos = end

    def _text_line(self, pos: int) -> Iterator[Part]:
        """A line between top-level values that starts no object or array."""
        while (newline := self._buf.find(b"\n", pos, pos + self._max + 1)) < 0:
            if len(self._buf) - pos > self._max:
                yield self._line(pos), _rejected(decode.Reason.OVERSIZED)
                self._pos = pos
                self._skip_line()
                return
            shift = self._refill(pos)
            if shift is None:
                break
            pos -= shift
        yield from self._as_lines(pos, len(self._buf) if newline < 0 else newline + 1)

    def _list(self, decoder: Decoder) -> Generator[Part, None, bool]:
        """The elements of the list that opened before ``pos``, each decoded by ``decoder``;
        False when the input ended inside the list."""
        while True:
            pos = self._pos = _end(_SEPARATORS, self._buf, self._pos)
            if pos == len(self._buf):
                if self._refill(pos) is None:
                    yield self._line(pos), _rejected(decode.Reason.TRUNCATED)
                    return False
                continue
            match self._buf[pos]:
                case 0x5D:  # ]
                    self._pos = pos + 1
                    return True
                case 0x7B | 0x5B:  # { [
                    if not (yield from self._item(pos, decoder)):
                        return False
                case 0x7D:  # } where an element or the list's end belongs
                    self._pos = pos + 1
                    yield self._line(pos), _rejected(decode.Reason.INVALID_JSON)
                case _:
                    if not (yield from self._scalar(pos, decoder)):
                        return False

    def _item(self, start: int, decoder: Decoder) -> Generator[Part, None, bool]:
        """The object or array opening at ``start`` inside a list; False when the input
        ended inside it."""
        line = self._line(start)
        guess = self._pretty_guess(start)
        if guess is not None:
            self._pos = guess[1]
            yield line, decoder(guess[0])
            return True
        self._pos = start + 1
        self._depth = 1
        self._in_string = False
        while self._scan() != _CLOSED:
            if self._pos - start > self._max:
                held = self._buf[start : self._pos]
                reason = decode.Reason.OVERSIZED if _parses_so_far(held) else None
                yield line, _rejected(reason or decode.Reason.INVALID_JSON)
                return self._skip_value()
            shift = self._refill(start)
            if shift is None:
                yield line, _rejected(decode.Reason.TRUNCATED)
                return False
            start -= shift
        held = self._buf[start : self._pos]
        try:
            value = orjson.loads(held)
        except orjson.JSONDecodeError:
            yield line, _rejected(decode.Reason.INVALID_JSON)
            return True
        too_long = len(held) > self._max
        yield line, _rejected(decode.Reason.OVERSIZED) if too_long else decoder(value)
        return True

    def _scalar(self, start: int, decoder: Decoder) -> Generator[Part, None, bool]:
        """A list element that is no object or array; False when the input ended inside it."""
        line = self._line(start)
        while True:
            found = _SCALAR.match(self._buf, start)
            stop = found.end() if found else start
            if start < stop < len(self._buf):
                break  # whole: something follows it
            if len(self._buf) - start > self._max:
                # A string or word longer than the limit: skipped without being held.
                yield line, _rejected(decode.Reason.OVERSIZED)
                if self._buf[start] == _QUOTE:
                    self._pos = start + 1
                    self._in_string = True
                    return self._skip_string()
                self._pos = start
                return self._skip_word()
            shift = self._refill(start)
            if shift is None:
                break  # the input ended: what there is
            start -= shift
        if stop == start:  # a string that the end of the input cut
            self._pos = len(self._buf)
            yield line, _rejected(decode.Reason.TRUNCATED)
            return False
        self._pos = stop
        try:
            value = orjson.loads(self._buf[start:stop])
        except orjson.JSONDecodeError:
            yield line, _rejected(decode.Reason.INVALID_JSON)
            return True
        yield line, decoder(value)
        return True

    def _skip_string(self) -> bool:
        """Skip the rest of a string whose start was dropped; False at the end of input."""
        while True:
            pos = _end(_STRING_REST, self._buf, self._pos)
            if pos < len(self._buf) and self._buf[pos] == _QUOTE:
                self._pos = pos + 1
                self._in_string = False
                return True
            self._pos = pos
            if self._refill(pos) is None:
                return False

    def _skip_word(self) -> bool:
        """Skip the rest of a word whose start was dropped; False at the end of input."""
        while True:
            found = _SCALAR.match(self._buf, self._pos)
            if found:
                self._pos = found.end()
            if self._pos < len(self._buf):
                return True
            if self._refill(self._pos) is None:
                return False
