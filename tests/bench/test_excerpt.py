"""The native excerpt is the Python one on every event of the benchmark's log (its URIs,
selectors and exec argv are what the hunting query's alerts show)."""

from __future__ import annotations

from typing import Any

from tests.alerts.test_native_excerpt import same


def test_every_event_of_the_benchmarks_log_gets_the_python_excerpt(
    labelled_events: list[tuple[str, dict[str, Any]]],
) -> None:
    for _, event in labelled_events:
        same(event)
