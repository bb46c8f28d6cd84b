"""maxSignals per rule per interval, and the token bucket of Events: pure logic, no cluster."""

from __future__ import annotations

import datetime

from tests.detectors.conftest import START, rule

from audithound.alerts import limits
from audithound.sinks import kubernetes


def test_max_signals_counts_per_interval_aligned_to_the_epoch() -> None:
    limiter = limits.Limiter()
    capped = rule("capped", maxSignals=2, interval="1h")
    at = START + datetime.timedelta(minutes=50)
    assert [limiter.admit(capped, at) for _ in range(3)] == [True, True, False]
    later = START + datetime.timedelta(hours=1, minutes=1)  # the next hour: a new interval
    assert limiter.admit(capped, later)
    counts = limiter.current["capped"]
    assert (counts.matches, counts.alerts, counts.dropped) == (1, 1, 0)
    assert limiter.dropped_total["capped"] == 1


def test_a_duplicate_gives_its_place_back() -> None:
    limiter = limits.Limiter()
    capped = rule("capped", maxSignals=1, interval="1h")
    assert limiter.admit(capped, START)
    limiter.unadmit_duplicate(capped)
    assert limiter.admit(capped, START)
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
    assert limiter.admit(weekly, ancient)
    assert limiter.current["weekly"].interval_start == ancient
