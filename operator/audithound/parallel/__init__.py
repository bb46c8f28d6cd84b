"""A large audit log scanned by several processes, with the answers of one.

Fed by: ``scanner``, with a pipeline whose rules are compiled and a JSON-lines file (plain,
not gzip; :func:`audithound.source.files.is_json_lines`). Feeds: ``scanner``, with the matched
events in file order, which it hands to the pipeline's detectors; the read statistics; and
the pipeline's match counts, which absorb each worker's.

Parsing and rule evaluation are pure CPU work per line, and one Python process runs on one
core. Here worker processes each read a line-aligned piece of the file (about
:data:`PIECE_BYTES`) and evaluate it with an evaluator of their own (the same code, and so the
same counts, as the parent's); only the events that matched some rule come back. The parent
takes the pieces in file order and yields each match, so the detectors, maxSignals, duplicate
suppression, the sink's output and the summary are exactly those of a scan in one process.
Memory stays flat: a few pieces are in flight at a time.

Workers are forked after the rules were compiled, so they inherit the compiled rule set
(closures and generated code cannot be pickled); only file ranges go out, and matched
events, rule names and counts come back. Where ``fork`` is not available the scan stays in
one process. A worker reads its piece line by line (``files.read_range``), so its memory
holds one line, whatever the piece holds. A worker that dies (killed, out of memory), even
halfway through sending a result, is noticed at once (:mod:`audithound.parallel.crew`, whose
docstring says why the standard library's pool is not used): the parent says so on stderr and
reads the pieces not yet taken itself, so the scan ends with the same answers, only slower.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
import sys
from collections.abc import Iterator
from typing import Any, Final

from audithound import evaluate, pipeline
from audithound.parallel import crew
from audithound.rules import compiler, ruleset
from audithound.source import decode, files

#: Bytes per piece: large enough that handing out a piece and its trip back are small next
#: to parsing it (4 MiB is some 4,000 events, tens of milliseconds), small enough that the
#: pieces in flight (:data:`PIECES_AHEAD_PER_JOB`) keep memory flat even when every event
#: matches.
PIECE_BYTES: Final = 4 * 1024 * 1024

#: Pieces handed out ahead of the one the parent waits for, per worker.
PIECES_AHEAD_PER_JOB: Final = 2

#: Past this share of events matching, the rest of the file is scanned in the parent: the
#: parent makes every alert, and an event costs it more to receive than to evaluate, so a
#: hunting query that matches most events is no faster in parallel (it was slower).
MAX_MATCHED_SHARE: Final = 0.2

#: Files smaller than this are scanned in one process: starting workers costs more than
#: they would save.
MIN_FILE_BYTES: Final = 32 * 1024 * 1024


def default_jobs() -> int:
    """Worker processes for ``scan``: one per CPU this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worth_it(path: str, jobs: int) -> bool:
    """Whether ``path`` is read faster by ``jobs`` processes than by one."""
    if jobs < 2 or path == "-" or "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        big = os.path.getsize(path) >= MIN_FILE_BYTES
    except OSError:
        return False
    return big and files.is_json_lines(path)


@dataclasses.dataclass
class _Piece:
    """What a worker found in one piece: statistics, matched events with the names of the
    rules they matched, and its evaluator's counts (matches and failures per rule)."""

    stats: files.ReadStats
    matched: list[tuple[Any, list[str]]]
    matches: collections.Counter[str]
    failures: collections.Counter[str]


# The rule set the workers use and the readers' screen (it counts nothing, so the parent's
# serves), set before they are forked (see the module's docstring).
_RULES: ruleset.RuleSet | None = None
_SCREEN: decode.Screen | None = None


def _scan_piece(job: tuple[str, int, int]) -> _Piece:
    path, start, end = job
    assert _RULES is not None, "workers are forked after the rules are set"
    evaluator = evaluate.Evaluator(_RULES)
    evaluate_ = evaluator.evaluate
    stats = files.ReadStats()
    matched: list[tuple[Any, list[str]]] = []
    for _, _, event in files.read_range(path, path, start, end, stats, screen=_SCREEN):
        hits = evaluate_(event)
        if hits:
            matched.append((event, [rule.name for rule in hits]))
    return _Piece(stats, matched, evaluator.matches, evaluator.failures)


class _Parent:
    """Takes the pieces' results in file order, as one process would have met them."""

    def __init__(self, scan: pipeline.Pipeline, stats: files.ReadStats) -> None:
        self.scan = scan
        self.stats = stats
        self.events = 0
        self.matched = 0

    def take(self, piece: _Piece) -> Iterator[tuple[Any, list[compiler.CompiledRule]]]:
        self.stats.add(piece.stats)
        evaluator = self.scan.evaluator
        evaluator.absorb(piece.matches, piece.failures)
        by_name = evaluator.rules.by_name
        for event, names in piece.matched:
            yield event, [by_name[name] for name in names]
        self.events += piece.stats.events
        self.matched += len(piece.matched)

    def crowded(self) -> bool:
        """Whether so many events match that the parent is the bottleneck."""
        return self.matched > MAX_MATCHED_SHARE * max(self.events, 1)


def matches(
    scan: pipeline.Pipeline,
    path: str,
    stats: files.ReadStats,
    jobs: int,
    screen: decode.Screen | None = None,
) -> Iterator[tuple[Any, list[compiler.CompiledRule]]]:
    """The events of ``path`` that match some rule of ``scan``, with the rules they match, in
    file order, found by ``jobs`` processes; read statistics and match counts go where
    ``files.read([path], stats, screen=screen)`` and ``scan.evaluator`` would have put them."""
    global _RULES, _SCREEN
    _RULES = scan.evaluator.rules
    _SCREEN = screen
    mine = files.ReadStats()  # this input's lines count from its own first line
    parent = _Parent(scan, mine)
    mine.files += 1
    ranges = files.line_ranges(path, PIECE_BYTES)
    taken = 0  # pieces whose results the parent took, in file order
    sent = 0  # pieces handed to the workers
    try:
        with crew.Crew(jobs, _scan_piece) as workers:
            try:
                # A few pieces ahead, no more: results must not pile up in memory.
                while taken < len(ranges):
                    while sent < len(ranges) and sent - taken < PIECES_AHEAD_PER_JOB * jobs:
                        if parent.crowded():
                            break
                        workers.send(sent, (path, *ranges[sent]))
                        sent += 1
                    if taken == sent:
                        break  # crowded: the parent reads on itself
                    piece = workers.receive(taken)
                    taken += 1
                    yield from parent.take(piece)
            except crew.Lost as lost:
                print(
                    f"audithound: a worker process of scan --jobs {jobs} {lost}; {path} is "
                    f"read on from byte {ranges[taken][0]:,} by the scan itself, nothing is "
                    "lost",
                    file=sys.stderr,
                )
    finally:
        _RULES = _SCREEN = None
    evaluate_ = scan.evaluator.evaluate
    for start, end in ranges[taken:]:  # when most events match, or a worker was lost
        piece_stats = files.ReadStats()
        read = files.read_range(path, path, start, end, piece_stats, screen=screen)
        for _, _, event in read:
            hits = evaluate_(event)
            if hits:
                yield event, hits
        mine.add(piece_stats)
    stats.merge(mine)
