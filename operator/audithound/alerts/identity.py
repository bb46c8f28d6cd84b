"""The name of an alert, derived from its rule and what makes its finding unique.

Fed by: a rule's name and a finding's key (``detectors.findings``): (auditID, stage) for a
query rule, the term for new_terms, the group and its completing event for threshold. Feeds:
every sink. The same finding always gets the same name, so a replay after a crash, an
overlapping look-back or a second reader of the same log creates nothing new: the API server
answers 409 and the sink counts a duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

#: Kubernetes object names are DNS subdomains of at most 253 characters.
_MAX_NAME = 253
_DIGEST_CHARS = 20


def alert_name(rule_name: str, key: Sequence[str]) -> str:
    """``<rule>-<20 hex digits>``: readable in ``kubectl get``, unique per (rule, key).

    For a query rule the key is (auditID, stage), which gives the names alerts always had.
    """
    digest = hashlib.sha256("\0".join((rule_name, *key)).encode()).hexdigest()
    return f"{name_prefix(rule_name)}-{digest[:_DIGEST_CHARS]}"


def name_prefix(rule_name: str) -> str:
    """What the names of a rule's alerts start with, before ``-`` and the digest (the native
    alert, ``alerts.evidence``, hashes the same parts as :func:`alert_name`)."""
    return rule_name[: _MAX_NAME - _DIGEST_CHARS - 1].rstrip("-.")
