"""KQL, the Kibana Query Language, on its own: it knows nothing of Kubernetes.

``parser.parse`` reads a query into a tree of ``nodes``; ``compiler.compile_query`` turns the
tree into a predicate over documents described by a ``documents.FieldAccess``; ``render``
writes a tree back as text; ``analysis`` lists the fields a query reads, its costly
constructs and the values it requires. A field with a type (``FieldAccess.kind``) is compared
by ``typed``, with ``ips`` and ``dates`` (date math reads a ``dates.Clock``). Errors are
``errors.KqlSyntaxError`` (parsing) and ``errors.KqlQueryError`` (a query Elasticsearch
refuses on the fields' types).
"""
