"""Shared test helpers: where the repository's examples are."""

from __future__ import annotations

import pathlib

import pytest

pytest_plugins = ["audithound.devcluster.pytest_plugin"]

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> pathlib.Path:
    return ROOT
