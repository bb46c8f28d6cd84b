"""``audithound scan``: finished inputs through the pipeline, one process or several.

Fed by: the inputs named on the command line (files, ``-`` for stdin) and a pipeline with its
sink. Feeds: that pipeline, with every event that matches some rule, and the read
statistics the summary prints.

Each input is read in one process (``source.files``) or, when large enough, by forked workers
(``parallel``); either way the pipeline's evaluator matches, and the pipeline's detectors see
the matches in input order. With stateful rules (new_terms, threshold) and several inputs,
the inputs' matches are merged by event time, so the logs of several API servers give one
cluster-wide answer; without them, inputs are read one after the other, in the order given.
"""

from __future__ import annotations

import datetime
import heapq
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from audithound import parallel, pipeline
from audithound.rules import compiler
from audithound.source import decode, files

#: One match of one input: its time key, the event, the rules it matched.
_Match = tuple[float, Mapping[str, Any], list[compiler.CompiledRule]]


def scan(scan: pipeline.Pipeline, inputs: Iterable[str], stats: files.ReadStats, jobs: int) -> None:
    """Run every event of ``inputs`` through ``scan`` (delivering as it goes)."""
    paths = list(inputs)
    if _merging(scan, paths):
        _detect(scan, matches(scan, paths, stats, jobs))
        return
    screen = scan.evaluator.screen()
    for path in paths:
        if parallel.worth_it(path, jobs):
            _detect(scan, parallel.matches(scan, path, stats, jobs, screen))
        else:
            scan.run(files.read([path], stats, screen=screen))


def matches(
    scan: pipeline.Pipeline, inputs: Iterable[str], stats: files.ReadStats, jobs: int
) -> Iterator[tuple[Mapping[str, Any], list[compiler.CompiledRule]]]:
    """Every event of ``inputs`` that matched some rule of ``scan``, with those rules, in the
    order its detectors must see them (what :func:`scan` feeds them; ``tune`` drives the
    pipeline with it to know which event completed each alert)."""
    paths = list(inputs)
    screen = scan.evaluator.screen()
    if not _merging(scan, paths):
        for path in paths:
            yield from _matches(scan, path, stats, jobs, screen)
        return
    # Read side by side, each input counts apart; summed in the order given, so the
    # summary's examples do not depend on how the reads interleaved.
    each = [files.ReadStats() for _ in paths]
    streams = [
        _timed(_matches(scan, path, mine, jobs, screen))
        for path, mine in zip(paths, each, strict=True)
    ]
    yield from _merged(streams)
    for mine in each:
        stats.merge(mine)


def _merging(scan: pipeline.Pipeline, paths: list[str]) -> bool:
    """Several inputs and a stateful rule: matches are merged by event time."""
    return len(paths) > 1 and any(rule.spec.type != "query" for rule in scan.rules.rules)


def _matches(
    scan: pipeline.Pipeline,
    path: str,
    stats: files.ReadStats,
    jobs: int,
    screen: decode.Screen | None,
) -> Iterator[tuple[Mapping[str, Any], list[compiler.CompiledRule]]]:
    if parallel.worth_it(path, jobs):
        yield from parallel.matches(scan, path, stats, jobs, screen)
        return
    evaluate = scan.evaluator.evaluate
    for _, _, event in files.read([path], stats, screen=screen):
        matched = evaluate(event)
        if matched:
            yield event, matched


def _timed(
    found: Iterator[tuple[Mapping[str, Any], list[compiler.CompiledRule]]],
) -> Iterator[_Match]:
    """Matches keyed by event time; an event without one keeps the key of the one before, so
    an input's own order stands."""
    key = float("-inf")
    for event, rules in found:
        moment = decode.event_time(event)
        if moment is not None:
            key = moment.timestamp()
        yield key, event, rules


def _merged(streams: list[Iterator[_Match]]) -> Iterator[tuple[Mapping[str, Any], list[Any]]]:
    """The inputs' matches in event-time order (each input's own order where times tie)."""
    for _, event, rules in heapq.merge(*streams, key=lambda match: match[0]):
        yield event, rules


def _detect(
    scan: pipeline.Pipeline,
    found: Iterable[tuple[Mapping[str, Any], list[compiler.CompiledRule]]],
) -> None:
    detect = scan.detect
    for event, rules in found:
        detect(event, rules)
        if scan.pending():
            scan.deliver()


def alerts_from(text: str) -> datetime.datetime:
    """``--alerts-from``: an RFC 3339 time (UTC when it has no offset)."""
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
