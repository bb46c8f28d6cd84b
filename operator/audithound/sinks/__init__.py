"""Sinks: where alerts go (JSON lines, a terminal table, the Kubernetes API)."""
