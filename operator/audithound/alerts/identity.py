"""The name of an alert, derived from (rule, auditID, stage).

Fed by: a matched rule and event. Feeds: every sink. The same match always gets the same
name, so a replay after a crash, an overlapping look-back or a second reader of the same
log creates nothing new: the API server answers 409 and the sink counts a duplicate.
"""

from __future__ import annotations

import hashlib

#: Kubernetes object names are DNS subdomains of at most 253 characters.
_MAX_NAME = 253
_DIGEST_CHARS = 20


def alert_name(rule_name: str, audit_id: str, stage: str) -> str:
    """``<rule>-<20 hex digits>``: readable in ``kubectl get``, unique per (rule, event, stage)."""
    digest = hashlib.sha256(f"{rule_name}\0{audit_id}\0{stage}".encode()).hexdigest()
    prefix = rule_name[: _MAX_NAME - _DIGEST_CHARS - 1].rstrip("-.")
    return f"{prefix}-{digest[:_DIGEST_CHARS]}"
