# Local control plane (etcd + kube-apiserver with audit logging), included by the Makefile.
# The binaries are built once from Go modules into ${AUDITHOUND_CACHE:-~/.cache/audithound};
# `cluster` runs both in the background from $(CLUSTER_DIR) (git-ignored) until `cluster-down`.
# The venv's interpreter, which has audithound installed (the Makefile's PYTHON is the
# system one that creates the venv). Add `cluster-binaries: install` in the Makefile.
CLUSTER_PYTHON ?= .venv/bin/python
CLUSTER_DIR ?= .cluster
# MiB before the audit log rotates; the tests' own control plane uses 1.
CLUSTER_AUDIT_MAXSIZE ?= 100

.PHONY: cluster-binaries cluster cluster-down cluster-status demo

cluster-binaries:
	$(CLUSTER_PYTHON) -m audithound.devcluster build

# Kubeconfig: $(CLUSTER_DIR)/kubeconfig; audit log: $(CLUSTER_DIR)/audit/audit.log.
cluster: cluster-binaries
	$(CLUSTER_PYTHON) -m audithound.devcluster up --dir $(CLUSTER_DIR) \
		--audit-maxsize $(CLUSTER_AUDIT_MAXSIZE) --crds crds

cluster-down:
	$(CLUSTER_PYTHON) -m audithound.devcluster.demo down --dir $(CLUSTER_DIR)
	$(CLUSTER_PYTHON) -m audithound.devcluster down --dir $(CLUSTER_DIR)

# The operator on the local control plane: seed rule, anonymous requests, alerts listed.
demo: cluster-binaries
	$(CLUSTER_PYTHON) -m audithound.devcluster status --dir $(CLUSTER_DIR) >/dev/null 2>&1 \
		|| $(MAKE) --no-print-directory cluster
	$(CLUSTER_PYTHON) -m audithound.devcluster.demo up --dir $(CLUSTER_DIR)

cluster-status:
	$(CLUSTER_PYTHON) -m audithound.devcluster status --dir $(CLUSTER_DIR)
