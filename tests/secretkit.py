"""Secrets in audit events, and rules that match them, for the tests of "secrets stay out".

Fed by: a test's nonce (what makes its secrets its own). Feeds: ``tests/cli`` (a crafted log
at level RequestResponse) and ``tests/operator`` (the same secrets sent to a real API server
that logs bodies). Every secret starts with :data:`PREFIX` and ends with the nonce; the rules
match on the prefix, so a match depends on the secret itself while no rule text holds one.
A test then looks for the secrets, and for the base64 form a Secret's ``data`` gives them,
in everything the program wrote (:meth:`Secrets.leaks`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from typing import Any

PREFIX = "hound-secret-"
#: ``PREFIX`` as it starts a Secret's ``data`` value ("hound-secret" is 12 bytes: whole
#: base64 groups, so the encoding of what follows does not change it).
B64_PREFIX = base64.b64encode(PREFIX[:12].encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclasses.dataclass(frozen=True)
class Secrets:
    """One test's secrets: a Secret's ``stringData`` and ``data`` values, a ConfigMap's
    password, a Pod's env value, tokens in a query string (``access_token``, ``token``), a
    bearer token in a user agent, an impersonated user's extra value, and for crafted logs a
    minted token and the credential id of its requests."""

    nonce: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:16])

    def _of(self, what: str) -> str:
        return f"{PREFIX}{what}-{self.nonce}"

    @property
    def password(self) -> str:
        return self._of("password")

    @property
    def api_key(self) -> str:
        return self._of("api-key")

    @property
    def configmap(self) -> str:
        return self._of("configmap")

    @property
    def env(self) -> str:
        return self._of("env")

    @property
    def access_token(self) -> str:
        return self._of("access-token")

    @property
    def query_token(self) -> str:
        return self._of("query-token")

    @property
    def bearer(self) -> str:
        return self._of("bearer")

    @property
    def impersonated(self) -> str:
        return self._of("impersonated")

    @property
    def jwt(self) -> str:
        """A service account token as a TokenRequest returns it (a JWT)."""
        claims = base64.urlsafe_b64encode(json.dumps({"jti": self.nonce}).encode()).decode()
        return f"eyJhbGciOiJSUzI1NiJ9.{claims.rstrip('=')}.{self.nonce}signature"

    @property
    def credential_id(self) -> str:
        """The credential id a ServiceAccount token's requests carry in ``user.extra``."""
        return f"JTI={uuid.UUID(hex=self.nonce * 2)}"

    def agent(self) -> str:
        """A user agent with an Authorization header pasted in, as a script may send it."""
        return f"deploy-script/1.0 (Authorization: Bearer {self.bearer})"

    def all(self) -> tuple[str, ...]:
        return (
            self.password,
            self.api_key,
            self.configmap,
            self.env,
            self.access_token,
            self.query_token,
            self.bearer,
            self.impersonated,
            self.jwt,
            self.credential_id,
        )

    def leaks(self, written: str, *others: str) -> list[str]:
        """Which secrets (or their base64 forms, or ``others``: tokens the API server minted)
        ``written`` holds; the nonce alone counts too."""
        forms = [*self.all(), *map(b64, self.all()), *others]
        found = [form for form in forms if form in written]
        if self.nonce in written:
            found.append(f"the nonce {self.nonce}")
        return found


def rules(namespace: str, user: str) -> list[dict[str, Any]]:
    """DetectionRules that match each secret of :class:`Secrets` in ``namespace``: query
    rules on the body fields, the URI, the user agent and the user's extra attributes, a
    new_terms rule on a Secret's value and on a credential id, threshold rules grouped by
    a Secret's value and by the user agent, and a rule suppressing by a Secret's value.
    ``user`` is the identity whose token has a credential id (a ServiceAccount of the
    namespace)."""
    in_namespace = f"kubernetes.audit.objectRef.namespace:{namespace}"
    of_user = f'user.name:"{user}"'
    credential = "kubernetes.audit.user.extra.authentication.kubernetes.io/credential-id"
    queries = {
        # The API server logs a Secret's stringData merged into data, as base64.
        "secret-request": f"kubernetes.audit.requestObject.data.password:{B64_PREFIX}*",
        "secret-response": f"kubernetes.audit.responseObject.data.password:{B64_PREFIX}*",
        "configmap": f"kubernetes.audit.requestObject.data.password:{PREFIX}*",
        "pod-env": (
            "kubernetes.audit.requestObject.spec.containers:"
            f"{{ env.name:DB_PASSWORD and env.value:{PREFIX}* }}"
        ),
        "uri": f"kubernetes.audit.requestURI:*{PREFIX}*",
        "agent": f"user_agent.original:*Bearer*{PREFIX}*",
        "token-request": "kubernetes.audit.responseObject.status.token:eyJ*",
        "impersonated": f"kubernetes.audit.impersonatedUser.extra.token:{PREFIX}*",
    }
    return [
        *(
            _rule(f"query-{name}", f"({query}) and {in_namespace}")
            for name, query in queries.items()
        ),
        _rule("query-credential-id", f"{credential}:JTI=* and {of_user}"),
        _rule(
            "new-password",
            f"kubernetes.audit.objectRef.resource:secrets and {in_namespace}",
            type="new_terms",
            newTermsFields=["kubernetes.audit.requestObject.data.password"],
            historyWindowStart="now-1d",
        ),
        _rule(
            "new-credential-id",
            of_user,
            type="new_terms",
            newTermsFields=[credential],
            historyWindowStart="now-1d",
        ),
        _rule(
            "password-reads",
            f"kubernetes.audit.responseObject.data.password:* and {in_namespace}",
            type="threshold",
            threshold={"field": ["kubernetes.audit.responseObject.data.password"], "value": 2},
        ),
        _rule(
            "suppressed-by-password",
            f"kubernetes.audit.requestObject.data.password:* and {in_namespace}",
            alertSuppression={
                "groupBy": ["kubernetes.audit.requestObject.data.password", "user_agent.original"],
                "duration": {"value": 1, "unit": "h"},
            },
        ),
        _rule(
            "agent-burst",
            f"user_agent.original:*Bearer* and {in_namespace}",
            type="threshold",
            threshold={"field": ["user_agent.original"], "value": 2},
        ),
    ]


def rule_names(namespace: str) -> list[str]:
    return [rule["metadata"]["name"] for rule in rules(namespace, "nobody")]


def _rule(name: str, query: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "audithound.io/v1alpha1",
        "kind": "DetectionRule",
        "metadata": {"name": name},
        "spec": {"query": query, "severity": "high", "riskScore": 73, "from": "now-1h", **spec},
    }


def dumps(value: Any) -> str:
    """``value`` as JSON text, non-ASCII as written (a secret must not hide in escapes)."""
    return json.dumps(value, ensure_ascii=False)
