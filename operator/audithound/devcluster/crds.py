"""Install CustomResourceDefinitions from a directory and wait until they are Established.

Fed by a directory of YAML or JSON manifests (the repository's `crds/`, or a test's own)
and an admin `client.ApiClient`; feeds tests and the demo, which create custom resources
right after. Uses server-side apply, as `kubectl apply --server-side` does, so applying the
same directory again is a no-op and large CRDs never hit the last-applied annotation limit.
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from audithound.devcluster import client

FIELD_MANAGER = "audithound-devcluster"
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_SUFFIXES = (".yaml", ".yml", ".json")


class CrdError(RuntimeError):
    """A manifest is not a CRD, the server refused it, or it never became Established."""


def load_manifests(directory: Path) -> list[dict[str, Any]]:
    """Every CRD document in `directory`, files in name order; anything else is an error.

    A `kustomization.yaml` (crds/ has one, for manifests/) is not a manifest: it is skipped.
    """
    documents: list[dict[str, Any]] = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
                kind = document.get("kind") if isinstance(document, dict) else type(document)
                raise CrdError(f"{path}: expected kind CustomResourceDefinition, found {kind}")
            documents.append(document)
    return documents


def install(api: client.ApiClient, directory: Path, timeout: float = 30.0) -> list[str]:
    """Apply every CRD in `directory` and wait for Established; returns their names."""
    names = []
    query = urllib.parse.urlencode({"fieldManager": FIELD_MANAGER, "force": "true"})
    for manifest in load_manifests(directory):
        name = manifest["metadata"]["name"]
        reply = api.request(
            "PATCH",
            f"{_CRD_PATH}/{name}?{query}",
            manifest,
            content_type="application/apply-patch+yaml",
        )
        if reply.status not in (200, 201):
            raise CrdError(f"Applying CRD {name} failed with {reply.status}: {reply.body}")
        names.append(name)
    for name in names:
        wait_established(api, name, timeout)
    return names


def wait_established(api: client.ApiClient, name: str, timeout: float = 30.0) -> None:
    """Poll CRD `name` until its Established condition is True."""
    deadline = time.monotonic() + timeout
    while True:
        reply = api.get(f"{_CRD_PATH}/{name}")
        if reply.status == 200:
            # Right after creation the API server reports `"conditions": null`.
            status = reply.json_body().get("status") or {}
            conditions = status.get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return
        if time.monotonic() > deadline:
            raise CrdError(f"CRD {name} was not Established within {timeout:g}s: {reply.body}")
        time.sleep(0.1)
