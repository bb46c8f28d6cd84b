"""Durations and numbers of a DetectionRule are bounded: every value Elastic ships is taken,
every value taken is safe for the time arithmetic that uses it, and the CRD carries the same
bounds (the API server's answers are in tests/api/test_apply_agrees.py)."""

from __future__ import annotations

import datetime
import pathlib
from typing import Any

import pytest
import yaml

from audithound.alerts import limits
from audithound.api import rule as rule_api
from audithound.rules import compiler

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"
BASE = {"query": "user.name:x", "severity": "low", "riskScore": 10}

# Every interval, look-back and maxSignals of elastic/detection-rules' rules/ and
# rules_building_block/ (August 2026), and the new-terms history windows, which use the
# same date math.
ELASTIC_INTERVALS = [
    *(f"{n}m" for n in (1, 2, 5, 6, 8, 9, 10, 14, 15, 29, 30, 45, 59, 60)),
    *(f"{n}h" for n in (1, 6, 12)),
]
ELASTIC_LOOKBACKS = [
    *(f"now-{n}m" for n in (1, 2, 5, 6, 9, 10, 11, 15, 19, 20, 25, 30, 31, 32, 35, 45, 59)),
    *(f"now-{n}m" for n in (60, 61, 65, 90, 119, 120, 130, 180, 190, 7200, 7205)),
    *(f"now-{n}h" for n in (1, 2, 3, 4, 6, 8, 12, 24)),
    *(f"now-{n}d" for n in (1, 3, 5, 7, 10, 14, 15, 20, 30)),
]
ELASTIC_MAX_SIGNALS = [1, 5, 33, 100, 1000]


def problems(**spec: Any) -> list[str]:
    outcome = compiler.compile_rule("r", {**BASE, **spec})
    return [problem.short() for problem in outcome.errors]


@pytest.mark.parametrize("interval", ELASTIC_INTERVALS)
def test_every_interval_elastic_ships_is_taken(interval: str) -> None:
    assert problems(interval=interval) == []


@pytest.mark.parametrize("lookback", ELASTIC_LOOKBACKS)
def test_every_look_back_elastic_ships_is_taken(lookback: str) -> None:
    assert problems(**{"from": lookback}) == []


@pytest.mark.parametrize("max_signals", ELASTIC_MAX_SIGNALS)
def test_every_max_signals_elastic_ships_is_taken(max_signals: int) -> None:
    assert problems(maxSignals=max_signals) == []


@pytest.mark.parametrize("interval", ["365d", "8760h", "525600m", "31536000s"])
def test_a_year_is_the_longest_interval(interval: str) -> None:
    assert problems(interval=interval, **{"from": f"now-{interval}"}) == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("interval", "366d", "spec.interval: must be at most 365d (8760h, 525600m, 31536000s)"),
        ("interval", "8761h", "spec.interval: must be at most 365d"),
        ("interval", "31536001s", "spec.interval: must be at most 365d"),
        ("interval", "99999999999d", "spec.interval: must be at most 365d"),
        ("interval", "9" * 30 + "s", "spec.interval: must be at most 365d"),
        ("interval", "9" * 40 + "s", "spec.interval: String should have at most 32 characters"),
        ("from", "now-366d", "spec.from: must be at most now-365d (now-8760h, now-525600m,"),
        ("from", "now-99999999999d", "spec.from: must be at most now-365d"),
        ("maxSignals", 10001, "spec.maxSignals: Input should be less than or equal to 10000"),
        ("maxSignals", 0, "spec.maxSignals: Input should be greater than or equal to 1"),
        ("version", 2**31, "spec.version: Input should be less than or equal to 2147483647"),
        ("riskScore", 101, "spec.riskScore: Input should be less than or equal to 100"),
    ],
)
def test_values_past_a_bound_are_errors_of_their_field(
    field: str, value: object, expected: str
) -> None:
    (found,) = problems(**{field: value})
    assert found.startswith(expected)


def _rule(interval: str, lookback: str) -> compiler.CompiledRule:
    outcome = compiler.compile_rule("r", {**BASE, "interval": interval, "from": lookback})
    assert outcome.rule is not None
    return outcome.rule


@pytest.mark.parametrize(
    "at",
    [
        datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC),
        datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=datetime.UTC),
        datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
        datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC),
        datetime.datetime(9998, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
    ],
    ids=str,
)
def test_the_longest_durations_are_safe_near_the_epoch_and_far_in_the_future(
    at: datetime.datetime,
) -> None:
    rule = _rule("365d", "now-365d")
    limiter = limits.Limiter()
    assert limiter.admit(rule, at.timestamp())
    start = limiter.current["r"].interval_start
    assert start <= at < start + rule.interval
    assert at - rule.lookback < at < at + rule.lookback


def test_the_crd_carries_the_bounds() -> None:
    crd = yaml.safe_load((CRDS / "detectionrules.audithound.io.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]["properties"]
    for field, prefix in (("interval", ""), ("from", "now-")):
        assert spec[field]["maxLength"] == rule_api.DURATION_MAX_LENGTH
        (check,) = spec[field]["x-kubernetes-validations"]
        assert check["message"].startswith(f"must be at most {prefix}365d")
        assert str(rule_api.MAX_DURATION_SECONDS) in check["rule"]
        assert "365d" in spec[field]["description"]
    assert (spec["maxSignals"]["minimum"], spec["maxSignals"]["maximum"]) == (1, 10000)
    assert (spec["riskScore"]["minimum"], spec["riskScore"]["maximum"]) == (0, 100)
    assert (spec["version"]["minimum"], spec["version"]["maximum"]) == (1, 2**31 - 1)
