"""Which detector a rule gets, and what its state depends on.

Fed by: compiled rules. Feeds: the pipeline, which creates one detector per active rule and
keeps a rule's detector (and its state) across spec changes only while :func:`state_key`
stays the same.
"""

from __future__ import annotations

import hashlib
import json

from audithound.detectors import base, newterms, query, sequence, steps, threshold
from audithound.eql import nodes as eql_nodes
from audithound.rules import compiler


def create(rule: compiler.CompiledRule, excerpt: threshold.ExcerptOf) -> base.Detector:
    """A fresh detector for ``rule``'s type."""
    spec = rule.spec
    match spec.type:
        case "query":
            return query.QueryDetector()
        case "new_terms":
            assert spec.new_terms_fields is not None and rule.history_window is not None
            return newterms.NewTermsDetector(spec.new_terms_fields, rule.history_window)
        case "threshold":
            assert spec.threshold is not None
            limit = spec.threshold.cardinality[0] if spec.threshold.cardinality else None
            return threshold.ThresholdDetector(
                spec.threshold.field,
                spec.threshold.value,
                rule.lookback,
                excerpt,
                cardinality=(limit.field, limit.value) if limit is not None else None,
            )
        case "eql" if isinstance(rule.eql, eql_nodes.Sequence):
            return sequence.SequenceDetector(
                steps.stages(rule.eql),
                key_names=steps.key_names(rule.eql),
                until=steps.until(rule.eql),
                # Kibana runs a sequence over the look-back window: without a maxspan,
                # a sequence longer than ``from`` is never found there, nor here.
                maxspan=steps.maxspan(rule.eql) or rule.lookback.total_seconds(),
                excerpt=excerpt,
            )
        case "eql":
            return query.QueryDetector()
        case _:
            raise TypeError(f"no detector for rule type {spec.type!r}")


def state_key(rule: compiler.CompiledRule) -> str:
    """A digest of everything a rule's state depends on: its type, query, fields and windows.

    A spec change that keeps the key (severity, description, maxSignals ...) keeps the state;
    any other starts the detector afresh.
    """
    spec = rule.spec
    parts: dict[str, object] = {"type": spec.type, "query": spec.query}
    match spec.type:
        case "new_terms":
            parts |= {"fields": spec.new_terms_fields, "history": spec.history_window_start}
        case "threshold":
            assert spec.threshold is not None
            parts |= {"threshold": spec.threshold.model_dump(mode="json"), "window": spec.from_}
        case "eql" if isinstance(rule.eql, eql_nodes.Sequence) and rule.eql.maxspan is None:
            parts |= {"window": spec.from_}
        case _:
            pass
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
