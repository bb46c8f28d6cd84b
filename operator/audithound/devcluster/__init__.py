"""A local Kubernetes control plane (etcd + kube-apiserver with audit logging) for tests.

`build` compiles the pinned binaries into a cache outside the repository, `certs` writes the
PKI, `controlplane` starts and stops the processes, `crds` installs CustomResourceDefinitions,
`client` talks HTTPS to the server, `pytest_plugin` offers the session fixture, and
`__main__` is the CLI behind `make cluster` (`python -m audithound.devcluster --help`).
"""
