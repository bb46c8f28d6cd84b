"""YAML documents read the way ``kubectl apply`` reads them, every problem with its position.

Fed by: the text of a rule file (``rules.loader``). Feeds: the loader, with each document's
node tree (for the positions of later problems) and the JSON object kubectl would send.

kubectl turns YAML into JSON with go-yaml v2 (``sigs.k8s.io/yaml``), and PyYAML's own
reading of plain scalars differs from it, so that ``rules check`` would accept what
``kubectl apply`` refuses and the reverse. Here plain scalars resolve as go-yaml v2 resolves
them (checked against kubectl and the API server in ``tests/api``):

- booleans: ``true``/``false``, ``yes``/``no``, ``on``/``off`` in three cases each, and also
  ``y``, ``Y``, ``n``, ``N``; ``enabled: no`` is false, as kubectl sends it;
- integers: decimal, ``0x``, ``0o``, ``0b``, a leading ``0`` (octal), ``_`` anywhere; beyond 64
  bits they become floats, as go-yaml makes them; no base 60 (``1:30`` is a string);
- floats: ``1.5``, ``1e3``, ``.5``, ``.inf``, ``.nan``; a float beyond float's range is a string;
- timestamps stay strings (go-yaml keeps their text), so ``2024-02-30`` is text, not an error;
- ``~``, ``null``, empty: null; ``=`` is a string.

What kubectl sends is JSON: mapping keys become strings (``1`` -> ``"1"``, ``y`` -> ``"true"``),
an integral float becomes an integer (``50.0`` is sent as ``50``), and ``.inf``/``.nan`` cannot
be sent at all (kubectl fails). Merge keys (``<<``) merge in order, as go-yaml does.

Refused here, each with its file position: a key given twice in one mapping (kubectl keeps
the last silently; the lost value is usually the one meant, so both positions are named), an
alias of a node that contains it, keys that cannot be JSON keys, nesting deeper than
:data:`MAX_DEPTH` (nodes are composed here from the parser's events, without recursion:
PyYAML's own composer recursed past Python's limit, and with PyYAML 6.0.3's libyaml some
100,000 levels crashed the process), and any other failure of the YAML library.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import math
import re
from collections.abc import Iterator
from typing import Any

import yaml
import yaml.composer
import yaml.parser
import yaml.reader
import yaml.scanner

from audithound.rules import problems as rule_problems

#: Deepest nesting of mappings and sequences in a document. A DetectionRule nests seven
#: levels (``spec.threat[].technique[].subtechnique[].id``); a hundred refuses no manifest
#: the API server would take for a rule and keeps every walk far from Python's recursion
#: limit and libyaml's C stack.
MAX_DEPTH = 100

_TAG = "tag:yaml.org,2002:"


class Tag:
    """The YAML tags a rule file's nodes can carry (``!!str`` ...)."""

    STR = f"{_TAG}str"
    INT = f"{_TAG}int"
    FLOAT = f"{_TAG}float"
    BOOL = f"{_TAG}bool"
    NULL = f"{_TAG}null"
    MERGE = f"{_TAG}merge"
    BINARY = f"{_TAG}binary"
    TIMESTAMP = f"{_TAG}timestamp"
    SEQ = f"{_TAG}seq"
    MAP = f"{_TAG}map"


_WORDS: dict[str, tuple[str, Any]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), (Tag.BOOL, True)),
    **dict.fromkeys(("on", "On", "ON"), (Tag.BOOL, True)),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), (Tag.BOOL, False)),
    **dict.fromkeys(("off", "Off", "OFF"), (Tag.BOOL, False)),
    **{word: (Tag.NULL, None) for word in ("", "~", "null", "Null", "NULL")},
    **{word: (Tag.FLOAT, math.nan) for word in (".nan", ".NaN", ".NAN")},
    **{word: (Tag.FLOAT, math.inf) for word in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{word: (Tag.FLOAT, -math.inf) for word in ("-.inf", "-.Inf", "-.INF")},
    "<<": (Tag.MERGE, "<<"),
}
# go-yaml's integer forms after removing "_" (Go's ParseInt with base 0), and its floats.
_INTEGER = re.compile(r"([-+]?)(0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# go-yaml's timestamp layouts: a date, optionally a time (T, t or a space) and a zone.
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})?)?"
)
_BASES = {"b": 2, "B": 2, "o": 8, "O": 8, "x": 16, "X": 16}
# Longest integer text that can fit 64 bits (a sign, "0b" and 64 binary digits); longer ones
# are never given to int(), whose conversion limit (4,300 digits) they might pass.
_INTEGER_TEXT_LIMIT = 67
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
#: Largest integral float sent as an integer: JSON readers (the API server's included) hold
#: integers exactly up to 2**53.
_EXACT_FLOAT = 2**53


def resolve(text: str) -> tuple[str, Any]:
    """The tag and value go-yaml v2 gives a plain scalar (see the module's docstring)."""
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first == ".":
        return _float(text) or (Tag.STR, text)
    if first.isdigit() or first in "+-":
        plain = text.replace("_", "")
        found = _INTEGER.fullmatch(plain)
        if found is not None and len(plain) <= _INTEGER_TEXT_LIMIT:
            sign, body = found.groups()
            if body[1:2] in _BASES:
                number = int(body[2:], _BASES[body[1]])
            else:
                number = int(body, 8 if body.startswith("0") else 10)
            number = -number if sign == "-" else number
            if _INT64[0] <= number <= _INT64[1] or (not sign and number <= _UINT64_MAX):
                return Tag.INT, number
        return _float(plain) or (Tag.STR, text)
    return Tag.STR, text


def _timestamp(text: str) -> bool:
    """Whether go-yaml takes ``text`` as a timestamp (it then keeps the text)."""
    found = _TIMESTAMP.fullmatch(text)
    if found is None:
        return False
    try:
        datetime.date(*(int(part) for part in found.groups()))
    except ValueError:
        return False
    return True


def _float(text: str) -> tuple[str, float] | None:
    if not _FLOAT.fullmatch(text):
        return None
    number = float(text)
    return None if math.isinf(number) else (Tag.FLOAT, number)


@dataclasses.dataclass(frozen=True)
class Document:
    """One YAML document: its node tree, the JSON object kubectl would send, its problems."""

    node: yaml.Node
    value: Any
    problems: tuple[rule_problems.Problem, ...]


def _problem(message: str, mark: Any, path: str = "") -> rule_problems.Problem:
    return rule_problems.Problem(
        "error",
        message,
        path=path,
        file_line=mark.line + 1 if mark is not None else None,
        file_column=mark.column + 1 if mark is not None else None,
    )


class PurePythonParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own parser, for PyYAML built without libyaml."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


#: The YAML parser, of which only the events are used: libyaml's when PyYAML has it (ten
#: times faster), else PyYAML's own; both iterate, neither recurses.
PARSER: Any = yaml._yaml.CParser if yaml.__with_libyaml__ else PurePythonParser


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.mark = mark


def _compose(loader: Any) -> yaml.Node:
    """The node tree of the next document, built without recursion; the document's end event
    is consumed. Raises :class:`_TooDeep` past :data:`MAX_DEPTH` (the rest of the document is
    consumed first), ``yaml.YAMLError`` for broken aliases."""
    anchors: dict[str, yaml.Node] = {}
    open_anchors: set[str] = set()
    stack: list[tuple[yaml.CollectionNode, str | None]] = []
    pending_keys: list[yaml.Node | None] = []
    root: yaml.Node | None = None
    while root is None:
        # libyaml's marks are another class than PyYAML's, with the same line and column.
        event: Any = loader.get_event()
        start: Any = event.start_mark
        end: Any = event.end_mark
        node: yaml.Node
        match event:
            case yaml.AliasEvent():
                if event.anchor not in anchors:
                    raise yaml.composer.ComposerError(
                        None, None, f"found undefined alias {event.anchor!r}", start
                    )
                if event.anchor in open_anchors:
                    raise yaml.composer.ComposerError(
                        None,
                        None,
                        f"alias {event.anchor!r} refers to a node that contains it",
                        start,
                    )
                node = anchors[event.anchor]
            case yaml.ScalarEvent():
                tag = event.tag
                if tag is None or tag == "!":
                    # Plain scalars resolve as go-yaml resolves them; quoted ones are strings.
                    tag = resolve(event.value)[0] if event.implicit[0] else Tag.STR
                node = yaml.ScalarNode(tag, event.value, start, end, style=event.style)
                if event.anchor is not None:
                    anchors[event.anchor] = node
            case yaml.SequenceStartEvent() | yaml.MappingStartEvent():
                if len(stack) >= MAX_DEPTH:
                    _skip_document(loader, len(stack) + 1)
                    raise _TooDeep(start)
                sequence = isinstance(event, yaml.SequenceStartEvent)
                kind = yaml.SequenceNode if sequence else yaml.MappingNode
                tag = event.tag or (Tag.SEQ if sequence else Tag.MAP)
                opened = kind(tag, [], start, None, flow_style=event.flow_style)
                if event.anchor is not None:
                    anchors[event.anchor] = opened
                    open_anchors.add(event.anchor)
                stack.append((opened, event.anchor))
                pending_keys.append(None)
                continue
            case yaml.SequenceEndEvent() | yaml.MappingEndEvent():
                closed, anchor = stack.pop()
                pending_keys.pop()
                closed.end_mark = end
                open_anchors.discard(anchor or "")
                node = closed
            case _:
                raise TypeError(f"unexpected YAML event inside a document: {event!r}")
        if not stack:
            root = node
        elif isinstance(stack[-1][0], yaml.SequenceNode):
            stack[-1][0].value.append(node)
        elif pending_keys[-1] is None:
            pending_keys[-1] = node
        else:
            stack[-1][0].value.append((pending_keys[-1], node))
            pending_keys[-1] = None
    loader.get_event()  # the document's end
    return root


def _skip_document(loader: Any, depth: int) -> None:
    """Consume the events up to the end of the document, counting depth only."""
    while depth:
        event = loader.get_event()
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1
    loader.get_event()


class _Converter:
    """A node tree to the JSON value kubectl would send, with the problems found on the way.

    Values are memoised by node, so aliases share one value and repeated aliases cost
    nothing more ("billion laughs" stays one small object).
    """

    def __init__(self) -> None:
        self.problems: list[rule_problems.Problem] = []
        self._done: dict[int, Any] = {}

    def value(self, node: yaml.Node, path: str = "") -> Any:
        known = id(node)
        if known not in self._done:
            self._done[known] = self._convert(node, path)
        return self._done[known]

    def _convert(self, node: yaml.Node, path: str) -> Any:
        match node:
            case yaml.ScalarNode():
                return self._scalar(node, path)
            case yaml.SequenceNode():
                return [self.value(item, _join(path, i)) for i, item in enumerate(node.value)]
            case yaml.MappingNode():
                return self._mapping(node, path)
            case _:
                raise TypeError(f"not a YAML node: {node!r}")

    def _scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        text: str = node.value
        match node.tag:
            case Tag.STR:
                value: Any = text
            case Tag.TIMESTAMP:
                if not _timestamp(text):
                    self.problems.append(
                        _problem(
                            f"cannot read {_shortened(text)!r} as !!timestamp",
                            node.start_mark,
                            path,
                        )
                    )
                    return None
                value = text
            case Tag.BINARY:
                try:
                    # Line breaks and spaces are layout; anything else outside base64 is not.
                    packed = "".join(text.split())
                    value = base64.b64decode(packed, validate=True).decode("utf-8", "replace")
                except binascii.Error as error:
                    self.problems.append(
                        _problem(f"invalid !!binary: {error}", node.start_mark, path)
                    )
                    return None
            case Tag.INT | Tag.FLOAT | Tag.BOOL | Tag.NULL:
                tag, value = resolve(text)
                if tag != node.tag and not (tag == Tag.INT and node.tag == Tag.FLOAT):
                    short = node.tag.removeprefix(_TAG)
                    self.problems.append(
                        _problem(
                            f"cannot read {_shortened(text)!r} as !!{short}", node.start_mark, path
                        )
                    )
                    return None
                value = float(value) if node.tag == Tag.FLOAT else value
            case _:  # other tags (!!set, !foo): go-yaml keeps the text
                value = text
        if isinstance(value, float):
            if not math.isfinite(value):
                self.problems.append(
                    _problem(
                        f"{_shortened(text)} is not a JSON number (kubectl cannot send it)",
                        node.start_mark,
                        path,
                    )
                )
            elif value.is_integer() and abs(value) <= _EXACT_FLOAT:
                value = int(value)
        return value

    def _mapping(self, node: yaml.MappingNode, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == Tag.MERGE:
                self._merge(out, value_node, path)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in first:
                earlier = first[key].start_mark
                self.problems.append(
                    _problem(
                        f"duplicate key {_shortened(key)!r} (first at line {earlier.line + 1}, "
                        f"column {earlier.column + 1}); kubectl would silently keep this last one",
                        key_node.start_mark,
                        _join(path, key),
                    )
                )
            first[key] = key_node
            out[key] = self.value(value_node, _join(path, key))
        return out

    def _merge(self, out: dict[str, Any], node: yaml.Node, path: str) -> None:
        # go-yaml merges in order; in a list of mappings, earlier ones win.
        sources = reversed(node.value) if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            merged = self.value(source, path)
            if isinstance(merged, dict):
                out.update(merged)
            else:
                self.problems.append(
                    _problem(
                        "a merge key (<<) needs a mapping or a list of them",
                        source.start_mark,
                        path,
                    )
                )

    def _key(self, node: yaml.Node, path: str) -> str | None:
        """The JSON key of a key node, as sigs.k8s.io/yaml makes it; None when it has none."""
        key = self.value(node, path) if isinstance(node, yaml.ScalarNode) else node
        match key:
            case bool():
                return "true" if key else "false"
            case str():
                return key
            case int():
                return str(key)
            case float():
                return f"{key:g}"
            case _:
                kind = "null" if key is None else "a mapping or a list"
                self.problems.append(
                    _problem(f"a key cannot be {kind} in JSON", node.start_mark, path)
                )
                return None


#: Longest piece of a value quoted in a message.
QUOTE_LIMIT = 40


def _shortened(text: str) -> str:
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 3] + "..."


def _join(path: str, part: str | int) -> str:
    """``spec.tags`` and 1 -> ``spec.tags[1]``; ``spec`` and ``query`` -> ``spec.query``."""
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def read(text: str) -> tuple[list[Document], list[rule_problems.Problem]]:
    """Every document of ``text`` that could be read, and the problems of the others.

    A YAML syntax error ends the file there (the documents before it are kept); a document
    nested too deep is refused alone.
    """
    documents: list[Document] = []
    problems: list[rule_problems.Problem] = []
    loader = PARSER(text)
    try:
        for node in _documents(loader, problems):
            converter = _Converter()
            value = converter.value(node)
            if value is not None:  # an empty document, which kubectl skips too
                documents.append(Document(node, value, tuple(converter.problems)))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        problems.append(_problem(f"invalid YAML: {problem}", mark))
    except Exception as error:
        problems.append(_problem(f"cannot read YAML: {type(error).__name__}: {error}", None))
    finally:
        loader.dispose()
    return documents, problems


def _documents(loader: Any, problems: list[rule_problems.Problem]) -> Iterator[yaml.Node]:
    loader.get_event()  # the stream's start
    while not loader.check_event(yaml.StreamEndEvent):
        loader.get_event()  # the document's start
        try:
            yield _compose(loader)
        except _TooDeep as deep:
            problems.append(
                _problem(f"nesting deeper than {MAX_DEPTH} levels: document not read", deep.mark)
            )
