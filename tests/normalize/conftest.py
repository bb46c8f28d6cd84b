"""Fixtures of the normalization tests: the golden cases (one raw event -> its document).

A test that takes ``golden_case`` runs once per case in golden/.
"""

from __future__ import annotations

import pathlib
from typing import Any

import orjson
import pytest

GOLDEN = pathlib.Path(__file__).parent / "golden"
CASES = sorted(path.name.removesuffix(".input.json") for path in GOLDEN.glob("*.input.json"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "golden_case" in metafunc.fixturenames:
        metafunc.parametrize("golden_case", CASES)


@pytest.fixture
def golden_dir() -> pathlib.Path:
    return GOLDEN


@pytest.fixture
def golden_raw(golden_case: str) -> dict[str, Any]:
    """The raw event of the golden case."""
    raw = orjson.loads((GOLDEN / f"{golden_case}.input.json").read_bytes())
    assert isinstance(raw, dict)
    return raw
