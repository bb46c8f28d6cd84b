"""Exception items and value lists as pydantic models, in the shape of Kibana's.

Fed by: a DetectionRule's ``spec.exceptions`` and the DetectionException resource (YAML files
or the Kubernetes watch). Feeds: ``rules.exceptions``, which checks each entry against its
type and compiles the items into the test that silences a rule's matches, and
``api.crdgen``, which writes the DetectionException CRD from these classes.

An item is Kibana's exception item (``name``, ``description``, ``entries``); an entry is
``{field, type, operator, value}``, ``{field, type: list, operator, list: {id, type}}`` or
``{field, type: nested, entries}``, so that an item exported from Elastic carries over with
its keys in camelCase. Which keys an entry needs depends on its type; that check, and the
check of values against the field's type, is ``rules.exceptions``'s, which reports the exact
path of what is wrong (``spec.exceptions[2].entries[0].value``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic

from audithound.api import common

#: A document field name, as in queries.
FieldName = Annotated[str, pydantic.Field(min_length=1, max_length=256)]

EntryType = Literal["match", "match_any", "wildcard", "exists", "list", "nested"]
NestedEntryType = Literal["match", "match_any", "exists"]
Operator = Literal["included", "excluded"]
ValueListType = Literal["keyword", "ip", "ip_range"]

#: Longest value of an entry or a value list: longer than any path, name or address.
VALUE_MAX_LENGTH = 4096
#: Most values of a ``match_any`` entry (Kibana's UI takes a few hundred; larger sets belong
#: in a value list).
MATCH_ANY_MAX_ITEMS = 1000
#: Most values of one value list. etcd keeps an object under 1.5 MiB, which holds about this
#: many addresses; Kibana moves lists past 65,536 values out of the search, we keep them in.
VALUE_LIST_MAX_ITEMS = 50000
#: Most exception items of a rule or an exception list, and entries of an item.
ITEMS_MAX = 1000
ENTRIES_MAX = 100

#: ``value``: a string (match, wildcard) or a list of strings (match_any), as in Kibana. A
#: structural schema cannot type a field as either, so the CRD leaves it open and the operator
#: checks it by the entry's type.
EntryValue = Annotated[
    str | list[str] | None,
    pydantic.WithJsonSchema(
        {
            "x-kubernetes-preserve-unknown-fields": True,
            "description": "match and wildcard: a string; match_any: a list of strings; "
            "exists, list and nested take none.",
        }
    ),
]


class ValueListReference(common.StrictModel):
    """Which value list a ``list`` entry tests: Kibana's ``list: {id, type}``."""

    id: str = pydantic.Field(
        min_length=1, max_length=256, description="The value list's id (valueLists[].id)."
    )
    type: ValueListType = pydantic.Field(description="The value list's type.")


class NestedEntry(common.StrictModel):
    """An entry inside a ``nested`` entry: its field is relative to the nested field."""

    field: FieldName
    type: NestedEntryType
    operator: Operator = pydantic.Field(
        default="included", description="excluded negates the entry."
    )
    value: EntryValue = None


class Entry(common.StrictModel):
    """One condition of an exception item; the item holds when all its entries hold."""

    field: FieldName = pydantic.Field(description="The document field (user.name ...).")
    type: EntryType = pydantic.Field(
        description="match (is), match_any (is one of), wildcard (matches, * and ?), exists, "
        "list (is in a value list), nested (entries on one element of an array of objects)."
    )
    operator: Operator = pydantic.Field(
        default="included",
        description="excluded negates the entry: 'is not', true when the field is missing.",
    )
    value: EntryValue = None
    list_: ValueListReference | None = pydantic.Field(
        default=None, alias="list", description="list: the value list tested."
    )
    entries: list[NestedEntry] | None = pydantic.Field(
        default=None,
        max_length=ENTRIES_MAX,
        description="nested: the entries that must hold on one element of the field.",
    )


class ExceptionItem(common.StrictModel):
    """Kibana's exception item: matches that meet every entry raise no alert."""

    name: str = pydantic.Field(min_length=1, max_length=256, description="What it excepts.")
    description: str = pydantic.Field(
        default="", max_length=4096, description="Why, and what it also hides."
    )
    item_id: str | None = pydantic.Field(
        default=None, max_length=256, description="Kibana's item_id, kept for reference."
    )
    tags: list[str] = pydantic.Field(default_factory=list)
    entries: list[Entry] = pydantic.Field(
        min_length=1, max_length=ENTRIES_MAX, description="Conditions, all of which must hold."
    )


class ExceptionListReference(common.StrictModel):
    """A rule's reference to the items of a DetectionException (Kibana's exceptions_list)."""

    name: str = pydantic.Field(
        min_length=1, max_length=253, description="The DetectionException's metadata.name."
    )
    optional: bool = pydantic.Field(
        default=False,
        description="Whether the rule runs without the list while it does not exist (false: "
        "the rule is not Ready until it does).",
    )


class ValueList(common.StrictModel):
    """Kibana's value list: values that ``list`` entries test a field against."""

    id: str = pydantic.Field(min_length=1, max_length=256, description="Cluster-wide id.")
    type: ValueListType = pydantic.Field(
        description="keyword (exact strings), ip (addresses), ip_range (CIDR blocks and "
        "first-last ranges, 10.0.0.1-10.0.0.9)."
    )
    description: str = pydantic.Field(default="", max_length=4096)
    values: list[Annotated[str, pydantic.Field(min_length=1, max_length=VALUE_MAX_LENGTH)]] = (
        pydantic.Field(max_length=VALUE_LIST_MAX_ITEMS, description="The list's values.")
    )


class DetectionExceptionSpec(common.StrictModel):
    """Shared tuning: exception items that rules reference by name, and value lists."""

    description: str = pydantic.Field(default="", description="What this list is for.")
    items: list[ExceptionItem] = pydantic.Field(
        default_factory=list,
        max_length=ITEMS_MAX,
        description="Exception items of every rule that lists this resource in exceptionsList.",
    )
    value_lists: list[ValueList] = pydantic.Field(
        default_factory=list,
        max_length=100,
        description="Value lists that list entries of any rule refer to by id.",
    )


class DetectionExceptionStatus(common.Model):
    """Whether the lists are valid and who uses them. Written only by the operator."""

    model_config = pydantic.ConfigDict(extra="ignore")

    observed_generation: int | None = None
    conditions: list[common.Condition] = pydantic.Field(
        default_factory=list,
        description="Ready: True when every item and value list is valid (reason Valid).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    items: int = pydantic.Field(default=0, description="Exception items.")
    values: int = pydantic.Field(default=0, description="Values over all value lists.")
    rules: list[str] = pydantic.Field(
        default_factory=list, description="DetectionRules that use these items or lists."
    )
    kopf: dict[str, object] | None = pydantic.Field(
        default=None,
        description="The operator framework's own bookkeeping.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class DetectionException(common.Resource):
    """Exception items and value lists shared by DetectionRules."""

    api_version: Literal["audithound.io/v1alpha1"] = "audithound.io/v1alpha1"
    kind: Literal["DetectionException"] = "DetectionException"
    spec: DetectionExceptionSpec
    status: DetectionExceptionStatus | None = None
