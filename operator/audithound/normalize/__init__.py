"""Normalize: the Elastic document view of a raw audit event, and the field catalogue."""
