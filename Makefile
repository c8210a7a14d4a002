# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test quick lint bench schema clean test-arm

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "edgesim needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/edgesim run scenarios/quickstart.yaml

test: $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest

# A quick subset while developing: no statistical replications, no real agents.
quick: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m 'not slow and not hil'

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/des_throughput.py
	$(BIN)/python bench/whole_process.py --quick
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/analytic_speed.py
	$(BIN)/python bench/analytic_agreement.py

# The device agent in an emulated ARM64 Debian userland (slow; not part of `make test`).
# Needs root (it installs Debian's qemu-user-static and mmdebstrap when they are missing).
test-arm: $(VENV)/.installed-dev
	command -v qemu-aarch64-static >/dev/null && command -v mmdebstrap >/dev/null || \
		apt-get install -y --no-install-recommends qemu-user-static mmdebstrap
	$(BIN)/python bench/arm_agent.py

schema: $(VENV)/.installed
	$(BIN)/python -m sim.schema scenarios/scenario.schema.json
	$(BIN)/python -m analysis.schema docs/summary.schema.json

clean:
	rm -rf $(VENV) results .mypy_cache .ruff_cache .pytest_cache .hypothesis .cache
