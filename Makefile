# AuditHound developer commands. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SOURCES := operator tests bench

.PHONY: quickstart install test lint typecheck unit crds fields bench clean

NATIVE := native/screen
$(VENV)/.installed: pyproject.toml $(NATIVE)/Cargo.toml $(NATIVE)/Cargo.lock $(NATIVE)/src/lib.rs
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[test]'
	# The native screen (Rust, built by maturin with cargo; README "Tests").
	$(BIN)/pip install --quiet ./$(NATIVE)
	touch $@

install: $(VENV)/.installed

## quickstart: install, then scan the example audit log with the built-in seed rule
## (`make demo`, in make/cluster.mk, does the same with the operator on a local control plane)
quickstart: install
	$(BIN)/audithound scan examples/audit/sample-audit.log

## test: lint, type-check, layer contracts, then every test (the control-plane tests build
## kube-apiserver and etcd on first use, cached in ~/.cache/audithound)
test: lint typecheck unit

lint: install
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

## crds: regenerate crds/ from the pydantic models
crds: install
	$(BIN)/audithound crds --write crds

## fields: print the field table that README.md embeds
fields: install
	$(BIN)/audithound fields

## bench: the throughput benchmark (events/s, peak memory)
bench: install
	$(PY) bench/run.py

include make/cluster.mk
cluster-binaries: install

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(NATIVE)/target
