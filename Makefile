# The two commands of the quick start are `make up` and `make test`; each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(CURDIR)/.data
STAMP := $(VENV)/.installed

.PHONY: setup host up test lint typecheck unit bench crds clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## setup: the virtualenv with WWS and its dev tools, plus the Debian packages WWS drives
setup: $(STAMP) host

## host: Debian packages (podman, runc, ...) installed only when missing
host:
	@bash deploy/host-setup.sh

## up: run the embedded store, the controller and the web UI on this machine
up: setup
	$(BIN)/wws up --data-dir $(DATA_DIR)

## lint: ruff, mypy and the import contracts of docs/architecture.md (import-linter)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: lint, then the whole test suite against real components
test: setup lint
	$(BIN)/pytest -q -ra $(PYTEST_ARGS)

## bench: the benchmarks whose figures go to docs/benchmarks.md
bench: setup
	$(BIN)/python -m benchmarks.store
	$(BIN)/python -m benchmarks.workspace_start
	$(BIN)/python -m benchmarks.webui
	$(BIN)/python -m benchmarks.vm_start

## crds: regenerate crds/ from the pydantic models in api/
crds: $(STAMP)
	$(BIN)/wws crds generate

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
