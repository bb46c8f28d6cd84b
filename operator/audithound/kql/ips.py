"""Addresses as Elasticsearch's ``ip`` type holds them: one 128-bit number per address.

Fed by: the typed compiler (:mod:`audithound.kql.typed`), with a query's values and bounds
and, per document, the values of an ``ip`` field. Feeds: its equality, network and range
tests, which compare numbers only.

Elasticsearch stores every address in 16 bytes, an IPv4 address as its IPv4-mapped IPv6 form
(``::ffff:a.b.c.d``): so ``::ffff:10.0.0.1`` equals ``10.0.0.1``, every IPv4 address sorts
between ``::ffff:0.0.0.0`` and ``::ffff:255.255.255.255``, and ``::/0`` holds IPv4 addresses
too. Spelling does not matter (IPv6 case, zero compression). Parsing is Python's
``ipaddress``, which refuses what Elasticsearch's parser refuses (leading zeros in IPv4,
``256``, a prefix past the address length); a zone (``fe80::1%eth0``) is refused as well.
A network's address may have host bits set (``10.1.2.3/8`` is ``10.0.0.0/8``), as
Elasticsearch accepts it.
"""

from __future__ import annotations

import ipaddress

#: Where IPv4 lives in the IPv6 space: ``::ffff:0:0/96``.
_MAPPED = 0xFFFF << 32
#: Document values converted, kept so that a busy source address is parsed once. Cleared
#: when full: the memory stays bounded whatever the traffic.
_MEMO_LIMIT = 4096
_memo: dict[str, int | None] = {}


def address(text: str) -> int | None:
    """The 128-bit number of an address written any valid way, else None."""
    if "%" in text:
        return None
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if parsed.version == 4:
        return _MAPPED | int(parsed)
    return int(parsed)


def network(text: str) -> tuple[int, int] | None:
    """The first and last 128-bit numbers of a CIDR network (``10.0.0.0/8``), else None."""
    if "/" not in text or "%" in text:
        return None
    try:
        parsed = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    first, last = int(parsed.network_address), int(parsed.broadcast_address)
    if parsed.version == 4:
        return _MAPPED | first, _MAPPED | last
    return first, last


def of_value(value: object) -> int | None:
    """A document value as a number (None for what is not an address: it never matches)."""
    if type(value) is not str:
        return None
    found = _memo.get(value, -1)
    if found != -1:
        return found
    if len(_memo) >= _MEMO_LIMIT:
        _memo.clear()
    converted = _memo[value] = address(value)
    return converted


def canonical(text: str) -> str:
    """An address as Elasticsearch shows an ``ip`` term: IPv4 for an IPv4-mapped address,
    IPv6 compressed and in lower case; text that is no address is returned as it is."""
    if "%" in text:
        return text
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return text
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)
