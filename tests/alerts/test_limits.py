"""maxSignals per rule per interval, the storm cap over all rules, and the token bucket of
Events: pure logic, no cluster."""

from __future__ import annotations

import datetime

from tests.detectors.conftest import START, rule

from audithound.alerts import limits
from audithound.sinks import kubernetes

#: START as the limits count time: seconds since the epoch.
T0 = START.timestamp()


def test_max_signals_counts_per_interval_aligned_to_the_epoch() -> None:
    limiter = limits.Limiter()
    capped = rule("capped", maxSignals=2, interval="1h")
    at = START + datetime.timedelta(minutes=50)
    assert [limiter.admit(capped, at.timestamp()) for _ in range(3)] == [True, True, False]
    later = START + datetime.timedelta(hours=1, minutes=1)  # the next hour: a new interval
    assert limiter.admit(capped, later.timestamp())
    counts = limiter.current["capped"]
    assert (counts.matches, counts.alerts, counts.dropped) == (1, 1, 0)
    assert limiter.dropped_total["capped"] == 1


def test_a_duplicate_gives_its_place_back() -> None:
    limiter = limits.Limiter()
    capped = rule("capped", maxSignals=1, interval="1h")
    assert limiter.admit(capped, T0)
    limiter.unadmit_duplicate(capped)
    assert limiter.admit(capped, T0)
    assert limiter.current["capped"].duplicates == 1


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    bucket = kubernetes.TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_an_event_time_near_the_year_1_counts_without_failing() -> None:
    limiter = limits.Limiter()
    weekly = rule("weekly", interval="7d")
    ancient = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)
    assert limiter.admit(weekly, ancient.timestamp())
    assert limiter.current["weekly"].interval_start == ancient


def test_the_storm_cap_holds_the_sum_of_all_rules_per_minute() -> None:
    """10 a minute: a flooding rule takes the first half and its tenth; the rest stays for
    the rules that created fewer than a tenth, until the minute is over."""
    limiter = limits.Limiter(max_creations_per_minute=10)
    flood = rule("flood", maxSignals=1000, interval="1h")
    others = [rule(f"other-{n}", maxSignals=1000, interval="1h") for n in range(7)]
    assert sum(limiter.admit(flood, T0) for _ in range(100)) == 5
    assert [limiter.admit(other, T0) for other in others] == [True] * 5 + [False] * 2
    assert not limiter.admit(others[0], T0)  # the minute's 10 are gone, for every rule
    assert limiter.current["flood"].storm_dropped == 95
    assert limiter.current["flood"].dropped == 0  # within maxSignals: not the rule's limit
    assert limiter.storm_dropped_total == {"flood": 95, "other-0": 1, "other-5": 1, "other-6": 1}
    next_minute = START + datetime.timedelta(minutes=1)
    assert limiter.admit(others[6], next_minute.timestamp())
    counts = limiter.current["other-6"]  # the rule's own interval (an hour) goes on counting
    assert (counts.matches, counts.alerts, counts.storm_dropped) == (2, 1, 1)


def test_the_storm_cap_counts_after_max_signals_and_takes_back_duplicates() -> None:
    limiter = limits.Limiter(max_creations_per_minute=2)
    capped = rule("capped", maxSignals=1, interval="1h")
    free = rule("free", maxSignals=1000, interval="1h")
    assert [limiter.admit(capped, T0) for _ in range(3)] == [True, False, False]
    assert limiter.current["capped"].storm_dropped == 0  # maxSignals refused those first
    assert limiter.admit(free, T0)
    assert not limiter.admit(free, T0)
    limiter.unadmit_duplicate(free)  # it existed: the minute's budget has room again
    assert limiter.admit(free, T0)


def test_no_storm_cap_by_default() -> None:
    limiter = limits.Limiter()
    free = rule("free", maxSignals=10_000, interval="1h")
    assert all(limiter.admit(free, T0) for _ in range(10_000))
    assert not limiter.storm_dropped_total
