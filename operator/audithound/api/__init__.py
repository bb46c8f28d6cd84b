"""The custom resources of audithound.io as pydantic models, and their CRD generator."""
