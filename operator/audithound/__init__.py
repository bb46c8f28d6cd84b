"""AuditHound: Elastic-compatible detection rules over Kubernetes API server audit logs."""

__version__ = "0.1.0"
