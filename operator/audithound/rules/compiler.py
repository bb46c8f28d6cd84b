"""A DetectionRule becomes a compiled rule, or the list of every problem that stops it.

Fed by: a rule resource as a plain dict (from YAML or from the Kubernetes watch). Feeds: the
rule set (``rules.ruleset``) that ``evaluate`` runs per event, and the problems that
``rules check`` prints and the operator writes into the rule's status.

Parse once, compile once: the query (KQL, or EQL for ``type: eql``) is parsed, checked and
generated here, so the per-event path does no parsing and no field-path work. Compiling never
raises: a rule that cannot run is an outcome with errors, never an exception in the caller (a
kopf handler, the operator's start-up, ``rules check``).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pydantic

from audithound.api import rule as rule_api
from audithound.eql import analysis as eql_analysis
from audithound.eql import errors as eql_errors
from audithound.eql import lowering as eql_lowering
from audithound.eql import nodes as eql_nodes
from audithound.eql import parser as eql_parser
from audithound.eql import verify as eql_verify
from audithound.kql import analysis, codegen, compiler, errors, nodes, parser, typed
from audithound.normalize import catalogue, view
from audithound.rules import exceptions
from audithound.rules import problems as rule_problems

#: One access object for every rule: it holds no per-event state.
_ACCESS = view.AuditEventAccess()

#: Longest exception text kept in a problem's message: status messages are cut at 1,000
#: characters, and an exception's text can hold a whole query.
ERROR_TEXT_LIMIT = 300


def duration(text: str) -> datetime.timedelta:
    """``5m`` -> 5 minutes; ``now-6m`` -> 6 minutes (the schema has checked form and bound)."""
    return datetime.timedelta(seconds=rule_api.seconds(text))


@dataclasses.dataclass(frozen=True, eq=False)
class CompiledRule:
    """A rule ready to run: its spec, its parsed query, what it reads.

    The query runs only inside a rule set (``rules.ruleset``): one generated function for all
    rules, the one engine of every entry point.
    """

    name: str
    generation: int | None
    spec: rule_api.DetectionRuleSpec
    #: The query for the rule set's generated code (``rules.ruleset``): a KQL tree, or an EQL
    #: query lowered by itself (for a sequence, true where any step or ``until`` matches).
    query: codegen.Query
    fields: tuple[str, ...]
    #: Fields that must hold one of these exact values for the query to match (rule index).
    required: Mapping[str, frozenset[str]]
    #: Exception items (its own, then its exception lists'): a match one holds for is excepted.
    exceptions: tuple[exceptions.Item, ...] = ()
    #: An EQL rule's parsed query (its detector runs a sequence's steps); None for KQL.
    eql: eql_nodes.Query | None = None

    @property
    def rule_id(self) -> str:
        return self.spec.rule_id or self.name

    @property
    def display_name(self) -> str:
        return self.spec.display_name or self.name

    @functools.cached_property
    def interval(self) -> datetime.timedelta:
        # Cached: the limits read it for every alert, and the spec never changes.
        return duration(self.spec.interval)

    @property
    def lookback(self) -> datetime.timedelta:
        return duration(self.spec.from_)

    @property
    def history_window(self) -> datetime.timedelta | None:
        """How far back a new_terms rule remembers terms (None for other types)."""
        start = self.spec.history_window_start
        return duration(start) if start is not None else None

    @property
    def reach(self) -> datetime.timedelta:
        """How far back the rule looks: its history window, else its look-back."""
        return max(self.lookback, self.history_window or datetime.timedelta())


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of compiling one rule: the rule when it can run, and every problem."""

    name: str
    rule: CompiledRule | None
    problems: tuple[rule_problems.Problem, ...]

    @property
    def errors(self) -> list[rule_problems.Problem]:
        return [problem for problem in self.problems if problem.is_error]

    @property
    def warnings(self) -> list[rule_problems.Problem]:
        return [problem for problem in self.problems if not problem.is_error]


#: JSON's names of the types a spec value can have, for "should be a valid integer, not a
#: boolean" (the API server names them so too).
_JSON_TYPES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _spec_problems(error: pydantic.ValidationError) -> list[rule_problems.Problem]:
    found = []
    for item in error.errors():
        path = "spec" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]
        )
        message = item["msg"]
        if item["type"].endswith("_type") and type(item["input"]) in _JSON_TYPES:
            message += f", not {_JSON_TYPES[type(item['input'])]}"
        found.append(rule_problems.Problem("error", message, path=path))
    return found


def _query_warnings(
    spec: rule_api.DetectionRuleSpec,
    read: Iterable[tuple[str, int, int]],
    costly: Iterable[analysis.Warning] = (),
) -> list[rule_problems.Problem]:
    """Warnings on fields no audit document has (``read``: the query's fields with their
    positions), on ``costly`` constructs, and on a risk score outside its severity's band."""
    found = []
    for field, line, column in read:
        if not catalogue.is_known(field):
            found.append(
                rule_problems.Problem(
                    "warning",
                    f"unknown field {field!r}: no Kubernetes audit document has it, so it "
                    "never matches (exists checks are always false)",
                    path="spec.query",
                    line=line,
                    column=column,
                    excerpt=errors.excerpt(spec.query, line, column),
                )
            )
    for warning in costly:
        found.append(
            rule_problems.Problem(
                "warning",
                warning.message,
                path="spec.query",
                line=warning.line,
                column=warning.column,
                excerpt=errors.excerpt(spec.query, warning.line, warning.column),
            )
        )
    low, high = rule_api.RISK_BANDS[spec.severity]
    if not low <= spec.risk_score <= high:
        found.append(
            rule_problems.Problem(
                "warning",
                f"riskScore {spec.risk_score} is outside the {spec.severity} band "
                f"{low}-{high} (Elastic's bands)",
                path="spec.riskScore",
            )
        )
    return found


def compile_rule(
    name: str,
    spec: Mapping[str, Any],
    generation: int | None = None,
    library: exceptions.Library = exceptions.EMPTY,
) -> Outcome:
    """Validate a rule's spec and compile its query; collect every problem at once.

    Never raises (short of ``KeyboardInterrupt``): whatever goes wrong with one rule becomes
    that rule's error, with the field path and, when known, the position in the query, so the
    rule is Invalid and every other rule runs (a raising compiler once failed the operator's
    start-up for all rules).
    """
    try:
        model = rule_api.DetectionRuleSpec.model_validate(spec)
    except pydantic.ValidationError as error:
        return Outcome(name, None, tuple(_spec_problems(error)))
    except Exception as error:
        return Outcome(name, None, (_unexpected("the spec could not be validated", error),))
    if model.language == "eql":
        return _compile_eql(name, generation, model, library)
    try:
        tree = parser.parse(model.query)
    except errors.KqlSyntaxError as error:
        return Outcome(name, None, (_query_error(model.query, error),))
    except Exception as error:
        return Outcome(name, None, (_unexpected("the query could not be parsed", error),))
    built = _exceptions(name, model, library)
    if isinstance(built, Outcome):
        return built
    items, excepting = built
    try:
        compiled = _compile(name, generation, model, tree, items)
        warned = _query_warnings(model, analysis.fields(tree), analysis.warnings(tree))
        found = [*warned, *excepting]
    except errors.KqlQueryError as error:
        # A query Elasticsearch refuses on these field types: the rule's error, at the value.
        return Outcome(name, None, (_query_error(model.query, error),))
    except Exception as error:
        problem = _unexpected("the query could not be compiled", error)
        position = _failing_position(tree)
        if position is not None:
            line, column = position
            excerpt = errors.excerpt(model.query, line, column)
            problem = dataclasses.replace(problem, line=line, column=column, excerpt=excerpt)
        return Outcome(name, None, (problem,))
    return Outcome(name, compiled, tuple(found))


def _exceptions(
    name: str, model: rule_api.DetectionRuleSpec, library: exceptions.Library
) -> tuple[tuple[exceptions.Item, ...], list[rule_problems.Problem]] | Outcome:
    """The rule's exception items and their warnings, or the outcome that they stop it."""
    try:
        items, excepting = exceptions.build(
            model.exceptions, model.exceptions_list, library, _ACCESS
        )
    except Exception as error:
        return Outcome(name, None, (_unexpected("the exceptions could not be built", error),))
    if any(problem.is_error for problem in excepting):
        return Outcome(name, None, tuple(excepting))
    return items, excepting


def _compile_eql(
    name: str,
    generation: int | None,
    model: rule_api.DetectionRuleSpec,
    library: exceptions.Library,
) -> Outcome:
    """An EQL rule: parsed, checked (every type error at once), lowered into the rule set's
    function like KQL; a sequence's steps also go to its detector (``detectors.kinds``)."""
    try:
        tree = eql_parser.parse(model.query)
    except eql_errors.EqlSyntaxError as error:
        return Outcome(name, None, (_query_error(model.query, error),))
    except Exception as error:
        return Outcome(name, None, (_unexpected("the query could not be parsed", error),))
    refused = [*eql_verify.problems(tree), *_unsupported(tree)]
    if refused:
        return Outcome(name, None, tuple(_query_error(model.query, error) for error in refused))
    built = _exceptions(name, model, library)
    if isinstance(built, Outcome):
        return built
    items, excepting = built
    read = list(eql_analysis.fields(tree))
    try:
        lowered = eql_lowering.Lowered(eql_analysis.event_queries(tree), _ACCESS)
        # Generated alone first, as a KQL rule is: nothing in it can fail the shared function.
        codegen.generate([(lowered, None, name)], _ACCESS)
    except eql_errors.EqlTypeError as error:
        return Outcome(name, None, (_query_error(model.query, error),))
    except Exception as error:
        return Outcome(name, None, (_unexpected("the query could not be compiled", error),))
    compiled = CompiledRule(
        name=name,
        generation=generation,
        spec=model,
        query=lowered,
        exceptions=items,
        fields=tuple(dict.fromkeys(field for field, _, _ in read)),
        required=_index_values(eql_analysis.required_values(tree)),
        eql=tree,
    )
    return Outcome(name, compiled, (*_query_warnings(model, read), *excepting))


def _unsupported(tree: eql_nodes.Query) -> list[eql_errors.EqlTypeError]:
    """What Elasticsearch runs and this engine does not, or refuses as Elasticsearch does."""
    if not isinstance(tree, eql_nodes.Sequence):
        return []
    found = [
        eql_errors.EqlTypeError(
            "missing-event steps ![...] are not supported yet", step.line, step.column
        )
        for step in tree.steps
        if step.missing
    ]
    counts = {len(step.by) for step in tree.steps}
    if len(counts) > 1:
        step = tree.steps[0]
        found.append(
            eql_errors.EqlTypeError(
                "every step of a sequence joins on the same number of keys "
                f"(found {sorted(len(tree.by) + count for count in counts)})",
                step.line,
                step.column,
            )
        )
    elif tree.until is not None and counts != {0}:
        found.append(
            eql_errors.EqlTypeError(
                "'until' joins on the sequence's keys only: put the steps' keys in "
                "'sequence by ...'",
                tree.until.line,
                tree.until.column,
            )
        )
    return found


def _index_values(required: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Required values that may index the rule: exact strings say nothing of a typed field
    (``10.0.0.1`` also matches ``::ffff:10.0.0.1``, a date covers a span)."""
    return {
        field: values
        for field, values in required.items()
        if not typed.refuses_values(_ACCESS.kind(field))
    }


def _compile(
    name: str,
    generation: int | None,
    model: rule_api.DetectionRuleSpec,
    tree: nodes.Node,
    items: tuple[exceptions.Item, ...],
) -> CompiledRule:
    compiled = CompiledRule(
        name=name,
        generation=generation,
        spec=model,
        query=tree,
        exceptions=items,
        fields=tuple(dict.fromkeys(field for field, _, _ in analysis.fields(tree))),
        required=_index_values(analysis.required_values(tree)),
    )
    # The rule set runs every rule in one generated function (``rules.ruleset``): generating
    # this rule's part alone here means that nothing in it can fail the function all rules share.
    codegen.generate([(tree, None, name)], _ACCESS)
    return compiled


def _query_error(
    query: str, error: errors.QuerySyntaxError | errors.PositionedError
) -> rule_problems.Problem:
    """A query that cannot run, as the rule's error at the line and column the error names."""
    return rule_problems.Problem(
        "error",
        error.message,
        path="spec.query",
        line=error.line,
        column=error.column,
        excerpt=errors.excerpt(query, error.line, error.column),
    )


def _unexpected(what: str, error: Exception) -> rule_problems.Problem:
    """An error no check foresaw: named with its type, cut to :data:`ERROR_TEXT_LIMIT`."""
    text = f"{type(error).__name__}: {error}"
    if len(text) > ERROR_TEXT_LIMIT:
        text = text[: ERROR_TEXT_LIMIT - 3] + "..."
    path = (
        "spec"
        if what.startswith("the spec")
        else "spec.exceptions"
        if what.startswith("the exceptions")
        else "spec.query"
    )
    return rule_problems.Problem(
        "error", f"{what} ({text}); this is a bug in AuditHound, please report it", path=path
    )


def _conditions(tree: nodes.Node) -> Iterator[nodes.Node]:
    """The conditions under the ``and``/``or``/``not`` of a query, in source order."""
    stack = [tree]
    while stack:
        node = stack.pop()
        match node:
            case nodes.Or(children) | nodes.And(children):
                stack.extend(reversed(children))
            case nodes.Not(child):
                stack.append(child)
            case _:
                yield node


def _failing_position(tree: nodes.Node) -> tuple[int, int] | None:
    """Where the first condition that fails to compile on its own starts, if one does."""
    for node in _conditions(tree):
        try:
            compiler.compile_condition(node, _ACCESS)
        except Exception:
            match node:
                case nodes.FreeText(value):
                    return value.line, value.column
                case nodes.Match(line=line, column=column) | nodes.Range(line=line, column=column):
                    return line, column
                case nodes.Nested(line=line, column=column):
                    return line, column
                case _:  # not a condition: the tree itself is broken, no position to give
                    return None
    return None
