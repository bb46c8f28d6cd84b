"""Golden files: each raw event in golden/ becomes exactly the Elastic document beside it.

Run with AUDITHOUND_UPDATE_GOLDEN=1 to rewrite the expected files from the code, then review
the diff before keeping it: the expected files are the specification, not a snapshot.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import orjson

from audithound.normalize import view

UPDATE = os.environ.get("AUDITHOUND_UPDATE_GOLDEN") == "1"


def test_document_matches_golden_file(
    golden_dir: pathlib.Path, golden_case: str, golden_raw: dict[str, Any]
) -> None:
    expected_path = golden_dir / f"{golden_case}.expected.json"
    document = view.document(golden_raw)
    if UPDATE:
        rendered = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
        expected_path.write_text(rendered + "\n", encoding="utf-8")
    assert document == orjson.loads(expected_path.read_bytes())


def test_every_golden_input_has_an_expected_document(golden_dir: pathlib.Path) -> None:
    inputs = {path.name.removesuffix(".input.json") for path in golden_dir.glob("*.input.json")}
    expected = {
        path.name.removesuffix(".expected.json") for path in golden_dir.glob("*.expected.json")
    }
    assert inputs == expected
    assert len(inputs) >= 9
