"""Alerts: a rule match becomes an alert with a deterministic name, evidence and limits."""
