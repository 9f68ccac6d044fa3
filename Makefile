# cxops: `make demo` runs the whole lifecycle on this machine; `make test` runs every test. Both set up from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed
# The `torch` extra (the PyTorch example project, docs/models.md): only `setup-torch` installs it, and only the targets
# that run that example depend on it (`test`, `bench`); `demo` serves a scikit-learn model and never needs it.
# Installed with the venv's pip, never resolved by uv (pip takes a CPU build where the machine provides one; uv
# would fetch a multi-GB CUDA build). Idempotent: only when missing.
TORCH  := 2.13.0

.PHONY: setup setup-torch demo test go-tools-background test-fast lint bench render clean lab-down help kernel
.PHONY: infra-preflight infra-plan infra-apply infra-inventory infra-destroy

help:
	@echo "make demo   - set up, start the embedded lab, run train → … → production, print the status"
	@echo "make test   - set up and run every test (unit, integration with real MLflow/git/servers, OpenStack)"
	@echo "make test-fast - the tests that start no slow service (about 3 minutes): run it after each change"
	@echo "make setup-torch - add PyTorch to the venv, for the PyTorch example model (docs/models.md)"
	@echo "make bench  - CLI start-up, serving throughput and lifecycle time, each against its peer"
	@echo "make lint   - ruff check, ruff format --check, mypy, notebook pairs (all run in CI)"
	@echo "make kernel - register .venv's Python as the Jupyter kernel \"cxops\" (for JupyterLab, VS Code: notebooks/)"
	@echo "make render - regenerate workflows/*.yaml (Hera) and k8s/argocd, k8s/platform (cxops k8s render)"
	@echo "make infra-preflight | infra-plan | infra-apply | infra-inventory | infra-destroy - the cluster (docs/provisioning.md)"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(UV) pip install --quiet --python $(BIN)/python -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

setup-torch: $(STAMP)
	@$(BIN)/python -c "import importlib.metadata as m, sys; sys.exit(m.version('torch').split('+')[0] != '$(TORCH)')" \
	  2>/dev/null || $(BIN)/python -m pip install --quiet --disable-pip-version-check torch==$(TORCH)

demo: setup
	scripts/install-lab-deps
	$(BIN)/cxops config check
	$(BIN)/cxops lab up
	$(BIN)/cxops pipeline run
	@echo "Servers keep running: see \`$(BIN)/cxops lab status\`; stop them with \`$(BIN)/cxops lab down\`."
	@echo "The CLI is $(BIN)/cxops; to type plain \`cxops status\`, first run \`source $(BIN)/activate\`."

# A Jupyter kernel named "cxops" running .venv's Python (ipykernel is pinned in requirements.lock), in the user's
# Jupyter data dir: pick it in JupyterLab or VS Code to run notebooks/.
kernel: setup
	$(BIN)/python -m ipykernel install --user --name cxops --display-name "cxops (.venv)"

# Each set-up stage prints its time (scripts/timed); pytest prints the 25 slowest tests and its fixtures' stages.
# pytest-xdist workers, `--dist loadgroup` (docs/testing.md, "`make test` on workers"): the tests that share a service
# (the local OpenStack, the API server, the host lab, an embedded lab) stay on one worker and the groups that wait
# on services run side by side; tests/conftest.py names the groups and hands the longest out first.
# The Go tools build in the background from the first step on (scripts/install-go-tools --background; a new machine
# builds them for about 20 minutes): the tests that need none run meanwhile, and a test that needs one waits for it
# (tests/gotools.py). After pytest, make waits for the build's end, checks every tool and prints the build's lines.
TEST_WORKERS ?= 4
GO_TOOLS_LOG := .cxops/go-tools-build.log
test: go-tools-background setup setup-torch
	scripts/timed packages scripts/install-test-deps
	scripts/timed checkov scripts/install-checkov
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -ra --durations=25 \
	  -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder; status=$$?; \
	  scripts/timed go-tools scripts/install-go-tools --cached || status=1; \
	  [ ! -f $(GO_TOOLS_LOG) ] || sed 's/^/go-tools build: /' $(GO_TOOLS_LOG); exit $$status

go-tools-background:
	scripts/install-go-tools --background $(GO_TOOLS_LOG)

# What a developer runs after each change (docs/testing.md, "Fast feedback"): every test that starts no service slower
# than seconds (not marked integration, openstack or cluster), on two pytest-xdist workers. Needs neither PyTorch nor
# the Go tools; checkov is two tests' tool.
FAST := not integration and not openstack and not cluster
test-fast: setup
	scripts/timed checkov scripts/install-checkov
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -ra --durations=10 -n 2 -m "$(FAST)"

lint: setup
	$(BIN)/ruff check cxops tests scripts bench notebooks
	$(BIN)/ruff format --check cxops tests scripts bench notebooks
	$(BIN)/mypy cxops
	$(BIN)/python scripts/notebooks.py check

bench: setup setup-torch
	scripts/install-bench-deps
	scripts/install-mlserver
	scripts/install-lab-deps
	$(BIN)/python -m bench

render: setup
	$(BIN)/cxops workflows render
	$(BIN)/cxops k8s render

# The operator's path to a cluster (docs/provisioning.md): each renders tf/cxops.auto.tfvars.json from cxops.yaml.
infra-preflight: setup
	$(BIN)/cxops infra preflight

infra-plan: setup
	$(BIN)/cxops infra plan

infra-apply: setup
	$(BIN)/cxops infra apply
	$(BIN)/cxops infra inventory

infra-inventory: setup
	$(BIN)/cxops infra inventory

infra-destroy: setup
	$(BIN)/cxops infra destroy

lab-down: setup
	$(BIN)/cxops lab down

clean: lab-down
	rm -rf .cxops
