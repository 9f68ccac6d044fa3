# cxops: `make demo` runs the whole lifecycle on this machine; `make test` runs every test. Both set up from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench render clean lab-down help

help:
	@echo "make demo   - set up, start the embedded lab, run train → … → production, print the status"
	@echo "make test   - set up and run every test (unit, integration with real MLflow/git/servers, OpenStack)"
	@echo "make bench  - CLI start-up, serving throughput and lifecycle time, each against its peer"
	@echo "make lint   - ruff"
	@echo "make render - regenerate workflows/*.yaml from the Hera code"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(UV) pip install --quiet --python $(BIN)/python -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	scripts/install-lab-deps
	$(BIN)/cxops config check
	$(BIN)/cxops lab up
	$(BIN)/cxops pipeline run
	@echo "Servers keep running: see \`$(BIN)/cxops lab status\`; stop them with \`$(BIN)/cxops lab down\`."

test: setup
	scripts/install-test-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -ra

test-fast: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -ra -m "not openstack"

lint: setup
	$(BIN)/ruff check cxops tests scripts bench

bench: setup
	$(BIN)/python -m bench

render: setup
	$(BIN)/cxops workflows render

lab-down: setup
	$(BIN)/cxops lab down

clean: lab-down
	rm -rf .cxops
