"""A minimal HTTPS client for the local kube-apiserver, on the standard library alone.

Fed by `controlplane` (server URL, CA, optional client certificate); feeds readiness checks,
CRD installation and the tests, which need requests with no credentials at all (anonymous)
as well as admin ones. Kept apart from the `kubernetes` package on purpose: an anonymous
request must carry no token and no certificate, and a test should see the raw status code.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Response:
    """Status code and decoded body (JSON when the server sent JSON, else text)."""

    status: int
    body: Any

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object; raises TypeError when it is not one."""
        if not isinstance(self.body, dict):
            raise TypeError(f"Expected a JSON object from the API server, got {self.body!r}")
        return self.body


class ApiClient:
    """Sends requests to one API server with a client cert, a bearer token, or nothing."""

    def __init__(
        self,
        server: str,
        ca_cert: Path,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        timeout: float = 10.0,
        token: str | None = None,
    ) -> None:
        context = ssl.create_default_context(cafile=str(ca_cert))
        if client_cert is not None:
            context.load_cert_chain(
                str(client_cert), None if client_key is None else str(client_key)
            )
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
        self._server = server.rstrip("/")
        self._timeout = timeout
        self._token = token

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        content_type: str = "application/json",
    ) -> Response:
        """Send one request; HTTP error statuses come back as a Response, not an exception."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._server + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if self._token is not None:
            request.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with self._opener.open(request, timeout=self._timeout) as reply:
                return Response(reply.status, _decode(reply.read()))
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, _decode(error.read()))

    def get(self, path: str) -> Response:
        """GET `path`."""
        return self.request("GET", path)


def _decode(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
