"""DetectionException resources become the shared lists rules compile against, with problems.

Fed by: DetectionException specs by name (YAML documents in ``--rules`` paths, or the
operator's watch). Feeds: :class:`audithound.rules.exceptions.Library`, which
``compiler.compile_rule`` resolves ``exceptionsList`` references and ``list`` entries in, and
the problems that ``rules check`` prints and the operator writes into the resource's status.

A resource is valid when its spec passes the schema, each value list's id is unique within
it and its values are of its type (``ip``: addresses or CIDR blocks, as Elasticsearch's
``terms`` query on an ip field takes them; ``ip_range``: CIDR blocks, addresses and
``first-last`` ranges), and each item builds (entries of their type, values of their
field's type, value lists that exist). An invalid resource is left out of the library, so
the rules that reference it say so (not Ready) instead of running with half of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pydantic

from audithound.api import exceptions as api
from audithound.kql import ips
from audithound.normalize import view
from audithound.rules import exceptions
from audithound.rules import problems as rule_problems

_ACCESS = view.AuditEventAccess()

#: Status reasons of a DetectionException's Ready condition.
VALID = "Valid"
LISTS_INVALID = "ListsInvalid"


@dataclasses.dataclass(frozen=True)
class Checked:
    """One DetectionException: its spec when valid, and every problem found."""

    name: str
    spec: api.DetectionExceptionSpec | None
    problems: tuple[rule_problems.Problem, ...]

    @property
    def errors(self) -> list[rule_problems.Problem]:
        return [problem for problem in self.problems if problem.is_error]


def build(specs: Mapping[str, Any]) -> tuple[exceptions.Library, dict[str, Checked]]:
    """The library of every valid DetectionException of ``specs`` (raw specs by name), and
    what was found in each."""
    parsed: dict[str, api.DetectionExceptionSpec] = {}
    checked: dict[str, Checked] = {}
    for name, raw in specs.items():
        spec, found = _parse(raw)
        if spec is None:
            checked[name] = Checked(name, None, tuple(found))
            continue
        found += _values(spec)
        if any(problem.is_error for problem in found):
            checked[name] = Checked(name, None, tuple(found))
            continue
        parsed[name] = spec
        checked[name] = Checked(name, spec, tuple(found))
    # Items are built against every valid list: a list entry may name another resource's list.
    candidates = exceptions.Library(parsed)
    for name in parsed:
        _, found = exceptions.build(
            (), [api.ExceptionListReference(name=name)], candidates, _ACCESS
        )
        if any(problem.is_error for problem in found):
            problems = [
                dataclasses.replace(problem, path="spec.items", reason="")
                for problem in found
                if problem.is_error
            ]
            checked[name] = Checked(name, None, (*checked[name].problems, *problems))
    invalid = {name: _summary(entry) for name, entry in checked.items() if entry.spec is None}
    valid = {name: spec for name, spec in parsed.items() if name not in invalid}
    return exceptions.Library(valid, invalid), checked


def _summary(checked: Checked) -> str:
    first = checked.errors[0]
    more = len(checked.errors) - 1
    return first.short() + (f" (and {more} more)" if more else "")


def _parse(raw: Any) -> tuple[api.DetectionExceptionSpec | None, list[rule_problems.Problem]]:
    if not isinstance(raw, Mapping):
        return None, [rule_problems.Problem("error", "spec is missing or not a mapping", "spec")]
    try:
        return api.DetectionExceptionSpec.model_validate(raw), []
    except pydantic.ValidationError as error:
        return None, [
            rule_problems.Problem("error", item["msg"], path=_path(item["loc"]))
            for item in error.errors()
        ]


def _path(loc: tuple[int | str, ...]) -> str:
    return "spec" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _values(spec: api.DetectionExceptionSpec) -> list[rule_problems.Problem]:
    found = []
    seen: set[str] = set()
    for position, value_list in enumerate(spec.value_lists):
        path = f"spec.valueLists[{position}]"
        if value_list.id in seen:
            found.append(
                rule_problems.Problem(
                    "error", f"value list id {value_list.id} is used twice", path=f"{path}.id"
                )
            )
        seen.add(value_list.id)
        for index, value in enumerate(value_list.values):
            problem = _bad_value(value_list.type, value)
            if problem:
                found.append(
                    rule_problems.Problem("error", problem, path=f"{path}.values[{index}]")
                )
                break  # one per list: a wrong type makes every value wrong
    return found


def _bad_value(kind: api.ValueListType, value: str) -> str | None:
    if kind == "keyword":
        return None
    if ips.address(value) is not None or ips.network(value) is not None:
        return None
    if kind == "ip":
        return f"{value!r} is not an IP address or CIDR network"
    first, dash, last = value.partition("-")
    if dash and ips.address(first.strip()) is not None and ips.address(last.strip()) is not None:
        return None
    return f"{value!r} is not an IP address, CIDR network or first-last range"


def users(name: str, rule_specs: Mapping[str, Any], checked: Checked) -> list[str]:
    """The rules (raw specs by name) that reference the DetectionException ``name``, by its
    name or by the id of one of its value lists."""
    ids = {value_list.id for value_list in checked.spec.value_lists} if checked.spec else set()
    found = []
    for rule, spec in sorted(rule_specs.items()):
        if not isinstance(spec, Mapping):
            continue
        references = spec.get("exceptionsList") or []
        named = any(isinstance(ref, Mapping) and ref.get("name") == name for ref in references)
        if named or (
            ids and any(f"'{list_id}'" in repr(spec.get("exceptions")) for list_id in ids)
        ):
            found.append(rule)
    return found
