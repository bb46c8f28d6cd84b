"""The ``/metrics`` endpoint: HTTPS for authorised scrapers only, or plain HTTP on loopback.

Fed by: the settings (``--metrics``, ``--metrics-auth``, ``--metrics-cert-dir``), the
collectors of ``controller.metrics``, and the API client for the scraper reviews. Feeds:
Prometheus, through the DaemonSet's metrics Service.

With ``--metrics-auth kubernetes`` (the default) every connection is TLS
(``controller.servingcert``) and every request must pass ``controller.scrapers``: 401
without a valid bearer token, 403 without ``get`` on the non-resource URL ``/metrics``. With
``none`` it is plain HTTP, which the settings accept on a loopback address only. Either way
only ``/metrics`` is served. The server runs in its own threads, one per connection, so a
scrape never waits for the event loop and the TLS handshake of a slow client never holds up
another's.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import wsgiref.simple_server
from collections.abc import Callable, Iterable
from typing import Any

import prometheus_client
from kubernetes import client

from audithound.controller import scrapers, servingcert
from audithound.controller import settings as settings_

LOG = logging.getLogger("audithound.controller.metrics_server")

#: Seconds a connection may take for its TLS handshake and request: slow clients are cut off.
CONNECTION_TIMEOUT = 10.0
PATH = "/metrics"

_REASONS = {
    scrapers.UNAUTHORIZED: "401 Unauthorized",
    scrapers.FORBIDDEN: "403 Forbidden",
    scrapers.UNAVAILABLE: "503 Service Unavailable",
}

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _plain(status: str, text: str, start: Callable[..., Any], extra: list[Any]) -> list[bytes]:
    start(status, [("Content-Type", "text/plain; charset=utf-8"), *extra])
    return [text.encode() + b"\n"]


def _only_metrics(app: Wsgi, gate: scrapers.Gate | None) -> Wsgi:
    def guarded(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != PATH:
            return _plain("404 Not Found", "Not found", start, [])
        if gate is not None:
            status = gate.check(environ.get("HTTP_AUTHORIZATION"), path, environ["REQUEST_METHOD"])
            if status != scrapers.OK:
                extra = [("WWW-Authenticate", "Bearer")] if status == scrapers.UNAUTHORIZED else []
                return _plain(_REASONS[status], _REASONS[status][4:], start, extra)
        return app(environ, start)

    return guarded


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    """No access log on stderr: scrapes are routine."""

    timeout = CONNECTION_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


class _Server(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    cert: servingcert.ServingCert | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # In the connection's own thread: the handshake of one client blocks no other.
        if self.cert is not None:
            request.settimeout(CONNECTION_TIMEOUT)
            request = self.cert.context().wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that fails its handshake or hangs up is its problem, not a traceback.
        LOG.debug("Dropped metrics connection", extra={"client": str(client_address[0])})


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """Serves ``registry`` on the configured address until the process ends."""

    def __init__(
        self,
        settings: settings_.OperatorSettings,
        registry: prometheus_client.CollectorRegistry,
        api: client.ApiClient,
    ) -> None:
        host, port = settings_.split_address(settings.metrics)
        secure = settings.metrics_auth == "kubernetes"
        gate = scrapers.Gate(api) if secure else None
        app = _only_metrics(prometheus_client.make_wsgi_app(registry), gate)
        self._httpd = wsgiref.simple_server.make_server(
            host, port, app, server_class=_Server6 if ":" in host else _Server, handler_class=_Quiet
        )
        assert isinstance(self._httpd, _Server)
        if secure:
            names = ["localhost", "127.0.0.1", settings.node_name, socket.gethostname()]
            self._httpd.cert = servingcert.ServingCert(settings.metrics_cert_dir, names)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics", daemon=True
        )
        self._thread.start()
        LOG.info(
            "Serving metrics",
            extra={
                "address": f"{host}:{self.port}",
                "auth": settings.metrics_auth,
                "tls": "off"
                if not secure
                else "given"
                if settings.metrics_cert_dir
                else "self-signed",
            },
        )
