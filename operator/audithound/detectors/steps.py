"""An EQL sequence's steps as the sequence detector's stages.

Fed by: a compiled EQL rule's sequence (``rules.compiler``). Feeds: ``detectors.kinds``, which
gives the stages to :class:`~audithound.detectors.sequence.SequenceDetector`.

A step's query runs as the evaluator's predicate (the rule set's generated function has
already said that some step matched the event; which one is asked here, of those few events).
``with runs=N`` is the step written N times, as Elasticsearch expands it. A step's join values
are the sequence's ``by`` fields then its own, read as every other field is; a field missing
(or null) gives no key, and such an event never joins (Elasticsearch filters such events out,
elastic/elasticsearch#78195), unless the field is optional (``?field``): then missing joins
with missing, as there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from audithound.detectors import sequence
from audithound.eql import evaluate, nodes
from audithound.normalize import view

_ACCESS = view.AuditEventAccess()


def stages(tree: nodes.Sequence) -> list[sequence.Stage]:
    """One stage per step and run, in order."""
    return [
        _stage(step.query, (*tree.by, *step.by)) for step in tree.steps for _ in range(step.runs)
    ]


def until(tree: nodes.Sequence) -> sequence.Stage | None:
    """The ``until`` query's stage, joined on the sequence's keys."""
    return None if tree.until is None else _stage(tree.until, tree.by)


def key_names(tree: nodes.Sequence) -> tuple[str, ...]:
    """The names the join values are shown under: the sequence's, then the first step's."""
    return tuple(field.name for field in (*tree.by, *tree.steps[0].by))


def maxspan(tree: nodes.Sequence) -> float | None:
    """``with maxspan=D`` in seconds; None without one."""
    return None if tree.maxspan is None else tree.maxspan.milliseconds / 1000


def _stage(query: nodes.EventQuery, by: Sequence[nodes.Field]) -> sequence.Stage:
    return sequence.Stage(evaluate.compile_event(query, _ACCESS), _keys(by))


def _keys(by: Sequence[nodes.Field]) -> Callable[[Mapping[str, Any]], tuple[Any, ...] | None]:
    getters = tuple((_ACCESS.values(field.name), field.optional) for field in by)

    def keys(event: Mapping[str, Any]) -> tuple[Any, ...] | None:
        found: list[Any] = []
        for get, optional in getters:
            values = get(event)
            if not values:
                if not optional:
                    return None
                found.append(None)  # ``?field``: missing joins with missing
                continue
            # An array joins as a whole (Elasticsearch joins once per value: a limit).
            found.append(values[0] if len(values) == 1 else tuple(values))
        return tuple(found)

    return keys
