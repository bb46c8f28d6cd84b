"""Hypothesis strategies for the EQL tests: any tree the parser could produce.

Used by the round trip ``parse(render(t)) == t``: weird names, strings and categories
included; numbers never negative (``-1`` is a sign of ``1``), as the parser builds them.
"""

from __future__ import annotations

from hypothesis import strategies as st

from audithound.eql import nodes, parser

_NAMES = st.one_of(
    st.from_regex(r"[A-Za-z_@][A-Za-z0-9_]{0,5}", fullmatch=True),
    st.text(min_size=1, max_size=6),
)
fields = st.builds(nodes.Field, st.lists(_NAMES, min_size=1, max_size=3).map(tuple), st.booleans())
strings = st.builds(nodes.String, st.text(max_size=8))
numbers = st.builds(
    nodes.Number,
    st.one_of(
        st.integers(min_value=0, max_value=2**63 - 1),
        st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    ),
)
constants: st.SearchStrategy[nodes.Constant] = st.one_of(
    st.builds(nodes.Null), st.builds(nodes.Boolean, st.booleans()), numbers, strings
)
leaves: st.SearchStrategy[nodes.Expression] = st.one_of(constants, fields)


def _branches(inner: st.SearchStrategy[nodes.Expression]) -> st.SearchStrategy[nodes.Expression]:
    several = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(nodes.Or, several),
        st.builds(nodes.And, several),
        st.builds(nodes.Not, inner),
        st.builds(nodes.Comparison, st.sampled_from(nodes.COMPARE_OPS), inner, inner),
        st.builds(nodes.Arithmetic, st.sampled_from(nodes.ARITHMETIC_OPS), inner, inner),
        st.builds(nodes.Sign, st.sampled_from(("+", "-")), inner),
        st.builds(
            nodes.Membership,
            inner,
            st.lists(inner, min_size=1, max_size=3).map(tuple),
            st.booleans(),
            st.booleans(),
        ),
        st.builds(
            nodes.PatternMatch,
            inner,
            st.sampled_from(nodes.PATTERN_KINDS),
            st.lists(constants, min_size=1, max_size=3).map(tuple),
        ),
        st.builds(
            nodes.Call,
            st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
                lambda name: name not in parser.KEYWORDS
            ),
            st.lists(inner, max_size=3).map(tuple),
            st.booleans(),
        ),
    )


expressions = st.recursive(leaves, _branches, max_leaves=12)
categories = st.one_of(st.none(), st.text(min_size=1, max_size=6))
event_queries = st.builds(nodes.EventQuery, categories, expressions)
durations = st.builds(
    nodes.Duration,
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(("ms", "s", "m", "h", "d")),
)
steps = st.builds(
    nodes.Step,
    event_queries,
    st.lists(fields, max_size=2).map(tuple),
    st.integers(min_value=nodes.MIN_RUNS, max_value=nodes.MAX_RUNS),
    st.just(False),
)


@st.composite
def sequences(draw: st.DrawFn) -> nodes.Sequence:
    """A sequence the parser accepts: missing steps only with maxspan and a positive step."""
    chosen = draw(st.lists(steps, min_size=2, max_size=4))
    maxspan = draw(st.one_of(st.none(), durations))
    if maxspan is not None:
        missing = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
        missing[0] = False
        chosen = [
            nodes.Step(step.query, step.by, step.runs, flag)
            for step, flag in zip(chosen, missing, strict=True)
        ]
    by = draw(st.lists(fields, max_size=2).map(tuple))
    until = draw(st.one_of(st.none(), event_queries))
    return nodes.Sequence(tuple(chosen), by, maxspan, until)


queries: st.SearchStrategy[nodes.Query] = st.one_of(event_queries, sequences())
