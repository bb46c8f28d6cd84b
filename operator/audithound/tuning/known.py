"""What every cluster allows by default, so that alerts about it are expected, not found.

Fed by: ``advice``, with a tuple's identity class, verb and request path. Feeds: ``advice``,
which proposes an exception for such a tuple even when it raised a single alert, and says
why and what a future attacker could hide behind it.

Kubernetes' default RBAC binds the ClusterRole ``system:public-info-viewer`` to
``system:authenticated`` and ``system:unauthenticated``: ``get`` on ``/healthz``, ``/livez``,
``/readyz``, ``/version`` and ``/version/`` (exact paths; a query string does not change the
path RBAC sees). Since Kubernetes 1.14 the discovery paths (``/api``, ``/apis``) are granted
to authenticated users only (``system:discovery``), so an anonymous request allowed there
points to a binding someone added: it is never proposed as expected.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from audithound.tuning import dimensions

PUBLIC_INFO_PATHS: Final = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})


@dataclasses.dataclass(frozen=True)
class Known:
    """Why a tuple is expected, and what hiding it costs."""

    why: str
    caution: str


def explain(identity: str | None, verb: str | None, path: str | None) -> Known | None:
    """Why requests of this identity class, verb and path are allowed by default, if they are."""
    if identity != dimensions.ANONYMOUS or verb != "get" or path not in PUBLIC_INFO_PATHS:
        return None
    if path.startswith("/version"):
        caution = (
            "a probe of /version is reconnaissance too: it tells a scanner which exploits "
            "fit this API server; keeping the API server off untrusted networks is the fix"
        )
    else:
        caution = (
            "an anonymous health probe also confirms that the API server answers from "
            "the prober's network"
        )
    return Known(
        why=(
            f"every cluster grants get {path} to anonymous users by default "
            '(ClusterRoleBinding "system:public-info-viewer")'
        ),
        caution=caution,
    )
