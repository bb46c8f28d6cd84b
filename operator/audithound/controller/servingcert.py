"""The metrics endpoint's TLS certificate: the one given (``--metrics-cert-dir``) or a
self-signed one.

Fed by: the settings. Feeds: the metrics server, which asks for the current server-side
``SSLContext`` on each connection. A given certificate (``tls.crt`` and ``tls.key``, the
layout of a Secret that cert-manager writes) is read again when its files change, so a
renewal needs no restart; without one, a self-signed ECDSA certificate is made at start in a
private temporary directory and lives as long as the process.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import pathlib
import ssl
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import oid

LOG = logging.getLogger("audithound.controller.servingcert")

#: How long a self-signed certificate is valid (unit: days); the process rarely lives a year.
SELF_SIGNED_DAYS = 365
#: Seconds between looks at whether a given certificate's files changed.
RELOAD_CHECK = 10.0
COMMON_NAME = "audithound-metrics"


def self_signed(directory: pathlib.Path, names: list[str]) -> tuple[pathlib.Path, pathlib.Path]:
    """Write a self-signed certificate for ``names`` (DNS names or IP addresses) and its key
    into ``directory``; returns (certificate, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, COMMON_NAME)])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _context(cert: pathlib.Path, key: pathlib.Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


class ServingCert:
    """The current server-side TLS context; thread-safe."""

    def __init__(self, cert_dir: pathlib.Path | None, names: list[str]) -> None:
        if cert_dir is None:
            private = pathlib.Path(tempfile.mkdtemp(prefix="audithound-metrics-"))
            self._cert, self._key = self_signed(private, names)
            self._watch = False
        else:
            self._cert, self._key = cert_dir / "tls.crt", cert_dir / "tls.key"
            self._watch = True
        self._lock = threading.Lock()
        self._stamp = self._files_stamp()
        self._checked = time.monotonic()
        self._current = _context(self._cert, self._key)

    @property
    def self_signed(self) -> bool:
        return not self._watch

    def context(self) -> ssl.SSLContext:
        """The context to accept a connection with; re-read if the files changed."""
        with self._lock:
            if self._watch and time.monotonic() - self._checked >= RELOAD_CHECK:
                self._checked = time.monotonic()
                # A missing or half-written pair fails: the previous one serves meanwhile.
                try:
                    stamp = self._files_stamp()
                    if stamp != self._stamp:
                        self._current = _context(self._cert, self._key)
                        self._stamp = stamp
                        LOG.info("Reloaded metrics certificate", extra={"path": str(self._cert)})
                except (OSError, ssl.SSLError) as error:
                    LOG.warning(
                        "Kept the previous metrics certificate",
                        extra={"path": str(self._cert), "error": str(error)},
                    )
            return self._current

    def _files_stamp(self) -> tuple[int, ...]:
        # A Secret volume swaps a symlinked directory: look at the files it points to.
        return tuple(
            os.stat(path).st_mtime_ns for path in (self._cert.resolve(), self._key.resolve())
        )
