"""Typed comparisons against Python's own answers: ``ipaddress`` for networks and address
order, ``datetime`` for instants and their rounding, exact fractions for number bounds; each
query runs in the generated rule set, as production runs it."""

from __future__ import annotations

import datetime
import fractions
import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from audithound import evaluate
from audithound.rules import compiler as rule_compiler
from audithound.rules import ruleset

STAMP = "kubernetes.audit.stageTimestamp"
CODE = "kubernetes.audit.responseStatus.code"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def matches(query: str, event: dict[str, Any]) -> bool:
    outcome = rule_compiler.compile_rule("r", {"query": query, "severity": "low", "riskScore": 1})
    assert outcome.rule is not None, outcome.errors
    evaluator = evaluate.Evaluator(ruleset.RuleSet([outcome.rule]))
    return bool(evaluator.evaluate(event))


def mapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """Elasticsearch's order: IPv4 as IPv4-mapped IPv6."""
    if address.version == 4:
        return int(ipaddress.IPv6Address("::ffff:" + str(address)))
    return int(address)


def quoted(value: object) -> str:
    return f'"{value}"'


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))


@settings(max_examples=300, deadline=None)
@given(
    address=addresses,
    network=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    prefix=st.integers(0, 128),
)
def test_a_cidr_value_holds_exactly_the_addresses_inside(
    address: Any, network: Any, prefix: int
) -> None:
    net = ipaddress.ip_network(f"{network}/{min(prefix, network.max_prefixlen)}", strict=False)
    inside = mapped(address) in range(
        mapped(net.network_address), mapped(net.broadcast_address) + 1
    )
    event = {"sourceIPs": [str(address)]}
    assert matches(f"source.ip:{quoted(net)}", event) is inside
    assert matches(f"not source.ip:{quoted(net)}", event) is not inside


@settings(max_examples=300, deadline=None)
@given(address=addresses, bound=addresses, op=st.sampled_from(["<", "<=", ">", ">="]))
def test_address_ranges_order_as_sixteen_bytes(address: Any, bound: Any, op: str) -> None:
    expected = {
        "<": mapped(address) < mapped(bound),
        "<=": mapped(address) <= mapped(bound),
        ">": mapped(address) > mapped(bound),
        ">=": mapped(address) >= mapped(bound),
    }[op]
    assert matches(f"source.ip {op} {quoted(bound)}", {"sourceIPs": [str(address)]}) is expected


@settings(max_examples=300, deadline=None)
@given(address=st.ip_addresses(v=4))
def test_an_ipv4_address_equals_its_mapped_and_exploded_spellings(address: Any) -> None:
    for spelling in (f"::ffff:{address}", ipaddress.IPv6Address(f"::ffff:{address}").exploded):
        assert matches(f"source.ip:{quoted(spelling)}", {"sourceIPs": [str(address)]})
        assert matches(f"source.ip:{address}", {"sourceIPs": [spelling.upper()]})


instants = st.datetimes(
    min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2100, 12, 31)
).map(lambda moment: moment.replace(tzinfo=datetime.UTC))


def millis(moment: datetime.datetime) -> int:
    return (moment - EPOCH) // datetime.timedelta(milliseconds=1)


def rfc3339(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@settings(max_examples=300, deadline=None)
@given(event_time=instants, bound=instants, op=st.sampled_from(["<", "<=", ">", ">="]))
def test_date_bounds_with_milliseconds_compare_instants_to_the_millisecond(
    event_time: datetime.datetime, bound: datetime.datetime, op: str
) -> None:
    # Both sides are held to the millisecond; the bound's sub-millisecond digits do not count.
    held, limit = millis(event_time), millis(bound)
    expected = {"<": held < limit, "<=": held <= limit, ">": held > limit, ">=": held >= limit}[op]
    event = {"stageTimestamp": rfc3339(event_time)}
    assert matches(f"{STAMP} {op} {quoted(rfc3339(bound))}", event) is expected


@settings(max_examples=300, deadline=None)
@given(event_time=instants, day=instants)
def test_a_date_value_covers_its_whole_day_and_a_time_its_whole_second(
    event_time: datetime.datetime, day: datetime.datetime
) -> None:
    event = {"stageTimestamp": rfc3339(event_time)}
    assert matches(f"{STAMP}:{day.date().isoformat()}", event) is (event_time.date() == day.date())
    second = day.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert matches(f"{STAMP}:{quoted(second)}", event) is (
        event_time.replace(microsecond=0) == day.replace(microsecond=0)
    )


@settings(max_examples=300, deadline=None)
@given(event_time=instants, day=instants)
def test_a_day_bound_is_rounded_per_operator(
    event_time: datetime.datetime, day: datetime.datetime
) -> None:
    event = {"stageTimestamp": rfc3339(event_time)}
    date, text = event_time.date(), day.date().isoformat()
    assert matches(f"{STAMP} <= {text}", event) is (date <= day.date())
    assert matches(f"{STAMP} < {text}", event) is (date < day.date())
    assert matches(f"{STAMP} >= {text}", event) is (date >= day.date())
    assert matches(f"{STAMP} > {text}", event) is (date > day.date())


@settings(max_examples=300, deadline=None)
@given(
    code=st.integers(100, 599),
    bound=st.fractions(min_value=0, max_value=700, max_denominator=8),
    op=st.sampled_from(["<", "<=", ">", ">="]),
)
def test_number_bounds_on_an_integer_field_are_exact(
    code: int, bound: fractions.Fraction, op: str
) -> None:
    text = f"{float(bound)!r}"
    exact = fractions.Fraction(text)
    expected = {"<": code < exact, "<=": code <= exact, ">": code > exact, ">=": code >= exact}[op]
    assert matches(f"{CODE} {op} {text}", {"responseStatus": {"code": code}}) is expected
