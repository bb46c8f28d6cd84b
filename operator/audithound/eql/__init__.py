"""EQL, Elasticsearch's Event Query Language, on its own: it knows nothing of Kubernetes."""
