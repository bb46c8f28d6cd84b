"""EQL, Elasticsearch's Event Query Language, on its own: it knows nothing of Kubernetes.

``parser.parse`` reads a query (an event query or a sequence) into a tree of ``nodes``;
``verify.problems`` lists what Elasticsearch would refuse in it (``errors.EqlTypeError``);
``evaluate.compile_event`` turns a single-event query into a predicate over documents read
through ``audithound.kql.documents``; ``render`` writes a tree back as text. ``functions``
holds the function reference, ``regex`` runs ``regex``/``regex~`` in linear time (RE2).
Parsing errors are ``errors.EqlSyntaxError``. Sequences are parsed and rendered only.
"""
