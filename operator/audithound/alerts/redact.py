"""Credentials out of what we write: credential-shaped parts of a string become ``[REDACTED]``.

Fed by: ``alerts.evidence``, with the strings of an alert's excerpt (the request URI through
:func:`uri`, every other string through :func:`text`). Feeds: everything built from the
excerpt: SecurityAlerts, their ``reason``, Event messages, ``scan``'s JSON and table output.
Rules never see this: they match the raw event, so a rule may look for the very token we hide.

Only the secret part is replaced, so that an analyst still reads what was run: parameter
names, the scheme word, the user name of a URL and the rest of the URI stay as they were, in
their original encoding.

**Credential-like names** (:func:`sensitive`; query parameters, flags, variables, header and
JSON keys), compared lower-cased after dropping leading dashes: a name that contains
``token``, ``passw``, ``passphrase``, ``pwd``, ``secret``, ``signature``, ``credential``,
``authoriz``, ``cookie``, ``session``, ``jwt`` or ``bearer``, ends in ``key``, or is ``key``,
``sig``, ``auth``, ``pass``, ``code`` or ``otp``. So ``access_token``, ``id_token``,
``refresh_token``, ``api_key``, ``apikey``, ``X-Api-Key``, ``client_secret``, ``passwd``,
``pwd``, ``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``, Azure's ``sig``
and OAuth's ``code`` are; ``aws_access_key_id`` is not. A name ending in ``file``, ``path``,
``dir``, ``url``, ``uri``, ``stdin`` or ``ttl`` is not (``--token-file``, ``PASSWORD_FILE``,
``--password-stdin``): its value says where a secret is, which is evidence.

**In a request URI** (:func:`uri`), after the first ``?``:

- the value of a query parameter with a credential-like name, whole (``?access_token=x``);
- the ``command=`` parameters of an exec are its argv, one element each (that is how kubectl
  sends them): an element after a credential-like flag (``--token`` ``x``) and the rest of an
  element after a credential-like ``name=`` (``--password=my secret``) are secrets whole, and
  the text rules below read across elements (``-H`` ``Authorization: Bearer x``, ``-H``
  ``X-Api-Key:x``, ``-u`` ``admin:x``, ``Bearer`` ``x``); the elements are read joined by
  line breaks, so an element that holds a line break is read as two;
- the text rules below over the path and over the whole query (a URL inside a parameter).

Names and values are percent-decoded (``+`` as a space in the query) before they are judged,
and the marker replaces the raw characters, so ``Bearer%20x`` and ``Bearer+x`` lose ``x`` and
keep their encoding. Encoding applied twice (``%2520``) is not undone.

**In any text** (:func:`text`: user agents, user names, groups, auditIDs, which clients may
choose, object names, the authorization reason; and inside URIs as above), ignoring case:

- ``Bearer x``, ``Basic x``: the credential ``x`` (RFC 6750 / 7617 token characters);
- a JWT (three base64url parts, the first two starting ``eyJ``, that is ``{"``), whole;
- URL userinfo: ``scheme://user:x@host`` loses ``x``; ``scheme://x@host`` loses ``x`` (a
  token as user name is how Git hosts take one);
- ``name=x`` (``--password=x``, ``PASSWORD=x``, ``?token=x`` in a nested URL), ``name: x``
  with white space after the colon (a header in a user agent or a script), ``-H name:x``,
  ``"name": "x"`` (JSON) and ``--name x`` (a long flag, then a value that is no flag), each
  when ``name`` is credential-like; a header keeps its scheme word (``Bearer``, ``Basic``,
  ``Token``, ``Digest``, ``Negotiate``, ``NTLM``, ``AWS4-HMAC-SHA256``) and loses the rest,
  up to a quote, ``&`` or the line's end;
- ``-u user:x``, ``--user user:x`` (curl's credentials): ``x``.

A value ends at white space, a quote, ``&``, ``;``, ``|``, ``<`` or ``>``; a quoted value
runs to its closing quote (to the end when there is none). Over-redaction is the chosen
failure: ``secret-type=x`` in a label selector loses ``x`` too.

Cost: a string without any of the literals the rules need (``bearer``, ``eyJ``, ``://``,
a stem of a credential-like name...) costs a few substring tests; that is most user agents,
user names and paths, and short strings that recur are remembered (:data:`CACHE_LIMIT`);
an auditID or a timestamp, new in every alert, is not, and costs one strip (:func:`fresh_text`),
and a URI without a trigger, an escape or an exec's argv costs the substring tests alone (a
URI with escapes costs one unquote more, when it holds no trigger once decoded). The
rest is linear in the input: a rule starts only where a run of its
leading characters starts (a look-behind refuses the later positions of the same run),
quantifiers that could give back what a look-ahead scanned are possessive, no repetition
nests, a name must hold a stem before Python looks at it, and after a secret the search goes
on behind it. ``tests/alerts/test_redact.py`` times adversarial strings.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import re
import urllib.parse

MARKER = "[REDACTED]"

#: Strings of up to this many characters (default 256) are remembered with their redacted
#: form, in a cache of CACHE_SIZE entries (default 4096, so at most about 2 MiB). User names,
#: groups, user agents, resources and most URIs recur from alert to alert, and a cache hit
#: is some 50 times cheaper than reading the string again. The cache holds raw strings in
#: memory only, as the reader holds the lines it reads.
CACHE_LIMIT = 256
CACHE_SIZE = 4096

_NAME_PARTS = (
    "token",
    "passw",
    "passphrase",
    "pwd",
    "secret",
    "signature",
    "credential",
    "authoriz",
    "cookie",
    "session",
    "jwt",
    "bearer",
)
_NAMES = frozenset({"key", "sig", "auth", "pass", "code", "otp"})
_NOT_SECRET_SUFFIXES = ("file", "path", "dir", "url", "uri", "stdin", "ttl")
#: Every credential-like name holds one of these, so a name without one is refused inside
#: the regex engine, before any Python runs for it.
_STEMS = (
    "key|token|pass|pwd|secret|sig|credential|authoriz|auth(?![a-z])|cookie|session|jwt|bearer"
    "|code|otp"
)


def sensitive(name: str) -> bool:
    """Whether ``name`` names a credential (see the module docstring)."""
    folded = name.lstrip("-").lower()
    if folded.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return folded in _NAMES or folded.endswith("key") or any(p in folded for p in _NAME_PARTS)


Span = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class _Rule:
    """``head`` finds a candidate; when it has a ``name`` group, that name must be
    credential-like. ``value``, matched where the head ends, holds the secret in the first of
    its groups that took part; without ``value`` the whole head is the secret. ``needs``:
    punctuation that every match of ``head`` holds (no case folding reaches it), so that a
    string without it is not searched at all: most of what holds a trigger (a URI of
    ``secrets``) lacks what the rules around the trigger need (``=``, ``:``, a quote)."""

    head: re.Pattern[str]
    value: re.Pattern[str] | None
    named: bool
    needs: frozenset[str]


def _rule(head: str, value: str | None = None, *, needs: tuple[str, ...] = ()) -> _Rule:
    compiled = re.compile(head, re.IGNORECASE)
    return _Rule(
        compiled,
        re.compile(value, re.IGNORECASE) if value else None,
        "name" in compiled.groupindex,
        frozenset(needs),
    )


_SECRET_GROUPS = ("password", "dq", "sq", "bare", "rest", "user")
#: A name holding a stem. The look-ahead is atomic: it finds a stem once, and the name's
#: characters are then taken without backtracking into it.
_NAME = rf"(?P<name>(?=[\w.-]*?(?:{_STEMS}))[a-z_][\w.-]*+)"
_VALUE = r""""(?P<dq>[^"]*)"?|'(?P<sq>[^']*)'?|(?P<bare>[^\s"'&;|<>]+)"""
_HEADER_VALUE = (
    r"(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256)[ \t]+)?"
    r"(?P<rest>[^\"'\r\n&]+)"
)

_TEXT_RULES = (
    # Authorization schemes: "Bearer x", "Basic x".
    _rule(r"(?<![\w-])(?:bearer|basic)\s++", r"(?P<bare>[\w\-.~+/]+=*)"),
    # A JWT: base64url of '{"' starts its header and its claims.
    _rule(r"(?<![\w-])eyJ[\w-]+\.eyJ[\w-]*\.[\w-]*", needs=(".",)),
    # URL userinfo: scheme://user:password@ or scheme://token@.
    _rule(
        r"(?<![\w+.-])[a-z][\w+.-]*://",
        r"""(?P<user>[^/?#\s"'<>\\:@]*)(?::(?P<password>[^/?#\s"'<>\\]*))?@""",
        needs=("://",),
    ),
    # name=value: --password=x, PASSWORD=x, token=x.
    _rule(rf"(?<![\w.-])-*+{_NAME}[ \t]*+=[ \t]*+", _VALUE, needs=("=",)),
    # A header: "X-Api-Key: x", "Authorization: Bearer x".
    _rule(rf"(?<![\w.-]){_NAME}[ \t]*+:[ \t]++", _HEADER_VALUE, needs=(":",)),
    # curl's header flag, where no space need follow the colon: -H 'X-Api-Key:x'.
    _rule(
        rf"""(?<![\w.-])(?:-H|--header)\s*+=?\s*+["']?{_NAME}[ \t]*+:[ \t]*+""",
        _HEADER_VALUE,
        needs=("-", ":"),
    ),
    # JSON: "password": "x".
    _rule(
        rf'"(?P<name>(?=[^"\\\n]{{0,99}}?(?:{_STEMS}))[^"\\\n]{{1,100}})"\s*+:\s*+"',
        r'(?P<dq>[^"\\]*(?:\\.[^"\\]*)*)',
        needs=('"', ":"),
    ),
    # A long flag and its value: --token x.
    _rule(rf"(?<![\w.-])-{{1,2}}{_NAME}[ \t]++(?!-)", _VALUE, needs=("-",)),
    # curl's credentials: -u user:x, --user user:x, -U / --proxy-user user:x.
    _rule(
        r"""(?<![\w.-])(?:-u|--user|--proxy-user)\s*+=?\s*+["']?[^\s:"'&;|<>]*:""",
        r"""(?P<bare>[^\s"'&;|<>]+)""",
        needs=("-", ":"),
    ),
)
#: An exec's argv, one element per line: an element after a credential flag is the
#: secret whole (--token, x), and so is the rest of an element after name= (a quoted
#: value with spaces arrives as one element: --password=my secret).
_ARGV_RULES = (
    *_TEXT_RULES,
    _rule(rf"(?<![^\n])-{{1,2}}{_NAME}\n(?!-)", r"(?P<rest>[^\n]+)", needs=("-", "\n")),
    _rule(rf"(?<![^\n])-*+{_NAME}=", r"(?P<rest>[^\n]+)", needs=("=",)),
)
#: Every literal some rule needs, looked for once per string.
_NEEDED = tuple(sorted(frozenset().union(*(rule.needs for rule in _ARGV_RULES))))


#: Every rule needs one of these (lower-cased) literals, and most strings (a user agent, a
#: user name, a URI path) hold none: a few substring tests, and no rule runs. (Substring
#: tests beat one case-insensitive alternation: it defeats the regex engine's prefix scan.)
#: The native excerpt (``alerts.evidence``) reads these two too, as :func:`_triggered` does.
TRIGGERS = (
    *("bearer", "basic", "eyj", "://", "-u", "key", "token", "pass", "pwd", "secret", "sig"),
    *("credential", "authoriz", "cookie", "session", "jwt", "code", "otp"),
)
#: Triggers that count only where no letter follows, as in the stems: ``auth``, but not
#: ``system:authenticated`` (in most users' groups).
WORD_TRIGGERS = ("auth",)
_WORDS = re.compile(rf"(?:{'|'.join(WORD_TRIGGERS)})(?![a-z])")


def _triggered(value: str) -> bool:
    folded = value.lower()
    for trigger in TRIGGERS:
        if trigger in folded:
            return True
    return _WORDS.search(folded) is not None


def _spans(value: str, rules: tuple[_Rule, ...] = _TEXT_RULES) -> list[Span]:
    spans: list[Span] = []
    if not _triggered(value):
        return spans
    present = {literal for literal in _NEEDED if literal in value}
    for rule in rules:
        if not rule.needs <= present:
            continue
        position = 0
        while (head := rule.head.search(value, position)) is not None:
            position = head.end()
            if rule.named and not sensitive(head["name"]):
                continue
            if rule.value is None:
                spans.append(head.span())
                continue
            found = rule.value.match(value, position)
            if found is None:
                continue
            groups = found.re.groupindex
            group = next((g for g in _SECRET_GROUPS if g in groups and found[g]), None)
            if group is not None:
                start, end = found.span(group)
                spans.append((start, end))
                # What follows inside a secret is redacted already: search behind it.
                position = max(position, end)
    return spans


def _replace(value: str, spans: list[Span]) -> str:
    """``value`` with every span (merged where they overlap or touch) replaced by MARKER."""
    out: list[str] = []
    position = 0
    for start, end in sorted(spans):
        if out and start <= position:
            position = max(position, end)
            continue
        out += (value[position:start], MARKER)
        position = end
    out.append(value[position:])
    return "".join(out)


def text(value: str) -> str:
    """``value`` with its credential-shaped parts replaced (the text rules)."""
    return _cached_text(value) if len(value) <= CACHE_LIMIT else _text(value)


#: Characters no trigger can be spelled with (each trigger needs a letter or ``/`` outside
#: them; a test holds the two together): a string of these alone has nothing to redact.
INERT = "0123456789abcdefABCDEF-:.+_TZ"


def fresh_text(value: str) -> str:
    """:func:`text` for a string that is new in nearly every alert (an auditID, a timestamp):
    not remembered, so that it never pushes a recurring string out of the cache, and left as
    it is after one strip when it holds inert characters alone (as the API server's do)."""
    return value if not value.strip(INERT) else _text(value)


def _text(value: str) -> str:
    spans = _spans(value)
    return _replace(value, spans) if spans else value


_cached_text = functools.lru_cache(maxsize=CACHE_SIZE)(_text)


_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class _Decoded:
    """``raw[start:end]`` percent-decoded, with positions mapped both ways.

    An escape becomes one character (as Latin-1: the patterns are ASCII), so the map is the
    escapes' positions alone, not one entry per character.
    """

    def __init__(self, raw: str, start: int, end: int, *, plus: bool) -> None:
        chunk = raw[start:end]
        if plus:
            chunk = chunk.replace("+", " ")  # same length: the map is unchanged
        self.start = start
        self._escapes = [m.start() for m in _ESCAPE.finditer(chunk)]
        self._decoded_at = [at - 2 * k for k, at in enumerate(self._escapes)]
        self.text = urllib.parse.unquote(chunk, "latin-1") if self._escapes else chunk

    def raw(self, index: int) -> int:
        """The raw position of decoded position ``index``."""
        return self.start + index + 2 * bisect.bisect_left(self._decoded_at, index)

    def decoded(self, position: int) -> int:
        """The decoded position of raw ``position`` (never inside an escape)."""
        offset = position - self.start
        return offset - 2 * bisect.bisect_left(self._escapes, offset)

    def raw_spans(self, spans: list[Span]) -> list[Span]:
        return [(self.raw(start), self.raw(end)) for start, end in spans]


#: A query parameter worth a look in Python: ``command``, or a name with an escape or a stem.
_PARAM = re.compile(
    rf"(?<=[?&])(?P<name>command|(?=[^&=?]*?(?:%|{_STEMS}))[^&=?]*+)=(?P<value>[^&]*)",
    re.IGNORECASE,
)


def _argv_spans(query: _Decoded, elements: list[Span]) -> list[Span]:
    """Raw spans of the secrets of an exec's argv, given its elements' decoded spans."""
    texts = [query.text[start:end] for start, end in elements]
    offsets = []
    position = 0
    for element in texts:
        offsets.append(position)
        position += len(element) + 1
    spans = []
    for start, end in _spans("\n".join(texts), _ARGV_RULES):
        index = bisect.bisect_right(offsets, start) - 1
        while index < len(texts) and offsets[index] < end:
            # Split at element boundaries: each piece lies in one command= parameter.
            low = max(start, offsets[index]) - offsets[index]
            high = min(end, offsets[index] + len(texts[index])) - offsets[index]
            if high > low:
                base = elements[index][0]
                spans.append((query.raw(base + low), query.raw(base + high)))
            index += 1
    return spans


def uri(raw: str) -> str:
    """A request URI with its credential-shaped parts replaced (see the module docstring)."""
    return _cached_uri(raw) if len(raw) <= CACHE_LIMIT else _uri(raw)


def _uri(raw: str) -> str:
    if "%" not in raw and "command=" not in raw and not _triggered(raw):
        return raw  # no rule could find anything, in the path or in the query
    if "%" in raw:
        # The rules read the decoded path and query, and judge decoded parameter names; every
        # credential-like name holds a trigger: without one there, nor an exec's argv,
        # nothing can be found (a selector's ``%3D`` costs one unquote, not the rules).
        decoded = urllib.parse.unquote(raw, "latin-1")
        if "command=" not in decoded and not _triggered(decoded):
            return raw
    path_end = raw.find("?")
    if path_end < 0:
        path_end = len(raw)
    path = _Decoded(raw, 0, path_end, plus=False)
    spans = path.raw_spans(_spans(path.text))
    rest = raw[path_end + 1 :]
    # Without a trigger, an escape or an argv, no rule can find anything in the query.
    if path_end < len(raw) and (_triggered(rest) or "%" in rest or "command=" in rest):
        query = _Decoded(raw, path_end + 1, len(raw), plus=True)
        spans += query.raw_spans(_spans(query.text))
        argv = []
        for param in _PARAM.finditer(raw, path_end + 1):
            name = urllib.parse.unquote_plus(param["name"], "latin-1")
            start, end = param.span("value")
            if name == "command":
                argv.append((query.decoded(start), query.decoded(end)))
            elif end > start and sensitive(name):
                spans.append((start, end))
        if argv:
            spans += _argv_spans(query, argv)
    return _replace(raw, spans) if spans else raw


_cached_uri = functools.lru_cache(maxsize=CACHE_SIZE)(_uri)
