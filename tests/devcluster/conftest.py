"""Fixtures for the control-plane tests: a directory holding one tiny CRD.

`control_plane` and `audit_log` come from audithound.devcluster.pytest_plugin, which
tests/conftest.py registers with `pytest_plugins` for every test folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def crd_dir(tmp_path: Path) -> Path:
    """A directory holding one namespaced CRD, widgets.example.audithound.io."""
    (tmp_path / "widgets.yaml").write_text(
        """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.audithound.io
spec:
  group: example.audithound.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {size: {type: integer}}}
"""
    )
    return tmp_path
