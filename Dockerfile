# The AuditHound operator image: `audithound run`, tailing the audit log of its node.
# Build: docker build -t audithound:0.1.0 .
# Stage 1 builds wheels for the project and its pinned dependencies (requirements.lock);
# stage 2 installs only those wheels, offline, into a slim image without build tools.
FROM python:3.11-slim-bookworm AS build
# The native screen (native/screen) is Rust: its wheel is built with the toolchain of the
# official Rust image.
COPY --from=rust:1-slim-bookworm /usr/local/cargo /usr/local/cargo
COPY --from=rust:1-slim-bookworm /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY operator ./operator
COPY examples ./examples
COPY manifests/api-server ./manifests/api-server
COPY native/screen ./native/screen
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint requirements.lock . ./native/screen

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="audithound" \
      org.opencontainers.image.description="Elastic-compatible KQL detection rules over Kubernetes audit logs, as an operator" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/audithound"
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels audithound audithound-screen \
    && rm -rf /wheels \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin audithound
# Non-root by default. The DaemonSet runs it as uid 0 with every capability dropped, because
# the API server writes its audit log as root with mode 0600 (see manifests/base/daemonset.yaml).
USER 10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8080 9090
ENTRYPOINT ["audithound", "run"]
