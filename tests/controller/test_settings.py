"""Settings of the metrics endpoint and of retention: safe defaults, loud refusals."""

from __future__ import annotations

import argparse

import pydantic
import pytest

from audithound.controller import settings


def parse(*argv: str) -> settings.OperatorSettings:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    return settings.from_arguments(parser.parse_args(argv))


def test_metrics_are_authenticated_by_default() -> None:
    default = parse()
    assert (default.metrics, default.metrics_auth, default.metrics_cert_dir) == (
        "0.0.0.0:9090",
        "kubernetes",
        None,
    )


@pytest.mark.parametrize("address", ["127.0.0.1:9090", "[::1]:9090", "localhost:9090"])
def test_open_metrics_are_accepted_on_loopback(address: str) -> None:
    assert parse("--metrics", address, "--metrics-auth", "none").metrics_auth == "none"


@pytest.mark.parametrize("address", ["0.0.0.0:9090", ":9090", "10.0.0.7:9090", "[::]:9090"])
def test_open_metrics_are_refused_anywhere_else(address: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="loopback address"):
        parse("--metrics", address, "--metrics-auth", "none")


@pytest.mark.parametrize("address", ["9090", "host:", "host:http", "host:70000"])
def test_a_malformed_metrics_address_is_refused(address: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="HOST:PORT"):
        parse("--metrics", address)


def test_retention_pages_are_bounded() -> None:
    assert parse().retention_page_size == 500
    assert parse("--retention-page-size", "3").retention_page_size == 3
    with pytest.raises(pydantic.ValidationError):
        parse("--retention-page-size", "0")


@pytest.mark.parametrize("ttl", ["99999999999d", "3651d", "10000000000s"])
def test_an_alert_ttl_that_would_overflow_is_refused(ttl: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="alert_ttl"):
        settings.OperatorSettings(alert_ttl=ttl)


def test_an_alert_ttl_of_ten_years_is_fine() -> None:
    assert settings.OperatorSettings(alert_ttl="3650d").alert_ttl == "3650d"


def test_alert_creations_are_capped_per_minute_by_default() -> None:
    assert parse().max_alert_creations_per_minute == 600
    assert parse("--max-alert-creations-per-minute", "0").max_alert_creations_per_minute == 0
    with pytest.raises(pydantic.ValidationError):
        parse("--max-alert-creations-per-minute", "-1")
