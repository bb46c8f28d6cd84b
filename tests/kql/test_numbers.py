"""Numbers of any length in a query compile and answer as Elasticsearch reads them: as text
against strings (a keyword), as the number JSON decoding holds against numbers; the compiler
and the generated rule-set function agree."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from audithound.kql import analysis, codegen, compiler, documents, parser

JSON = documents.JsonFieldAccess()

#: Past Python's int/str conversion limit (4,300 digits): this raised in the compiler.
HUGE = "1" * 4301
BIG = "123456789012345678901234567890"  # beyond 64 bits: orjson reads it as a float


def doc(raw: str) -> Any:
    """A document as the audit reader decodes it (orjson)."""
    return orjson.loads(raw)


CASES = [
    (f"s:{HUGE}", doc(f'{{"s": "{HUGE}"}}'), True),
    (f's:"{HUGE}"', doc(f'{{"s": "{HUGE}"}}'), True),
    (f"s:{HUGE}", doc(f'{{"s": "{HUGE}1"}}'), False),
    (f"n:{HUGE}", doc('{"n": 200}'), False),
    (f"n:{HUGE}", doc('{"n": 1.7e308}'), False),
    (f"n < {HUGE}", doc('{"n": 200}'), True),
    (f"n < {HUGE}", doc('{"n": 1.7e308}'), True),
    (f"n > {HUGE}", doc('{"n": 1.7e308}'), False),
    (f"n > -{HUGE}", doc('{"n": -1.7e308}'), True),
    (f"n < {HUGE}", doc(f'{{"n": "{HUGE}"}}'), False),
    (f"n:{BIG}", doc(f'{{"n": {BIG}}}'), True),
    (f"n:{BIG}", doc(f'{{"n": "{BIG}"}}'), True),
    (f"n:{BIG}1", doc(f'{{"n": {BIG}}}'), False),
    ("n:18446744073709551615", doc('{"n": 18446744073709551615}'), True),
    ("n:18446744073709551614", doc('{"n": 18446744073709551615}'), False),
    ("n:-9223372036854775808", doc('{"n": -9223372036854775808}'), True),
    ("n:" + "0" * 5000 + "12", doc('{"n": 12}'), True),
    ("n:" + "0" * 5000 + "12", doc('{"n": "12"}'), False),
]


@pytest.mark.parametrize(("query", "document", "expected"), CASES, ids=lambda v: str(v)[:30])
def test_numbers_of_any_length_answer_as_elasticsearch_reads_them(
    query: str, document: Any, expected: bool
) -> None:
    tree = parser.parse(query)
    assert compiler.compile_query(tree, JSON)(document) is expected
    assert codegen.generate([(tree, None, query)], JSON)(document, []) == (
        [query] if expected else []
    )


def test_a_huge_number_is_a_number_bound_and_requires_no_string() -> None:
    assert analysis.warnings(parser.parse(f"n > {HUGE}")) == []
    assert analysis.required_values(parser.parse(f"n:{HUGE}")) == {}
