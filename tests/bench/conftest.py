"""Fixtures for the bench rules' tests: the generator script, a small generated log, the rules.

``bench/generate.py`` is a script, not part of the package, so it is loaded from its file.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType
from typing import Any

import pytest

from audithound.rules import compiler, loader

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Large enough for every technique to come up at least once (one per 50 events, 30 rules).
SMALL_LOG_EVENTS = 2000


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve annotations through sys.modules, so register before running it.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="session")
def labelled_events(generator: ModuleType) -> list[tuple[str, dict[str, Any]]]:
    """A small log's events, each with the scenario that produced it."""
    return list(generator.labelled(SMALL_LOG_EVENTS))


@pytest.fixture(scope="session")
def bench_rules() -> loader.Loaded:
    return loader.load([str(ROOT / "bench" / "rules")])


@pytest.fixture(scope="session")
def compiled_rules(bench_rules: loader.Loaded) -> list[compiler.CompiledRule]:
    return bench_rules.rules
